"""One occlusion grammar: protocol boxes, training masks, MaskTheFace shapes, textures and the
O-Detector's composites are all specs of ``idinpaint.occlusion.spec``, drawn exactly
(``make_occlusion``) or as natural composites (``compose_spec``)."""
from __future__ import annotations

import numpy as np
import pytest

from idinpaint.occlusion.apply import make_mask, make_occlusion
from idinpaint.occlusion.composites import (
    DEFAULT_MIX,
    CompositeSampler,
    TextureBank,
    compose_spec,
    families_of,
    family_name,
    spec_of,
)
from idinpaint.occlusion.spec import SPEC_KINDS, canonical_spec, parse_spec, weighted_specs
from idinpaint.paths import occluders_dir
from idinpaint.training.masks import DEFAULT_MIX as MASK_MIX
from idinpaint.training.masks import MaskSampler

HAVE_MASKTHFACE = (occluders_dir() / "masks.cfg").is_file()
needs_maskthface = pytest.mark.skipif(not HAVE_MASKTHFACE, reason=f"no MaskTheFace occluders at {occluders_dir()}")


def _face(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    face = np.full((112, 112, 3), (200, 160, 130), np.float32) + rng.normal(0, 6, (112, 112, 3))
    return np.clip(face, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("spec, canonical", [
    ("region:nose", "region:nose@black"),
    ("random_block:24-64@gray", "random_block:24-64@gray"),
    ("maskthface:KN95", "maskthface:KN95@occluder"),
    ("maskthface:KN95@texture:floral", "maskthface:KN95@texture:floral"),
    ("moved_region@texture:stripes", "moved_region@texture:stripes"),
    ("block", "block@black"),
    ("glasses@texture:solid", "glasses@texture:solid"),
    ("clean", "clean"),
])
def test_every_occluder_is_a_spec_with_one_canonical_form(spec, canonical):
    assert canonical_spec(spec) == canonical
    assert canonical_spec(canonical) == canonical


@pytest.mark.parametrize("spec, message", [
    ("clean@black", "clean takes no argument and no fill"),
    ("random_block:64-24", "random_block size"),
    ("block:3", "takes no argument"),
    ("tartan", "unknown occlusion kind"),
])
def test_bad_specs_are_one_line_errors(spec, message):
    with pytest.raises(ValueError, match=message) as err:
        parse_spec(spec)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("spec", ["moved_region", "block@gray", "glasses@white", "random_block:24-64",
                                  "region:two_eyes@texture:stripes", "free_form@texture:gradient"])
def test_the_exact_rendering_paints_only_the_hole(spec):
    face = _face()
    occluded, mask = make_occlusion(spec, face, np.random.default_rng(3))
    assert mask.dtype == bool and mask.shape == (112, 112) and 0 < mask.mean() < 0.7
    np.testing.assert_array_equal(occluded[~mask], face[~mask])
    again, same = make_occlusion(spec, face, np.random.default_rng(3))
    np.testing.assert_array_equal(again, occluded)
    np.testing.assert_array_equal(same, mask)


def test_clean_is_the_crop_as_it_is():
    face = _face()
    occluded, mask = make_occlusion("clean", face, None)
    np.testing.assert_array_equal(occluded, face)
    assert not mask.any() and not make_mask(parse_spec("clean"), 112, None).any()


def test_a_block_range_draws_its_side_in_the_range():
    sides = {int(np.sqrt(make_mask(parse_spec("random_block:24-64"), 112, np.random.default_rng(i)).sum()))
             for i in range(40)}
    assert min(sides) >= 24 and max(sides) <= 64 and len(sides) > 5


def test_training_masks_are_weighted_specs_and_older_kind_names_are_refused():
    specs, _ = weighted_specs(MASK_MIX)
    assert all(parse_spec(spec).kind in SPEC_KINDS for spec in specs)
    spelled = MaskSampler([["random_part", 1], ["random_block:24-64", 1], ["free_form", 1]])
    assert spelled.specs == ["random_part", "random_block:24-64", "free_form"]
    for old, meant in (("region", "random_part"), ("block", "random_block:24-64"), ("maskthface", "maskthface:random")):
        with pytest.raises(ValueError, match=f"mask mix: '{old}' is an older name for '{meant}'"):
            MaskSampler({old: 1.0, "free_form": 1.0})
    with pytest.raises(ValueError, match="mask mix"):
        MaskSampler([["region:nowhere", 1.0]])


def test_a_composite_draw_is_a_spec_and_drawing_the_spec_gives_the_same_composite():
    sampler = CompositeSampler([["block", 1], ["moved_region@texture:stripes", 1], ["clean", 0.5], ["glasses", 1]],
                               held_out=["texture:gradient"], bank=TextureBank(folder="/nonexistent"))
    assert "gradient" in sampler.held_out
    face = _face(1)
    for seed in range(8):
        drawn = sampler.draw(face, np.random.default_rng(seed))
        rng = np.random.default_rng(seed)
        spec = sampler.draw_spec(rng)
        assert canonical_spec(spec) and families_of(spec) == (drawn.shape, drawn.texture)
        again = compose_spec(face, spec, rng, bank=sampler.bank, augment=sampler.augment)
        np.testing.assert_array_equal(again.image, drawn.image)
        np.testing.assert_array_equal(again.mask, drawn.mask)
        assert "gradient" not in spec


def test_composites_draw_only_their_shapes_and_name_families_in_the_grammar():
    assert spec_of("block", "stripes") == "block@texture:stripes" and spec_of("clean", "none") == "clean"
    assert families_of("maskthface:KN95@texture:floral") == ("maskthface:KN95", "floral")
    assert family_name("texture:floral") == "floral" and family_name("region") == "moved_region"
    with pytest.raises(ValueError, match="exact holes are drawn by make_occlusion"):
        families_of("region:two_eyes@black")
    with pytest.raises(ValueError, match="composites draw"):
        CompositeSampler([["random_part", 1.0]], bank=TextureBank(folder="/nonexistent"))
    assert [spec for spec, _ in DEFAULT_MIX] == ["clean", "maskthface", "moved_region", "block", "free_form",
                                                 "glasses"]


@needs_maskthface
def test_a_maskthface_occluder_with_a_texture_is_one_spec_for_protocol_and_composites():
    face = _face(2)
    occluded, mask = make_occlusion("maskthface:KN95@texture:floral", face, np.random.default_rng(0))
    assert mask.any() and not np.array_equal(occluded[mask], face[mask])
    np.testing.assert_array_equal(occluded[~mask], face[~mask])
    made = compose_spec(face, "maskthface:KN95@texture:floral", np.random.default_rng(0), augment=False)
    assert made.shape == "maskthface:KN95" and made.texture == "floral" and made.mask.any()


def test_a_band_over_the_eyes_is_a_spec_drawn_on_a_crop_or_on_a_photo_of_any_size():
    from idinpaint.align import ARCFACE_TEMPLATE
    from idinpaint.recover import occlude_photo

    assert canonical_spec("band") == "band@black"
    with pytest.raises(ValueError, match="takes no argument"):
        parse_spec("band:floral")
    face = np.full((112, 112, 3), 150, np.uint8)
    occluded, mask = make_occlusion("band@gray", face, None)
    assert mask[52, 56] and not mask[92, 56] and (occluded[mask] == 128).all()  # over the eyes, not the mouth
    photo = np.full((300, 240, 3), 90, np.uint8)
    points = ARCFACE_TEMPLATE * 1.5 + np.array([30.0, 60.0])
    occluded, mask = make_occlusion("band@white", photo, None, landmarks=points)
    eyes = points[:2].mean(0).round().astype(int)
    assert mask.shape == (300, 240) and mask[eyes[1], eyes[0]] and (occluded[mask] == 255).all()
    same, same_mask = occlude_photo(photo, points, "band@white", np.random.default_rng(0))
    np.testing.assert_array_equal(same_mask, mask)
    with pytest.raises(ValueError, match="photo-space occluder"):
        occlude_photo(photo, points, "region:nose", np.random.default_rng(0))
