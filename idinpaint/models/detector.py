"""O-Detector: a small U-Net giving a per-pixel occlusion logit on an aligned 112x112 crop.

Input: the crop (N, 3, H, W) in [-1, 1]. Output: logits (N, 1, H, W); ``sigmoid`` of them is the
probability that a pixel is occluded (1 = occluded / hole, the project's one mask convention).

Layout with ``widths = (w0, w1, w2)`` (the cpu profile: 16, 32, 64), built for speed on a CPU
(most of the work at 56 and 28 pixels, none of the wide layers at 112):

* encoder: conv3/2 w0, conv3 w0 (56) | conv3/2 w1, conv3 w1 (28) | conv3/2 w2, conv3 w2, dilated conv3
  w2 (14; with dilation 2 its receptive field covers most of the face: context tells a mask from a
  beard or a dark background);
* decoder: conv1 w2->w1, x2 bilinear, + the 28 skip, conv3 w1 | conv1 w1->w0, x2, + the 56 skip,
  conv3 w0 | conv1 -> a logit at 56;
* full-resolution refinement: the logit upsampled x2 (bilinear) to the input size, concatenated
  with the RGB input, conv3 ``refine`` channels, conv3 -> a correction added to the upsampled logit
  (sharp edges from the pixels, the decision from the context).

Batch norm and ReLU in the blocks. H and W must be multiples of 8 (112 = 14 * 8). About 0.1 M
parameters at (16, 32, 64) (~0.4 MB of float32 weights) and ~55 M multiply-adds per crop.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from idinpaint.models.layers import ConvBlock, check_spatial


def _up(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ODetector(nn.Module):
    """Occlusion segmentation U-Net; see the module docstring.

    Args:
        widths: channels at 56, 28 and 14 pixels (three integers >= 2).
        refine: channels of the full-resolution refinement (0: none, the upsampled logit as is).
        norm: ``batch`` (default), ``instance`` or ``none``.
        act: activation of every block (``relu`` default).
        dilation: dilation of the last bottleneck conv (context at 14x14).
    """

    def __init__(self, widths=(16, 32, 64), refine: int = 8, norm: str = "batch", act: str = "relu",
                 dilation: int = 2):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) != 3 or min(widths) < 2:
            raise ValueError(f"widths must be three integers >= 2 (channels at 56, 28, 14 px), got {widths}")
        if int(refine) < 0:
            raise ValueError(f"refine must be >= 0 channels, got {refine}")
        w0, w1, w2 = widths
        block = {"norm": norm, "act": act}
        self.widths, self.refine_channels = widths, int(refine)
        self.enc0 = nn.Sequential(ConvBlock(3, w0, stride=2, **block), ConvBlock(w0, w0, **block))
        self.enc1 = nn.Sequential(ConvBlock(w0, w1, stride=2, **block), ConvBlock(w1, w1, **block))
        self.enc2 = nn.Sequential(ConvBlock(w1, w2, stride=2, **block), ConvBlock(w2, w2, **block),
                                  ConvBlock(w2, w2, dilation=int(dilation), **block))
        self.reduce2 = nn.Conv2d(w2, w1, 1)
        self.dec1 = ConvBlock(w1, w1, **block)
        self.reduce1 = nn.Conv2d(w1, w0, 1)
        self.dec0 = ConvBlock(w0, w0, **block)
        self.head = nn.Conv2d(w0, 1, 1)
        if self.refine_channels:
            self.refine = nn.Sequential(ConvBlock(4, self.refine_channels, norm="none", act=act),
                                        nn.Conv2d(self.refine_channels, 1, 3, padding=1))
        else:
            self.refine = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_spatial(x, 8, "ODetector")
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"ODetector: expected RGB input (N, 3, H, W), got {tuple(x.shape)}")
        e0 = self.enc0(x)
        e1 = self.enc1(e0)
        e2 = self.enc2(e1)
        d1 = self.dec1(_up(self.reduce2(e2), e1.shape[-2:]) + e1)
        d0 = self.dec0(_up(self.reduce1(d1), e0.shape[-2:]) + e0)
        logit = _up(self.head(d0), x.shape[-2:])
        if self.refine is None:
            return logit
        return logit + self.refine(torch.cat([logit, x], 1))
