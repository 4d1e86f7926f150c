"""Shapes of the occluders the grammar names (:mod:`idinpaint.occlusion.spec`) beyond the protocol's
boxes: ``moved_region``, ``block``, ``free_form``, ``glasses`` and the MaskTheFace templates
(``maskthface:<type>``) as shape families, with the landmark jitter that places an occluder as real
ones sit. Every draw takes a ``numpy.random.Generator``."""
from __future__ import annotations

import math

import cv2
import numpy as np

from idinpaint.align import ARCFACE_TEMPLATE, CROP_SIZE
from idinpaint.occlusion.random_masks import free_form_mask
from idinpaint.occlusion.regions import REGION_NAMES, region_box
from idinpaint.occlusion.spec import BASE_SHAPES, require_generator


def crop_points(landmarks, size: int) -> np.ndarray:
    if landmarks is None:
        return ARCFACE_TEMPLATE * (size / CROP_SIZE)
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        raise ValueError(f"landmarks must be 5 finite (x, y) points, got shape {points.shape}")
    return points


def _region(rng, size: int) -> np.ndarray:
    x1, y1, x2, y2 = region_box(REGION_NAMES[int(rng.integers(len(REGION_NAMES)))], size)
    cx, cy = (x1 + x2) / 2 + rng.uniform(-10, 10), (y1 + y2) / 2 + rng.uniform(-10, 10)
    half_w, half_h = (x2 - x1) / 2 * rng.uniform(0.75, 1.25), (y2 - y1) / 2 * rng.uniform(0.75, 1.25)
    mask = np.zeros((size, size), dtype=bool)
    top, bottom = int(np.clip(round(cy - half_h), 0, size - 1)), int(np.clip(round(cy + half_h), 1, size))
    left, right = int(np.clip(round(cx - half_w), 0, size - 1)), int(np.clip(round(cx + half_w), 1, size))
    mask[top:max(bottom, top + 1), left:max(right, left + 1)] = True
    return mask


def _block(rng, size: int) -> np.ndarray:
    canvas = np.zeros((size, size), dtype=np.uint8)
    w, h = rng.uniform(14, 70, size=2)
    centre = rng.uniform(10, size - 10, size=2)
    angle = 0.0 if rng.random() < 0.5 else rng.uniform(0, 180)
    if rng.random() < 0.3:
        cv2.ellipse(canvas, (tuple(int(round(v)) for v in centre), (int(round(w)), int(round(h))), angle),
                    255, thickness=-1)
    else:
        corners = cv2.boxPoints((tuple(float(v) for v in centre), (float(w), float(h)), float(angle)))
        cv2.fillConvexPoly(canvas, np.round(corners).astype(np.int32), 255)
    return canvas > 0


def _glasses(rng, size: int, landmarks: np.ndarray) -> np.ndarray:
    canvas = np.zeros((size, size), dtype=np.uint8)
    left, right = landmarks[0], landmarks[1]
    distance = float(np.hypot(*(right - left)))
    tilt = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
    a, b = distance * rng.uniform(0.32, 0.46), distance * rng.uniform(0.22, 0.36)
    lift = rng.uniform(-0.05, 0.12) * distance  # lenses sit a little above or on the eye line
    round_lens = rng.random() < 0.6
    direction = (right - left) / max(distance, 1e-6)
    normal = np.array([direction[1], -direction[0]])
    lens_centres = [eye + normal * lift + rng.normal(0, 1.0, 2) for eye in (left, right)]
    for centre in lens_centres:
        if round_lens:
            cv2.ellipse(canvas, (tuple(int(round(v)) for v in centre), (int(round(2 * a)), int(round(2 * b))), tilt),
                        255, thickness=-1)
        else:
            corners = cv2.boxPoints((tuple(float(v) for v in centre), (2 * a, 2 * b), tilt))
            cv2.fillConvexPoly(canvas, np.round(corners).astype(np.int32), 255)
    thickness = max(2, int(round(distance * rng.uniform(0.05, 0.09))))
    inner = [lens_centres[0] + direction * a * 0.9, lens_centres[1] - direction * a * 0.9]
    cv2.line(canvas, tuple(int(round(v)) for v in inner[0]), tuple(int(round(v)) for v in inner[1]), 255, thickness)
    if rng.random() < 0.7:  # arms towards the ears
        for centre, sign in ((lens_centres[0], -1), (lens_centres[1], 1)):
            start = centre + sign * direction * a * 0.9
            end = start + sign * direction * distance * rng.uniform(0.4, 0.9)
            cv2.line(canvas, tuple(int(round(v)) for v in start), tuple(int(round(v)) for v in end), 255, thickness)
    return canvas > 0


def shape_mask(shape: str, size: int, rng: np.random.Generator, landmarks=None) -> np.ndarray:
    """The bool mask of a non-MaskTheFace shape family on a ``size`` x ``size`` crop."""
    rng = require_generator(rng)
    if shape == "moved_region":
        return _region(rng, size)
    if shape == "block":
        return _block(rng, size)
    if shape == "free_form":
        return free_form_mask(rng, size)
    if shape == "glasses":
        return _glasses(rng, size, crop_points(landmarks, size))
    raise ValueError(f"unknown shape family {shape!r}; valid: maskthface:<type>, {', '.join(BASE_SHAPES)}")


def band_mask(shape, landmarks) -> np.ndarray:
    """The grammar's ``band``: a bool mask of ``shape`` (height, width) with a band across both eyes of
    the 5 ``landmarks`` (image pixels), 2.3 eye distances long and 0.8 high, turned with the eyes:
    sunglasses in any image, a crop or a whole photo."""
    points = np.asarray(landmarks, dtype=np.float64)
    left, right = points[0], points[1]
    distance = float(np.hypot(*(right - left)))
    centre = (left + right) / 2
    angle = float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))
    box = ((float(centre[0]), float(centre[1])), (2.3 * distance, 0.8 * distance), angle)
    mask = np.zeros(tuple(shape[:2]), np.uint8)
    cv2.fillConvexPoly(mask, np.round(cv2.boxPoints(box)).astype(np.int32), 1)
    return mask > 0


def jitter_landmarks(landmarks: np.ndarray, rng: np.random.Generator, shift: float = 5.0,
                     scale=(0.9, 1.12), degrees: float = 10.0) -> np.ndarray:
    """Landmarks moved, rescaled and turned about their centroid: an occluder placed from them sits
    higher or lower, bigger or smaller and tilted, as real ones do."""
    centre = landmarks.mean(0)
    angle = math.radians(rng.uniform(-degrees, degrees))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    factor = rng.uniform(*scale)
    return (landmarks - centre) @ rotation.T * factor + centre + rng.uniform(-shift, shift, 2)


