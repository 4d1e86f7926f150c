"""Multiscale patch discriminator with spectral normalisation (pix2pixHD layout, SN-PatchGAN convs).

Each scale is a patch discriminator: ``layers`` spectrally normalised conv4/2 + LeakyReLU(0.2) with
doubling widths (capped at 8x), then a conv3 to one logit per patch. Scale ``k`` sees the input
average-pooled ``k`` times by 2. With ``use_mask`` the mask (1 = hole) is a fourth input channel,
so the discriminator knows where to look. ``forward`` returns a list of logit maps, finest first.

With ``local`` = S > 0 a further patch discriminator sees an S × S window of the input at full
resolution, centred on each image's hole (clipped to the image; GLCIC's global + local critics):
whatever the scales average away, the hole's own pixels are judged as they are. Its logits come
last in the list.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from idinpaint.models.layers import sn_conv


class PatchDiscriminator(nn.Module):
    def __init__(self, in_channels: int = 4, width: int = 64, layers: int = 3):
        super().__init__()
        blocks, ch = [], in_channels
        for i in range(layers):
            out = width * min(2 ** i, 8)
            blocks += [sn_conv(ch, out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            ch = out
        blocks.append(sn_conv(ch, 1, 3, stride=1, padding=1))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor, features: bool = False):
        """Logits; with ``features`` also every LeakyReLU activation (for feature matching)."""
        if not features:
            return self.net(x)
        feats = []
        for layer in self.net:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                feats.append(x)
        return x, feats


class MultiscaleDiscriminator(nn.Module):
    """``forward(image, mask=None) -> [logits at scale 1, 1/2, ...]``."""

    def __init__(self, width: int = 64, scales: int = 3, layers: int = 3, use_mask: bool = True, local: int = 0):
        super().__init__()
        if not 1 <= scales <= 4:
            raise ValueError(f"scales must be 1..4, got {scales}")
        if local and (int(local) < 2 ** layers or int(local) % 2 ** layers):
            raise ValueError(f"local must be 0 or a multiple of {2 ** layers} (2**layers), got {local}")
        self.config = {"width": int(width), "scales": int(scales), "layers": int(layers), "use_mask": bool(use_mask)}
        if local:
            self.config["local"] = int(local)
        self.use_mask = bool(use_mask)
        self.local = int(local or 0)
        in_ch = 4 if use_mask else 3
        self.discriminators = nn.ModuleList([PatchDiscriminator(in_ch, width, layers) for _ in range(scales)])
        self.local_discriminator = PatchDiscriminator(in_ch, width, layers) if self.local else None

    def hole_windows(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """An S × S window of ``x`` (N, C, H, W) per image, centred on the bounding box of its hole
        (the image centre where there is none), shifted to lie inside the image."""
        size = self.local
        n, _, h, w = x.shape
        if size > min(h, w):
            raise ValueError(f"local window {size} is larger than the image ({h} x {w})")
        hole = mask.detach().reshape(n, h, w) > 0.5
        windows = []
        for i in range(n):
            ys, xs = torch.nonzero(hole[i], as_tuple=True)
            cy = int((ys.min() + ys.max()) // 2) if len(ys) else h // 2
            cx = int((xs.min() + xs.max()) // 2) if len(xs) else w // 2
            top = min(max(cy - size // 2, 0), h - size)
            left = min(max(cx - size // 2, 0), w - size)
            windows.append(x[i, :, top:top + size, left:left + size])
        return torch.stack(windows)

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None, features: bool = False):
        """Logit maps, finest first; with ``features`` a pair (logits, per-scale activation lists)."""
        if self.use_mask:
            if mask is None:
                raise ValueError("this discriminator was built with use_mask=True: pass the mask")
            x = torch.cat([image, mask.to(image.dtype)], dim=1)
        else:
            x = image
        if self.local and mask is None:
            raise ValueError("this discriminator was built with a local window: pass the mask")
        inputs = [x]
        for _ in range(1, len(self.discriminators)):
            inputs.append(F.avg_pool2d(inputs[-1], 3, stride=2, padding=1, count_include_pad=False))
        critics = list(self.discriminators)
        if self.local:
            inputs.append(self.hole_windows(x, mask))
            critics.append(self.local_discriminator)
        outputs, feats = [], []
        for x, disc in zip(inputs, critics):
            if features:
                logits, scale_feats = disc(x, features=True)
                outputs.append(logits)
                feats.append(scale_feats)
            else:
                outputs.append(disc(x))
        return (outputs, feats) if features else outputs
