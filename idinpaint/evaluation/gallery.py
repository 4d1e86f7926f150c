"""Fillers side by side on the same occluded faces, with the numbers a person reads under each fill.

:func:`compare_fillers` occludes each face at each region, lets every filler fill the same occluded
face, and measures each fill on both axes: *is it a face* (chroma spread and hole PSNR,
:func:`~idinpaint.evaluation.realism.realism_metrics`) and *is it this person* (a recognizer's cosine
to the ground truth). :func:`idinpaint.figures.filler_comparison` only draws the result.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from idinpaint.evaluation.realism import realism_metrics
from idinpaint.occlusion import occlude, region_mask


@dataclass
class ComparisonRow:
    """One face at one region: ``images`` = ground truth, occluded, then each fill; ``realism``
    ({measure: one value per occluded/fill image}) and ``cosines`` (each occluded/fill image's cosine
    to the ground truth) when they were asked for."""

    region: str
    images: list
    realism: dict | None = None
    cosines: list | None = None


@dataclass
class FillerComparison:
    """Rows (one per face and region) and column titles: ground truth, occluded, each filler."""

    columns: list
    rows: list = field(default_factory=list)

    @property
    def has_notes(self) -> bool:
        return any(row.realism is not None or row.cosines is not None for row in self.rows)


def compare_fillers(face, regions, fillers, fill: str = "black", relatives=None, realism: bool = False,
                    identity=None, labels=None) -> FillerComparison:
    """Rows = regions (for each face); columns = ground truth | occluded | each filler.

    ``face``: one aligned crop or a list of them; ``fillers``: Filler instances (:mod:`idinpaint.fillers`);
    every filler sees the same occluded face (through ``fill_for`` with the crop's dataset path from
    ``relatives`` when given, so path-routed fillers pick as in the protocol). ``realism``: measure each
    fill's chroma spread (fill / clean, about 1 for a real face part) and hole PSNR; ``identity``: a
    :class:`~idinpaint.recognizers.Recognizer` whose cosine to the ground truth is measured too.
    ``labels``: column titles of the fillers (default their names)."""
    faces = [face] if isinstance(face, np.ndarray) and face.ndim == 3 else list(face)
    paths = list(relatives) if relatives is not None else [None] * len(faces)
    columns = ["ground truth", f"occluded ({fill})"] + list(labels or [f.name for f in fillers])
    result = FillerComparison(columns)
    for clean, path in zip(faces, paths):
        for region in regions:
            mask = region_mask(region, clean.shape[0])
            occluded = occlude(clean, mask, fill)
            filled = [filler.fill_for(occluded[None], mask[None], [path])[0] if path else filler.fill(occluded, mask)
                      for filler in fillers]
            images = [clean, occluded] + filled
            row = ComparisonRow(region, images)
            if realism:
                stack = np.stack(images[1:])
                metrics = realism_metrics(stack, np.repeat(clean[None], len(stack), 0),
                                          np.repeat(mask[None], len(stack), 0))
                row.realism = {key: list(metrics[key]) for key in ("chroma_spread", "hole_psnr")}
            if identity is not None:
                vectors = identity.embed(np.stack(images))
                row.cosines = list(vectors[1:] @ vectors[0])
            result.rows.append(row)
    return result
