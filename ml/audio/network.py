"""The voice networks: a light CNN (LCNN, max-feature-map units) over a spectral image, or its 1-D
(TDNN) variant over time with the bins as channels; either gives one logit per 40 ms.

Input (batch, 1, bins, frames) of ``ml.audio.features``; output (batch, frames // 4) frame logits for
"synthetic". A clip's logit is the mean of its frame logits over speech, so per-second scores and the
clip score come from one forward pass. Used by training and the ONNX export; workers run the export.
"""
from __future__ import annotations

import torch
from torch import nn

TIME_STRIDE = 4  # feature frames per output logit


class MFM(nn.Module):
    """Max-feature-map: the maximum of the two halves of the channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.chunk(x, 2, dim=1)
        return torch.maximum(a, b)


def _block(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, 2 * cout, kernel, padding=kernel // 2, bias=False), MFM(), nn.BatchNorm2d(cout))


class VoiceLCNN(nn.Module):
    def __init__(self, *, n_bins: int, width: int = 16, dropout: float = 0.3):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            _block(1, w, 5), nn.MaxPool2d((2, 2)),
            _block(w, int(1.5 * w)), _block(int(1.5 * w), int(1.5 * w)), nn.MaxPool2d((2, 2)),
            _block(int(1.5 * w), 2 * w), _block(2 * w, 2 * w), nn.MaxPool2d((2, 1)),
            _block(2 * w, 3 * w), nn.MaxPool2d((2, 1)),
        )
        freq = n_bins // 16
        self.head = nn.Sequential(
            nn.Conv1d(3 * w * freq, 4 * w, 3, padding=1), nn.ReLU(), nn.Dropout(dropout), nn.Conv1d(4 * w, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)  # (B, C, F', T')
        h = h.flatten(1, 2)  # (B, C * F', T')
        return self.head(h).squeeze(1)  # (B, T')


class VoiceTDNN(nn.Module):
    """A 1-D variant: bins as channels, dilated convolutions over time with MFM units (~5x cheaper)."""

    def __init__(self, *, n_bins: int, width: int = 64, dropout: float = 0.3):
        super().__init__()
        w = width

        def unit(cin, cout, k, d=1):
            return nn.Sequential(nn.Conv1d(cin, 2 * cout, k, padding=d * (k // 2), dilation=d, bias=False), MFM(),
                                 nn.BatchNorm1d(cout))

        self.body = nn.Sequential(
            nn.BatchNorm1d(n_bins), unit(n_bins, w, 5), unit(w, w, 3, 2), nn.MaxPool1d(2),
            unit(w, int(1.5 * w), 3, 2), nn.MaxPool1d(2), unit(int(1.5 * w), int(1.5 * w), 3, 2),
        )
        self.head = nn.Sequential(nn.Conv1d(int(1.5 * w), w, 1), nn.ReLU(), nn.Dropout(dropout), nn.Conv1d(w, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x.squeeze(1))).squeeze(1)


NETWORKS = {"lcnn": VoiceLCNN, "tdnn": VoiceTDNN}


def build(name: str = "lcnn", **args) -> nn.Module:
    if name not in NETWORKS:
        raise ValueError(f"unknown voice network {name!r}")
    return NETWORKS[name](**args)
