"""``donor``: the hole gets the same pixels of *another* person's aligned crop, Poisson-blended — a
real face part with the wrong identity, the baseline that brackets realism from above."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from idinpaint.blending import poisson_blend
from idinpaint.data.aligned import read_faces
from idinpaint.data.lfw import Pair, default_aligned_root, load_pairs, unpaired_crops
from idinpaint.fillers.base import Filler, as_batch

DONOR_COUNT = 300
DONOR_SEED = 1


class DonorFiller(Filler):
    """The hole gets the same pixels of another person's aligned crop, Poisson-blended.

    A bracketing baseline: the fill is a real face part (realistic by construction) of the wrong
    person. ``faces`` (N, H, W, 3) uint8 are the donor crops and ``people`` their identities (LFW
    people in no evaluation pair, see :func:`donor_filler`). The donor
    of a crop is a deterministic pick from its dataset path (``fill_for``), never a crop of the same
    person; without paths (``fill``) crops take donors in order.
    """

    name = "donor"

    def __init__(self, faces, people, seed: int = 0):
        faces = np.asarray(faces)
        if faces.ndim != 4 or faces.shape[3] != 3 or faces.dtype != np.uint8 or not len(faces):
            raise ValueError(f"donor: faces must be a non-empty RGB uint8 (N, H, W, 3) array, got {faces.dtype} {faces.shape}")
        if len(people) != len(faces):
            raise ValueError(f"donor: {len(faces)} faces but {len(people)} identities")
        if len(set(people)) < 2:
            raise ValueError("donor: needs crops of at least two people")
        self.faces, self.people, self.seed = faces, [str(p) for p in people], int(seed)

    def donor_index(self, relative: str) -> int:
        """The donor of the crop at ``relative`` (``Name/Name_0001.png``): hashed, never the same person."""
        person = Path(relative).parts[0] if Path(relative).parts else ""
        start = int.from_bytes(hashlib.sha256(f"{Path(relative).as_posix()}|{self.seed}".encode()).digest()[:8], "little")
        for step in range(len(self.faces)):
            index = (start + step) % len(self.faces)
            if self.people[index] != person:
                return index
        raise ValueError(f"donor: no crop of a person other than {person!r}")

    def fill_for(self, images, masks, relatives=None) -> np.ndarray:
        if relatives is None:
            return self.fill(images, masks)
        images, masks, single = as_batch(images, masks)
        if len(relatives) != len(images):
            raise ValueError(f"donor: {len(relatives)} paths for {len(images)} images")
        out = self.composite(images, masks, self._paste(images, masks, [self.donor_index(r) for r in relatives]))
        return out[0] if single else out

    def _fill(self, images, masks):
        return self._paste(images, masks, [i % len(self.faces) for i in range(len(images))])

    def _paste(self, images, masks, indices):
        out = np.empty_like(images)
        for i, (image, mask, index) in enumerate(zip(images, masks, indices)):
            donor = self.faces[index]
            if donor.shape != image.shape:
                donor = cv2.resize(donor, image.shape[1::-1], interpolation=cv2.INTER_AREA)
            out[i] = poisson_blend(image, donor, mask)
        return out

    def __repr__(self) -> str:  # the evaluation cache key: the donor pool and its seed
        digest = hashlib.sha1(self.faces.tobytes() + "|".join(self.people).encode()).hexdigest()[:16]
        return f"DonorFiller(n={len(self.faces)}, seed={self.seed}, pool={digest})"


def donor_filler(aligned_root=None, pairs: Iterable[Pair] | None = None, count: int = DONOR_COUNT,
                 seed: int = DONOR_SEED, exclude_people: Iterable[str] = (), lfw_root=None) -> DonorFiller:
    """A :class:`~idinpaint.fillers.DonorFiller` whose donors are ``count`` crops of LFW people in no
    View-2 pair (one per person, :func:`~idinpaint.data.lfw.unpaired_crops`, with its own seed)."""
    root = Path(aligned_root or default_aligned_root()).resolve()
    pairs = load_pairs(lfw_root) if pairs is None else list(pairs)
    files = unpaired_crops(root, pairs, count, seed, exclude_people)
    return DonorFiller(read_faces(root, files), [f.split("/")[0] for f in files], seed=seed)
