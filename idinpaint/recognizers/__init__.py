"""Face recognizers behind one interface (``embed(images) -> (N, D)``, unit rows).

``sface``: SFace as a frozen differentiable torch module — the Sampler and identity-loss network.
``dlib``: dlib's ResNet — the independent evaluator, never used for training.
``dlib_torch``: the same ResNet, weights and chips, its descriptor computed by torch (about ten
times faster on the CPU; equal to ``dlib`` up to float rounding).
"""
from __future__ import annotations

from idinpaint.recognizers.base import Recognizer, check_faces, l2_normalise

RECOGNIZERS = ("sface", "dlib", "dlib_torch")
#: dlib's ResNet, whichever computes it: single-threaded per process, spread over ``workers`` processes
DLIB_RECOGNIZERS = ("dlib", "dlib_torch")


def get_recognizer(name: str, **kwargs) -> Recognizer:
    """Factory, in the spirit of insightface's ``get_model``."""
    if name == "sface":
        from idinpaint.recognizers.sface import SFaceRecognizer  # torch + the ONNX->torch conversion: on use only

        return SFaceRecognizer(**kwargs)
    if name == "dlib":
        from idinpaint.recognizers.dlib_resnet import DlibRecognizer  # dlib: on use only

        return DlibRecognizer(**kwargs)
    if name == "dlib_torch":
        from idinpaint.recognizers.dlib_resnet import DlibTorchRecognizer  # dlib + torch: on use only

        return DlibTorchRecognizer(**kwargs)
    raise ValueError(f"unknown recognizer {name!r}; choose one of {', '.join(RECOGNIZERS)}")


__all__ = ["Recognizer", "RECOGNIZERS", "DLIB_RECOGNIZERS", "get_recognizer", "check_faces", "l2_normalise"]
