"""Occluding a batch of aligned crops reproducibly: crop ``i`` always gets the same hole, whoever
asks (the protocol, ``idinpaint prepare``, the galleries), because its generator is seeded from
(canonical spec, crop path, base seed)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from idinpaint.align import CROP_SIZE
from idinpaint.occlusion.apply import make_occlusion
from idinpaint.occlusion.spec import CLEAN, OcclusionSpec, canonical_spec, parse_spec  # noqa: F401  (re-exported)


def occlusion_seed(spec: str | OcclusionSpec, relative: str, seed: int = 0) -> int:
    """64-bit seed from (canonical spec, crop path, base seed): the same crop always gets the same hole."""
    text = f"{canonical_spec(spec)}|{Path(relative).as_posix()}|{int(seed)}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def occlude_faces(spec: str | OcclusionSpec, faces: np.ndarray, relatives: Sequence[str],
                  landmarks: Sequence | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Occlude a batch (N, H, W, 3) of crops; crop ``i`` uses a generator seeded by
    :func:`occlusion_seed` (spec, ``relatives[i]``, ``seed``). ``landmarks``: optional per-crop
    (5, 2) points in 112-crop pixels (None entries fall back to the template; maskthface only).
    Returns (occluded uint8 (N, H, W, 3), masks bool (N, H, W), True = hole)."""
    parsed = spec if isinstance(spec, OcclusionSpec) else parse_spec(spec)
    faces = np.asarray(faces)
    if len(faces) != len(relatives):
        raise ValueError(f"{len(faces)} faces but {len(relatives)} paths")
    occluded = np.empty_like(faces)
    masks = np.zeros(faces.shape[:3], dtype=bool)
    for i, (face, rel) in enumerate(zip(faces, relatives)):
        rng = np.random.default_rng(occlusion_seed(parsed, rel, seed))
        points = None
        if landmarks is not None and landmarks[i] is not None:
            points = np.asarray(landmarks[i], dtype=np.float64) * (face.shape[0] / CROP_SIZE)
        occluded[i], masks[i] = make_occlusion(parsed, face, rng, landmarks=points)
    return occluded, masks


def region_label(spec: str | OcclusionSpec) -> str:
    """What a spec covers, for tables: the region name, ``maskthface:<template>`` or the random kind."""
    if spec == CLEAN:
        return CLEAN
    parsed = spec if isinstance(spec, OcclusionSpec) else parse_spec(spec)
    if parsed.kind == "region":
        return parsed.arg
    if parsed.kind == "maskthface":
        return f"maskthface:{parsed.arg or 'surgical'}"
    return parsed.kind + (f":{parsed.arg}" if parsed.arg is not None else "")
