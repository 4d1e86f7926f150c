"""The Fusor: identity-guided refinement of the CA output (FaceShifter-AAD-like AIF blocks).

* :class:`AttributeEncoder` — a U-Net on (prior face, mask) giving attribute maps at every
  resolution from 7x7 to 112x112 (``z_att``, coarsest first).
* :class:`AIFBlock` — adaptive identity/attribute fusion: instance-normalise ``h``; attribute
  branch ``A = gamma_att(a) * h_bar + beta_att(a)`` (spatial, convs on the attribute map);
  identity branch ``I = gamma_id(z) * h_bar + beta_id(z)`` (per channel, linear on ``z_id``);
  blend mask ``M = sigmoid(conv(h_bar))`` shaped (N, 1, H, W); output ``(1 - M) * A + M * I``.
* :class:`AIFResBlock` — AIF -> ReLU -> conv3, twice, with a learned AIF/conv shortcut when the
  channel count changes.
* :class:`AIFGenerator` — ``z_id`` -> 7x7 map -> AIF ResBlocks, upsampling x2 between them, to
  112x112 -> tanh.
* :class:`Fusor` — encoder + generator; the output is composited into the hole:
  ``out = mask * G + (1 - mask) * prior``. The mask is an input of the encoder in every call.
  Option ``residual`` (an extension, off by default): ``G = clamp(prior + g * AIFGenerator(..))``
  with a learned scalar ``g`` starting at 0, so a short training run starts from the CA's fill
  instead of from noise.
  Options that keep a residual Fusor on the face manifold (extensions, off by default):
  ``band_limit = k`` average-pools the residual by ``k`` and upsamples it bilinearly, so it can
  only move structure coarser than ``k`` pixels (no periodic fine texture); ``luma_only`` adds one
  residual to all three channels (a brightness change: the CA's colours are kept, so the Fusor
  cannot paint chroma patterns).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.profiler import record_function

from idinpaint.models.layers import check_spatial, composite, norm_layer

LEVELS = 5  # 7, 14, 28, 56, 112 on a 112 crop (112 = 7 * 2**4)


class _Down(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, norm: str):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1)
        self.norm = norm_layer(norm, out_ch)

    def forward(self, x):
        return F.leaky_relu(self.norm(self.conv(x)), 0.1)


class _UpCat(nn.Module):
    """Transposed conv x2, then concatenation with the encoder feature of that resolution."""

    def __init__(self, in_ch: int, out_ch: int, norm: str):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1)
        self.norm = norm_layer(norm, out_ch)

    def forward(self, x, skip):
        return torch.cat([F.leaky_relu(self.norm(self.deconv(x)), 0.1), skip], dim=1)


class AttributeEncoder(nn.Module):
    """U-Net on ``cat(image, mask)`` -> list of 5 attribute maps (7, 14, 28, 56, 112 on a 112 input).

    Channels with width ``c``: 7x7: 8c; 14x14: 8c; 28x28: 4c; 56x56: 2c; 112x112: 2c (the 56 map
    upsampled bilinearly, as FaceShifter does for its finest level).
    """

    def __init__(self, width: int = 32, in_channels: int = 4, norm: str = "batch"):
        super().__init__()
        c = int(width)
        self.downs = nn.ModuleList([_Down(in_channels, c, norm), _Down(c, 2 * c, norm),
                                    _Down(2 * c, 4 * c, norm), _Down(4 * c, 8 * c, norm)])
        self.ups = nn.ModuleList([_UpCat(8 * c, 4 * c, norm), _UpCat(8 * c, 2 * c, norm), _UpCat(4 * c, c, norm)])
        self.channels = [8 * c, 8 * c, 4 * c, 2 * c, 2 * c]

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        check_spatial(image, 16, "AttributeEncoder")
        skips = []
        x = torch.cat([image, mask.to(image.dtype)], dim=1)
        for down in self.downs:
            x = down(x)
            skips.append(x)
        levels = [x]  # 7x7
        for up, skip in zip(self.ups, reversed(skips[:-1])):
            x = up(x, skip)
            levels.append(x)
        levels.append(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))
        return levels


class AIFBlock(nn.Module):
    """Adaptive identity/attribute fusion; ``forward(h, z_att, z_id) -> (out, M)``."""

    def __init__(self, channels: int, att_channels: int, id_dim: int, att_kernel: int = 3):
        super().__init__()
        pad = att_kernel // 2
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.att_gamma = nn.Conv2d(att_channels, channels, att_kernel, padding=pad)
        self.att_beta = nn.Conv2d(att_channels, channels, att_kernel, padding=pad)
        self.id_gamma = nn.Linear(id_dim, channels)
        self.id_beta = nn.Linear(id_dim, channels)
        self.blend = nn.Conv2d(channels, 1, 1)

    def forward(self, h: torch.Tensor, z_att: torch.Tensor, z_id: torch.Tensor):
        n, c, height, width = h.shape
        if z_att.shape[-2:] != h.shape[-2:]:
            raise ValueError(f"AIFBlock: attribute map {tuple(z_att.shape[-2:])} and activation {(height, width)} differ")
        h_bar = self.norm(h)
        attribute = self.att_gamma(z_att) * h_bar + self.att_beta(z_att)
        identity = self.id_gamma(z_id).view(n, c, 1, 1) * h_bar + self.id_beta(z_id).view(n, c, 1, 1)
        blend = torch.sigmoid(self.blend(h_bar))
        # The original code built this mask with H and W swapped; only square inputs hid it.
        assert blend.shape == (n, 1, height, width), f"AIF blend mask {tuple(blend.shape)} != {(n, 1, height, width)}"
        return (1 - blend) * attribute + blend * identity, blend


class AIFResBlock(nn.Module):
    """AIF -> ReLU -> conv3 -> AIF -> ReLU -> conv3, plus a (AIF -> ReLU -> conv3) shortcut if in != out."""

    def __init__(self, in_ch: int, out_ch: int, att_channels: int, id_dim: int, att_kernel: int = 3):
        super().__init__()
        self.aif1 = AIFBlock(in_ch, att_channels, id_dim, att_kernel)
        self.conv1 = nn.Conv2d(in_ch, in_ch, 3, padding=1)
        self.aif2 = AIFBlock(in_ch, att_channels, id_dim, att_kernel)
        self.conv2 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.learned_shortcut = in_ch != out_ch
        if self.learned_shortcut:
            self.aif_s = AIFBlock(in_ch, att_channels, id_dim, att_kernel)
            self.conv_s = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.last_blend_masks: list[torch.Tensor] = []

    def forward(self, h, z_att, z_id):
        x, m1 = self.aif1(h, z_att, z_id)
        x = self.conv1(F.relu(x))
        x, m2 = self.aif2(x, z_att, z_id)
        x = self.conv2(F.relu(x))
        masks = [m1, m2]
        if self.learned_shortcut:
            s, ms = self.aif_s(h, z_att, z_id)
            h = self.conv_s(F.relu(s))
            masks.append(ms)
        self.last_blend_masks = [m.detach() for m in masks]
        return x + h


class AIFGenerator(nn.Module):
    """``z_id`` (N, id_dim) + attribute maps -> image (N, 3, 112, 112) in [-1, 1].

    Channels with width ``g``: 7x7: 8g, 14x14: 8g, 28x28: 4g, 56x56: 2g, 112x112: g -> 3.
    """

    def __init__(self, att_channels: list[int], width: int = 32, id_dim: int = 128, att_kernel: int = 3):
        super().__init__()
        g = int(width)
        chans = [8 * g, 8 * g, 4 * g, 2 * g, g]
        self.start = nn.ConvTranspose2d(id_dim, chans[0], kernel_size=7)  # 1x1 -> 7x7
        blocks = []
        for level in range(LEVELS):
            out_ch = chans[level + 1] if level + 1 < LEVELS else 3
            blocks.append(AIFResBlock(chans[level], out_ch, att_channels[level], id_dim, att_kernel))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, z_att: list[torch.Tensor], z_id: torch.Tensor) -> torch.Tensor:
        if len(z_att) != LEVELS:
            raise ValueError(f"AIFGenerator needs {LEVELS} attribute maps, got {len(z_att)}")
        h = self.start(z_id[:, :, None, None].to(z_att[0].dtype))
        if h.shape[-2:] != z_att[0].shape[-2:]:  # non-112 inputs: start from the coarsest map's size
            h = F.interpolate(h, size=z_att[0].shape[-2:], mode="bilinear", align_corners=False)
        for level, block in enumerate(self.blocks):
            h = block(h, z_att[level], z_id)
            if level + 1 < LEVELS:
                h = F.interpolate(h, size=z_att[level + 1].shape[-2:], mode="bilinear", align_corners=False)
        return torch.tanh(h)

    def blend_masks(self) -> list[torch.Tensor]:
        """The AIF blend masks M of the last forward pass (detached), coarsest first."""
        return [m for block in self.blocks for m in block.last_blend_masks]


class Fusor(nn.Module):
    """Attribute encoder + AIF generator; ``forward(prior, mask, z_id) -> (out, generated, z_att)``.

    ``prior`` is the CA output pasted into the hole (N, 3, H, W) in [-1, 1]; ``mask`` (N, 1, H, W),
    1 = hole; ``z_id`` (N, id_dim), L2-normalised. ``out = mask * generated + (1 - mask) * prior``,
    so outside the hole ``out`` equals ``prior`` exactly.
    """

    def __init__(self, enc_width: int = 32, gen_width: int = 32, id_dim: int = 128, norm: str = "batch",
                 att_kernel: int = 3, residual: bool = False, band_limit: int = 0, luma_only: bool = False):
        super().__init__()
        if (band_limit or luma_only) and not residual:
            raise ValueError("Fusor: band_limit and luma_only shape the residual; they need residual: true")
        if int(band_limit or 0) < 0:
            raise ValueError(f"Fusor: band_limit must be a pooling factor >= 1 (0 = off), got {band_limit}")
        self.config = {"enc_width": int(enc_width), "gen_width": int(gen_width), "id_dim": int(id_dim),
                       "norm": norm, "att_kernel": int(att_kernel), "residual": bool(residual)}
        # written only when set, so older files' configs (and cache keys) stay as they were
        if band_limit:
            self.config["band_limit"] = int(band_limit)
        if luma_only:
            self.config["luma_only"] = True
        self.band_limit = int(band_limit or 0)
        self.luma_only = bool(luma_only)
        self.encoder = AttributeEncoder(enc_width, in_channels=4, norm=norm)
        self.generator = AIFGenerator(self.encoder.channels, gen_width, id_dim, att_kernel)
        self.id_dim = int(id_dim)
        self.residual = bool(residual)
        if self.residual:  # ReZero-style gate: the Fusor starts as the identity map on the prior
            self.residual_gain = nn.Parameter(torch.zeros(()))

    def shape_residual(self, residual: torch.Tensor) -> torch.Tensor:
        """The residual the Fusor may add to the prior: band-limited and/or one value for all channels."""
        if self.luma_only:
            residual = residual.mean(dim=1, keepdim=True).expand_as(residual)
        if self.band_limit > 1:
            size = residual.shape[-2:]
            residual = F.avg_pool2d(residual, self.band_limit)
            residual = F.interpolate(residual, size=size, mode="bilinear", align_corners=False)
        return residual

    def attributes(self, image: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        return self.encoder(image, mask)

    def forward(self, prior: torch.Tensor, mask: torch.Tensor, z_id: torch.Tensor):
        if mask.shape[-2:] != prior.shape[-2:]:
            raise ValueError(f"Fusor: mask {tuple(mask.shape[-2:])} and image {tuple(prior.shape[-2:])} sizes differ")
        if z_id.shape[-1] != self.id_dim:
            raise ValueError(f"Fusor: z_id has {z_id.shape[-1]} dimensions, the model expects {self.id_dim}")
        mask = mask.to(prior.dtype)
        # record_function labels: the parts of a profile (benchmarks/profile_inpainter.py); negligible cost unprofiled
        with record_function("fusor.attribute_encoder"):
            z_att = self.encoder(prior, mask)
        with record_function("fusor.aif_generator"):
            generated = self.generator(z_att, z_id)
            if self.residual:
                generated = (prior + self.residual_gain * self.shape_residual(generated)).clamp(-1, 1)
            out = composite(generated, prior, mask)
        return out, generated, z_att
