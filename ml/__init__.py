"""Deepfake detector: plain PyTorch (and ONNX Runtime), never imports Django.

Floors, lowest first; each imports only those below it (ml/README.md draws them, tests/ml/test_layout_ml.py checks):
  errors, paths                           stable error codes, where files live
  metrics, calibration, clip_rules, items figures, score calibration, track scores, labelled items
  media/       probe a file, sample its frames and sound, find, track and crop faces, degrade pictures
  models/      the networks: builders, the checkpoint format, CLIP ViT-B/16 port, the CLIP head, the baseline's backbone
  inference/   Predictor (file in, Prediction out), PyTorch/ONNX backends, heatmaps, ONNX export; audio/, sync/ alike
  training/    caches and splits, pseudo-fakes, the trainers, retraining
  evaluation/  held-out and dev evaluation, robustness, attacks, model cards, the promotion gate
Entry points: python -m ml.detect | ml.train | ml.evaluate; from ml.inference import Predictor.
"""
