"""Networks of the ID-Inpainter method, built by name (in the spirit of insightface's ``get_model``).

=====================  ================================================================
``ca``                 :class:`CAGenerator` — coarse-to-fine inpainter with contextual attention
``fusor``              :class:`Fusor` — attribute encoder + AIF generator
``discriminator``      :class:`MultiscaleDiscriminator` — multiscale SN patch discriminator
``detector``           :class:`ODetector` — the O-Detector, a small occlusion-segmentation U-Net
=====================  ================================================================

``get_model(name, **config)`` passes the config (a section of ``config/train.yaml``) to the
constructor; unknown names or unknown keys give a one-line error naming the valid ones.
"""
from __future__ import annotations

import inspect

from torch import nn

from idinpaint.models.ca import CAGenerator
from idinpaint.models.contextual_attention import ContextualAttention
from idinpaint.models.detector import ODetector
from idinpaint.models.discriminator import MultiscaleDiscriminator, PatchDiscriminator
from idinpaint.models.fusor import AIFBlock, AIFGenerator, AIFResBlock, AttributeEncoder, Fusor
from idinpaint.models.layers import count_parameters

MODELS = {"ca": CAGenerator, "fusor": Fusor, "discriminator": MultiscaleDiscriminator, "detector": ODetector}


def get_model(name: str, **config) -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    cls = MODELS[name]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(config) - accepted)
    if unknown:
        raise ValueError(f"model {name!r}: unknown config keys {unknown}; valid: {sorted(accepted)}")
    return cls(**config)


__all__ = ["MODELS", "get_model", "count_parameters", "CAGenerator", "ContextualAttention", "Fusor",
           "AttributeEncoder", "AIFBlock", "AIFResBlock", "AIFGenerator", "MultiscaleDiscriminator",
           "PatchDiscriminator", "ODetector"]
