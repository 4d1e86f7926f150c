"""Training losses, kept apart from the networks. Every weight comes from the config.

Images are float (N, 3, H, W) in [-1, 1], masks (N, 1, H, W) with 1 = hole. Discriminator outputs
may be one logit tensor or a list of them (one per scale); multi-scale losses average the scales.

* :func:`hinge_d_loss` / :func:`hinge_g_loss` — hinge adversarial losses (SN-GAN / SN-PatchGAN);
* :func:`attribute_loss` — ``0.5 * mean_k mean((z_att^k(Y) - z_att^k(X))^2)`` over the levels k;
* :func:`identity_loss` — ``1 - cos(SFace(output), target identity)``, batch mean, differentiable
  to the output image through :func:`sface_embedding`;
* :func:`reconstruction_loss` — L1 inside the hole and outside it, each averaged over its own
  pixels, with separate weights;
* :func:`identity_view` — the view the identity loss scores: :func:`robust_view` (blur, shift)
  after an optional expectation over transformations (:func:`eot_view`: flip, resized crop, colour
  jitter, down-sampling, noise), so that no pattern tuned to one exact view pays;
* :func:`chroma_loss` — L1 of the chroma (Cb, Cr) inside the hole: colour patterns cost directly;
* :func:`feature_matching_loss` — pix2pixHD's L1 between discriminator activations of the real
  and the generated face, averaged over layers and scales;
* :func:`weighted_total` — the weighted sum of named terms; an unknown or missing weight is an error.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
from torch.nn import functional as F

Logits = torch.Tensor | Sequence[torch.Tensor]


def _as_list(logits: Logits) -> list[torch.Tensor]:
    return [logits] if isinstance(logits, torch.Tensor) else list(logits)


def hinge_d_loss(real_logits: Logits, fake_logits: Logits) -> torch.Tensor:
    """``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``, averaged over scales."""
    real, fake = _as_list(real_logits), _as_list(fake_logits)
    if len(real) != len(fake) or not real:
        raise ValueError(f"hinge_d_loss: {len(real)} real and {len(fake)} fake logit scales")
    terms = [F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real, fake)]
    return torch.stack(terms).mean()


def hinge_g_loss(fake_logits: Logits) -> torch.Tensor:
    """``-mean(D(fake))``, averaged over scales."""
    fake = _as_list(fake_logits)
    if not fake:
        raise ValueError("hinge_g_loss: no logits")
    return torch.stack([-f.mean() for f in fake]).mean()


def attribute_loss(z_att_output: Sequence[torch.Tensor], z_att_input: Sequence[torch.Tensor]) -> torch.Tensor:
    """``0.5 * mean over levels of the mean squared difference`` of attribute maps (FaceShifter's L_att,
    with each level averaged over its elements so resolutions weigh alike)."""
    if len(z_att_output) != len(z_att_input) or not z_att_output:
        raise ValueError(f"attribute_loss: {len(z_att_output)} vs {len(z_att_input)} levels")
    terms = []
    for k, (y, x) in enumerate(zip(z_att_output, z_att_input)):
        if y.shape != x.shape:
            raise ValueError(f"attribute_loss: level {k} shapes differ: {tuple(y.shape)} vs {tuple(x.shape)}")
        terms.append((y - x).pow(2).mean())
    return 0.5 * torch.stack(terms).mean()


def to_sface_input(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] RGB -> the 0-255 RGB float that :class:`~idinpaint.recognizers.sface.SFaceNet` takes."""
    return (images.clamp(-1, 1) + 1) * 127.5


def sface_embedding(sface: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """L2-normalised SFace embedding of [-1, 1] images (N, 3, 112, 112); differentiable."""
    if images.shape[-2:] != (112, 112):
        raise ValueError(f"SFace takes 112x112 aligned crops, got {tuple(images.shape[-2:])}")
    return F.normalize(sface(to_sface_input(images)).float(), dim=1)


def robust_view(images: torch.Tensor, blur: Sequence[float] | None = (0.5, 1.5), shift: int = 2,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """A randomly blurred, shifted view of a batch, for the identity loss.

    Why: the identity loss back-propagates through a fixed recognizer, and a small generator
    quickly learns a high-frequency pattern that moves the recognizer's embedding without drawing
    a face (an adversarial texture that the independent evaluator does not believe). Scoring a
    Gaussian-blurred (sigma drawn from ``blur`` per image) and randomly translated (up to ``shift``
    pixels, reflected borders) copy leaves only low-frequency, position-robust structure to gain
    identity from — eyes, brows and their placement. ``blur=None`` and ``shift=0``: unchanged.
    """
    out = images
    n = images.shape[0]
    if blur is not None:
        low, high = float(blur[0]), float(blur[1])
        sigmas = low + (high - low) * torch.rand(n, generator=generator, device="cpu")
        radius = max(1, int(math.ceil(3 * high)))
        x = torch.arange(-radius, radius + 1, dtype=images.dtype)
        kernels = torch.exp(-(x[None] ** 2) / (2 * sigmas[:, None].to(images.dtype) ** 2))
        kernels = (kernels / kernels.sum(dim=1, keepdim=True)).to(images.device)  # (n, k)
        c = images.shape[1]
        padded = F.pad(out, (radius, radius, radius, radius), mode="reflect")
        flat = padded.reshape(1, n * c, *padded.shape[-2:])
        k = kernels.repeat_interleave(c, dim=0)  # one separable kernel per (image, channel)
        flat = F.conv2d(flat, k[:, None, None, :], groups=n * c)
        flat = F.conv2d(flat, k[:, None, :, None], groups=n * c)
        out = flat.reshape(images.shape)
    if shift > 0:
        size = images.shape[-1]
        padded = F.pad(out, (shift, shift, shift, shift), mode="reflect")
        offsets = torch.randint(0, 2 * shift + 1, (n, 2), generator=generator, device="cpu").tolist()
        out = torch.stack([padded[i, :, dy:dy + size, dx:dx + size] for i, (dy, dx) in enumerate(offsets)])
    return out


EOT_KEYS = ("flip", "crop", "jitter", "down", "noise")
VIEW_KEYS = ("blur", "shift") + EOT_KEYS


def eot_view(images: torch.Tensor, flip: bool = False, crop: float | None = None, jitter: float = 0.0,
             down: Sequence[int] | None = None, noise: float = 0.0,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """A random, differentiable transformation of each image (expectation over transformations).

    * ``flip``: mirror half of the images;
    * ``crop``: a random square crop of side ``s`` in [``crop``, 1] of the image, resized back;
    * ``jitter``: brightness (added), contrast and saturation (scaled) drawn in [-j, j] / [1-j, 1+j];
    * ``down``: down-sample to a size drawn from the list, then back up (what JPEG and small
      photos do to fine detail; JPEG itself is not differentiable);
    * ``noise``: Gaussian noise of this standard deviation (images in [-1, 1]).
    """
    n, _, h, w = images.shape
    dev, dt = images.device, images.dtype

    def uniform(low, high, shape=(n,)):
        return (low + (high - low) * torch.rand(shape, generator=generator)).to(dev, dt)

    out = images
    if flip or crop:
        scale = uniform(float(crop), 1.0) if crop else torch.ones(n, device=dev, dtype=dt)
        tx = (1 - scale) * uniform(-1.0, 1.0)
        ty = (1 - scale) * uniform(-1.0, 1.0)
        sign = torch.ones(n, device=dev, dtype=dt)
        if flip:
            sign = torch.where(torch.rand(n, generator=generator).to(dev) < 0.5, -sign, sign)
        theta = torch.zeros(n, 2, 3, device=dev, dtype=dt)
        theta[:, 0, 0], theta[:, 0, 2] = scale * sign, tx
        theta[:, 1, 1], theta[:, 1, 2] = scale, ty
        grid = F.affine_grid(theta, list(out.shape), align_corners=False)
        out = F.grid_sample(out, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if jitter:
        j = float(jitter)
        gray = out.mean(dim=1, keepdim=True)
        out = gray + uniform(1 - j, 1 + j).view(n, 1, 1, 1) * (out - gray)  # saturation
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = mean + uniform(1 - j, 1 + j).view(n, 1, 1, 1) * (out - mean)  # contrast
        out = out + uniform(-j, j).view(n, 1, 1, 1)  # brightness
    if down:
        sizes = [int(s) for s in down]
        size = sizes[int(torch.randint(0, len(sizes), (1,), generator=generator))]
        out = F.interpolate(out, size=(size, size), mode="area")
        out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
    if noise:
        out = out + float(noise) * torch.randn(out.shape, generator=generator).to(dev, dt)
    return out.clamp(-1, 1)


def identity_view(images: torch.Tensor, settings: Mapping | None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """The view of a batch that the identity loss scores (``losses.fusor.id_robust`` settings:
    any of ``blur``, ``shift`` and the :func:`eot_view` keys); ``None``/empty: unchanged."""
    if not settings:
        return images
    unknown = sorted(set(settings) - set(VIEW_KEYS))
    if unknown:
        raise ValueError(f"id_robust: unknown keys {unknown}; valid: {', '.join(VIEW_KEYS)}")
    eot = {k: settings[k] for k in EOT_KEYS if settings.get(k)}
    out = eot_view(images, generator=generator, **eot) if eot else images
    if settings.get("blur") or int(settings.get("shift", 0) or 0):
        out = robust_view(out, settings.get("blur"), int(settings.get("shift", 0) or 0), generator=generator)
    return out


def chroma(images: torch.Tensor) -> torch.Tensor:
    """(N, 2, H, W) chroma (Cb, Cr of ITU-R BT.601) of [-1, 1] RGB images."""
    r, g, b = images[:, 0:1], images[:, 1:2], images[:, 2:3]
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b
    return torch.cat([cb, cr], dim=1)


def chroma_loss(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |chroma(output) - chroma(target)| over the hole's pixels (0 for an empty hole)."""
    mask = mask.to(output.dtype).expand(-1, 2, -1, -1)
    error = (chroma(output) - chroma(target)).abs()
    return (error * mask).sum() / mask.sum().clamp_min(1)


def feature_matching_loss(fake_features: Sequence[Sequence[torch.Tensor]],
                          real_features: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
    """pix2pixHD feature matching: mean over scales and layers of L1(D_k(fake), D_k(real)),
    the real activations detached."""
    terms = [(f - r.detach()).abs().mean() for fs, rs in zip(fake_features, real_features) for f, r in zip(fs, rs)]
    if not terms:
        raise ValueError("feature_matching_loss: no discriminator features")
    return torch.stack(terms).mean()


def r1_penalty(real_logits: Logits, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al., ICML 2018): the mean over images of ``||grad_x sum D(x)||^2`` at the real
    images ``real`` (which must require grad; ``real_logits`` = D(real), every scale summed). The
    caller scales it by gamma / 2."""
    total = sum(r.sum() for r in _as_list(real_logits))
    (grad,) = torch.autograd.grad(total, real, create_graph=True)
    return grad.pow(2).flatten(1).sum(dim=1).mean()


def identity_similarity(embedding: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample cosine similarity (N,) of two embedding batches (normalised here)."""
    return F.cosine_similarity(embedding.float(), target.float(), dim=1, eps=1e-8)


def identity_loss(embedding: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean(1 - cos(embedding, target))``: 0 for identical identities, 2 for opposite ones."""
    if embedding.shape != target.shape:
        raise ValueError(f"identity_loss: embedding {tuple(embedding.shape)} vs target {tuple(target.shape)}")
    return (1 - identity_similarity(embedding, target)).mean()


def reconstruction_loss(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                        hole_weight: float = 1.0, valid_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """L1 inside (``hole``) and outside (``valid``) the hole, each the mean over its own pixels and
    channels; ``total = hole_weight * hole + valid_weight * valid``. An empty region contributes 0."""
    if output.shape != target.shape:
        raise ValueError(f"reconstruction_loss: output {tuple(output.shape)} vs target {tuple(target.shape)}")
    mask = mask.to(output.dtype).expand_as(output)
    error = (output - target).abs()
    hole = (error * mask).sum() / mask.sum().clamp_min(1)
    valid = (error * (1 - mask)).sum() / (1 - mask).sum().clamp_min(1)
    return {"hole": hole, "valid": valid, "total": hole_weight * hole + valid_weight * valid}


def weighted_total(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    """``sum(weights[k] * terms[k])``; every term needs a weight and every weight a term."""
    missing = sorted(set(terms) - set(weights))
    extra = sorted(set(weights) - set(terms))
    if missing or extra:
        raise ValueError(f"loss weights do not match the loss terms: no weight for {missing}, no term for {extra}")
    total = None
    for name, value in terms.items():
        weight = float(weights[name])
        if weight == 0:
            continue
        total = weight * value if total is None else total + weight * value
    if total is None:
        return torch.zeros((), device=next(iter(terms.values())).device) if terms else torch.zeros(())
    return total


def detector_loss(logits: torch.Tensor, target: torch.Tensor, dice_weight: float = 1.0) -> tuple[torch.Tensor, dict]:
    """The O-Detector's segmentation loss: BCE + ``dice_weight`` * (1 - soft Dice over the whole
    batch: clean crops' empty targets count). Returns (loss, {"bce", "dice"} detached)."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits)
    dice = (2 * (prob * target).sum() + 1) / (prob.sum() + target.sum() + 1)
    loss = bce + dice_weight * (1 - dice)
    return loss, {"bce": bce.detach(), "dice": dice.detach()}
