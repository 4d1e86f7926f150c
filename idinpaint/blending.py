"""Blending a generated fill back into the hole; only hole pixels ever change.

* ``poisson`` — Poisson image editing, solved exactly (the original code called ``cv2.seamlessClone``,
  which under OpenCV 5 returns the plain paste when the patch is pasted first; see
  :func:`poisson_blend`);
* ``alpha`` — a feathered alpha blend inside the hole: weight 1 on the generated fill from
  ``feather`` pixels inside the hole's edge, ramping down towards the edge where it mixes with a
  Telea continuation of the surrounding pixels (the original pixels in the hole are the occluder,
  so they are never blended in);
* ``none`` — the generated fill pasted as is.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

BLENDS = ("poisson", "alpha", "none")
#: The default blend of the ``ca`` / ``ca_id`` fillers and ``idinpaint inpaint``. Chosen on held-out
#: validation crops, never on the test pairs (``idinpaint evaluate retention``): with the shipped
#: models the feathered alpha blend kept more identity than Poisson on dlib (docs/experiments.md).
DEFAULT_BLEND = "alpha"


@functools.lru_cache(maxsize=32)
def _poisson_system(shape: tuple[int, int], mask_bytes: bytes):
    """The factorised 4-neighbour Laplacian of a hole (cached: a protocol region is one mask for
    every crop). Returns (ys, xs, per-direction neighbour lists, LU factor)."""
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import splu

    height, width = shape
    mask = np.frombuffer(mask_bytes, dtype=bool).reshape(shape)
    ys, xs = np.nonzero(mask)
    n = len(ys)
    index = np.full(shape, -1, dtype=np.int64)
    index[ys, xs] = np.arange(n)
    diagonal = np.zeros(n)
    rows, cols, neighbours = [], [], []
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        yy, xx = ys + dy, xs + dx
        valid = np.nonzero((yy >= 0) & (yy < height) & (xx >= 0) & (xx < width))[0]  # image edge: Neumann
        yy, xx = yy[valid], xx[valid]
        diagonal[valid] += 1
        inside = mask[yy, xx]
        rows.append(valid[inside])
        cols.append(index[yy[inside], xx[inside]])
        neighbours.append((valid, yy, xx, inside))
    matrix = csc_matrix((np.concatenate([diagonal, -np.ones(sum(len(r) for r in rows))]),
                         (np.concatenate([np.arange(n), *rows]), np.concatenate([np.arange(n), *cols]))), shape=(n, n))
    return ys, xs, neighbours, splu(matrix)


def poisson_blend(image: np.ndarray, generated: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Poisson image editing (Pérez et al. 2003): inside the hole, the result has the Laplacian of
    ``generated`` and meets ``image`` at the hole's edge (4-neighbour, Dirichlet on the pixels around
    the hole, Neumann at the image border). Solved exactly with a sparse LU factorisation, cached
    per mask. Returns RGB uint8; only hole pixels change.

    Why not ``cv2.seamlessClone``: OpenCV 5's keeps the destination's values inside the hole as the
    starting point, so the original code's call on a patch pasted into the destination first returns
    the plain paste (measured: identical pixels), and on a black hole it darkens the fill."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return image.copy()
    if mask.all():  # no boundary to match: nothing to blend against
        return generated.copy()
    ys, xs, neighbours, lu = _poisson_system(mask.shape, np.ascontiguousarray(mask).tobytes())
    src = generated.astype(np.float64).reshape(mask.shape[0], mask.shape[1], -1)
    dst = image.astype(np.float64).reshape(src.shape)
    rhs = np.zeros((len(ys), src.shape[2]))
    for valid, yy, xx, inside in neighbours:
        rhs[valid] += src[ys[valid], xs[valid]] - src[yy, xx]  # the guidance field: generated's gradients
        outside = ~inside
        rhs[valid[outside]] += dst[yy[outside], xx[outside]]  # the boundary condition: the image around the hole
    out = image.copy()
    solved = lu.solve(rhs)
    out.reshape(src.shape)[ys, xs] = np.clip(np.rint(solved), 0, 255).astype(image.dtype)
    return out


def blend_tag(method: str) -> str:
    """The blend's name in evaluation cache keys: ``poisson`` changed meaning (exact solve instead of
    ``cv2.seamlessClone``), so its cached fills carry a version."""
    return "poisson-exact" if method == "poisson" else method


def alpha_blend(image: np.ndarray, generated: np.ndarray, mask: np.ndarray, feather: float = 4.0) -> np.ndarray:
    """Feathered alpha blend inside the hole (see the module docstring)."""
    if not mask.any():
        return image.copy()
    hole = mask.astype(np.uint8)
    distance = cv2.distanceTransform(hole, cv2.DIST_L2, 3)  # 1 at the hole's edge, growing inwards
    alpha = np.clip(distance / max(float(feather), 1e-6), 0.0, 1.0)[..., None]
    context = cv2.inpaint(image, hole * 255, 3, cv2.INPAINT_TELEA)
    mixed = alpha * generated.astype(np.float32) + (1 - alpha) * context.astype(np.float32)
    return np.where(mask[..., None], np.clip(np.rint(mixed), 0, 255).astype(np.uint8), image)


def blend(image: np.ndarray, generated: np.ndarray, mask: np.ndarray, method: str = DEFAULT_BLEND,
          feather: float = 4.0) -> np.ndarray:
    if method == "poisson":
        return poisson_blend(image, generated, mask)
    if method == "alpha":
        return alpha_blend(image, generated, mask, feather)
    if method == "none":
        return np.where(mask[..., None], generated, image)
    raise ValueError(f"unknown blend {method!r}; valid: {', '.join(BLENDS)}")
