"""The evaluation's ROC figure (``roc.png``): one curve per labelled set, with its AUC and size."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ml.metrics import roc_auc, roc_curve


def roc_plot(curves: dict, path: Path) -> None:
    """``curves``: name -> (labels, scores); a set without both classes is left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    for name, (y, s) in curves.items():
        y = np.asarray(y)
        if len(y) == 0 or y.min() == y.max():
            continue
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc(y, s):.3f}, n={len(y)})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
