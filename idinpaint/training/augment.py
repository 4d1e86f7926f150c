"""Differentiable augmentation for a discriminator trained on few images (DiffAugment: Zhao et al.,
NeurIPS 2020).

With a few thousand faces a discriminator soon memorises its real images and its gradients stop
teaching the generator. DiffAugment shows it only augmented images — real *and* generated, in the
discriminator's step *and* in the generator's — with transforms that are differentiable, so the
generator still learns through them and does not learn to draw the augmentation itself. Images are
in [-1, 1], (N, 3, H, W); the mask (N, 1, H, W, 1 = hole) moves with the image under translation.

* ``color``: per image, brightness + U(-0.5, 0.5), saturation × U(0, 2), contrast × U(0.5, 1.5);
* ``translation``: per image, an integer shift of up to 1/8 of the side, zero-padded;
* ``cutout``: per image, a square of half the side set to zero (the mask is left as it is).
"""
from __future__ import annotations

import torch

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy) -> tuple[str, ...]:
    """``"color,translation"`` / a list / None -> a tuple of known transform names (unknown: ValueError)."""
    if not policy:
        return ()
    names = tuple(p.strip() for p in (policy.split(",") if isinstance(policy, str) else policy) if p.strip())
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"gan.augment: unknown transforms {unknown}; valid: {', '.join(POLICIES)}")
    return names


def _rand(n: int, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(n, 1, 1, 1, dtype=like.dtype, device=like.device)


def color(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    x = x + (_rand(n, x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(n, x) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(n, x) + 0.5) + mean


def translation(x: torch.Tensor, mask: torch.Tensor, ratio: float = 0.125) -> tuple[torch.Tensor, torch.Tensor]:
    n, _, h, w = x.shape
    sy, sx = max(1, int(h * ratio)), max(1, int(w * ratio))
    dy = torch.randint(-sy, sy + 1, (n,)).tolist()
    dx = torch.randint(-sx, sx + 1, (n,)).tolist()
    both = torch.nn.functional.pad(torch.cat([x, mask.to(x.dtype)], dim=1), (sx, sx, sy, sy))
    out = torch.stack([both[i, :, sy - dy[i]:sy - dy[i] + h, sx - dx[i]:sx - dx[i] + w] for i in range(n)])
    return out[:, : x.shape[1]], out[:, x.shape[1]:]


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h - ch + 1, (n,), device=x.device).view(n, 1, 1)
    left = torch.randint(0, w - cw + 1, (n,), device=x.device).view(n, 1, 1)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    keep = ~((ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw))
    return x * keep.unsqueeze(1).to(x.dtype)


def diff_augment(image: torch.Tensor, mask: torch.Tensor, policy) -> tuple[torch.Tensor, torch.Tensor]:
    """(augmented image, its mask) under ``policy`` (see the module docstring); a no-op for an empty one."""
    for name in parse_policy(policy):
        if name == "color":
            image = color(image)
        elif name == "translation":
            image, mask = translation(image, mask)
        else:
            image = cutout(image)
    return image, mask
