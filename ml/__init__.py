"""Deepfake detector: plain PyTorch (and ONNX Runtime), never imports Django.

Folders by stage (ml/README.md says more):
  media/       probe a file, sample its frames, find, track and crop faces
  models/      the networks: registry of builders, CNN backbones, CLIP ViT-B/16 port, the CLIP detector head
  inference/   Predictor (file in, Prediction out), PyTorch/ONNX backends, heatmaps, ONNX export
  training/    cached crops and splits, pseudo-fakes, trainers, calibration, checkpoints
  evaluation/  held-out and dev evaluation, robustness, attacks, the model card
Entry points: python -m ml.detect | ml.train | ml.evaluate; from ml.inference import Predictor.
"""
