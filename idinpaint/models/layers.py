"""Small composable building blocks shared by the inpainting networks.

Every block keeps the spatial size unless it says otherwise (``same`` padding for any kernel and
dilation), so a network's resolution only changes where it is written down: a stride-2 block halves,
:class:`Up` doubles. At 112 = 7 * 16 four halvings reach 7 x 7 exactly and four doublings come back.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import spectral_norm

ACTIVATIONS = ("elu", "relu", "lrelu", "none")
NORMS = ("none", "batch", "instance")


def activation(name: str) -> nn.Module:
    if name == "elu":
        return nn.ELU(inplace=False)
    if name == "relu":
        return nn.ReLU(inplace=False)
    if name == "lrelu":
        return nn.LeakyReLU(0.2, inplace=False)
    if name == "none":
        return nn.Identity()
    raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")


def norm_layer(name: str, channels: int) -> nn.Module:
    if name == "none":
        return nn.Identity()
    if name == "batch":
        return nn.BatchNorm2d(channels)
    if name == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    raise ValueError(f"unknown norm {name!r}; valid: {', '.join(NORMS)}")


def same_padding(kernel: int, dilation: int = 1) -> int:
    if kernel % 2 == 0:
        raise ValueError(f"'same' padding needs an odd kernel, got {kernel}")
    return dilation * (kernel - 1) // 2


def check_spatial(x: torch.Tensor, multiple: int, where: str) -> None:
    """Raise a one-line error unless H and W of ``x`` are multiples of ``multiple``."""
    height, width = x.shape[-2:]
    if height % multiple or width % multiple:
        raise ValueError(f"{where}: input is {height}x{width}; height and width must be multiples of "
                         f"{multiple} (aligned crops are 112x112)")


class ConvBlock(nn.Module):
    """conv (optionally gated, dilated, strided) -> norm -> activation.

    ``gated=True`` is the DeepFill-v2 gated convolution: the conv produces features and a gate,
    the block returns ``act(features) * sigmoid(gate)``.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, dilation: int = 1,
                 act: str = "elu", norm: str = "none", gated: bool = False, sn: bool = False):
        super().__init__()
        self.gated = gated
        conv = nn.Conv2d(in_ch, out_ch * (2 if gated else 1), kernel, stride=stride,
                         padding=same_padding(kernel, dilation), dilation=dilation)
        self.conv = spectral_norm(conv) if sn else conv
        self.norm = norm_layer(norm, out_ch)
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.gated:
            features, gate = y.chunk(2, dim=1)
            return self.act(self.norm(features)) * torch.sigmoid(gate)
        return self.act(self.norm(y))


class Up(nn.Module):
    """Nearest-neighbour x2 upsampling followed by a :class:`ConvBlock` (no checkerboard)."""

    def __init__(self, in_ch: int, out_ch: int, **block):
        super().__init__()
        self.block = ConvBlock(in_ch, out_ch, **block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(F.interpolate(x, scale_factor=2, mode="nearest"))


def sn_conv(in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0) -> nn.Module:
    """A spectrally normalised Conv2d (for discriminators)."""
    return spectral_norm(nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding))


def composite(generated: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mask * generated + (1 - mask) * image`` (mask 1 = hole).

    For a 0/1 mask and finite ``generated`` this returns ``image`` bit-exactly outside the hole
    (``1 * x + 0 * g == x`` in IEEE arithmetic), and it also accepts soft masks.
    """
    return mask * generated + (1 - mask) * image


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
