"""LFW's own occlusions: photos whose faces are really covered (sunglasses, a hand, a microphone, a hat
brim, hair, other objects), listed by name in ``real_occlusions.yaml`` beside this module, with as many
clearly unoccluded faces for comparison. The list was found with the O-Detector and checked by eye.

The O-Detector's evaluation draws no "clean" face from the occluded list
(:func:`idinpaint.evaluation.detector.evaluation_crops`): a correct find of real sunglasses is not a
false alarm. What the detector marks on both lists is
:func:`idinpaint.evaluation.detector.real_occlusion_rows`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

REAL_OCCLUSIONS_FILE = Path(__file__).with_name("real_occlusions.yaml")
#: What covers a listed face.
KINDS = ("sunglasses", "hand", "microphone", "hat", "hair", "other")
#: An LFW aligned-crop name: ``Name/Name_0001.png`` (the person's folder repeated, four digits).
LFW_CROP_NAME = re.compile(r"(?P<person>[A-Za-z][A-Za-z_'-]*)/(?P=person)_\d{4}\.png")


class RealOcclusionsError(ValueError):
    """The list is malformed; the message is one line naming the file and the reason."""


@dataclass(frozen=True)
class RealOcclusions:
    """``occluded``: photo -> kind (one of :data:`KINDS`); ``clean``: clearly unoccluded photos."""

    occluded: dict[str, str]
    clean: tuple[str, ...]
    path: Path

    def photos(self) -> list[tuple[str, str]]:
        """(photo, kind) for both lists, the occluded first; a clean photo's kind is ``"clean"``."""
        return list(self.occluded.items()) + [(photo, "clean") for photo in self.clean]


def _photo(path: Path, value, where: str) -> str:
    if not isinstance(value, str) or not LFW_CROP_NAME.fullmatch(value):
        raise RealOcclusionsError(f"{path}: {where}: {value!r} is not an LFW crop name like Name/Name_0001.png")
    return value


def load_real_occlusions(path=None) -> RealOcclusions:
    """The list in ``path`` (default :data:`REAL_OCCLUSIONS_FILE`): ``occluded`` maps kinds to photos,
    ``clean`` lists photos; every name is an LFW crop name and no photo is listed twice."""
    path = Path(path) if path is not None else REAL_OCCLUSIONS_FILE
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise RealOcclusionsError(f"{path}: cannot be read ({err.strerror or err})") from None
    except yaml.YAMLError as err:
        raise RealOcclusionsError(f"{path}: not YAML ({str(err).splitlines()[0]})") from None
    if not (isinstance(data, dict) and isinstance(data.get("occluded"), dict) and isinstance(data.get("clean"), list)):
        raise RealOcclusionsError(f"{path}: needs an `occluded` mapping (kind -> photos) and a `clean` list")
    occluded: dict[str, str] = {}
    for kind, photos in data["occluded"].items():
        if kind not in KINDS:
            raise RealOcclusionsError(f"{path}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
        for photo in photos or []:
            photo = _photo(path, photo, f"occluded.{kind}")
            if photo in occluded:
                raise RealOcclusionsError(f"{path}: {photo} is listed twice")
            occluded[photo] = kind
    clean = tuple(_photo(path, photo, "clean") for photo in data["clean"])
    twice = sorted(set(clean) & set(occluded)) or sorted(p for p in set(clean) if clean.count(p) > 1)
    if twice:
        raise RealOcclusionsError(f"{path}: {twice[0]} is listed twice")
    return RealOcclusions(dict(sorted(occluded.items())), tuple(sorted(clean)), path)


def really_occluded(path=None) -> frozenset[str]:
    """The listed occluded photos (crop names): never a clean face in the O-Detector's evaluation."""
    return frozenset(load_real_occlusions(path).occluded)
