"""Held-out latency accuracy of a predictor, and the promotion rule."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from predictor.artifacts import Predictor
from predictor.train import Table


def latency_errors(predictor: Predictor, table: Table, devices: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, measured) latency of every held-out cell on ``devices``."""
    if not devices or "latency" not in predictor.targets or "latency" not in table.targets:
        return np.zeros(0), np.zeros(0)
    mu, _ = predictor.predict_log(table.data, predictor.device_indices(devices))
    pred = np.exp(mu[:, :, predictor.targets.index("latency")])
    cols = [table.devices.index(d) for d in devices]
    y = table.y[:, cols, table.targets.index("latency")]
    mask = np.isfinite(y)
    return pred[mask], y[mask]


def accuracy(pred: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    if len(y) == 0:
        return {"mape": None, "spearman": None, "n": 0}
    mape = float(np.mean(np.abs(pred - y) / y) * 100)
    rho = float(spearmanr(pred, y).statistic) if len(y) > 2 else float("nan")
    return {
        "mape": round(mape, 4),
        "spearman": round(rho, 4) if math.isfinite(rho) else None,
        "n": int(len(y)),
    }


def compare(new: Predictor, current: Predictor | None, held: Table) -> dict[str, Any]:
    """Accuracy of both on the held-out cells of the devices both know, and the verdict.

    The new version is better when its MAPE on those same cells is lower; when the two
    share no device (or there is no current version), when it covers more devices."""
    own = accuracy(*latency_errors(new, held, [d for d in held.devices if d in new.devices]))
    if current is None:
        return {"holdout": own, "promote": own["n"] > 0, "reason": "no active version"}
    common = [d for d in held.devices if d in new.devices and d in current.devices]
    mine = accuracy(*latency_errors(new, held, common))
    theirs = accuracy(*latency_errors(current, held, common))
    out = {"holdout": own, "same_rows": {"new": mine, "current": theirs, "devices": common}}
    if mine["n"] == 0:
        more = len(new.devices) > len(current.devices)
        return {**out, "promote": more, "reason": "no common held-out rows; compared device coverage"}
    better = mine["mape"] < theirs["mape"]
    return {**out, "promote": better, "reason": f"held-out MAPE {mine['mape']:.2f}% vs {theirs['mape']:.2f}%"}
