"""Measuring a detector: held-out and dev evaluation (evaluate and its parts), robustness, heatmap fidelity,
attacks, the model cards written from those figures, and the promotion gate."""
