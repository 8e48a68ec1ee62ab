"""The detector network: a CNN per face crop, an LSTM over the crop sequence.

Models are built by name from a registry with keyword-only arguments, so a config file
(``ml/configs/*.json``) names one and a checkpoint can rebuild it.

    model = build_model("cnn_lstm", backbone="resnet_narrow", lstm_hidden=128)
    out = model(crops)          # crops: B x T x 3 x H x W, normalised (see ``preprocess``)
    out["frame_logits"]         # B x T: per-frame logit from the CNN alone
    out["clip_logit"]           # B:     clip logit from the LSTM over the sequence
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torchvision import models as tvm

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

    ``target_layer`` is the last convolutional stage, the one Grad-CAM explains.
    """

    def __init__(self, features: nn.Sequential, feature_dim: int):
        super().__init__()
        self.features = features
        self.feature_dim = feature_dim

    @property
    def target_layer(self) -> nn.Module:
        return self.features[-1]

    def forward(self, x):
        return self.features(x)


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
def resnet18(**_) -> Backbone:
    net = tvm.resnet18(weights=None)
    return Backbone(nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2,
                                  net.layer3, net.layer4), 512)


@register(BACKBONES)
def mobilenet_v3_small(**_) -> Backbone:
    net = tvm.mobilenet_v3_small(weights=None)
    return Backbone(net.features, 576)


@register(BACKBONES)
def efficientnet_b0(**_) -> Backbone:
    net = tvm.efficientnet_b0(weights=None)
    return Backbone(net.features, 1280)


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


def build_model(name: str, **kwargs) -> nn.Module:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](**kwargs)


MEAN = 0.5
STD = 0.5


def preprocess(crops_uint8: torch.Tensor) -> torch.Tensor:
    """N x H x W x 3 uint8 RGB crops -> N x 3 x H x W float, the model's input scale."""
    return (crops_uint8.permute(0, 3, 1, 2).float() / 255.0 - MEAN) / STD
