"""aligned crop -> (occluded crop, mask): face-part regions, random holes, MaskTheFace occluders.

Masks are bool (H, W), True = hole; images RGB uint8 (H, W, 3). Random masks take a
``numpy.random.Generator`` and nothing else, so they are reproducible from a seed.
"""
from idinpaint.occlusion.apply import (
    DEFAULT_BLOCK_SIZE,
    FILL_VALUES,
    FILLS,
    OCCLUDER_FILL,
    SPEC_KINDS,
    OcclusionSpec,
    check_image,
    make_mask,
    make_occlusion,
    occlude,
    parse_spec,
)
from idinpaint.occlusion.maskthface import (
    MASKTHEFACE_URL,
    YAW_THRESHOLD,
    MaskTemplate,
    OccludersMissingError,
    apply_maskthface,
    estimate_yaw,
    face_anchor_points,
    list_templates,
    list_textures,
    load_template,
    resolve_template,
    retexture,
)
from idinpaint.occlusion.random_masks import (
    FREE_FORM_FRACTION,
    free_form_mask,
    random_block_mask,
    random_part_mask,
    random_region_name,
)
from idinpaint.occlusion.regions import REGION_NAMES, REGIONS, region_box, region_mask

__all__ = [
    "DEFAULT_BLOCK_SIZE", "FILL_VALUES", "FILLS", "OCCLUDER_FILL", "SPEC_KINDS", "OcclusionSpec",
    "check_image", "make_mask", "make_occlusion", "occlude", "parse_spec",
    "MASKTHEFACE_URL", "YAW_THRESHOLD", "MaskTemplate", "OccludersMissingError", "apply_maskthface",
    "estimate_yaw", "face_anchor_points", "list_templates", "list_textures", "load_template",
    "resolve_template", "retexture",
    "FREE_FORM_FRACTION", "free_form_mask", "random_block_mask", "random_part_mask", "random_region_name",
    "REGION_NAMES", "REGIONS", "region_box", "region_mask",
]
