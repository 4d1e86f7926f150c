"""LFW View-2 verification pairs.

Two layouts of ``pairs.txt`` are accepted:

* the standard one: header ``10 300``, then 10 folds of 300 same-person lines (``Name i j``) followed
  by 300 different-person lines (``Name1 i Name2 j``);
* the other common one: header ``N``, then N same-person lines and N different-person lines, no
  folds — we split it into 10 consecutive folds of N/10 + N/10 so the 10-fold protocol still runs.

Image numbers are 1-based; the file is ``<Name>/<Name>_%04d.<ext>``. The standard folds share no
person, which later stages (identity-disjoint training splits) rely on.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


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
