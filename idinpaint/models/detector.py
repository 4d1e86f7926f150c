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

import copy

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from idinpaint.models.layers import ConvBlock, check_spatial

#: The mask a filler gets: probability >= ``threshold``, connected parts under ``min_area`` pixels
#: dropped, dilated by ``dilate`` pixels (an inpainter must cover the occluder's fringe).
DEFAULT_MASK = {"threshold": 0.5, "min_area": 16, "dilate": 1}
#: A predicted hole smaller than this share of the crop counts as "nothing occluded" (``recover``).
NOTHING_FRACTION = 0.005


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


# --- the runtime: one detector file's network, fused, with its mask settings --------------------------

def postprocess(probabilities: np.ndarray, threshold: float = 0.5, min_area: int = 16, dilate: int = 1) -> np.ndarray:
    """Probability maps (N, H, W) or (H, W) -> bool masks (True = occluded): threshold, drop connected
    parts under ``min_area`` pixels, dilate by ``dilate`` pixels (a (2d+1) square)."""
    probabilities = np.asarray(probabilities)
    single = probabilities.ndim == 2
    maps = probabilities[None] if single else probabilities
    out = np.zeros(maps.shape, dtype=bool)
    kernel = np.ones((2 * int(dilate) + 1,) * 2, np.uint8) if dilate > 0 else None
    for i, prob in enumerate(maps):
        binary = (prob >= threshold).astype(np.uint8)
        if not binary.any():
            continue
        if min_area > 1:
            count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
            keep = np.zeros(count, dtype=bool)
            keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
            binary = keep[labels].astype(np.uint8)
        if kernel is not None and binary.any():
            binary = cv2.dilate(binary, kernel)
        out[i] = binary > 0
    return out[0] if single else out


def crops_to_tensor(crops: np.ndarray, device="cpu") -> torch.Tensor:
    """RGB uint8 crops (N, H, W, 3) -> the network's input (N, 3, H, W) in [-1, 1], channels-last."""
    x = torch.from_numpy(np.ascontiguousarray(crops)).to(device)
    return (x.permute(0, 3, 1, 2).float() / 127.5 - 1.0).contiguous(memory_format=torch.channels_last)


def fuse_for_inference(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every conv + batch-norm pair folded into one conv (the
    same outputs up to float rounding, fewer passes over memory) and channels-last weights."""
    fused = copy.deepcopy(model).eval()
    for module in fused.modules():
        if isinstance(module, ConvBlock) and not module.gated and isinstance(module.norm, nn.BatchNorm2d):
            module.conv = torch.nn.utils.fusion.fuse_conv_bn_eval(module.conv, module.norm)
            module.norm = nn.Identity()
    return fused.to(memory_format=torch.channels_last).requires_grad_(False)


class Detector:
    """One O-Detector: ``probabilities(crops)`` -> (N, H, W) float32 in [0, 1] and ``masks(crops)`` ->
    bool (N, H, W), True = occluded, on aligned RGB uint8 crops (N, 112, 112, 3). Built from a file by
    :func:`idinpaint.checkpoints.load_detector` (``sha256``: the file's, the start of its cache key)."""

    def __init__(self, model: nn.Module, meta: dict, path=None, device=None, batch_size: int = 128,
                 sha256: str | None = None, **mask_settings):
        self.device = torch.device(device or "cpu")
        self.net = fuse_for_inference(model).to(self.device)
        self.meta, self.path = meta, None if path is None else str(path)
        given = {k: v for k, v in mask_settings.items() if v is not None}
        self.mask = {**DEFAULT_MASK, **(meta.get("mask") or {}), **given}
        bad = sorted(set(self.mask) - set(DEFAULT_MASK))
        if bad:
            raise ValueError(f"unknown mask settings {bad}; valid: {', '.join(DEFAULT_MASK)}")
        self.batch_size = int(batch_size)
        self.half = meta.get("half")
        self.sha256 = sha256 or "in-memory"
        self.name = "odetector"

    @property
    def fingerprint(self) -> str:
        """What makes its masks what they are (an evaluation cache key): the weights and mask settings."""
        settings = ",".join(f"{k}={self.mask[k]}" for k in sorted(self.mask))
        return f"odetector:{self.sha256}:{settings}"

    def probabilities(self, crops: np.ndarray) -> np.ndarray:
        crops = np.asarray(crops)
        single = crops.ndim == 3
        crops = crops[None] if single else crops
        if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[3] != 3:
            raise ValueError(f"crops must be RGB uint8 (N, H, W, 3), got {crops.dtype} {crops.shape}")
        out = np.zeros(crops.shape[:3], dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(crops), self.batch_size):
                logits = self.net(crops_to_tensor(crops[start:start + self.batch_size], self.device))
                out[start:start + len(logits)] = torch.sigmoid(logits[:, 0]).float().cpu().numpy()
        return out[0] if single else out

    def masks(self, crops: np.ndarray) -> np.ndarray:
        return postprocess(self.probabilities(crops), **self.mask)

    def predict_for(self, crops: np.ndarray, relatives=None) -> np.ndarray:
        """``masks`` for crops whose dataset paths are known (one model: the paths are not needed)."""
        return self.masks(crops)

    def __repr__(self) -> str:
        return f"Detector(path={self.path!r}, half={self.half!r}, sha256={self.sha256!r})"
