"""A trained inpainter's networks, ready for batched inference: the CA fills the hole; for ``ca_id``
the Sampler (frozen SFace) reads ``z_id`` and the Fusor refines the fill. Built from a checkpoint by
:func:`idinpaint.checkpoints.load_checkpoint`.

:meth:`Inpainter.predict` works in mini-batches, in three steps a caller may look into:
:meth:`Inpainter.prior` (the CA's fill pasted into the hole — the ``ca`` filler's network output and
the "prior face" of the Fusor), then :meth:`Inpainter.refine` (Sampler + Fusor). ``return_ca`` also
returns the CA fill it computed on the way, and ``ca_memo`` lets a caller hand in CA fills computed
before (the ``ca`` / ``ca_id`` fillers of one checkpoint share one CA pass:
:mod:`idinpaint.fillers.learned`).

Every part runs under a ``torch.profiler.record_function`` label (``ca.coarse``,
``ca.contextual_attention``, ``ca.refine``, ``sampler.sface``, ``fusor.attribute_encoder``,
``fusor.aif_generator``, plus ``predict.to_tensor`` / ``predict.to_uint8``):
``benchmarks/profile_inpainter.py`` reads them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch.profiler import record_function

from idinpaint.losses import sface_embedding
from idinpaint.models.layers import composite
from idinpaint.recognizers.sface import load_sface_module


class CAMemo(Protocol):
    """What :meth:`Inpainter.predict` asks of a ``ca_memo``: the CA fill (float (n, 3, H, W) in [-1, 1],
    already pasted into the hole) of a mini-batch computed before, or None; and a place to keep one."""

    def get(self, images: np.ndarray, masks: np.ndarray, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor | None: ...

    def put(self, images: np.ndarray, masks: np.ndarray, prior: torch.Tensor, m: torch.Tensor) -> None: ...


def to_uint8(result: torch.Tensor) -> np.ndarray:
    """[-1, 1] float (N, 3, H, W) -> RGB uint8 (N, H, W, 3): clamp, scale, round (the one rounding rule)."""
    pixels = ((result.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).cpu().numpy()


@dataclass
class Inpainter:
    """The networks of a checkpoint, ready for batched inference (``predict``).

    Torch-side speed options (off by default; ``benchmarks/bench_method.py`` compares them, the
    defaults change only where that measurement is recorded): ``channels_last`` (NHWC memory
    format for the convolutions) and ``inference_mode`` (``torch.inference_mode`` instead of
    ``torch.no_grad``); see :meth:`tune`.
    """

    kind: str
    ca: torch.nn.Module
    fusor: torch.nn.Module | None
    device: torch.device
    meta: dict = field(default_factory=dict)
    path: str = ""
    channels_last: bool = False
    inference_mode: bool = False

    @property
    def id_source(self) -> str:
        return (self.meta.get("sampler") or {}).get("source", "prior")

    def _sface(self):
        return load_sface_module(str(self.device))

    def tune(self, channels_last: bool | None = None, inference_mode: bool | None = None,
             compile: bool = False) -> "Inpainter":
        """Switch the torch-side speed options (None keeps one as it is); ``compile``: wrap the
        networks in ``torch.compile`` (the first calls of each batch size compile: slow). The
        outputs stay the same up to float rounding. ``channels_last`` also converts the SFace module,
        which the process shares (``load_sface_module``). Returns self."""
        if channels_last is not None:
            self.channels_last = bool(channels_last)
            fmt = torch.channels_last if self.channels_last else torch.contiguous_format
            for net in (self.ca, self.fusor):
                if net is not None:
                    net.to(memory_format=fmt)
            if self.kind == "ca_id":
                self._sface().to(memory_format=fmt)
        if inference_mode is not None:
            self.inference_mode = bool(inference_mode)
        if compile:
            self.ca = torch.compile(self.ca)
            if self.fusor is not None:
                self.fusor = torch.compile(self.fusor)
        return self

    def _grad_off(self):
        return torch.inference_mode() if self.inference_mode else torch.no_grad()

    def image_tensor(self, images: np.ndarray) -> torch.Tensor:
        """RGB uint8 (n, H, W, 3) -> float (n, 3, H, W) in [-1, 1] on the device."""
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        x = x.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @property
    def refines(self) -> bool:
        """Whether a Fusor refines the CA's fill (kind ``ca_id``)."""
        return self.fusor is not None

    def to_tensors(self, images: np.ndarray, masks: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """RGB uint8 (n, H, W, 3) + bool (n, H, W) -> x float (n, 3, H, W) in [-1, 1], m (n, 1, H, W) 0/1."""
        m = torch.from_numpy(np.asarray(masks, dtype=np.float32))[:, None].to(self.device)
        return self.image_tensor(images), m

    def prior(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """The CA's refined output pasted into the hole of ``x`` (float, [-1, 1]): the ``ca`` fill."""
        with self._grad_off():
            return self.ca.inpaint(x * (1 - m), m)

    def refine(self, prior: torch.Tensor, x: torch.Tensor, m: torch.Tensor,
               references: np.ndarray | None = None) -> torch.Tensor:
        """Sampler (SFace reads ``z_id``) + Fusor on the CA fill ``prior``; the ``ca_id`` fill (float)."""
        if self.fusor is None:
            raise ValueError("refine: this is a CA-only inpainter (kind 'ca'), it has no Fusor")
        with self._grad_off():
            sface = self._sface()
            with record_function("sampler.sface"):
                if references is not None:
                    z_id = sface_embedding(sface, self.image_tensor(references))
                elif self.id_source == "occluded":
                    z_id = sface_embedding(sface, composite(torch.full_like(x, -1.0), x, m))
                else:
                    z_id = sface_embedding(sface, prior)
            result, _, _ = self.fusor(prior, m, z_id)
        return result

    def predict(self, images: np.ndarray, masks: np.ndarray, batch_size: int = 32,
                references: np.ndarray | None = None, return_ca: bool = False,
                ca_memo: CAMemo | None = None):
        """Network output pasted into the hole, RGB uint8 (N, H, W, 3); no blending.

        ``images`` RGB uint8 (N, 112, 112, 3), ``masks`` bool (N, 112, 112), True = hole;
        ``references`` (optional, ``ca_id`` with a reference-trained sampler): another photo of
        each person, used for ``z_id`` instead of the prior face. ``return_ca``: return
        ``(output, ca_fill)``, ``ca_fill`` the CA's own output (uint8, what a ``ca`` model of the
        same CA weights gives) — computed anyway on the way to a ``ca_id`` fill. ``ca_memo``: CA
        fills of mini-batches computed before (see :class:`CAMemo`); the CA runs only on misses.
        """
        out = np.empty_like(images)
        ca_out = np.empty_like(images) if return_ca else None
        batch_size = max(1, int(batch_size))
        for start in range(0, len(images), batch_size):
            chunk = slice(start, start + batch_size)
            with record_function("predict.to_tensor"):
                x, m = self.to_tensors(images[chunk], masks[chunk])
            prior = ca_memo.get(images[chunk], masks[chunk], x, m) if ca_memo is not None else None
            if prior is None:
                prior = self.prior(x, m)
                if ca_memo is not None:
                    ca_memo.put(images[chunk], masks[chunk], prior, m)
            result = prior
            if self.refines:
                refs = None if references is None else references[chunk]
                result = self.refine(prior, x, m, refs)
            with record_function("predict.to_uint8"):
                out[chunk] = to_uint8(result)
                if ca_out is not None:
                    ca_out[chunk] = out[chunk] if result is prior else to_uint8(prior)
        return (out, ca_out) if return_ca else out

