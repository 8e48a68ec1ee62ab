"""Running the shipped detector: the Predictor (a media file in, a Prediction out), its PyTorch and ONNX
backends, heatmaps, inference-time defences and the ONNX export. ``from ml.inference import Predictor``."""
from ml.inference.predictor import Predictor

__all__ = ["Predictor"]
