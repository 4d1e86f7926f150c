"""Dataset registry: where each dataset lives, where to get it, and what layout it must have.

A dataset root comes from (first match): an explicit argument, the env var ``IDINPAINT_<NAME>_ROOT``
(e.g. ``IDINPAINT_LFW_ROOT``), then a default (LFW: ``<shared>/data/lfw`` when present, else
``data/<name>``). A missing or malformed dataset gives one line naming what is missing and how to
get it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from idinpaint.paths import data_dir, shared_dir

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class DatasetError(FileNotFoundError):
    """A dataset is missing or not laid out as expected; the message says how to fix it."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    layout: str  # "identity": <root>/<identity>/<image>; "flat": <root>/<image>
    download: str
    description: str
    image_subdir: str = ""  # images live under <root>/<image_subdir> (LFW: "raw")
    required_files: tuple[str, ...] = ()
    aligned: bool = True  # already 112x112 ArcFace crops

    @property
    def env_var(self) -> str:
        return f"IDINPAINT_{self.name.upper().replace('-', '_')}_ROOT"


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec("lfw", "identity",
                    "http://vis-www.cs.umass.edu/lfw/ (lfw.tgz -> raw/, and pairs.txt)",
                    "Labeled Faces in the Wild: 13,233 photos of 5,749 people, 250x250; View-2 pairs.txt",
                    image_subdir="raw", required_files=("pairs.txt",), aligned=False),
        DatasetSpec("ffhq-112", "flat", "https://github.com/NVlabs/ffhq-dataset (align to 112 with `idinpaint preprocess`)",
                    "FFHQ faces aligned to 112x112 (training only; no identities)"),
        DatasetSpec("celeba-112", "identity", "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (align with `idinpaint preprocess --has-subdirs`)",
                    "CelebA aligned to 112x112, one folder per identity"),
        DatasetSpec("vggface-112", "identity", "VGGFace2 (academic request: https://github.com/ox-vgg/vgg_face2) aligned to 112x112",
                    "VGGFace2 aligned to 112x112, one folder per identity"),
        DatasetSpec("cfp-fp-112", "identity", "http://www.cfpw.io/ (align with `idinpaint preprocess --has-subdirs`)",
                    "CFP frontal-profile aligned to 112x112, one folder per identity"),
        DatasetSpec("agedb-30", "identity", "https://ibug.doc.ic.ac.uk/resources/agedb/ (align with `idinpaint preprocess --has-subdirs`)",
                    "AgeDB-30 aligned to 112x112, one folder per identity"),
        DatasetSpec("facescrub", "identity", "http://vintage.winklerbros.net/facescrub.html (align with `idinpaint preprocess --has-subdirs`)",
                    "FaceScrub aligned to 112x112, one folder per identity (t-SNE)"),
    ]
}


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name.lower()]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def dataset_root(name: str, root: str | os.PathLike | None = None, check: bool = True) -> Path:
    """Resolve (and by default validate) a dataset's root folder."""
    spec = get_spec(name)
    if root is None and os.environ.get(spec.env_var):
        root = os.environ[spec.env_var]
    if root is None:
        shared_default = shared_dir() / "data" / spec.name
        root = shared_default if shared_default.is_dir() else data_dir() / spec.name
    root = Path(root).expanduser().resolve()
    if check:
        validate(spec, root)
    return root


def validate(spec: DatasetSpec, root: Path) -> None:
    hint = f"set {spec.env_var} or pass --root; download: {spec.download}"
    if not root.is_dir():
        raise DatasetError(f"{spec.name}: folder {root} not found ({hint})")
    for filename in spec.required_files:
        if not (root / filename).is_file():
            raise DatasetError(f"{spec.name}: {root / filename} missing ({hint})")
    images_root = root / spec.image_subdir
    if not images_root.is_dir():
        raise DatasetError(f"{spec.name}: image folder {images_root} missing ({hint})")
    first = next(iter(sorted(images_root.iterdir())), None)
    if first is None:
        raise DatasetError(f"{spec.name}: {images_root} is empty ({hint})")
    if spec.layout == "identity" and not first.is_dir():
        raise DatasetError(f"{spec.name}: expected one folder per identity under {images_root}, found file {first.name}")
    if spec.layout == "flat" and first.is_dir():
        raise DatasetError(f"{spec.name}: expected images directly under {images_root}, found folder {first.name}")


def list_images(folder: str | os.PathLike, has_subdirs: bool | None = None) -> list[Path]:
    """Image paths under ``folder``, sorted, relative to it (flat, or one folder per identity)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: image folder not found")
    pattern = "*/*" if has_subdirs else "*"
    if has_subdirs is None:
        pattern = "**/*"
    return sorted(p.relative_to(folder) for p in folder.glob(pattern)
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def dataset_status() -> list[dict]:
    """Every registered dataset: name, layout, whether it is found, and its folder or what is missing."""
    rows = []
    for name, spec in DATASETS.items():
        try:
            rows.append({"name": name, "layout": spec.layout, "found": True, "where": str(dataset_root(name))})
        except DatasetError as err:
            rows.append({"name": name, "layout": spec.layout, "found": False, "where": str(err)})
    return rows
