"""Random hole masks: a random face part, a random square block, DeepFill-v2-style free-form strokes.

Every function takes a ``numpy.random.Generator`` (``numpy.random.default_rng(seed)``) and uses
nothing else, so the same generator state always gives the same mask. Masks are bool (size, size),
True = hole.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from idinpaint.align import CROP_SIZE
from idinpaint.occlusion.regions import REGION_NAMES, check_size, region_mask

#: Hole-fraction bounds of :func:`free_form_mask` by default. Below 5 % a hole is a few thin
#: scratches that any filler repairs and recognizers ignore; above 45 % the "face" left is mostly
#: hole and the test says more about the filler's prior than about occlusion. DeepFill v2's own
#: training masks mostly fall in this range too; the rare draws outside it are redrawn.
FREE_FORM_FRACTION = (0.05, 0.45)


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (numpy.random.default_rng(seed)), got {type(rng).__name__}")
    return rng


def random_region_name(rng: np.random.Generator) -> str:
    """One of the 10 protocol regions, uniformly at random."""
    return REGION_NAMES[int(_check_rng(rng).integers(len(REGION_NAMES)))]


def random_part_mask(rng: np.random.Generator, size: int = CROP_SIZE) -> np.ndarray:
    """Mask of one of the 10 face-part regions (see :data:`REGIONS`), chosen uniformly at random."""
    return region_mask(random_region_name(rng), size)


def random_block_mask(rng: np.random.Generator, block_size: int, size: int = CROP_SIZE) -> np.ndarray:
    """A ``block_size`` square hole fully inside the ``size`` x ``size`` image, at a uniform random place."""
    rng = _check_rng(rng)
    size = check_size(size)
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or not 1 <= block_size <= size:
        raise ValueError(f"block_size must be an integer in [1, {size}], got {block_size!r}")
    x, y = (int(v) for v in rng.integers(0, size - block_size + 1, size=2))
    mask = np.zeros((size, size), dtype=bool)
    mask[y:y + block_size, x:x + block_size] = True
    return mask


def _draw_strokes(rng, size, max_strokes, min_vertices, max_vertices, min_width, max_width,
                  mean_angle, angle_range) -> np.ndarray:
    canvas = np.zeros((size, size), dtype=np.uint8)
    mean_step = math.hypot(size, size) / 8.0
    for _ in range(int(rng.integers(1, max_strokes + 1))):
        n_vertices = int(rng.integers(min_vertices, max_vertices + 1))
        low = mean_angle - rng.uniform(0, angle_range)
        high = mean_angle + rng.uniform(0, angle_range)
        width = max(1, int(round(rng.uniform(min_width, max_width))))
        point = rng.uniform(0, size, size=2)
        vertices = [point]
        for i in range(n_vertices):
            angle = rng.uniform(low, high)
            if i % 2 == 0:  # alternate turning direction so strokes zig-zag rather than spiral
                angle = 2 * math.pi - angle
            step = float(np.clip(rng.normal(mean_step, mean_step / 2), 0, 2 * mean_step))
            point = np.clip(point + step * np.array([math.cos(angle), math.sin(angle)]), 0, size - 1)
            vertices.append(point)
        pixels = [tuple(int(round(c)) for c in v) for v in vertices]
        for start, end in zip(pixels[:-1], pixels[1:]):
            cv2.line(canvas, start, end, 255, thickness=width, lineType=cv2.LINE_8)
        for centre in pixels:  # round joints, as in DeepFill v2
            cv2.circle(canvas, centre, width // 2, 255, thickness=-1, lineType=cv2.LINE_8)
    return canvas > 0


def free_form_mask(
    rng: np.random.Generator,
    size: int = CROP_SIZE,
    max_strokes: int = 3,
    min_vertices: int = 4,
    max_vertices: int = 12,
    min_width: float | None = None,
    max_width: float | None = None,
    mean_angle: float = 2 * math.pi / 5,
    angle_range: float = 2 * math.pi / 15,
    fraction: tuple[float, float] = FREE_FORM_FRACTION,
    max_tries: int = 100,
) -> np.ndarray:
    """DeepFill-v2-style free-form brush-stroke hole.

    1 to ``max_strokes`` strokes; each is a zig-zag polyline of ``min_vertices``..``max_vertices``
    segments starting at a random point, with turning angles around ``mean_angle`` (+- up to
    ``angle_range``), segment lengths ~ Normal(d/8, d/16) clipped to [0, d/4] (d = image diagonal),
    one random width per stroke, drawn with ``cv2.line`` and a filled circle at every vertex.
    Widths are in pixels; by default 5..17 on a 112 crop (DeepFill's 12..40 at 256), scaled with
    ``size``. A draw whose hole fraction falls outside ``fraction`` (default
    :data:`FREE_FORM_FRACTION`, 5 %..45 %) is redrawn from the same generator, so the result is
    deterministic; after ``max_tries`` failed draws a RuntimeError names the parameters to change.
    """
    rng = _check_rng(rng)
    size = check_size(size)
    scale = size / CROP_SIZE
    min_width = 5.0 * scale if min_width is None else float(min_width)
    max_width = 17.0 * scale if max_width is None else float(max_width)
    low_fraction, high_fraction = fraction
    if not 0 <= low_fraction < high_fraction <= 1:
        raise ValueError(f"fraction must satisfy 0 <= low < high <= 1, got {fraction!r}")
    if not 1 <= min_vertices <= max_vertices or max_strokes < 1 or not 0 < min_width <= max_width:
        raise ValueError(
            "need max_strokes >= 1, 1 <= min_vertices <= max_vertices and 0 < min_width <= max_width; "
            f"got {max_strokes}, {min_vertices}, {max_vertices}, {min_width}, {max_width}"
        )
    for _ in range(max_tries):
        mask = _draw_strokes(rng, size, max_strokes, min_vertices, max_vertices, min_width, max_width,
                             mean_angle, angle_range)
        if low_fraction <= mask.mean() <= high_fraction:
            return mask
    raise RuntimeError(
        f"free_form_mask: no draw in {max_tries} tries had a hole fraction within {fraction}; "
        "widen `fraction` or change the stroke count / width parameters"
    )
