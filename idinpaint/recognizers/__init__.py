"""Face recognizers behind one interface (``embed(images) -> (N, D)``, unit rows).

``sface``: SFace as a frozen differentiable torch module — the Sampler and identity-loss network.
``dlib``: dlib's ResNet — the independent evaluator, never used for training.
"""
from __future__ import annotations

from idinpaint.recognizers.base import Recognizer, check_faces, l2_normalise

RECOGNIZERS = ("sface", "dlib")


def get_recognizer(name: str, **kwargs) -> Recognizer:
    """Factory, in the spirit of insightface's ``get_model``."""
    if name == "sface":
        from idinpaint.recognizers.sface import SFaceRecognizer  # torch + the ONNX->torch conversion: on use only

        return SFaceRecognizer(**kwargs)
    if name == "dlib":
        from idinpaint.recognizers.dlib_resnet import DlibRecognizer  # dlib: on use only

        return DlibRecognizer(**kwargs)
    raise ValueError(f"unknown recognizer {name!r}; choose one of {', '.join(RECOGNIZERS)}")


__all__ = ["Recognizer", "RECOGNIZERS", "get_recognizer", "check_faces", "l2_normalise"]
