"""A trained inpainter as ONNX, and an onnxruntime backend that runs it (``--backend onnx``).

Export (:func:`export_onnx`, ``idinpaint export --onnx``): one graph, the whole inpainter —

* inputs ``image`` float32 (N, 3, 112, 112) in [-1, 1] (RGB; hole pixels may hold anything: the
  graph zeroes them) and ``mask`` float32 (N, 1, 112, 112), 1 = hole; a ``ca_id`` model whose
  Sampler reads a second photo (``sampler.source: reference``) also takes ``reference`` (N, 3, 112, 112);
* outputs ``fill`` (N, 3, 112, 112) in [-1, 1]: the network's output pasted into the hole, before
  blending (``ca``: the CA's fill; ``ca_id``: CA -> Sampler (frozen SFace, inside the graph) ->
  Fusor), and for ``ca_id`` also ``ca_fill``, the CA's fill it was built on;
* the batch axis is dynamic, the spatial size is fixed at 112; opset :data:`ONNX_OPSET`.

``uint8 = round((clamp(fill, -1, 1) + 1) * 127.5)`` gives the pixels
:meth:`~idinpaint.models.inpainter.Inpainter.predict` returns.

Three ops of the networks do not export as written; :func:`export_friendly` swaps them during the
export only (the torch networks are unchanged): ``F.fold`` (contextual attention's reconstruction;
ONNX ``Col2Im`` exists only from opset 18 and torch's opset-18 symbolic fails on a traced output
size) becomes the equivalent grouped ``conv_transpose2d`` with a one-hot kernel; sizes taken from
a traced ``tensor.shape`` (``resize_mask``'s adaptive max pooling, ``F.interpolate`` in the AIF
generator) become constants (only the batch axis is dynamic); ``instance_norm`` after such a
resize has no static channel count, which torch's symbolic needs, so it is written out as
ReduceMean / Sub / Mul / Sqrt / Div.

Backend (:class:`OnnxInpainter`): the same ``predict`` as the torch
:class:`~idinpaint.models.inpainter.Inpainter`, on two graphs — the CA (``image``, ``mask`` ->
``ca_fill``) and the Sampler + Fusor (``prior``, ``mask``, ``id_image`` -> ``fill``, where
``id_image`` is what SFace embeds: the prior, the black-filled face or a reference) — so that a CA
fill computed once serves the ``ca`` and the ``ca_id`` filler (``ca_memo``). Both are exported on
first use into ``cache_dir()/onnx/`` (named by the weights' digest, see :func:`cached_graph`) and
run by onnxruntime on the CPU with ``intra_op_num_threads`` = torch's thread count.
"""
from __future__ import annotations

import contextlib
import functools
import types
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from idinpaint.checkpoints import (
    checkpoint_card,
    export_checkpoint,
    file_sha256,
    load_checkpoint,
    training_runs,
    weights_digest,
)
from idinpaint.losses import sface_embedding
from idinpaint.models import ca as ca_module
from idinpaint.models import contextual_attention
from idinpaint.models import fusor as fusor_module
from idinpaint.models.inpainter import Inpainter
from idinpaint.models.layers import composite
from idinpaint.paths import cache_dir
from idinpaint.recognizers.sface import SFACE_SHA256
from idinpaint.runinfo import atomic_file, write_json

ONNX_OPSET = 17
#: Bump when the exported graphs change: cached files of another version are not used.
EXPORT_VERSION = 1
CROP = 112


# --- graphs -------------------------------------------------------------------------------------

class CAGraph(nn.Module):
    """(image, mask) -> the CA's fill pasted into the hole."""

    def __init__(self, ca: nn.Module):
        super().__init__()
        self.ca = ca

    def forward(self, image, mask):
        x = image * (1 - mask)
        return self.ca.inpaint(x, mask)


class RefineGraph(nn.Module):
    """(prior, mask, id_image) -> the Fusor's fill; SFace embeds ``id_image`` for ``z_id``."""

    def __init__(self, fusor: nn.Module, sface: nn.Module):
        super().__init__()
        self.fusor, self.sface = fusor, sface

    def forward(self, prior, mask, id_image):
        z_id = sface_embedding(self.sface, id_image)
        out, _, _ = self.fusor(prior, mask, z_id)
        return out


class InpainterGraph(nn.Module):
    """The whole inpainter: (image, mask[, reference]) -> fill (``ca``) or (fill, ca_fill) (``ca_id``)."""

    def __init__(self, inpainter: Inpainter):
        super().__init__()
        self.ca_graph = CAGraph(inpainter.ca)
        self.id_source = inpainter.id_source
        self.refine = RefineGraph(inpainter.fusor, inpainter._sface()) if inpainter.fusor is not None else None

    def forward(self, image, mask, reference=None):
        x = image * (1 - mask)
        prior = self.ca_graph(image, mask)
        if self.refine is None:
            return prior
        if self.id_source == "reference":
            id_image = reference
        elif self.id_source == "occluded":
            id_image = composite(torch.full_like(x, -1.0), x, mask)
        else:
            id_image = prior
        return self.refine(prior, mask, id_image), prior


# --- export ---------------------------------------------------------------------------------------

def _ints(value, count: int = 2) -> tuple[int, ...]:
    if isinstance(value, (int, torch.SymInt)) or (isinstance(value, torch.Tensor) and value.dim() == 0):
        return (int(value),) * count
    return tuple(int(v) for v in value)


def fold_as_conv_transpose(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """``F.fold`` as a grouped ``conv_transpose2d`` with a one-hot kernel (the same sums; ONNX
    ``ConvTranspose`` exists in every opset, ``Col2Im`` only from 18)."""
    (height, width), (kh, kw) = _ints(output_size), _ints(kernel_size)
    (dh, dw), (ph, pw), (sh, sw) = _ints(dilation), _ints(padding), _ints(stride)
    columns = int(input.shape[1])
    channels = columns // (kh * kw)
    rows = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    cols = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    one_hot = torch.eye(kh * kw, dtype=input.dtype, device=input.device).view(kh * kw, 1, kh, kw)
    return F.conv_transpose2d(input.reshape(input.shape[0], columns, rows, cols), one_hot.repeat(channels, 1, 1, 1),
                              stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=channels)


def _interpolate_static(input, size=None, *args, **kwargs):
    return F.interpolate(input, None if size is None else _ints(size), *args, **kwargs)


def _resize_mask_static(resize_mask):
    def resize(mask, size):
        return resize_mask(mask, _ints(size))
    return resize


def _instance_norm_symbolic():
    from torch.onnx import symbolic_helper  # the exporter's helpers: export only

    @symbolic_helper.parse_args("v", "v", "v", "v", "v", "b", "f", "f", "b")
    def instance_norm(g, x, weight, bias, running_mean, running_var, use_input_stats, momentum, eps, cudnn):
        if not use_input_stats:
            raise RuntimeError("ONNX export: instance_norm with running statistics is not supported")
        mean = g.op("ReduceMean", x, axes_i=[2, 3], keepdims_i=1)
        centred = g.op("Sub", x, mean)
        variance = g.op("ReduceMean", g.op("Mul", centred, centred), axes_i=[2, 3], keepdims_i=1)
        epsilon = g.op("Constant", value_t=torch.tensor(eps, dtype=torch.float32))
        out = g.op("Div", centred, g.op("Sqrt", g.op("Add", variance, epsilon)))
        shape = g.op("Constant", value_t=torch.tensor([1, -1, 1, 1]))
        if not symbolic_helper._is_none(weight):
            out = g.op("Mul", out, g.op("Reshape", weight, shape))
        if not symbolic_helper._is_none(bias):
            out = g.op("Add", out, g.op("Reshape", bias, shape))
        return out
    return instance_norm


@contextlib.contextmanager
def export_friendly(opset: int = ONNX_OPSET):
    """During an ONNX export only: the three substitutions of the module docstring (fold, static
    sizes, instance norm); everything is restored on exit."""
    functional = types.SimpleNamespace(**{name: getattr(F, name) for name in dir(F) if not name.startswith("__")})
    functional.fold = fold_as_conv_transpose
    functional.interpolate = _interpolate_static
    patched = [(contextual_attention, "F", functional), (fusor_module, "F", functional),
               (contextual_attention, "resize_mask", _resize_mask_static(contextual_attention.resize_mask)),
               (ca_module, "resize_mask", _resize_mask_static(ca_module.resize_mask))]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patched]
    for module, name, value in patched:
        setattr(module, name, value)
    torch.onnx.register_custom_op_symbolic("aten::instance_norm", _instance_norm_symbolic(), opset)
    try:
        yield
    finally:
        torch.onnx.unregister_custom_op_symbolic("aten::instance_norm", opset)
        for module, name, value in saved:
            setattr(module, name, value)


def export_module(module: nn.Module, inputs: tuple, input_names: list[str], output_names: list[str], target,
                  opset: int = ONNX_OPSET) -> Path:
    """``torch.onnx.export`` (TorchScript exporter) with a dynamic batch axis, checked by
    ``onnx.checker`` and written atomically."""
    import onnx  # optional heavy dependency: only an export needs it

    target = Path(target)
    dynamic = {name: {0: "batch"} for name in input_names + output_names}
    with atomic_file(target) as tmp:
        with export_friendly(opset), warnings.catch_warnings(), torch.no_grad():
            # the tracer warns about every shape check it freezes; only the batch axis is dynamic
            warnings.simplefilter("ignore")
            torch.onnx.export(module.eval(), inputs, str(tmp), input_names=input_names, output_names=output_names,
                              dynamic_axes=dynamic, opset_version=opset, dynamo=False, do_constant_folding=True)
        onnx.checker.check_model(str(tmp))
    return target


def _example(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(batch, 3, CROP, CROP, generator=generator) * 2 - 1
    mask = torch.zeros(batch, 1, CROP, CROP)
    mask[:, :, 30:70, 18:98] = 1  # the two_eyes region
    return image, mask


def export_inpainter(inpainter: Inpainter, target, opset: int = ONNX_OPSET) -> Path:
    """The whole inpainter as one ONNX graph (see the module docstring); CPU, float32."""
    if inpainter.device.type != "cpu":
        raise ValueError("export_inpainter: load the checkpoint on the CPU (device='cpu') to export it")
    graph = InpainterGraph(inpainter)
    image, mask = _example()
    inputs, names = (image, mask), ["image", "mask"]
    if inpainter.fusor is not None and inpainter.id_source == "reference":
        inputs, names = (image, mask, image.flip(0)), names + ["reference"]
    outputs = ["fill", "ca_fill"] if inpainter.fusor is not None else ["fill"]
    return export_module(graph, inputs, names, outputs, target, opset)


def export_onnx(checkpoint, target, ca_only: bool = False, opset: int = ONNX_OPSET) -> Path:
    """A checkpoint (training ``.ckpt`` or exported ``.pt``) -> one ONNX graph of the whole inpainter
    (``ca_only``: its CA only). Inputs, outputs and the export's substitutions: the module docstring."""
    inpainter = load_checkpoint(checkpoint, None, "cpu", ca_only=ca_only)
    return export_inpainter(inpainter, target, opset)


# --- backend --------------------------------------------------------------------------------------

def cached_graph(part: str, inpainter: Inpainter, opset: int = ONNX_OPSET) -> Path:
    """``cache_dir()/onnx/<part>_<digest>_v<EXPORT_VERSION>_op<opset>.onnx``, exported on first use:
    ``ca`` keyed by the CA's weights (shared by a ``ca`` and a ``ca_id`` file with the same CA),
    ``refine`` by the Fusor's weights and the SFace file."""
    if part == "ca":
        digest = weights_digest(inpainter.ca)
    elif part == "refine":
        if inpainter.fusor is None:
            raise ValueError("a CA-only inpainter has no refine graph")
        digest = f"{weights_digest(inpainter.fusor)}_{SFACE_SHA256[:8]}"
    else:
        raise ValueError(f"unknown graph part {part!r}; valid: ca, refine")
    target = cache_dir() / "onnx" / f"{part}_{digest}_v{EXPORT_VERSION}_op{opset}.onnx"
    if target.is_file():
        return target
    if inpainter.device.type != "cpu":
        raise ValueError("the onnx backend runs on the CPU: load the checkpoint with device='cpu'")
    image, mask = _example()
    if part == "ca":
        return export_module(CAGraph(inpainter.ca), (image, mask), ["image", "mask"], ["ca_fill"], target, opset)
    graph = RefineGraph(inpainter.fusor, inpainter._sface())
    return export_module(graph, (image, mask, image), ["prior", "mask", "id_image"], ["fill"], target, opset)


@functools.lru_cache(maxsize=8)
def session(path: str, threads: int):
    """An onnxruntime CPU session for ``path`` with ``threads`` intra-op threads (cached per process)."""
    import onnxruntime  # optional heavy dependency: only the onnx backend needs it

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class OnnxInpainter:
    """An :class:`~idinpaint.models.inpainter.Inpainter`'s ``predict`` on onnxruntime (CPU).

    Built from a torch inpainter loaded on the CPU (its graphs are exported on first use, see
    :func:`cached_graph`); ``threads`` defaults to ``torch.get_num_threads()``.
    """

    backend = "onnx"

    def __init__(self, inpainter: Inpainter, threads: int | None = None):
        if inpainter.device.type != "cpu":
            raise ValueError(f"the onnx backend runs on the CPU (this onnxruntime has no GPU provider); "
                             f"use the torch backend on {inpainter.device}")
        self.inpainter = inpainter
        self.kind, self.meta, self.path, self.device = inpainter.kind, inpainter.meta, inpainter.path, inpainter.device
        self.threads = int(threads or torch.get_num_threads())
        self.ca_session = session(str(cached_graph("ca", inpainter)), self.threads)
        self.refine_session = (session(str(cached_graph("refine", inpainter)), self.threads)
                               if inpainter.fusor is not None else None)

    @property
    def id_source(self) -> str:
        return self.inpainter.id_source

    def to_tensors(self, images: np.ndarray, masks: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inpainter.to_tensors(images, masks)

    @staticmethod
    def _array(tensor: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=np.float32)

    def prior(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        (fill,) = self.ca_session.run(None, {"image": self._array(x), "mask": self._array(m)})
        return torch.from_numpy(fill)

    def refine(self, prior: torch.Tensor, x: torch.Tensor, m: torch.Tensor,
               references: np.ndarray | None = None) -> torch.Tensor:
        if self.refine_session is None:
            raise ValueError("refine: this is a CA-only inpainter (kind 'ca'), it has no Fusor")
        if references is not None:
            id_image = self.inpainter.image_tensor(references)
        elif self.id_source == "occluded":
            id_image = composite(torch.full_like(x, -1.0), x, m)
        else:
            id_image = prior
        (fill,) = self.refine_session.run(None, {"prior": self._array(prior), "mask": self._array(m),
                                                 "id_image": self._array(id_image)})
        return torch.from_numpy(fill)

    @property
    def refines(self) -> bool:
        return self.refine_session is not None

    #: The same batching, CA sharing and uint8 conversion as the torch inpainter: only ``prior``,
    #: ``refine`` and ``to_tensors`` differ.
    predict = Inpainter.predict


def export_model(checkpoint, target, runs=(), ca_only: bool = False, onnx: bool = False,
                 notes: dict | None = None) -> list[Path]:
    """``idinpaint export``: a training checkpoint (or an exported file) -> a small inference file,
    ``<target>.onnx`` beside it when ``onnx`` (the whole inpainter as one graph, named with its
    SHA-256 in the card), and ``<target>.json``, its card (:func:`~idinpaint.checkpoints.checkpoint_card`:
    the run folders ``runs`` that made it). A wrong run folder fails before anything is written.
    Returns the written paths, the card last."""
    training_runs(runs)
    target = export_checkpoint(checkpoint, target, ca_only=ca_only)
    notes = dict(notes or {})
    written = [Path(target)]
    if onnx:
        graph = export_onnx(target, Path(target).with_suffix(".onnx"))
        notes.update(onnx_file=graph.name, onnx_sha256=file_sha256(graph))
        written.append(graph)
    written.append(write_json(Path(target).with_suffix(".json"), checkpoint_card(target, runs, notes)))
    return written
