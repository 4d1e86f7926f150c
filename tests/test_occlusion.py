"""Occlusion masks and occluders: regions, random holes, MaskTheFace, fills and the spec parser."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from idinpaint.align import ARCFACE_TEMPLATE, CROP_SIZE
from idinpaint.occlusion import (
    FREE_FORM_FRACTION,
    MASKTHEFACE_URL,
    REGION_NAMES,
    REGIONS,
    OccludersMissingError,
    apply_maskthface,
    estimate_yaw,
    face_anchor_points,
    free_form_mask,
    list_templates,
    list_textures,
    load_template,
    make_occlusion,
    occlude,
    parse_spec,
    random_block_mask,
    random_part_mask,
    region_box,
    region_mask,
    resolve_template,
)
from idinpaint.paths import occluders_dir

BASE_TEMPLATES = ("surgical", "N95", "KN95", "cloth", "gas", "surgical_blue", "surgical_green")
EXPECTED_PIXELS = {
    "left_eye": 40 * 40, "right_eye": 40 * 40, "two_eyes": 80 * 40, "nose": 28 * 38,
    "mouth": 50 * 25, "upper_face": 112 * 66, "lower_face": 112 * 46, "left_face": 56 * 112,
    "right_face": 56 * 112, "center_block": 48 * 48,
}
HAVE_MASKTHFACE = (occluders_dir() / "masks.cfg").is_file()
needs_maskthface = pytest.mark.skipif(
    not HAVE_MASKTHFACE, reason=f"MaskTheFace occluders not found at {occluders_dir()} (see {MASKTHEFACE_URL})"
)


def face_image(colour=(255, 0, 255)) -> np.ndarray:
    """A plain-coloured 112 crop with a drawn face: skin ellipse, eyes, nose and mouth on the template."""
    image = np.zeros((CROP_SIZE, CROP_SIZE, 3), np.uint8)
    image[:] = colour
    cv2.ellipse(image, (56, 64), (40, 52), 0, 0, 360, (224, 172, 140), -1)
    for x, y in ARCFACE_TEMPLATE[:2]:
        cv2.circle(image, (round(x), round(y)), 5, (40, 30, 30), -1)
    cv2.circle(image, tuple(int(round(v)) for v in ARCFACE_TEMPLATE[2]), 4, (180, 120, 100), -1)
    cv2.line(image, tuple(int(round(v)) for v in ARCFACE_TEMPLATE[3]),
             tuple(int(round(v)) for v in ARCFACE_TEMPLATE[4]), (150, 40, 50), 3)
    return image


def inside(mask: np.ndarray, point) -> bool:
    x, y = (int(round(v)) for v in point)
    return bool(mask[y, x])


# --- regions -------------------------------------------------------------------------------------

def test_region_names_in_protocol_order():
    assert list(REGIONS) == ["left_eye", "right_eye", "two_eyes", "nose", "mouth", "upper_face",
                             "lower_face", "left_face", "right_face", "center_block"]
    assert REGION_NAMES == tuple(REGIONS)


@pytest.mark.parametrize("name", list(EXPECTED_PIXELS))
def test_region_boxes_inside_crop_with_expected_pixel_count(name):
    x1, y1, x2, y2 = REGIONS[name]
    assert 0 <= x1 < x2 <= CROP_SIZE and 0 <= y1 < y2 <= CROP_SIZE
    mask = region_mask(name)
    assert mask.dtype == bool and mask.shape == (CROP_SIZE, CROP_SIZE)
    assert int(mask.sum()) == EXPECTED_PIXELS[name]
    assert mask[y1:y2, x1:x2].all()  # with the count: exactly the box, x2/y2 exclusive


def test_given_boxes_are_exact():
    assert REGIONS["left_eye"] == (18, 30, 58, 70)
    assert REGIONS["two_eyes"] == (18, 30, 98, 70)
    assert REGIONS["nose"] == (42, 48, 70, 86)
    assert REGIONS["mouth"] == (33, 82, 83, 107)
    assert REGIONS["center_block"] == (32, 32, 80, 80)


def test_right_eye_mirrors_left_eye():
    assert REGIONS["right_eye"] == (54, 30, 94, 70)
    np.testing.assert_array_equal(region_mask("right_eye"), region_mask("left_eye")[:, ::-1])


def test_two_eyes_contains_both_eyes():
    two = region_mask("two_eyes")
    for eye in ("left_eye", "right_eye"):
        assert not (region_mask(eye) & ~two).any()


def test_face_part_boxes_hold_their_landmarks():
    eye_l, eye_r, nose, mouth_l, mouth_r = ARCFACE_TEMPLATE
    assert inside(region_mask("left_eye"), eye_l) and not inside(region_mask("left_eye"), eye_r)
    assert inside(region_mask("right_eye"), eye_r) and not inside(region_mask("right_eye"), eye_l)
    assert inside(region_mask("nose"), nose)
    assert inside(region_mask("mouth"), mouth_l) and inside(region_mask("mouth"), mouth_r)
    # "left" is the image's left: the eye_left landmark (x ~ 38) lies in left_face
    assert inside(region_mask("left_face"), eye_l) and inside(region_mask("right_face"), eye_r)
    # upper_face covers both eyes but stops above the nose tip
    assert inside(region_mask("upper_face"), eye_l) and inside(region_mask("upper_face"), eye_r)
    assert not inside(region_mask("upper_face"), nose)


@pytest.mark.parametrize("pair", [("upper_face", "lower_face"), ("left_face", "right_face")])
def test_half_faces_partition_the_crop(pair):
    a, b = (region_mask(n) for n in pair)
    assert not (a & b).any() and (a | b).all()


def test_region_mask_scales_with_size():
    for name in REGION_NAMES:
        assert int(region_mask(name, 224).sum()) == 4 * EXPECTED_PIXELS[name]
    assert region_box("nose", 224) == (84, 96, 140, 172)


def test_unknown_region_lists_valid_names():
    with pytest.raises(ValueError, match="unknown region 'chin'.*left_eye.*center_block"):
        region_mask("chin")
    with pytest.raises(ValueError, match="positive integer"):
        region_mask("nose", 0)


# --- random masks -------------------------------------------------------------------------------

def test_random_part_is_deterministic_and_reaches_every_region():
    seen = set()
    for seed in range(60):
        mask = random_part_mask(np.random.default_rng(seed))
        np.testing.assert_array_equal(mask, random_part_mask(np.random.default_rng(seed)))
        seen.update(n for n in REGION_NAMES if np.array_equal(mask, region_mask(n)))
    assert seen == set(REGION_NAMES)


@pytest.mark.parametrize("block", [1, 20, 48, 112])
def test_random_block_size_and_bounds(block):
    for seed in range(25):
        mask = random_block_mask(np.random.default_rng(seed), block)
        ys, xs = np.nonzero(mask)
        assert mask.sum() == block * block
        assert ys.max() - ys.min() + 1 == block and xs.max() - xs.min() + 1 == block
        assert ys.min() >= 0 and xs.min() >= 0 and ys.max() < CROP_SIZE and xs.max() < CROP_SIZE


def test_random_block_determinism_and_seed_dependence():
    a = random_block_mask(np.random.default_rng(1), 30)
    np.testing.assert_array_equal(a, random_block_mask(np.random.default_rng(1), 30))
    others = [random_block_mask(np.random.default_rng(s), 30) for s in range(2, 7)]
    assert any(not np.array_equal(a, o) for o in others)


def test_random_block_rejects_bad_sizes_and_rngs():
    with pytest.raises(ValueError, match="block_size"):
        random_block_mask(np.random.default_rng(0), 113)
    with pytest.raises(ValueError, match="block_size"):
        random_block_mask(np.random.default_rng(0), 0)
    with pytest.raises(TypeError, match="default_rng"):
        random_block_mask(0, 10)


def test_free_form_fraction_in_bounds_and_deterministic():
    low, high = FREE_FORM_FRACTION
    fractions = []
    for seed in range(40):
        mask = free_form_mask(np.random.default_rng(seed))
        assert mask.dtype == bool and mask.shape == (CROP_SIZE, CROP_SIZE)
        assert low <= mask.mean() <= high
        fractions.append(mask.mean())
        np.testing.assert_array_equal(mask, free_form_mask(np.random.default_rng(seed)))
    assert len(set(fractions)) > 30  # really different masks per seed
    assert not np.array_equal(free_form_mask(np.random.default_rng(0)), free_form_mask(np.random.default_rng(1)))


def test_free_form_custom_bounds_and_failure():
    for seed in range(10):
        mask = free_form_mask(np.random.default_rng(seed), size=64, fraction=(0.1, 0.2))
        assert mask.shape == (64, 64) and 0.1 <= mask.mean() <= 0.2
    with pytest.raises(RuntimeError, match="hole fraction"):
        free_form_mask(np.random.default_rng(0), max_width=2, min_width=1, fraction=(0.9, 1.0), max_tries=3)
    with pytest.raises(ValueError, match="fraction"):
        free_form_mask(np.random.default_rng(0), fraction=(0.5, 0.2))


# --- fills and validation -----------------------------------------------------------------------

@pytest.mark.parametrize("fill,value", [("black", 0), ("gray", 128), ("white", 255)])
def test_occlude_constant_fills(fill, value):
    image = face_image()
    mask = region_mask("nose")
    out = occlude(image, mask, fill)
    assert (out[mask] == value).all()
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert out is not image and image[mask].max() > 0  # the input is untouched


def test_occlude_noise_needs_rng_and_is_seeded():
    image, mask = face_image(), region_mask("mouth")
    a = occlude(image, mask, "noise", np.random.default_rng(3))
    np.testing.assert_array_equal(a, occlude(image, mask, "noise", np.random.default_rng(3)))
    assert not np.array_equal(a, occlude(image, mask, "noise", np.random.default_rng(4)))
    np.testing.assert_array_equal(a[~mask], image[~mask])
    assert len(np.unique(a[mask])) > 100  # uniform noise, not a constant
    with pytest.raises(ValueError, match="noise.*rng"):
        occlude(image, mask, "noise")
    with pytest.raises(ValueError, match="unknown fill 'blue'.*black, gray, white, noise"):
        occlude(image, mask, "blue")


@pytest.mark.parametrize("bad,message", [
    (np.zeros((112, 112), np.float32), "dtype must be bool or integer"),
    (np.where(region_mask("nose"), 255, 0).astype(np.uint8), r"only 0/1.*\[0, 255\]"),
    (np.zeros((100, 112), bool), r"size \(100, 112\) does not match image size \(112, 112\)"),
    (np.zeros((112, 112, 3), bool), "must be 2-D"),
])
def test_occlude_rejects_bad_masks(bad, message):
    with pytest.raises(ValueError, match=message) as info:
        occlude(face_image(), bad)
    assert "\n" not in str(info.value)


def test_occlude_accepts_01_integer_masks():
    mask = region_mask("mouth")
    np.testing.assert_array_equal(occlude(face_image(), mask.astype(np.uint8)), occlude(face_image(), mask))


@pytest.mark.parametrize("bad", [face_image().astype(np.float32), face_image()[..., 0], face_image()[..., :2]])
def test_occlude_rejects_bad_images(bad):
    with pytest.raises(ValueError, match=r"RGB uint8 \(H, W, 3\)"):
        occlude(bad, region_mask("nose"))


# --- spec parser --------------------------------------------------------------------------------

def test_parse_spec_forms():
    assert str(parse_spec("region:nose")) == "region:nose@black"
    assert str(parse_spec("random_block:32@noise")) == "random_block:32@noise"
    assert parse_spec("random_block").arg is None
    assert parse_spec("maskthface").fill == "occluder"
    assert parse_spec("maskthface:cloth@gray").arg == "cloth"


@pytest.mark.parametrize("spec,message", [
    ("blob", "unknown occlusion kind 'blob'.*region, random_part, random_block, free_form, maskthface"),
    ("region", "region needs a name.*left_eye"),
    ("region:chin", "region needs a name"),
    ("random_block:big", "positive integer"),
    ("free_form:3", "takes no argument"),
    ("region:nose@occluder", "unknown fill 'occluder'"),
    ("", "non-empty"),
])
def test_parse_spec_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_spec(spec)


def test_make_occlusion_region_and_random_kinds():
    image = face_image()
    out, mask = make_occlusion("region:mouth@white", image, None)
    np.testing.assert_array_equal(mask, region_mask("mouth"))
    np.testing.assert_array_equal(out, occlude(image, mask, "white"))
    out, mask = make_occlusion("random_block:20", image, np.random.default_rng(0))
    assert mask.sum() == 400 and (out[mask] == 0).all()
    for spec in ("random_part@gray", "free_form@noise", "random_block"):
        a = make_occlusion(spec, image, np.random.default_rng(5))
        b = make_occlusion(spec, image, np.random.default_rng(5))
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="free_form needs rng"):
        make_occlusion("free_form", image, None)
    with pytest.raises(ValueError, match="square"):
        make_occlusion("region:nose", np.zeros((112, 96, 3), np.uint8), None)


# --- MaskTheFace --------------------------------------------------------------------------------

@needs_maskthface
def test_templates_listed_and_anchors_as_documented():
    names = list_templates()
    assert set(BASE_TEMPLATES) <= set(names)
    assert set(list_templates(include_variants=False)) == set(BASE_TEMPLATES)
    for name in BASE_TEMPLATES:
        template = load_template(name)
        assert template.rgba.shape[2] == 4 and template.rgba.dtype == np.uint8
        a, b, c, d, e, f = template.anchors
        assert a[0] < b[0] < c[0] and d[0] < e[0] < f[0]           # left to right
        assert max(a[1], b[1], c[1]) < min(d[1], e[1], f[1])         # top edge above bottom edge
        assert b[1] < min(a[1], c[1]) and e[1] > max(d[1], f[1])     # bridge top-most, chin lowest
        assert template.rgba[int(b[1]) + 5, int(b[0]), 3] > 0        # just below b is mask, not background
    assert load_template("surgical") is load_template("surgical")  # cached


def test_face_anchor_points_geometry():
    a, b, c, d, e, f = face_anchor_points(ARCFACE_TEMPLATE)
    eye_y, nose_y, mouth_y = ARCFACE_TEMPLATE[0, 1], ARCFACE_TEMPLATE[2, 1], ARCFACE_TEMPLATE[3, 1]
    assert eye_y < b[1] < nose_y                      # nose bridge between eyes and nose tip
    assert abs(b[0] - 56) < 1 and abs(e[0] - 56) < 1
    assert a[0] < ARCFACE_TEMPLATE[0, 0] and c[0] > ARCFACE_TEMPLATE[1, 0]
    assert eye_y < a[1] < mouth_y and eye_y < c[1] < mouth_y
    assert d[1] > mouth_y and f[1] > mouth_y and e[1] > d[1]
    # the construction is equivariant: move/rotate/scale the landmarks and the points follow
    angle, scale, shift = np.deg2rad(20), 1.7, np.array([30.0, -12.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = face_anchor_points(ARCFACE_TEMPLATE @ rot.T + shift)
    np.testing.assert_allclose(moved, face_anchor_points(ARCFACE_TEMPLATE) @ rot.T + shift, atol=1e-9)
    with pytest.raises(ValueError, match="5 finite"):
        face_anchor_points(ARCFACE_TEMPLATE[:4])
    with pytest.raises(ValueError, match="mirrored"):
        face_anchor_points(ARCFACE_TEMPLATE[[1, 0, 2, 4, 3]])


@needs_maskthface
@pytest.mark.parametrize("template", BASE_TEMPLATES)
def test_maskthface_covers_mouth_and_nose_not_eyes(template):
    image = face_image()
    out, mask = apply_maskthface(image, template=template)
    assert mask.dtype == bool and mask.shape == (112, 112)
    for point in ARCFACE_TEMPLATE[2:]:
        assert inside(mask, point), f"{template}: landmark {point} not covered"
    for point in ARCFACE_TEMPLATE[:2]:
        assert not inside(mask, point), f"{template}: eye {point} covered"
    assert 0.12 < mask.mean() < 0.45
    assert not mask[:40].any()  # nothing on the forehead
    # the image changed exactly inside the hole (the background colour appears in no template)
    np.testing.assert_array_equal((out != image).any(axis=2), mask)


@needs_maskthface
def test_maskthface_follows_landmarks_and_image_size():
    image = np.full((224, 224, 3), (255, 0, 255), np.uint8)
    _, mask = apply_maskthface(image)  # default landmarks: the template scaled to 224
    for point in ARCFACE_TEMPLATE[2:] * 2:
        assert inside(mask, point)
    _, base = apply_maskthface(face_image())
    _, moved = apply_maskthface(face_image(), landmarks=ARCFACE_TEMPLATE + [12, -6])
    shift = np.argwhere(moved).mean(0) - np.argwhere(base).mean(0)
    assert abs(shift[1] - 12) < 2.5 and abs(shift[0] + 6) < 2.5  # (row, col) = (y, x)


@needs_maskthface
def test_maskthface_pose_variants():
    turned_left = ARCFACE_TEMPLATE.copy()
    turned_left[2, 0] -= 9
    assert estimate_yaw(turned_left) < -0.12
    assert abs(estimate_yaw(ARCFACE_TEMPLATE)) < 0.01
    assert resolve_template("surgical", turned_left, "auto") == "surgical_left"
    assert resolve_template("surgical", turned_left, "frontal") == "surgical"
    assert resolve_template("cloth", ARCFACE_TEMPLATE, "auto") == "cloth"
    assert resolve_template("KN95", ARCFACE_TEMPLATE, "right") == "KN95_right"
    turned_right = ARCFACE_TEMPLATE.copy()
    turned_right[2, 0] += 9
    assert resolve_template("N95", turned_right, "auto") == "N95_right"
    out, mask = apply_maskthface(face_image(), landmarks=turned_left, template="surgical", pose="auto")
    assert inside(mask, turned_left[3]) and inside(mask, turned_left[4])
    with pytest.raises(ValueError, match="unknown pose"):
        resolve_template("surgical", ARCFACE_TEMPLATE, "up")


@needs_maskthface
def test_maskthface_unknown_template_lists_names():
    with pytest.raises(ValueError, match="unknown MaskTheFace template 'scarf'.*surgical.*KN95"):
        apply_maskthface(face_image(), template="scarf")


@needs_maskthface
def test_maskthface_texture_recolours_but_keeps_the_hole():
    textures = list_textures()
    assert "check/check_1" in textures
    image = face_image()
    plain, mask = apply_maskthface(image, template="cloth")
    textured, mask2 = apply_maskthface(image, template="cloth", texture="check/check_1")
    np.testing.assert_array_equal(mask, mask2)
    np.testing.assert_array_equal(textured[~mask], image[~mask])
    assert np.abs(textured[mask].astype(int) - plain[mask]).mean() > 20
    a = apply_maskthface(image, template="cloth", texture="random", rng=np.random.default_rng(2))[0]
    b = apply_maskthface(image, template="cloth", texture="random", rng=np.random.default_rng(2))[0]
    np.testing.assert_array_equal(a, b)
    array_texture = np.zeros((40, 40, 3), np.uint8)
    array_texture[::2] = (0, 200, 0)
    green, mask3 = apply_maskthface(image, template="cloth", texture=array_texture)
    np.testing.assert_array_equal(mask, mask3)
    assert green[mask][:, 1].mean() > green[mask][:, 0].mean() + 20
    with pytest.raises(ValueError, match="rng"):
        apply_maskthface(image, template="cloth", texture="random")


@needs_maskthface
def test_make_occlusion_maskthface_specs():
    image = face_image()
    out, mask = make_occlusion("maskthface", image, None)
    ref_out, ref_mask = apply_maskthface(image, template="surgical")
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(mask, ref_mask)
    black, black_mask = make_occlusion("maskthface:N95@black", image, None)
    assert (black[black_mask] == 0).all()
    np.testing.assert_array_equal(black[~black_mask], image[~black_mask])
    a = make_occlusion("maskthface:random", image, np.random.default_rng(7))
    b = make_occlusion("maskthface:random", image, np.random.default_rng(7))
    np.testing.assert_array_equal(a[0], b[0])
    picks = {make_occlusion("maskthface:random", image, np.random.default_rng(s))[1].sum() for s in range(12)}
    assert len(picks) > 2


def test_missing_occluders_folder_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("IDINPAINT_OCCLUDERS", str(tmp_path / "nowhere"))
    with pytest.raises(OccludersMissingError) as info:
        list_templates()
    text = str(info.value)
    assert "\n" not in text and str(tmp_path / "nowhere") in text and MASKTHEFACE_URL in text
    with pytest.raises(OccludersMissingError):
        make_occlusion("maskthface", face_image(), None)


# --- textured fills -----------------------------------------------------------------------------

@needs_maskthface
def test_texture_fill_is_a_seeded_pattern_only_in_the_hole():
    image, mask = face_image(), region_mask("center_block")
    a, mask_a = make_occlusion("region:center_block@texture", image, np.random.default_rng(5))
    np.testing.assert_array_equal(mask_a, mask)
    np.testing.assert_array_equal(a, make_occlusion("region:center_block@texture", image,
                                                    np.random.default_rng(5))[0])
    np.testing.assert_array_equal(a[~mask], image[~mask])
    hole = a[mask].astype(np.float32)
    assert hole.std(axis=0).mean() > 5  # a picture, not a flat colour
    draws = [make_occlusion("region:center_block@texture", image, np.random.default_rng(seed))[0][mask]
             for seed in range(6)]
    assert len({d.tobytes() for d in draws}) == 6


@needs_maskthface
def test_texture_group_is_fixed_by_the_spec_and_checked():
    from idinpaint.occlusion import texture_groups
    assert {"check", "floral"} <= set(texture_groups())
    occluded, mask = make_occlusion("random_block:40@texture:floral", face_image(), np.random.default_rng(0))
    assert mask.sum() == 40 * 40 and not np.array_equal(occluded[mask], face_image()[mask])
    with pytest.raises(ValueError, match="unknown texture group 'tartan'; valid: solid, noise, stripes, gradient, check, floral"):
        make_occlusion("region:nose@texture:tartan", face_image(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="texture.*rng"):
        occlude(face_image(), region_mask("nose"), "texture")


@pytest.mark.parametrize("spec", ["region:nose@texture:", "region:nose@texture:9x"])
def test_texture_group_syntax_is_checked_by_the_parser(spec):
    with pytest.raises(ValueError, match="texture group must be a name"):
        parse_spec(spec)


def test_texture_fill_without_occluders_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("IDINPAINT_OCCLUDERS", str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="needs the MaskTheFace texture pictures") as info:
        make_occlusion("region:nose@texture", face_image(), np.random.default_rng(0))
    assert "\n" not in str(info.value)
