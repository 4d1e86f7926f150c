"""Trained inpainters as fillers: ``ca`` (the contextual-attention coarse inpainter) and ``ca_id``
(CA + identity-guided Fusor), each from one checkpoint (:class:`CheckpointFiller`) or from the
shipped pair of LFW-half models, each crop filled by the model that never saw its person
(:class:`LFWHalvesFiller`). The output is blended into the hole (:mod:`idinpaint.blending`).

One CA pass: a ``ca_id`` fill is built on its CA's fill, which is the ``ca`` filler's network output
for the same CA weights. Both kinds keep the CA fills they compute in :data:`CA_MEMO` (a
process-wide LRU, bounded in bytes) keyed by (CA weights digest, device, backend, the mini-batch's
images and masks), so when the ``ca`` and ``ca_id`` columns of one run fill the same crops (in
either order) the CA runs once; outputs are bit-identical to separate runs. It keeps the network
output before blending, so fillers with different blends share it.

Backends: ``torch`` (the networks as they are) or ``onnx`` (onnxruntime on exported graphs,
:mod:`idinpaint.onnx_export`); ``backend=None`` takes ``$IDINPAINT_BACKEND``, else
:data:`DEFAULT_BACKEND`; ``auto`` picks :data:`FASTEST_BACKEND` for the device.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch.profiler import record_function

from idinpaint.blending import BLENDS, DEFAULT_BLEND, blend, blend_tag
from idinpaint.checkpoints import KINDS, file_sha256, load_checkpoint, shipped_checkpoints, weights_digest
from idinpaint.data.lfw import LFWHalvesRouter
from idinpaint.fillers.base import Filler, as_batch
from idinpaint.fillers.classic import OpenCVFiller
from idinpaint.models.inpainter import to_uint8
from idinpaint.onnx_export import OnnxInpainter
from idinpaint.runs import RUN_FILE, finished_stages, stage_file

CROP = 112
#: A checkpoint for ``get_filler("ca")`` / ``get_filler("ca_id")`` without an argument.
CHECKPOINT_ENV = {"ca": "IDINPAINT_CA_CHECKPOINT", "ca_id": "IDINPAINT_CA_ID_CHECKPOINT"}

BACKENDS = ("torch", "onnx", "auto")
BACKEND_ENV = "IDINPAINT_BACKEND"
#: The backend of a learned filler when neither the caller nor ``$IDINPAINT_BACKEND`` names one.
#: Decided by measurement only: ``benchmarks/bench_method.py --backend torch|onnx`` on an idle
#: machine writes ``benchmarks/results/method_<profile>_<device>[_onnx].json``; the comparison and the
#: decision are recorded in the README's speed section: on the 2-core CPU, onnxruntime ran CA + ID at
#: batch 64 at 16.2 images/s against torch's 7.1, the CA alone at 38.6 against 28.1, with outputs
#: within 1/255 of torch's (tests/test_onnx.py).
DEFAULT_BACKEND = "auto"
#: What ``backend="auto"`` runs on each device type (the same measurement decides; onnxruntime here
#: is CPU-only, so CUDA stays torch).
FASTEST_BACKEND = {"cpu": "onnx", "cuda": "torch"}
#: Bytes of CA fills :data:`CA_MEMO` keeps (``$IDINPAINT_CA_MEMO_MB``, default 512; 0 = off). A
#: condition of the LFW protocol (4,576 crops) needs 12 bytes per hole pixel and crop: 176 MB for
#: two_eyes, 406 MB for upper_face, the largest region.
CA_MEMO_ENV = "IDINPAINT_CA_MEMO_MB"
DEFAULT_CA_MEMO_MB = 512


def resolve_backend(backend: str | None, device) -> str:
    """``torch`` or ``onnx``: ``backend``, else ``$IDINPAINT_BACKEND``, else :data:`DEFAULT_BACKEND`;
    ``auto`` = :data:`FASTEST_BACKEND` of the device's type."""
    chosen = backend or os.environ.get(BACKEND_ENV) or DEFAULT_BACKEND
    if chosen not in BACKENDS:
        where = f"${BACKEND_ENV}" if not backend and os.environ.get(BACKEND_ENV) else "backend"
        raise ValueError(f"unknown {where} {chosen!r}; valid: {', '.join(BACKENDS)}")
    if chosen == "auto":
        chosen = FASTEST_BACKEND.get(torch.device(device).type, "torch")
    return chosen


class CAFillMemo:
    """CA fills of mini-batches, most recently used kept, at most ``max_bytes`` of them (thread-safe).

    Only the hole pixels are stored (float32): outside the hole a CA fill is the input image,
    bit for bit, so the whole fill is rebuilt exactly from the image. :meth:`view` binds a key
    prefix (the CA's weights digest, device and backend) and is what
    :meth:`~idinpaint.models.inpainter.Inpainter.predict` takes as ``ca_memo``.
    """

    max_entries = 4096  # mini-batches; also bounds entries of empty holes, which weigh 0 bytes

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self.entries: OrderedDict = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = 0
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()
            self.bytes = self.hits = self.misses = 0

    @staticmethod
    def batch_key(images: np.ndarray, masks: np.ndarray) -> str:
        """SHA-1 of a mini-batch: its masks and its images with the hole zeroed (the networks never
        read the hole, so a black- and a gray-filled hole share their CA fill)."""
        masks = np.ascontiguousarray(masks, dtype=bool)
        digest = hashlib.sha1(f"{images.shape}|{masks.shape}".encode())
        digest.update(np.where(masks[..., None], 0, images).astype(np.uint8, copy=False).tobytes())
        digest.update(masks.tobytes())
        return digest.hexdigest()

    def get(self, key) -> torch.Tensor | None:
        with self._lock:
            value = self.entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self.entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key, values: torch.Tensor) -> None:
        size = values.numel() * values.element_size()
        if size > self.max_bytes or self.max_bytes <= 0:
            return
        with self._lock:
            if key in self.entries:
                return
            self.entries[key] = values
            self.bytes += size
            while self.bytes > self.max_bytes or len(self.entries) > self.max_entries:
                _, old = self.entries.popitem(last=False)
                self.bytes -= old.numel() * old.element_size()

    def view(self, namespace: tuple) -> "_MemoView":
        return _MemoView(self, namespace)


class _MemoView:
    """A :class:`CAFillMemo` under one key prefix, in the ``ca_memo`` interface of ``predict``."""

    def __init__(self, memo: CAFillMemo, namespace: tuple):
        self.memo, self.namespace = memo, namespace

    def get(self, images, masks, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor | None:
        values = self.memo.get((self.namespace, CAFillMemo.batch_key(images, masks)))
        if values is None:
            return None
        prior = x.clone()
        prior[m.expand_as(x) > 0.5] = values.to(x.device)
        return prior

    def put(self, images, masks, prior: torch.Tensor, m: torch.Tensor) -> None:
        hole = prior[m.expand_as(prior) > 0.5].detach().to("cpu", copy=True)
        self.memo.put((self.namespace, CAFillMemo.batch_key(images, masks)), hole)


#: The process's CA fills (see the module docstring).
CA_MEMO = CAFillMemo(int(float(os.environ.get(CA_MEMO_ENV, DEFAULT_CA_MEMO_MB)) * 2 ** 20))


class CheckpointFiller(Filler):
    """A trained inpainter as a :class:`~idinpaint.fillers.Filler` (``ca`` or ``ca_id``).

    ``checkpoint`` defaults to ``$IDINPAINT_CA_CHECKPOINT`` / ``$IDINPAINT_CA_ID_CHECKPOINT``;
    ``kind=None`` takes whatever kind the checkpoint is. Works on 112x112 aligned crops.
    ``backend``: ``torch``, ``onnx`` or ``auto`` (None: ``$IDINPAINT_BACKEND``, else
    :data:`DEFAULT_BACKEND`); ``share_ca``: keep and reuse CA fills in :data:`CA_MEMO`.
    """

    cache_fills = True  # a network pass is slow on CPU: evaluation keeps the filled crops for every recognizer

    def __init__(self, checkpoint=None, kind: str | None = "ca", device=None, blend: str = DEFAULT_BLEND,
                 batch_size: int = 32, feather: float = 4.0, ca_only: bool = False, backend: str | None = None,
                 share_ca: bool = True):
        if blend not in BLENDS:
            raise ValueError(f"unknown blend {blend!r}; valid: {', '.join(BLENDS)}")
        if backend is not None and backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
        if checkpoint is None:
            variable = CHECKPOINT_ENV.get(kind or "ca")
            checkpoint = os.environ.get(variable) if variable else None
            if not checkpoint:
                raise ValueError(f"filler {kind!r} needs a checkpoint: pass checkpoint=<path> or set {variable}")
        if device is None and (backend or os.environ.get(BACKEND_ENV)) == "onnx":
            device = "cpu"  # onnxruntime here runs on the CPU only
        self.inpainter = load_checkpoint(checkpoint, None if ca_only else kind, device, ca_only=ca_only)
        self.name = self.inpainter.kind
        self.checkpoint = str(checkpoint)
        self.sha256 = file_sha256(checkpoint)[:12]
        self.blend, self.batch_size, self.feather = blend, int(batch_size), float(feather)
        self.backend = resolve_backend(backend, self.inpainter.device)
        #: what runs the networks: the torch Inpainter itself or its onnxruntime twin (same predict)
        self.runner = self.inpainter if self.backend == "torch" else OnnxInpainter(self.inpainter)
        self.ca_memo = (CA_MEMO.view((weights_digest(self.inpainter.ca), str(self.inpainter.device), self.backend))
                        if share_ca else None)

    @property
    def _backend_tag(self) -> str:
        # torch keeps the keys it always had (existing evaluation caches stay valid); onnx rounds a
        # few pixels differently, so its fills are cached apart
        return "" if self.backend == "torch" else f", backend={self.backend!r}"

    @property
    def cache_tag(self) -> str | None:
        """Evaluation cache key of a CA-only filler: the CA's own weights, not the file's hash, so a
        new Fusor trained on the same CA (same file name, new bytes) keeps its cached ``ca`` rows.
        ``ca_id`` fillers key on the whole file (their repr)."""
        if self.inpainter.fusor is not None:
            return None
        feather = f", feather={self.feather}" if self.blend != "poisson" else ""
        return (f"ca:weights={weights_digest(self.inpainter.ca)}, blend={blend_tag(self.blend)!r}{feather}"
                f"{self._backend_tag}")

    def network_fill(self, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """The network's output pasted into the hole (uint8), before blending; the CA runs only on
        mini-batches :data:`CA_MEMO` does not hold."""
        return self.runner.predict(images, masks, self.batch_size, ca_memo=self.ca_memo)

    def blend_fill(self, images: np.ndarray, generated: np.ndarray, masks: np.ndarray) -> np.ndarray:
        with record_function("blend"):
            return np.stack([blend(image, gen, mask, self.blend, self.feather)
                             for image, gen, mask in zip(images, generated, masks)])

    def _fill(self, images, masks):
        if images.shape[1:3] != (CROP, CROP):
            raise ValueError(f"{self.name}: works on {CROP}x{CROP} aligned crops, got {images.shape[2]}x{images.shape[1]} "
                             "(`idinpaint inpaint` aligns photos first)")
        return self.blend_fill(images, self.network_fill(images, masks), masks)

    def __repr__(self) -> str:  # also the evaluation cache key: changes when the weights change
        return (f"CheckpointFiller(name={self.name!r}, checkpoint={self.checkpoint!r}, sha256={self.sha256!r}, "
                f"blend={blend_tag(self.blend)!r}{self._backend_tag})")


class LFWHalvesFiller(Filler):
    """Two checkpoints, one per LFW half: each crop goes to the model that never saw its person.

    ``fill_for(images, masks, relatives)`` routes by the person folder of each relative path
    (``Name/Name_0001.png``): people of pairs folds 1-5 to half A's model, folds 6-10 to half B's.
    People in no pair were training material for both models; they (and ``fill`` without paths)
    go to ``default_half``, or raise when it is None — so an evaluation can never leak identities.
    ``kind="ca"`` uses only the CA inside each checkpoint (the coarse fill CA+ID builds on).
    """

    cache_fills = True

    def __init__(self, checkpoints: dict | None = None, kind: str = "ca_id", pairs=None, lfw_root=None,
                 default_half: str | None = None, **filler_kwargs):
        checkpoints = checkpoints or shipped_checkpoints()
        if set(checkpoints) != {"A", "B"}:
            raise ValueError(f"LFWHalvesFiller needs checkpoints for halves A and B, got {sorted(checkpoints)}")
        if kind not in KINDS:
            raise ValueError(f"unknown model kind {kind!r}; valid: {', '.join(KINDS)}")
        self.name = kind
        # kind "ca": the CA inside each (ca or ca_id) checkpoint; kind "ca_id": the whole model
        self.fillers = {half: CheckpointFiller(path, kind=kind, ca_only=kind == "ca", **filler_kwargs)
                        for half, path in sorted(checkpoints.items())}
        self.router = LFWHalvesRouter(self.fillers, pairs, lfw_root, default_half, "models")
        self.default_half = self.router.default_half

    def half_for(self, relative) -> str:
        return self.router.half_for(relative)

    def fill_for(self, images, masks, relatives=None):
        if relatives is None:
            return self.fill(images, masks)
        images, masks, single = as_batch(images, masks)
        if len(relatives) != len(images):
            raise ValueError(f"{self.name}: {len(relatives)} paths for {len(images)} images")
        indices = np.arange(len(images))
        out = self.router.route(lambda filler, chosen: filler.fill(images[chosen], masks[chosen]), indices,
                                relatives, images.copy())
        return out[0] if single else out

    def _fill(self, images, masks):
        return self.router.default().fill(images, masks)

    @property
    def cache_tag(self) -> str | None:
        """``ca``: both halves' CA weights (see :attr:`CheckpointFiller.cache_tag`); ``ca_id``: the repr."""
        tags = {half: filler.cache_tag for half, filler in self.fillers.items()}
        if any(tag is None for tag in tags.values()):
            return None
        return "LFWHalvesFiller(" + "; ".join(f"{half}: {tag}" for half, tag in tags.items()) + ")"

    def __repr__(self) -> str:  # the evaluation cache key of ca_id: both weight files and the routing
        inner = ", ".join(f"{h}={f.sha256}" for h, f in self.fillers.items())
        return (f"LFWHalvesFiller(name={self.name!r}, {inner}, blend={blend_tag(self.fillers['A'].blend)!r}"
                f"{self.fillers['A']._backend_tag})")


def make_learned_filler(kind: str, checkpoint=None, **kwargs) -> Filler:
    """``get_filler("ca" | "ca_id")``: a checkpoint (argument or ``$IDINPAINT_CA[_ID]_CHECKPOINT``)
    gives a :class:`CheckpointFiller`; without one, the shipped LFW-half models give an
    :class:`LFWHalvesFiller`."""
    if checkpoint is None and not os.environ.get(CHECKPOINT_ENV[kind]):
        shipped = shipped_checkpoints()
        if all(p.is_file() for p in shipped.values()):
            return LFWHalvesFiller(shipped, kind=kind, **kwargs)
    return CheckpointFiller(checkpoint, kind=kind, **kwargs)


def method_fillers(half: str = "A", run_dir=None, blend: str = DEFAULT_BLEND,
                   backend: str | None = None) -> list[Filler]:
    """[telea, ca, ca_id] for a gallery of ``half``'s test faces: the shipped LFW-half models (each
    face filled by the model that never saw its person), or a training run folder's own models
    (``idinpaint train``; e.g. the smoke run of notebook 02): its CA stage and its final stage.
    ``backend``: see :class:`CheckpointFiller` (None: ``$IDINPAINT_BACKEND``, else :data:`DEFAULT_BACKEND`)."""
    if run_dir is None:
        learned = [make_learned_filler(kind, default_half=half, blend=blend, backend=backend) for kind in KINDS]
    else:
        run_dir = Path(run_dir)
        done = finished_stages(run_dir)
        ca_stages = [s for s in done if s.get("model") == "ca"]
        if not done or done[-1].get("model") != "fusor":
            raise FileNotFoundError(f"{run_dir / RUN_FILE}: the run has no finished final Fusor stage yet")
        final = stage_file(run_dir, done[-1])
        # a run whose Fusor started from another model's CA (init_only: [ca]) has no CA stage: the
        # CA inside its final file is the one it built on
        ca = (CheckpointFiller(stage_file(run_dir, ca_stages[-1]), kind="ca", blend=blend, backend=backend)
              if ca_stages else CheckpointFiller(final, kind="ca", ca_only=True, blend=blend, backend=backend))
        learned = [ca, CheckpointFiller(final, kind="ca_id", blend=blend, backend=backend)]
    return [OpenCVFiller("telea")] + learned


class ReferenceFusorFiller(Filler):
    """The Fusor given the reference's identity: the Sampler (frozen SFace) reads ``z_id`` from the
    **clean reference photo** the :class:`~idinpaint.fillers.reference.ReferenceFiller` chose for each
    crop, not from the occluded face (which is guessed). ``start``: what the Fusor refines —
    ``"ca"`` the CA's fill (the paper's input, with the reference's identity; name ``ca_id_ref``) or
    ``"reference"`` the reference fill itself (name ``reference_fusor``). Crops the reference filler
    could not fit keep its fallback's fill. ``model``: a ``ca_id`` :class:`CheckpointFiller` or an
    :class:`LFWHalvesFiller` (each crop to the model that never saw its person)."""

    def __init__(self, model: Filler, reference: Filler, start: str = "ca"):
        if start not in ("ca", "reference"):
            raise ValueError(f"start must be 'ca' or 'reference', got {start!r}")
        self.model, self.reference, self.start = model, reference, start
        self.name = "ca_id_ref" if start == "ca" else "reference_fusor"

    def _checkpoint_for(self, relative) -> CheckpointFiller:
        if isinstance(self.model, LFWHalvesFiller):
            return self.model.fillers[self.model.half_for(relative) if relative is not None else self.model.default_half]
        return self.model

    def fill_for(self, images, masks, relatives=None):
        images, masks, single = as_batch(images, masks)
        filled = self.reference.fill_for(images, masks, relatives)
        chosen = list(self.reference.chosen)
        out = filled.copy()
        groups: dict[int, tuple[CheckpointFiller, list[int]]] = {}
        for i in range(len(images)):
            if chosen[i] is None:
                continue
            model = self._checkpoint_for(None if relatives is None else relatives[i])
            groups.setdefault(id(model), (model, []))[1].append(i)
        for model, index in groups.values():
            refs = np.stack([chosen[i] for i in index])
            inpainter = model.inpainter
            if self.start == "ca":
                generated = inpainter.predict(images[index], masks[index], model.batch_size, references=refs)
            else:
                x, m = inpainter.to_tensors(images[index], masks[index])
                generated = to_uint8(inpainter.refine(inpainter.image_tensor(filled[index]), x, m, refs))
            out[index] = model.blend_fill(images[index], generated, masks[index])
        out = self.composite(images, masks, out)
        return out[0] if single else out

    def _fill(self, images, masks):
        return self.fill_for(images, masks, None)

    def fill(self, images, masks):
        return self.fill_for(images, masks, None)

    def __repr__(self) -> str:
        return f"ReferenceFusorFiller(start={self.start!r}, model={self.model!r}, reference={self.reference!r})"
