"""Measuring a detector: held-out and dev evaluation, robustness, heatmap fidelity, attacks, and the
model card written from those figures."""
