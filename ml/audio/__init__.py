"""The voice detector: synthetic-speech scores for audio files and videos' sound tracks (no Django, no torch
at inference). ``VoicePredictor.load().predict(path)`` is the portal's entry point."""
from ml.audio.predictor import VoicePrediction, VoicePredictor

__all__ = ["VoicePredictor", "VoicePrediction"]
