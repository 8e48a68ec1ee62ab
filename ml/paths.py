"""Where the shipped model lives, and which commit of the repository is checked out (torch-free, so the
ONNX path never imports torch)."""
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_CHECKPOINT = WEIGHTS_DIR / "detector.pt"  # PyTorch checkpoint dict with its model card
DEFAULT_ONNX = WEIGHTS_DIR / "detector.onnx"  # the same model for ONNX Runtime (python -m ml.inference.export_onnx)


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 of a file (a checkpoint: ties an ONNX export to the weights it came from)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


checkpoint_digest = sha256_file


def git_commit() -> str:
    """The short hash of the checked-out commit, for a model card ("unknown" outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# Where exported ONNX graphs are kept (``python -m ml.inference.export_onnx --cache``), named by the checkpoint's sha256
# and the exporter's graph version (bumped when the exported graph changes for the same weights), so a
# worker finds its graph without importing torch.
ONNX_CACHE_DIR = Path(os.environ.get("DETECTOR_ONNX_CACHE", Path(tempfile.gettempdir()) / "deepfake-portal-onnx"))
GRAPH_VERSION = 2


def onnx_cache_path(checkpoint: str | os.PathLike, digest: str | None = None) -> Path:
    return ONNX_CACHE_DIR / f"detector-{(digest or sha256_file(checkpoint))[:16]}-g{GRAPH_VERSION}.onnx"
