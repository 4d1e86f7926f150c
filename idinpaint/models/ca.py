"""CA: a two-stage coarse-to-fine inpainter with contextual attention (DeepFill-v1 family), native at 112.

Input: the occluded image ``x`` (N, 3, H, W) in [-1, 1], the mask (N, 1, H, W) with 1 = hole. The
hole pixels of ``x`` are zeroed inside the network, and a ones channel (tells the convolutions
where the zero padding of the image border is) and the mask are concatenated: 5 input channels.

Layout with width ``c`` (image 112 -> feature maps 112, 56, 28 and back; H and W must be multiples
of ``4 * attention_rate``, i.e. 8 with the default rate 2; 112 = 14 * 8):

* coarse: conv5 c | conv3/2 2c, conv3 2c | conv3/2 4c, conv3 4c, conv3 4c | dilated conv3 4c
  (``dilations``) | conv3 4c x2 | up 2c, conv3 2c | up c, conv3 c/2 | conv3 3 -> tanh;
* refine, on ``coarse`` pasted into the hole: a dilated-conv branch and a contextual-attention branch
  at 28x28 (attention matches on 14x14), concatenated | conv3 4c x2 | up 2c, conv3 2c | up c,
  conv3 c/2 | conv3 3 -> tanh.

``forward`` returns ``(coarse, refined)``, both full images in [-1, 1] (not yet composited).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.profiler import record_function

from idinpaint.models.contextual_attention import ContextualAttention, resize_mask
from idinpaint.models.layers import ConvBlock, Up, check_spatial, composite


def _encoder(in_ch: int, c: int, block: dict) -> list[nn.Module]:
    return [
        ConvBlock(in_ch, c, kernel=5, **block),
        ConvBlock(c, 2 * c, stride=2, **block),
        ConvBlock(2 * c, 2 * c, **block),
        ConvBlock(2 * c, 4 * c, stride=2, **block),
        ConvBlock(4 * c, 4 * c, **block),
        ConvBlock(4 * c, 4 * c, **block),
    ]


def _decoder(in_ch: int, c: int, block: dict) -> nn.Sequential:
    return nn.Sequential(
        ConvBlock(in_ch, 4 * c, **block),
        ConvBlock(4 * c, 4 * c, **block),
        Up(4 * c, 2 * c, **block),
        ConvBlock(2 * c, 2 * c, **block),
        Up(2 * c, c, **block),
        ConvBlock(c, max(c // 2, 1), **block),
        nn.Conv2d(max(c // 2, 1), 3, 3, padding=1),
        nn.Tanh(),
    )


class CAGenerator(nn.Module):
    """Coarse-to-fine generator with contextual attention; see the module docstring.

    Args:
        width: base channel count ``c`` (DeepFill: 32 at 256; the cpu profile uses less).
        dilations: dilation rates of the dilated-conv stack of both stages.
        gated: gated convolutions (DeepFill v2) instead of plain ones.
        act: activation of every block (DeepFill: ELU).
        attention: keyword arguments of :class:`ContextualAttention` (rate, scale, fuse, ...).
    """

    def __init__(self, width: int = 32, dilations=(2, 4, 8, 16), gated: bool = False, act: str = "elu",
                 attention: dict | None = None):
        super().__init__()
        c = int(width)
        block = {"act": act, "gated": bool(gated)}
        self.config = {"width": c, "dilations": list(dilations), "gated": bool(gated), "act": act,
                       "attention": dict(attention or {})}
        dilated = [ConvBlock(4 * c, 4 * c, dilation=int(d), **block) for d in dilations]
        self.coarse = nn.Sequential(*_encoder(5, c, block),
                                    *dilated,
                                    *list(_decoder(4 * c, c, block)))
        # refinement: conv branch with dilations, attention branch with contextual attention
        self.refine_conv = nn.Sequential(*_encoder(5, c, block),
                                         *[ConvBlock(4 * c, 4 * c, dilation=int(d), **block) for d in dilations])
        self.refine_attn_in = nn.Sequential(*_encoder(5, c, {**block, "act": act})[:-1],
                                            ConvBlock(4 * c, 4 * c, act="relu", gated=bool(gated)))
        self.attention = ContextualAttention(**(attention or {}))
        self.refine_attn_out = nn.Sequential(ConvBlock(4 * c, 4 * c, **block), ConvBlock(4 * c, 4 * c, **block))
        self.refine_out = _decoder(8 * c, c, block)
        self.multiple = 4 * self.attention.rate

    def forward(self, image: torch.Tensor, mask: torch.Tensor):
        check_spatial(image, self.multiple, "CAGenerator")
        if mask.shape[-2:] != image.shape[-2:]:
            raise ValueError(f"CAGenerator: mask {tuple(mask.shape[-2:])} and image {tuple(image.shape[-2:])} sizes differ")
        # record_function labels: the parts of a profile (benchmarks/profile_inpainter.py); negligible cost unprofiled
        with record_function("ca.coarse"):
            mask = mask.to(image.dtype)
            ones = torch.ones_like(mask)
            x = image * (1 - mask)
            coarse = self.coarse(torch.cat([x, ones, mask], dim=1))
        with record_function("ca.refine"):
            merged = composite(coarse, x, mask)
            stage2_in = torch.cat([merged, ones, mask], dim=1)
            conv_branch = self.refine_conv(stage2_in)
            features = self.refine_attn_in(stage2_in)
        with record_function("ca.contextual_attention"):
            attended, _ = self.attention(features, features, resize_mask(mask, features.shape[-2:]))
        with record_function("ca.refine"):
            attn_branch = self.refine_attn_out(attended)
            refined = self.refine_out(torch.cat([conv_branch, attn_branch], dim=1))
        return coarse, refined

    @torch.no_grad()
    def inpaint(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The refined output pasted into the hole of ``image`` (the "prior face" of the Fusor)."""
        _, refined = self(image, mask)
        return composite(refined, image, mask.to(image.dtype))
