"""Blending a fill into the hole: exact Poisson image editing and the feathered alpha blend."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.sparse import lil_matrix
from scipy.sparse.linalg import spsolve

from idinpaint.blending import alpha_blend, blend, poisson_blend


def smooth(seed: int, size: int = 40, low_value: float = 0, high_value: float = 255) -> np.ndarray:
    low = np.random.default_rng(seed).uniform(low_value, high_value, (5, 5, 3))
    return np.clip(cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def hole(size: int = 40) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[10:28, 6:30] = True
    return mask


def reference_poisson(image, generated, mask):
    """Pérez et al.'s discrete equation, written out pixel by pixel and solved densely-by-sparse."""
    ys, xs = np.nonzero(mask)
    index = {(y, x): k for k, (y, x) in enumerate(zip(ys, xs))}
    out = image.astype(float).copy()
    for c in range(3):
        a, b = lil_matrix((len(ys), len(ys))), np.zeros(len(ys))
        s, d = generated[..., c].astype(float), image[..., c].astype(float)
        for k, (y, x) in enumerate(zip(ys, xs)):
            for yy, xx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if not (0 <= yy < mask.shape[0] and 0 <= xx < mask.shape[1]):
                    continue
                a[k, k] += 1
                b[k] += s[y, x] - s[yy, xx]
                if mask[yy, xx]:
                    a[k, index[(yy, xx)]] = -1
                else:
                    b[k] += d[yy, xx]
        out[ys, xs, c] = spsolve(a.tocsr(), b)
    return np.clip(out, 0, 255)  # the blend writes uint8


def test_poisson_matches_the_discrete_equation_and_ignores_the_hole_content():
    image, generated, mask = smooth(1), smooth(2), hole()
    out = poisson_blend(image, generated, mask)
    assert np.abs(out.astype(float) - reference_poisson(image, generated, mask))[mask].max() <= 0.5 + 1e-6
    np.testing.assert_array_equal(out[~mask], image[~mask])  # only the hole changes
    blacked = np.where(mask[..., None], 0, image).astype(np.uint8)
    np.testing.assert_array_equal(poisson_blend(blacked, generated, mask), out)  # the occluder never leaks in


def test_poisson_removes_a_colour_offset_and_keeps_structure():
    image, mask = smooth(3, low_value=60, high_value=190), hole()
    image = np.clip(image, 20, 200).astype(np.uint8)
    shifted = (image.astype(int) + 40).astype(np.uint8)  # same structure, wrong brightness
    out = poisson_blend(image, shifted, mask)
    assert np.abs(out.astype(int) - image)[mask].max() <= 1  # a plain paste would be 40 off
    assert np.abs(blend(image, shifted, mask, "none").astype(int) - image)[mask].mean() > 30


def test_poisson_edge_cases_and_hole_at_the_border():
    image, generated = smooth(4), smooth(5)
    empty = np.zeros((40, 40), bool)
    np.testing.assert_array_equal(poisson_blend(image, generated, empty), image)
    np.testing.assert_array_equal(poisson_blend(image, generated, ~empty), generated)
    border = np.zeros((40, 40), bool)
    border[:15, :] = True  # the upper_face-like hole touching the image border
    out = poisson_blend(image, generated, border)
    assert np.abs(out.astype(float) - reference_poisson(image, generated, border))[border].max() <= 0.5 + 1e-6


def test_alpha_blend_changes_the_hole_only():
    image, generated, mask = smooth(6), smooth(7), hole()
    out = alpha_blend(image, generated, mask)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    inner = np.zeros_like(mask)
    inner[15:23, 11:25] = True  # more than `feather` pixels inside: the generated pixels
    np.testing.assert_array_equal(out[inner], generated[inner])
    with pytest.raises(ValueError, match="unknown blend"):
        blend(image, generated, mask, "laplacian")
