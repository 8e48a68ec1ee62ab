"""Deepfake detector: plain PyTorch, never imports Django.

Stages, each runnable alone:
  media.py     probe a file and sample frames from it
  faces.py     find, track, align and crop faces
  models.py    the CNN-LSTM, built by name from a registry
  gradcam.py   Grad-CAM heatmaps (hooks released after every use)
  inference.py Predictor: file in, Prediction out
  detect.py    the command line (python -m ml.detect)
"""
