"""Training data: aligned face folders with a fresh training mask per draw, and LFW's identity-disjoint halves.

:class:`FaceFolderDataset` reads 112x112 aligned crops from a folder (flat, or one sub-folder per
identity) or from an explicit file list. Each item is a dict of tensors:

* ``image`` (3, H, W) float in [-1, 1] — the clean target;
* ``mask`` (1, H, W) float, 1 = hole — drawn by the :class:`~idinpaint.training.masks.MaskSampler`;
* ``reference`` (3, H, W) and ``has_reference`` — another photo of the same identity (identity
  layouts, when ``reference=True`` and the person has one), else zeros / False;
* ``index``.

Masks are random per draw but reproducible: the generator is seeded from (seed, index, how many
times this index was drawn in this process, the DataLoader worker's seed). ``deterministic=True``
(validation) gives every index the same mask forever and disables flipping.

Which LFW crops a model may train on (the identity-disjoint halves) is the LFW protocol's
business: :func:`idinpaint.data.lfw.lfw_training_files`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from idinpaint.data.lfw import identity_of
from idinpaint.data.registry import list_images
from idinpaint.imageio import read_rgb
from idinpaint.training.masks import MaskSampler


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    array = np.array(image, dtype=np.uint8)  # a writable, contiguous copy (PIL arrays are read-only)
    return torch.from_numpy(array).permute(2, 0, 1).float().div(127.5).sub(1.0)


class FaceFolderDataset(Dataset):
    """Aligned crops + training masks; see the module docstring.

    Args:
        root: the aligned folder; files are listed under it when ``files`` is None.
        files: explicit relative (to ``root``) or absolute paths.
        mask_sampler: a :class:`MaskSampler` (default mix when None).
        seed: base seed of masks, flips and reference choice.
        deterministic: fixed mask per index, no flips (validation).
        flip: random horizontal flips of the face (training).
        reference: also return another photo of the same identity.
        size: expected crop size; other sizes are an error naming the file.
        limit: keep only the first ``limit`` files (after sorting).
    """

    def __init__(self, root=None, files: Sequence | None = None, mask_sampler: MaskSampler | None = None,
                 seed: int = 0, deterministic: bool = False, flip: bool = False, reference: bool = False,
                 size: int = 112, limit: int | None = None):
        if root is None and files is None:
            raise ValueError("FaceFolderDataset needs a root folder or a file list")
        self.root = Path(root) if root is not None else None
        if files is None:
            files = list_images(self.root)
        files = sorted(str(f) for f in files)
        if limit is not None:
            files = files[:int(limit)]
        if not files:
            raise ValueError(f"FaceFolderDataset: no images ({self.root or 'empty file list'})")
        self.files = files
        self.mask_sampler = mask_sampler or MaskSampler(size=size)
        self.seed, self.deterministic, self.flip = int(seed), bool(deterministic), bool(flip)
        self.reference, self.size = bool(reference), int(size)
        self._visits = np.zeros(len(files), dtype=np.int64)
        by_person: dict[str, list[int]] = {}
        for i, f in enumerate(files):
            person = identity_of(f)
            if person is not None:
                by_person.setdefault(person, []).append(i)
        self._by_person = by_person

    def __len__(self) -> int:
        return len(self.files)

    def path(self, index: int) -> Path:
        path = Path(self.files[index])
        return path if path.is_absolute() or self.root is None else self.root / path

    def identities(self) -> set[str]:
        return set(self._by_person)

    def _rng(self, index: int) -> np.random.Generator:
        if self.deterministic:
            return np.random.default_rng([self.seed, index])
        info = torch.utils.data.get_worker_info()
        worker_seed = int(info.seed % (2 ** 32)) if info is not None else 0
        visit = int(self._visits[index])
        self._visits[index] += 1
        return np.random.default_rng([self.seed, index, visit, worker_seed])

    def _read(self, index: int) -> np.ndarray:
        path = self.path(index)
        image = read_rgb(path)
        if image.shape != (self.size, self.size, 3):
            raise ValueError(f"{path}: {image.shape[1]}x{image.shape[0]} image; training needs aligned "
                             f"{self.size}x{self.size} crops (run `idinpaint preprocess`)")
        return image

    def __getitem__(self, index: int) -> dict:
        rng = self._rng(index)
        image = self._read(index)
        if self.flip and not self.deterministic and rng.random() < 0.5:
            image = image[:, ::-1]
        mask, _ = self.mask_sampler.sample(rng)
        item = {"image": _to_tensor(image), "mask": torch.from_numpy(mask[None].astype(np.float32)),
                "index": index}
        if self.reference:
            person = identity_of(self.files[index])
            others = [i for i in self._by_person.get(person, []) if i != index] if person else []
            if others:
                item["reference"] = _to_tensor(self._read(int(others[int(rng.integers(len(others)))])))
                item["has_reference"] = torch.tensor(True)
            else:
                item["reference"] = torch.zeros(3, self.size, self.size)
                item["has_reference"] = torch.tensor(False)
        return item
