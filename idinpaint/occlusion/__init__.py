"""aligned crop -> (occluded crop, mask): face-part regions, random holes, MaskTheFace occluders;
seeded batch occlusion (:mod:`.batch`) and crop landmarks (:mod:`.landmarks`).

Masks are bool (H, W), True = hole; images RGB uint8 (H, W, 3). Random masks take a
``numpy.random.Generator`` and nothing else, so they are reproducible from a seed.
"""
from idinpaint.imageio import check_image
from idinpaint.occlusion.apply import (
    DEFAULT_BLOCK_SIZE,
    FILL_VALUES,
    FILLS,
    OCCLUDER_FILL,
    SPEC_KINDS,
    TEXTURE_FILL,
    OcclusionSpec,
    make_mask,
    make_occlusion,
    occlude,
    parse_spec,
    texture_groups,
)
from idinpaint.occlusion.batch import CLEAN, canonical_spec, occlude_faces, occlusion_seed, region_label
from idinpaint.occlusion.examples import OcclusionExamples, occlusion_examples
from idinpaint.occlusion.landmarks import crop_landmarks, crop_landmarks_of
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
    "DEFAULT_BLOCK_SIZE", "FILL_VALUES", "FILLS", "OCCLUDER_FILL", "SPEC_KINDS", "TEXTURE_FILL",
    "OcclusionSpec", "check_image", "make_mask", "make_occlusion", "occlude", "parse_spec", "texture_groups",
    "MASKTHEFACE_URL", "YAW_THRESHOLD", "MaskTemplate", "OccludersMissingError", "apply_maskthface",
    "estimate_yaw", "face_anchor_points", "list_templates", "list_textures", "load_template",
    "resolve_template", "retexture",
    "FREE_FORM_FRACTION", "free_form_mask", "random_block_mask", "random_part_mask", "random_region_name",
    "REGION_NAMES", "REGIONS", "region_box", "region_mask",
    "CLEAN", "canonical_spec", "occlude_faces", "occlusion_seed", "region_label",
    "OcclusionExamples", "occlusion_examples",
    "crop_landmarks", "crop_landmarks_of",
]
