"""Fit a predictor to one device from its own measurements, and judge the fit by
k-fold cross-validation on those measurements (every measurement is predicted by a
model adapted without it)."""

from __future__ import annotations

import numpy as np
from torch_geometric.data import Data

from predictor.artifacts import Predictor
from predictor.train import adapt_device
from service.training.evaluation import accuracy


def fit(base: Predictor, device: str, data: list[Data], latency: np.ndarray, steps: int = 200) -> Predictor:
    """``base`` plus ``device``, fitted on the device's latency only (other targets NaN)."""
    values = np.full((len(data), len(base.targets)), np.nan)
    values[:, base.targets.index("latency")] = latency
    return adapt_device(base, device, data, values, steps=steps)


def predicted_latency(pred: Predictor, device: str, data: list[Data]) -> np.ndarray:
    mu, _ = pred.predict_log(data, pred.device_indices([device]))
    return np.exp(mu[:, 0, pred.targets.index("latency")])


def cross_validate(base: Predictor, device: str, data: list[Data], latency: np.ndarray,
                   folds: int = 5, steps: int = 200, seed: int = 0) -> dict:
    """k-fold MAPE and Spearman of the adapted model on the device's measurements."""
    n = len(data)
    if n < 3:
        return {"mape": None, "spearman": None, "n": n, "folds": 0}
    k = min(folds, n)
    fold = np.random.default_rng(seed).permutation(n) % k
    pred = np.zeros(n)
    for f in range(k):
        tr, te = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        adapted = fit(base, device, [data[i] for i in tr], latency[tr], steps)
        pred[te] = predicted_latency(adapted, device, [data[i] for i in te])
    return {**accuracy(pred, latency), "folds": k}
