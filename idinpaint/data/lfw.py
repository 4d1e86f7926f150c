"""LFW View-2 verification pairs.

Two layouts of ``pairs.txt`` are accepted:

* the standard one: header ``10 300``, then 10 folds of 300 same-person lines (``Name i j``) followed
  by 300 different-person lines (``Name1 i Name2 j``);
* the other common one: header ``N``, then N same-person lines and N different-person lines, no
  folds — we split it into 10 consecutive folds of N/10 + N/10 so the 10-fold protocol still runs.

Image numbers are 1-based; the file is ``<Name>/<Name>_%04d.<ext>``. The standard folds share no
person, which later stages (identity-disjoint training splits) rely on.

This module is the one home of the LFW protocol: pairs and folds (:func:`load_pairs`), the two
identity-disjoint halves a model is evaluated on (:data:`HALF_FOLDS`) and the crops it may train on
(:func:`lfw_training_files`), the people in no pair (:func:`unpaired_crops`), the smoke subsets
(:func:`lfw_files_for_profile`) and where the aligned crops live (:func:`default_aligned_root`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from idinpaint.data.registry import DatasetError, dataset_root, list_images
from idinpaint.paths import aligned_folder


class PairsFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Pair:
    first: str   # relative image path, e.g. "Abel_Pacheco/Abel_Pacheco_0001.jpg"
    second: str
    same: bool
    fold: int    # 0..9


def image_path(name: str, number: int, ext: str = ".jpg") -> str:
    return f"{name}/{name}_{int(number):04d}{ext}"


def _parse_line(line: str, path, lineno: int, ext: str) -> tuple[str, str, bool]:
    parts = line.split()
    try:
        if len(parts) == 3:
            return image_path(parts[0], int(parts[1]), ext), image_path(parts[0], int(parts[2]), ext), True
        if len(parts) == 4:
            return image_path(parts[0], int(parts[1]), ext), image_path(parts[2], int(parts[3]), ext), False
    except ValueError:
        pass
    raise PairsFormatError(f"{path}:{lineno}: expected 'Name i j' or 'Name1 i Name2 j', got {line.strip()!r}")


def parse_pairs(path, ext: str = ".jpg") -> list[Pair]:
    """Parse a pairs file in either layout; returns pairs in file order with their folds."""
    path = Path(path)
    if not path.is_file():
        raise PairsFormatError(f"{path}: pairs file not found")
    lines = [(i + 1, line) for i, line in enumerate(path.read_text().splitlines()) if line.strip()]
    if not lines:
        raise PairsFormatError(f"{path}: empty pairs file")
    header = lines[0][1].split()
    body = lines[1:]
    try:
        numbers = [int(x) for x in header]
    except ValueError:
        raise PairsFormatError(f"{path}:1: header must be 'folds per_fold' or 'N', got {lines[0][1]!r}") from None
    if len(numbers) == 2:
        folds, per_fold = numbers
        chunk = 2 * per_fold
        if len(body) != folds * chunk:
            raise PairsFormatError(f"{path}: header says {folds} folds x {chunk} pairs, found {len(body)} lines")
        fold_of = [i // chunk for i in range(len(body))]
    elif len(numbers) == 1:
        (count,) = numbers
        if len(body) != 2 * count:
            raise PairsFormatError(f"{path}: header says {count} same + {count} different pairs, found {len(body)} lines")
        if count % 10:
            raise PairsFormatError(f"{path}: {count} pairs per class does not split into 10 folds")
        size = count // 10
        fold_of = [(i % count) // size for i in range(len(body))]
    else:
        raise PairsFormatError(f"{path}:1: header must be 'folds per_fold' or 'N', got {lines[0][1]!r}")
    pairs = []
    for (lineno, line), fold in zip(body, fold_of):
        first, second, same = _parse_line(line, path, lineno, ext)
        pairs.append(Pair(first, second, same, fold))
    if len(numbers) == 2:
        for fold in range(numbers[0]):
            kinds = [p.same for p in pairs if p.fold == fold]
            if kinds != [True] * numbers[1] + [False] * numbers[1]:
                raise PairsFormatError(f"{path}: fold {fold + 1} is not {numbers[1]} same lines then {numbers[1]} different lines")
    return sorted(pairs, key=lambda p: p.fold) if len(numbers) == 1 else pairs


def pair_arrays(pairs: list[Pair]):
    """(first paths, second paths, same labels bool, folds int) as arrays."""
    return (np.array([p.first for p in pairs]), np.array([p.second for p in pairs]),
            np.array([p.same for p in pairs]), np.array([p.fold for p in pairs]))


def identities(pair: Pair) -> set[str]:
    return {pair.first.split("/")[0], pair.second.split("/")[0]}


def people_by_fold(pairs: list[Pair]) -> dict[int, set[str]]:
    folds: dict[int, set[str]] = {}
    for pair in pairs:
        folds.setdefault(pair.fold, set()).update(identities(pair))
    return folds


def pair_images(pairs: list[Pair]) -> list[str]:
    """Every distinct image the pairs use, sorted."""
    return sorted({p.first for p in pairs} | {p.second for p in pairs})


def second_images_of_distinct_people(pairs: list[Pair], count: int) -> list[str]:
    """The second image of the first ``count`` pairs whose second person is new (gallery rows show
    ``count`` different people, not one person's consecutive pairs)."""
    seen, images = set(), []
    for pair in pairs:
        person = pair.second.split("/")[0]
        if person not in seen and len(images) < count:
            seen.add(person)
            images.append(pair.second)
    return images


def subset_pairs(pairs: list[Pair], per_fold: int | None) -> list[Pair]:
    """The first ``per_fold`` same and first ``per_fold`` different pairs of every fold (all when None).

    Keeps the fold structure (and so the 10-fold protocol) intact on a small, fast subset.
    """
    if per_fold is None:
        return list(pairs)
    taken: dict[tuple[int, bool], int] = {}
    subset = []
    for pair in pairs:
        key = (pair.fold, pair.same)
        if taken.get(key, 0) < per_fold:
            taken[key] = taken.get(key, 0) + 1
            subset.append(pair)
    return subset


def people_with_images(image_paths, minimum: int) -> dict[str, list[str]]:
    """identity -> its image paths (sorted), for identities with at least ``minimum`` images."""
    by_person: dict[str, list[str]] = {}
    for path in sorted(map(str, image_paths)):
        by_person.setdefault(path.split("/")[0], []).append(path)
    return {name: paths for name, paths in by_person.items() if len(paths) >= minimum}


# --- where the protocol's data lives ----------------------------------------------------------------

def default_aligned_root() -> Path:
    """The aligned LFW crops: ``data/lfw-112`` (``idinpaint preprocess`` writes it); see
    :func:`idinpaint.paths.aligned_root`, the one resolution of a named aligned folder."""
    return aligned_folder()


def load_pairs(lfw_root=None, folds: list[int] | None = None) -> list[Pair]:
    """View-2 pairs (optionally only some folds, numbered 1..10 as in the protocol)."""
    pairs = parse_pairs(dataset_root("lfw", lfw_root) / "pairs.txt")
    if folds:
        wanted = {f - 1 for f in folds}
        pairs = [p for p in pairs if p.fold in wanted]
    return pairs


def identity_of(relative: str | Path) -> str | None:
    """The identity folder of a relative path (``Name/Name_0001.png`` -> ``Name``); None when flat."""
    parts = Path(relative).parts
    return parts[-2] if len(parts) >= 2 else None


def pair_people(pairs: Iterable[Pair]) -> set[str]:
    """Everyone who appears in ``pairs``."""
    return {path.split("/")[0] for p in pairs for path in (p.first, p.second)}


# --- identity-disjoint halves -----------------------------------------------------------------------
# People of pairs folds 1-5 form half A, folds 6-10 half B; people in no pair are training material
# for both. The model *evaluated on* half A is trained on half B's people plus the unpaired people,
# and vice versa.

HALF_FOLDS = {"A": (0, 1, 2, 3, 4), "B": (5, 6, 7, 8, 9)}  # 0-based fold numbers of pairs.txt


def check_half(half: str) -> str:
    half = str(half).upper()
    if half not in HALF_FOLDS:
        raise ValueError(f"half must be 'A' (folds 1-5) or 'B' (folds 6-10), got {half!r}")
    return half


def lfw_half_people(pairs: Iterable[Pair], half: str) -> set[str]:
    """People appearing in the pairs of a half's folds (A: folds 1-5, B: folds 6-10)."""
    folds = people_by_fold(list(pairs))
    return set().union(*(folds.get(f, set()) for f in HALF_FOLDS[check_half(half)]))


def lfw_half_pairs(pairs: Iterable[Pair], half: str) -> list[Pair]:
    """The pairs a half is evaluated on."""
    wanted = set(HALF_FOLDS[check_half(half)])
    return [p for p in pairs if p.fold in wanted]


def half_of_people(pairs: Iterable[Pair]) -> dict[str, str]:
    """{person: the half whose pairs they appear in} (people in no pair are absent)."""
    pairs = list(pairs)
    return {person: half for half in HALF_FOLDS for person in lfw_half_people(pairs, half)}


def evaluated_half(relative, half_of: dict[str, str], default_half: str | None = None, what: str = "models") -> str:
    """The half a crop (``Name/Name_0001.png``) is evaluated in, so the one whose model never saw the
    person. People in no pair were training material for both halves: ``default_half`` or an error."""
    person = identity_of(relative) or Path(str(relative)).stem.rsplit("_", 1)[0]
    half = half_of.get(person, default_half)
    if half is None:
        raise ValueError(f"{relative}: {person!r} is in no LFW pair, so both half {what} trained on this "
                         "person; pass default_half='A' or 'B'")
    return half


class LFWHalvesRouter:
    """The one LFW-half router: each crop goes to the half member (a filler, a detector) that never
    saw its person — people of pairs folds 1-5 to half A's, 6-10 to half B's. Crops of people in no
    pair, or without paths, go to ``default_half`` (an error when it is None), so an evaluation can
    never leak identities. ``what`` names the members in that error (``models``, ``detectors``)."""

    def __init__(self, members: dict, pairs=None, lfw_root=None, default_half: str | None = None,
                 what: str = "models"):
        if set(members) != {"A", "B"}:
            raise ValueError(f"LFW-half {what} are needed for halves A and B, got {sorted(members)}")
        self.members = members  # the caller's dict: a member swapped in later is routed to as well
        self.half_of = half_of_people(load_pairs(lfw_root) if pairs is None else list(pairs))
        self.default_half = check_half(default_half) if default_half else None
        self.what = what

    def half_for(self, relative) -> str:
        return evaluated_half(relative, self.half_of, self.default_half, self.what)

    def default(self):
        """The member of ``default_half`` (for crops without paths)."""
        if self.default_half is None:
            raise ValueError(f"LFW-half {self.what} need each crop's path to pick the one that never saw the "
                             "person, or a default_half")
        return self.members[self.default_half]

    def route(self, apply, items, relatives, out):
        """``out[i] = apply(member, items[chosen])[...]`` for each half's crops; returns ``out``."""
        if len(relatives) != len(items):
            raise ValueError(f"{len(relatives)} paths for {len(items)} crops")
        halves = np.array([self.half_for(r) for r in relatives])
        for half in sorted(self.members):
            member, chosen = self.members[half], np.flatnonzero(halves == half)
            if len(chosen):
                out[chosen] = apply(member, items[chosen])
        return out


def lfw_raw_root(lfw_root=None):
    """LFW's ``raw/`` folder of the registry's LFW (None when LFW is not there)."""
    try:
        return dataset_root("lfw", lfw_root) / "raw"
    except DatasetError:
        return None


def lfw_training_people(eval_half: str, pairs: Iterable[Pair], all_people: Iterable[str]) -> set[str]:
    """People a model evaluated on ``eval_half`` may be trained on: the other half's people and the
    people in no pair, minus anyone who appears in ``eval_half``'s pairs."""
    pairs = list(pairs)
    eval_half = check_half(eval_half)
    other = "B" if eval_half == "A" else "A"
    evaluated = lfw_half_people(pairs, eval_half)
    paired = evaluated | lfw_half_people(pairs, other)
    unpaired = set(all_people) - paired
    return (lfw_half_people(pairs, other) | unpaired) - evaluated


def _people_folders(root: Path) -> list[str]:
    return sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


def lfw_training_files(eval_half: str, aligned_root=None, pairs: Iterable[Pair] | None = None,
                       lfw_root=None) -> list[str]:
    """Relative crop paths (``Name/Name_NNNN.png``) to train the model that is evaluated on ``eval_half``.

    ``pairs`` default to LFW View-2 (``pairs.txt`` from the dataset registry); ``aligned_root`` to
    ``data/lfw-112``. No identity in ``eval_half``'s pairs is in the result (tests check it).
    """
    root = Path(aligned_root or default_aligned_root())
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: aligned LFW not found; run `idinpaint preprocess --raw <lfw>/raw "
                                f"--aligned {root}` first")
    pairs = load_pairs(lfw_root) if pairs is None else list(pairs)
    allowed = lfw_training_people(eval_half, pairs, _people_folders(root))
    files = [str(p) for p in list_images(root, has_subdirs=True) if identity_of(p) in allowed]
    if not files:
        raise ValueError(f"{root}: no training crops for half {eval_half}")
    return files


def split_by_identity(files: Sequence[str], count: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Move whole identities (randomly, ``default_rng(seed)``) out of ``files`` until at least ``count``
    images are held out. Returns (train, held_out); flat files count as one identity each."""
    if count <= 0:
        return list(files), []
    groups: dict[str, list[str]] = {}
    for f in files:
        groups.setdefault(identity_of(f) or f, []).append(f)
    names = sorted(groups)
    order = np.random.default_rng(seed).permutation(len(names))
    held: list[str] = []
    held_names = set()
    for i in order:
        if len(held) >= count:
            break
        held_names.add(names[i])
        held += groups[names[i]]
    if len(held_names) == len(names):
        raise ValueError(f"cannot hold out {count} validation images and keep any training images ({len(files)} in all)")
    train = [f for f in files if (identity_of(f) or f) not in held_names]
    return train, sorted(held)[:count]  # extra images of the last identity are used by neither


#: Defaults of the training split (config/train.yaml, cpu profile: data.val_images 64, seed 0).
DEFAULT_VAL_IMAGES = 64
DEFAULT_VAL_SEED = 0


def validation_crops(half: str, val_images: int = DEFAULT_VAL_IMAGES, seed: int = DEFAULT_VAL_SEED,
                     aligned_root=None, lfw_root=None) -> list[str]:
    """The crops ``idinpaint train --half HALF`` holds out for validation (the same split training
    makes: :func:`split_by_identity` of the half's training files). Their people are in neither the
    model's training set nor the pairs the model is evaluated on: decisions are made on them."""
    files = lfw_training_files(half, aligned_root=aligned_root, lfw_root=lfw_root)
    return split_by_identity(files, int(val_images), int(seed))[1]


# --- people in no pair ------------------------------------------------------------------------------

def unpaired_crops(aligned_root, pairs: Iterable[Pair], count: int, seed: int,
                   exclude_people: Iterable[str] = ()) -> list[str]:
    """Crops (relative paths) of people of ``aligned_root`` in none of ``pairs`` (nor in
    ``exclude_people``): one crop per person (the first) for ``count`` people drawn with
    ``default_rng(seed)``; when fewer such people exist, ``count`` crops drawn from all their crops.
    The mean face is fitted on these and the ``donor`` filler draws from them."""
    root = Path(aligned_root)
    excluded = pair_people(pairs) | set(exclude_people)
    people = [name for name in _people_folders(root) if name not in excluded]
    crops = {person: sorted(f"{person}/{p.name}" for p in (root / person).glob("*.png")) for person in people}
    crops = {person: files for person, files in crops.items() if files}
    if not crops:
        raise ValueError(f"{root}: no identities outside the evaluation pairs to draw faces from")
    rng = np.random.default_rng(seed)
    if len(crops) >= count:
        names = sorted(crops)
        chosen = sorted(rng.choice(len(names), size=count, replace=False).tolist())
        return [crops[names[i]][0] for i in chosen]
    pool = sorted(f for files in crops.values() for f in files)
    if len(pool) <= count:
        return pool
    return [pool[i] for i in sorted(rng.choice(len(pool), size=count, replace=False).tolist())]


def lfw_files_for_profile(profile: dict, lfw_root=None) -> list[str] | None:
    """Raw LFW files a profile needs aligned: all of LFW (None) unless the profile takes a subset of
    pairs (smoke), in which case: the subset's pair images, the t-SNE people's images and a few
    photos of people in no pair (the mean-face filler is fitted on those, never on test people)."""
    if profile.get("pairs_per_fold") is None:
        return None
    root = dataset_root("lfw", lfw_root)
    pairs = parse_pairs(root / "pairs.txt")
    wanted = set(pair_images(subset_pairs(pairs, profile["pairs_per_fold"])))
    every = [str(p) for p in list_images(root / "raw", has_subdirs=True)]
    per_person = int(profile.get("tsne_images_per_person", 10))
    rich = people_with_images(every, per_person)
    for name in sorted(rich)[: int(profile.get("tsne_people", 6))]:
        wanted.update(rich[name][:per_person])
    in_pairs = set().union(*people_by_fold(pairs).values())
    unpaired = [p for p in every if p.split("/")[0] not in in_pairs]
    wanted.update(unpaired[: int(profile.get("mean_face_images", 64))])
    return sorted(wanted)
