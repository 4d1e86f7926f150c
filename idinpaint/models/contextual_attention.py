"""Contextual attention (the DeepFill-v1 idea), written as batched matrix products.

For every position of the *foreground* feature map that lies in the hole, find which *background*
patches (positions outside the hole) look like its neighbourhood, and rebuild its features as a
softmax-weighted sum of those background patches.

1. Foreground ``f`` and background ``b`` (N, C, H, W) are downsampled by ``rate`` (average pooling)
   to (h, w) = (H/rate, W/rate); 3x3 patches of the downsampled background act as the "conv
   kernels": here ``unfold`` + a batched matmul, which is the same computation for all samples at once.
2. Similarity is the cosine between each foreground 3x3 patch and each background 3x3 patch:
   a (N, L, Q) matrix, L = background positions, Q = foreground positions (both h*w).
3. Optional *fuse*: scores are summed along the diagonals of the (background, foreground) grid, so a
   match is preferred when the neighbouring foreground positions match the neighbouring background
   positions too (left/right, then up/down; no wrap-around across rows).
4. Background patches that touch the hole (any hole pixel inside their 3x3 window on the
   downsampled grid) are removed from the choice: their logits are set to -1e4 and their softmax
   weights to exactly 0. ``softmax(scale * score)`` over the valid background patches gives the
   attention (N, L, h, w).
5. Reconstruction is a transposed convolution with the *full-resolution* background patches
   (kernel 2*rate, stride rate) as kernels: here a matmul and ``fold``. Overlaps are divided by the
   true number of patches covering each pixel (DeepFill divides by a constant 4, which darkens the
   image border).

Semantics of the output: ``out = mask * reconstruction + (1 - mask) * foreground``, with the mask
taken at the feature map's resolution (a feature pixel is "hole" when any image pixel under it is).
So outside the hole the layer returns its foreground input unchanged; inside it returns a mixture
of background patches. If a sample has no valid background patch the hole gets zeros.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a (N, 1, H, W) 0/1 mask: max-pooling when shrinking (any hole pixel -> hole), nearest otherwise."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    if mask.shape[-2] >= size[0] and mask.shape[-1] >= size[1]:
        return F.adaptive_max_pool2d(mask, size)
    return F.interpolate(mask, size=size, mode="nearest")


def _diagonal_sum(scores: torch.Tensor, axis_b: int, axis_q: int, kernel: int) -> torch.Tensor:
    """sum_t scores[.., b + t, .., q + t, ..] for t in [-k//2, k//2] along one spatial axis pair (zeros outside)."""
    half = kernel // 2
    size = scores.shape[axis_b]
    pad = [0, 0] * scores.dim()
    for axis in (axis_b, axis_q):  # F.pad lists pads from the last dimension backwards
        pad[2 * (scores.dim() - 1 - axis)] = half
        pad[2 * (scores.dim() - 1 - axis) + 1] = half
    padded = F.pad(scores, pad)
    total = torch.zeros_like(scores)
    for t in range(-half, half + 1):
        total = total + padded.narrow(axis_b, half + t, size).narrow(axis_q, half + t, scores.shape[axis_q])
    return total


class ContextualAttention(nn.Module):
    """``forward(foreground, background, mask) -> (out, attention)``; see the module docstring.

    Args:
        patch: size of the matching patches on the downsampled grid (3 as in DeepFill).
        rate: downsampling rate for matching; reconstruction patches are ``2 * rate`` wide.
        scale: softmax temperature multiplier on the cosine scores (DeepFill: 10).
        fuse: whether to apply the diagonal fuse step; ``fuse_kernel`` its width.
    """

    def __init__(self, patch: int = 3, rate: int = 2, scale: float = 10.0, fuse: bool = True,
                 fuse_kernel: int = 3):
        super().__init__()
        if patch % 2 == 0 or fuse_kernel % 2 == 0:
            raise ValueError(f"patch and fuse_kernel must be odd, got {patch} and {fuse_kernel}")
        if rate < 1:
            raise ValueError(f"rate must be >= 1, got {rate}")
        self.patch, self.rate, self.scale, self.fuse, self.fuse_kernel = patch, rate, float(scale), fuse, fuse_kernel

    def extra_repr(self) -> str:
        return f"patch={self.patch}, rate={self.rate}, scale={self.scale}, fuse={self.fuse}"

    def forward(self, foreground: torch.Tensor, background: torch.Tensor, mask: torch.Tensor):
        if foreground.shape != background.shape:
            raise ValueError(f"foreground {tuple(foreground.shape)} and background {tuple(background.shape)} differ")
        n, c, height, width = foreground.shape
        rate = self.rate
        if height % rate or width % rate:
            raise ValueError(f"contextual attention: feature map {height}x{width} is not divisible by rate {rate}")
        dtype = foreground.dtype
        f, b = foreground.float(), background.float()  # softmax and cosine in fp32 also under AMP
        mask = mask.float()
        if mask.shape[0] != n:
            mask = mask.expand(n, -1, -1, -1)
        mask_full = resize_mask(mask, (height, width))
        h, w = height // rate, width // rate

        # 1. matching on the downsampled grid: cosine of 3x3 patches
        fs = F.avg_pool2d(f, rate) if rate > 1 else f
        bs = F.avg_pool2d(b, rate) if rate > 1 else b
        pad = self.patch // 2
        edges = (pad, pad, pad, pad)  # replicate padding: border patches are not darkened by zeros
        b_patches = F.unfold(F.pad(bs, edges, mode="replicate"), self.patch)  # (N, C*p*p, L)
        f_patches = F.unfold(F.pad(fs, edges, mode="replicate"), self.patch)  # (N, C*p*p, Q)
        b_patches = b_patches / b_patches.norm(dim=1, keepdim=True).clamp_min(1e-4)
        f_patches = f_patches / f_patches.norm(dim=1, keepdim=True).clamp_min(1e-4)
        scores = torch.bmm(b_patches.transpose(1, 2), f_patches)  # (N, L, Q)

        # 2. fuse along horizontal, then vertical, diagonals of the (background, foreground) grid
        if self.fuse:
            grid = scores.view(n, h, w, h, w)
            grid = _diagonal_sum(grid, axis_b=2, axis_q=4, kernel=self.fuse_kernel)
            grid = _diagonal_sum(grid, axis_b=1, axis_q=3, kernel=self.fuse_kernel)
            scores = grid.reshape(n, h * w, h * w)

        # 3. background patches touching the hole are never chosen
        mask_small = resize_mask(mask, (h, w))
        touches_hole = F.max_pool2d(mask_small, self.patch, stride=1, padding=pad)
        valid = (touches_hole.view(n, h * w, 1) < 0.5)
        logits = (scores * self.scale).masked_fill(~valid, -1e4)
        attention = torch.softmax(logits, dim=1) * valid  # exact zeros on hole patches

        # 4. reconstruction: transposed conv with full-resolution 2*rate patches (matmul + fold)
        kernel = 2 * rate
        before, after = rate // 2, rate - rate // 2
        b_padded = F.pad(b, (before, after, before, after), mode="replicate")
        raw = F.unfold(b_padded, kernel, stride=rate)  # (N, C*k*k, L)
        columns = torch.bmm(raw, attention)  # (N, C*k*k, Q)
        padded_size = (height + rate, width + rate)
        recon = F.fold(columns, padded_size, kernel, stride=rate)
        coverage = F.fold(torch.ones_like(columns[:1, : kernel * kernel]), padded_size, kernel, stride=rate)
        recon = (recon / coverage)[..., before:before + height, before:before + width]

        out = mask_full * recon + (1 - mask_full) * f
        return out.to(dtype), attention.view(n, h * w, h, w)
