import numpy as np
import pytest

from idinpaint.align import (
    ARCFACE_TEMPLATE,
    Detection,
    NoFaceError,
    YuNetDetector,
    align_face,
    apply_transform,
    pick_face,
    similarity_transform,
    warp_to_template,
)
from idinpaint.imageio import read_rgb


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = rng.uniform(0, 100, (5, 2))
    target = source @ (scale * rotation).T + shift
    matrix = similarity_transform(source, target)
    np.testing.assert_allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)


def test_similarity_transform_has_no_shear_or_reflection():
    rng = np.random.default_rng(1)
    matrix = similarity_transform(rng.uniform(0, 50, (5, 2)), ARCFACE_TEMPLATE)
    linear = matrix[:, :2]
    assert np.isclose(linear[0, 0], linear[1, 1]) and np.isclose(linear[0, 1], -linear[1, 0])
    assert np.linalg.det(linear) > 0


def test_aligned_crop_puts_landmarks_on_the_template(lfw_root):
    """Geometry end to end: re-detecting the aligned crop finds landmarks on the template."""
    detector = YuNetDetector()
    for rel in ("Abel_Pacheco/Abel_Pacheco_0001.jpg", "Dean_Barker/Dean_Barker_0001.jpg"):
        crop, detection, matrix = align_face(read_rgb(lfw_root / "raw" / rel), detector)
        assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
        mapped = apply_transform(matrix, detection.landmarks)
        assert np.abs(mapped - ARCFACE_TEMPLATE).max() < 10  # least squares, 5 points: close, not exact
        # Re-detecting on the crop finds the face where the template says (YuNet is a few pixels
        # less precise on tight 112 crops, hence the looser bound) and in the template's order.
        redetected = pick_face(detector.detect(crop), crop.shape).landmarks
        assert np.linalg.norm(redetected - ARCFACE_TEMPLATE, axis=1).mean() < 8.0
        assert redetected[0, 0] < redetected[1, 0] and redetected[3, 0] < redetected[4, 0]
        assert redetected[:2, 1].max() < redetected[2, 1] < redetected[3:, 1].min()


def test_warp_scales_the_template_with_the_size():
    image = np.zeros((200, 200, 3), np.uint8)
    crop, matrix = warp_to_template(image, ARCFACE_TEMPLATE * 1.5 + 10, size=224)
    assert crop.shape == (224, 224, 3)
    np.testing.assert_allclose(apply_transform(matrix, ARCFACE_TEMPLATE * 1.5 + 10), ARCFACE_TEMPLATE * 2, atol=1e-6)


def test_pick_face_prefers_the_central_large_face():
    def face(x, y, w):
        return Detection(box=np.array([x, y, w, w], float), landmarks=np.zeros((5, 2)), score=0.9)

    central = face(90, 90, 70)          # centre of a 250x250 photo
    big_corner = face(0, 0, 90)         # larger, but at the edge
    small_centre = face(115, 115, 20)
    assert pick_face([big_corner, small_centre, central], (250, 250, 3)) is central
    with pytest.raises(NoFaceError):
        pick_face([], (250, 250, 3))


def test_no_face_in_noise():
    noise = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    with pytest.raises(NoFaceError):
        align_face(noise, YuNetDetector())


# --- photo <-> crop: locate once, paste back once ---------------------------------------------------

class ScriptedDetector:
    """Answers YuNet's question from a script: ``answers[i]`` for the i-th call (then nothing); counts calls."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def detect(self, image):
        self.calls.append(image.shape[:2])
        return self.answers[len(self.calls) - 1] if len(self.calls) <= len(self.answers) else []


def _face_at(scale: float = 1.6, shift=(50.0, 40.0), score: float = 0.9) -> Detection:
    landmarks = ARCFACE_TEMPLATE * scale + np.array(shift)
    low, high = landmarks.min(0) - 20, landmarks.max(0) + 20
    return Detection(box=np.array([*low, *(high - low)]), landmarks=landmarks, score=score)


def test_locate_warps_once_and_keeps_the_transform():
    from idinpaint.align import locate

    photo = np.random.default_rng(0).integers(0, 255, (260, 240, 3), dtype=np.uint8)
    face = _face_at()
    detector = ScriptedDetector([face])
    located = locate(photo, detector)
    assert len(detector.calls) == 1 and not located.is_crop and located.count == 1 and located.notes == []
    assert located.crop.shape == (112, 112, 3)
    np.testing.assert_allclose(located.crop_landmarks, ARCFACE_TEMPLATE, atol=1e-6)
    assert located.eye_distance == pytest.approx(1.6 * np.hypot(*(ARCFACE_TEMPLATE[1] - ARCFACE_TEMPLATE[0])))
    np.testing.assert_array_equal(located.align(photo), located.crop)  # the same photo, the same crop


def test_locate_has_one_fallback_policy():
    from idinpaint.align import locate

    # a small image (at most 224 px) is also searched at 2x; landmarks come back in its own pixels
    small = np.zeros((180, 160, 3), np.uint8)
    face = _face_at(1.0, (20.0, 20.0))
    doubled = Detection(face.box * 2, face.landmarks * 2, 0.8)
    detector = ScriptedDetector([], [doubled])
    located = locate(small, detector)
    assert detector.calls == [(180, 160), (360, 320)]
    np.testing.assert_allclose(located.landmarks, face.landmarks)
    # a large photo is not upscaled; with a hole, the photo is searched again with the hole painted over
    photo = np.zeros((300, 300, 3), np.uint8)
    hole = np.zeros((300, 300), bool)
    hole[100:120, 100:200] = True
    detector = ScriptedDetector([], [_face_at()])
    located = locate(photo, detector, hole=hole)
    assert detector.calls == [(300, 300), (300, 300)] and "painted" in located.notes[0]
    with pytest.raises(NoFaceError, match="p.jpg: no face detected"):
        locate(photo, ScriptedDetector(), name="p.jpg")
    # several faces: the central large one, said so
    located = locate(photo, ScriptedDetector([_face_at(0.5, (0.0, 0.0)), _face_at(1.6, (60.0, 60.0))]))
    assert located.count == 2 and located.notes[0].startswith("2 faces found; the most central large one")


def test_locate_refuses_a_tiny_face_and_takes_a_crop_as_it_is():
    from idinpaint.align import MIN_EYE_DISTANCE, locate

    photo = np.zeros((400, 400, 3), np.uint8)
    tiny = _face_at(0.3, (150.0, 150.0))
    with pytest.raises(ValueError, match="p.png: the face is too small"):
        locate(photo, ScriptedDetector([tiny]), name="p.png")
    assert locate(photo, ScriptedDetector([tiny]), min_eye_distance=None).eye_distance < MIN_EYE_DISTANCE
    crop = np.random.default_rng(1).integers(0, 255, (112, 112, 3), dtype=np.uint8)
    located = locate(crop, ScriptedDetector([_face_at(0.2, (40.0, 40.0))]))  # tiny, but a crop is used as it is
    assert located.is_crop
    np.testing.assert_array_equal(located.crop, crop)
    np.testing.assert_array_equal(located.matrix, np.eye(2, 3))
    with pytest.raises(NoFaceError, match="not used as an aligned face crop"):
        locate(crop, ScriptedDetector())


def test_paste_back_changes_only_hole_pixels_and_counts_those_outside_the_crop():
    from idinpaint.align import locate, mask_to_crop, mask_to_photo, paste_back

    rng = np.random.default_rng(2)
    photo = rng.integers(0, 255, (260, 260, 3), dtype=np.uint8)
    located = locate(photo, ScriptedDetector([_face_at()]))
    hole = np.zeros(photo.shape[:2], bool)
    hole[110:140, 90:170] = True      # over the eyes, inside the crop
    hole[0:5, 0:5] = True             # a corner far outside the face crop
    crop_hole = mask_to_crop(hole, located)
    assert crop_hole.any() and crop_hole.mean() < 0.5
    filled = np.full_like(located.crop, 7)
    out, info = paste_back(photo, located, filled, hole)
    changed = (out != photo).any(axis=-1)
    assert not (changed & ~hole).any() and changed[110:140, 90:170].mean() > 0.9
    assert info["uncovered"] == 25 and (out[0:5, 0:5] == photo[0:5, 0:5]).all()
    # the crop's own mask goes to the photo and back onto nearly the same crop pixels
    crop_mask = np.zeros((112, 112), bool)
    crop_mask[40:60, 30:80] = True
    there_and_back = mask_to_crop(mask_to_photo(crop_mask, located), located)
    assert there_and_back[crop_mask].all() and there_and_back.sum() < 1.3 * crop_mask.sum()
