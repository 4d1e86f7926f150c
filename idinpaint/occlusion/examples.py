"""Every occluder of the grammar on one face, to look at: each protocol region with each fill, and
each MaskTheFace template (what :func:`idinpaint.figures.occlusion_gallery` draws)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from idinpaint.occlusion.apply import FILLS, TEXTURE_FILL, make_occlusion, texture_groups
from idinpaint.occlusion.maskthface import OccludersMissingError, list_templates
from idinpaint.occlusion.regions import REGION_NAMES


@dataclass
class OcclusionExamples:
    """``regions`` x ``fills`` occluded faces (``grid[fill][region]``), then one per template
    (``templates``: (name, occluded face, or the error text when it could not be drawn)); ``missing``
    says why there are no templates when the MaskTheFace folder is missing."""

    fills: list
    regions: list
    grid: dict = field(default_factory=dict)
    templates: list = field(default_factory=list)
    missing: str | None = None


def occlusion_examples(face, landmarks=None, fills=None, templates=None, seed: int = 0) -> OcclusionExamples:
    """Every protocol region x every fill, and every MaskTheFace template, on one face.

    ``face``: an aligned RGB uint8 crop; ``landmarks``: its 5 crop landmarks (place the occluders;
    default the ArcFace template); ``templates``: names (default all, variants included; none, with
    ``missing`` saying why, when the MaskTheFace folder is missing)."""
    fills = list(fills or [f for f in FILLS if f != TEXTURE_FILL or texture_groups()])  # texture: needs MaskTheFace
    missing = None
    if templates is None:
        try:
            templates = list_templates(include_variants=True)
        except OccludersMissingError as err:
            templates, missing = [], str(err)
    out = OcclusionExamples(fills, list(REGION_NAMES), missing=missing)
    for fill in fills:
        out.grid[fill] = {region: make_occlusion(f"region:{region}@{fill}", face, np.random.default_rng(seed))[0]
                          for region in REGION_NAMES}
    for template in templates:
        try:
            occluded, _ = make_occlusion(f"maskthface:{template}", face, np.random.default_rng(seed), landmarks=landmarks)
            out.templates.append((template, occluded))
        except Exception as err:  # one broken template does not sink the gallery
            out.templates.append((template, f"{type(err).__name__}"))
    return out
