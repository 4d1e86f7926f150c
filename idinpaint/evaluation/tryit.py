"""Notebook 09 in code: one pair of photos, part of the probe hidden, filled by each filler and judged
by each recogniser at its threshold; the rule that picks the page's default pair among validation
people; and how a cosine is printed beside its verdict so that the two never disagree.

**Validation people** (:func:`validation_pairs`): the people the page picks its default pair from,
so that it never chooses on the pairs the protocol scores. On the full aligned LFW: the people of
half A's held-out validation crops (:func:`~idinpaint.data.lfw.validation_crops`, the split the
shipped models were trained with): half A's model never trained on them, and they are in no pair of
folds 1-5. On a subset of LFW (the smoke crops hold none of those people): the people of the crops
who are in no pair of the profile's subset but in some View-2 pair, so that one of the two LFW-half
models never saw them. Only people with at least three photos: two for the pair, the rest to be
references.

**The pair of a person** (:func:`person_pair`): the first photo is the enrolled one (kept clean), the
probe the first later photo that is no near-duplicate of it (it is hidden and filled); the probe's
references follow :func:`~idinpaint.evaluation.reference.reference_plan` (never a photo it is paired
with, never a near-duplicate of it or of its partners).

**The rule** (:func:`pick_rule`), read with one recogniser (the page uses dlib, which took no part in
training): the first candidate whose clean probe it calls *same*, whose hole it calls *different*,
and whose fills it splits (at least one *same*, at least one *different*); when none does, the
candidate whose fills straddle the threshold most (the larger the smaller of its best fill's margin
above the threshold and its worst fill's margin below it).

**Numbers beside verdicts** (:class:`Judged`): cosines and thresholds with :data:`DIGITS` decimals,
more where that many would print a cosine called *different* equal to its threshold
(:func:`number_digits`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from idinpaint.data.aligned import aligned_name, read_faces
from idinpaint.data.lfw import Pair, identity_of, pair_people
from idinpaint.evaluation.reference import near_duplicate, person_photos, reference_plan
from idinpaint.evaluation.verdict import verdict
from idinpaint.evaluation.verification import cosine_scores
from idinpaint.occlusion import occlude_faces

#: Decimals of every cosine and threshold printed beside a verdict (more where these would contradict it).
DIGITS = 4


def number_digits(cosines, threshold: float | None, digits: int = DIGITS, most: int = 12) -> int:
    """The fewest decimals, at least ``digits``, at which every one of ``cosines`` and ``threshold``,
    printed alike, still compare as the exact values do (``cosine >= threshold``): a cosine called
    *different* is never printed equal to its threshold."""
    if threshold is None:
        return digits
    values = np.atleast_1d(np.asarray(cosines, dtype=float)).ravel()
    truth = values >= threshold
    for places in range(digits, most + 1):
        shown = np.array([float(f"{v:.{places}f}") for v in values])
        if np.array_equal(shown >= float(f"{threshold:.{places}f}"), truth):
            return places
    return most


def number(value: float, digits: int = DIGITS) -> str:
    """A cosine or threshold as printed: ``digits`` decimals."""
    return f"{float(value):.{digits}f}"


@dataclass
class Judged:
    """Cosines of one or more probes' versions to their enrolled photos, per recogniser, with the
    thresholds that judge them: ``cosines[recogniser][version]`` is an array (one per probe),
    ``thresholds[recogniser]`` a cosine (or None: no verdict). Everything printed comes from here,
    with one number of decimals per recogniser (:func:`number_digits`)."""

    cosines: dict[str, dict[str, np.ndarray]]
    thresholds: dict[str, float | None]

    def __post_init__(self):
        self.cosines = {r: {v: np.atleast_1d(np.asarray(c, dtype=float)) for v, c in by.items()}
                        for r, by in self.cosines.items()}

    def digits(self, recogniser: str) -> int:
        values = np.concatenate(list(self.cosines[recogniser].values()))
        return number_digits(values, self.thresholds.get(recogniser))

    def cosine(self, recogniser: str, version: str, index: int = 0) -> str:
        return number(self.cosines[recogniser][version][index], self.digits(recogniser))

    def says(self, recogniser: str, version: str, index: int = 0) -> str:
        same = verdict(self.cosines[recogniser][version][index], self.thresholds.get(recogniser))
        return "" if same is None else ("same" if same else "different")

    def text(self, recogniser: str, version: str, index: int = 0) -> str:
        """``"0.9058 different"``."""
        return f"{self.cosine(recogniser, version, index)} {self.says(recogniser, version, index)}".strip()

    def threshold(self, recogniser: str) -> str:
        value = self.thresholds.get(recogniser)
        return "none" if value is None else number(value, self.digits(recogniser))

    def versions(self) -> list[str]:
        return list(next(iter(self.cosines.values())))

    def rows(self, index: int = 0) -> list[dict]:
        """One row per version: ``{"version", "<recogniser> cosine", "<recogniser> says"}`` (strings)."""
        return [{"version": v, **{key: value for r in self.cosines for key, value in
                                  ((f"{r} cosine", self.cosine(r, v, index)), (f"{r} says", self.says(r, v, index)))}}
                for v in self.versions()]

    def title(self, version: str, index: int = 0) -> str:
        """One line per recogniser: ``"dlib 0.9058 different"``."""
        return "\n".join(f"{r} {self.text(r, version, index)}" for r in self.cosines)

    def by_probe(self, recogniser: str, names: Sequence[str]) -> list[dict]:
        """One row per probe (``names``): each version's cosine and verdict by ``recogniser``."""
        return [{"person": name, **{v: self.text(recogniser, v, i) for v in self.versions()}}
                for i, name in enumerate(names)]


@dataclass
class TryPair:
    """A person's pair on the page: ``probe`` is hidden and filled, ``gallery`` stays clean (the
    enrolled photo); ``references`` are the probe's other photos the reference rule allows."""

    person: str
    probe: str
    gallery: str
    references: list[str] = field(default_factory=list)


def validation_people(aligned_root, subset: Sequence[Pair], all_pairs: Sequence[Pair],
                      held_out: Sequence[str] | None = None, minimum: int = 3, photos=None) -> list[str]:
    """The validation people of the module docstring, sorted: of ``held_out`` (half A's validation
    crops, on the full aligned LFW) when given, else those of ``aligned_root`` in no pair of
    ``subset`` and in some pair of ``all_pairs``; only people with at least ``minimum`` photos."""
    photos = photos if photos is not None else person_photos(aligned_root)
    if held_out is not None:
        people = {identity_of(crop) for crop in held_out}
    else:
        people = pair_people(all_pairs) - pair_people(subset)
    return sorted(p for p in people if len(photos.get(p, [])) >= minimum)


def person_pair(person: str, aligned_root, photos: dict[str, list[str]] | None = None) -> Pair | None:
    """The pair of the module docstring for one person, as a :class:`Pair` (first: the enrolled photo,
    second: the probe); None when every later photo is a near-duplicate of the first."""
    photos = (photos if photos is not None else person_photos(aligned_root)).get(person, [])
    if len(photos) < 2:
        return None
    faces = read_faces(aligned_root, photos)
    probe = next((p for p, face in zip(photos[1:], faces[1:]) if not near_duplicate(faces[0], face)), None)
    return None if probe is None else Pair(photos[0], probe, True, -1)


def try_pairs(pairs: Sequence[Pair], aligned_root, all_pairs: Sequence[Pair]) -> list[TryPair]:
    """The page's view of same-person pairs: each second photo hidden (the one the protocol occludes),
    each first photo enrolled, the references by the reference rule over ``all_pairs`` and ``pairs``."""
    probes = [aligned_name(p.second) for p in pairs]
    plans = reference_plan(pairs, probes, aligned_root, all_pairs=[*all_pairs, *pairs])
    return [TryPair(identity_of(probe), probe, aligned_name(p.first), plans[probe].references)
            for p, probe in zip(pairs, probes)]


def validation_pairs(aligned_root, subset: Sequence[Pair], all_pairs: Sequence[Pair],
                     held_out: Sequence[str] | None = None, count: int = 6) -> list[TryPair]:
    """The pairs (:func:`person_pair`) of the first ``count`` validation people
    (:func:`validation_people`), with their references."""
    photos = person_photos(aligned_root)
    people = validation_people(aligned_root, subset, all_pairs, held_out, photos=photos)
    found = [pair for pair in (person_pair(p, aligned_root, photos) for p in people) if pair is not None]
    return try_pairs(found[:count], aligned_root, all_pairs)


def hide_and_fill(probes: Sequence[str], region: str, fill: str, aligned_root, fillers: dict) -> dict[str, np.ndarray]:
    """``{version: (n, H, W, 3)}``: the clean probes (``clean``), the probes with ``region`` hidden
    (``hole (<fill>)``) and each filler's fill of the hole (``fill_for``: each crop by its path)."""
    faces = read_faces(aligned_root, list(probes))
    occluded, masks = occlude_faces(f"region:{region}@{fill}", faces, list(probes))
    return {"clean": faces, f"hole ({fill})": occluded,
            **{label: filler.fill_for(occluded, masks, list(probes)) for label, filler in fillers.items()}}


def judge(images: dict[str, np.ndarray], probes: Sequence[str], galleries: Sequence[str], aligned_root,
          recognizer, landmarks=None) -> dict[str, np.ndarray]:
    """``{version: (n,) cosines}``: each version of each probe against its clean enrolled photo.
    ``landmarks``: a clean-landmarks lookup (dlib cuts its chip there; every version of a probe uses
    its clean photo's landmarks)."""
    def points(relatives):
        return {"landmarks": landmarks(list(relatives))} if landmarks else {}

    enrolled = recognizer.embed(read_faces(aligned_root, list(galleries)), **points(galleries))
    return {version: cosine_scores(recognizer.embed(faces, **points(probes)), enrolled)
            for version, faces in images.items()}


def pick_rule(cosines: dict[str, np.ndarray], threshold: float, fills: Sequence[str]) -> tuple[int, str]:
    """(index of the chosen candidate, the clause that chose it) under the rule of the module
    docstring; ``cosines``: one recogniser's ``{version: (n,)}`` with ``clean``, one ``hole (...)``
    version and ``fills``."""
    hole = next(version for version in cosines if version.startswith("hole"))
    filled = np.stack([np.asarray(cosines[f], float) for f in fills])
    clean, hidden = np.asarray(cosines["clean"], float), np.asarray(cosines[hole], float)
    for i in range(len(clean)):
        same = filled[:, i] >= threshold
        if clean[i] >= threshold and hidden[i] < threshold and same.any() and not same.all():
            return i, "the first whose clean photo is same, whose hole is different and whose fills are split"
    straddle = np.minimum(filled.max(axis=0) - threshold, threshold - filled.min(axis=0))
    return int(np.argmax(straddle)), "none has its hole different and its fills split: the one whose fills straddle the threshold most"
