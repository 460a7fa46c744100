"""Baselines the GNN has to beat. All read the same featurised graphs as the GNN
(:func:`predictor.features.featurize`), so no second conversion path exists.

* :class:`MacsRegression`: per device and target, log y = a + b log(1 + MACs).
* :class:`KernelSum`: nn-Meter style; each op type has a linear latency model on
  the node's FLOPs, bytes moved and parameters (plus a per-kernel constant); the
  graph latency is the sum over its nodes. Coefficients are fitted per device by
  non-negative, relative-error-weighted least squares at graph level.
* :class:`GraphGBT`: gradient-boosted trees (sklearn HistGradientBoosting) on
  graph-level features (op histogram + totals), target log y.

Interface: ``fit(data, y)`` with ``y [G, D, T]`` (NaN = not measured) and
``predict(data) -> [G, D, T]``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
from scipy.optimize import nnls
from sklearn.ensemble import HistGradientBoostingRegressor
from torch_geometric.data import Data

from predictor.features import N_OP_COLS, NUMERIC_FEATURES

_LOG_SCALE = 10.0  # features.py stores log1p(v) / 10
_COL = {name: N_OP_COLS + i for i, name in enumerate(NUMERIC_FEATURES)}


def _raw(x: np.ndarray, name: str) -> np.ndarray:
    return np.expm1(x[:, _COL[name]] * _LOG_SCALE)


def graph_level(data: Sequence[Data]) -> np.ndarray:
    """[G, N_OP_COLS + graph features]: op histogram and graph totals."""
    rows = []
    for d in data:
        hist = d.x[:, :N_OP_COLS].sum(0).numpy()
        rows.append(np.concatenate([hist, d.graph_attr[0].numpy()]))
    return np.asarray(rows, dtype=np.float64)


class _PerCell(ABC):
    """Fits one regressor per (device, target) cell with measured values."""

    name = "baseline"

    def fit(self, data: Sequence[Data], y: np.ndarray) -> _PerCell:
        feats = self._features(data)
        self.shape_ = y.shape[1:]
        self.models_: dict[tuple[int, int], object] = {}
        for d in range(y.shape[1]):
            for t in range(y.shape[2]):
                m = np.isfinite(y[:, d, t]) & (y[:, d, t] > 0)
                if m.sum() >= 2:
                    self.models_[(d, t)] = self._fit_cell(feats[m], y[m, d, t])
        return self

    def predict(self, data: Sequence[Data]) -> np.ndarray:
        feats = self._features(data)
        out = np.full((len(data), *self.shape_), np.nan)
        for (d, t), model in self.models_.items():
            out[:, d, t] = self._predict_cell(model, feats)
        return out

    @abstractmethod
    def _features(self, data: Sequence[Data]) -> np.ndarray:
        """Each baseline defines it."""

    @abstractmethod
    def _fit_cell(self, f: np.ndarray, y: np.ndarray) -> object:
        """Each baseline defines it."""

    @abstractmethod
    def _predict_cell(self, model: object, f: np.ndarray) -> np.ndarray:
        """Each baseline defines it."""


class MacsRegression(_PerCell):
    """log y = a + b * log(1 + MACs), least squares per device and target."""

    name = "macs_regression"

    def _features(self, data: Sequence[Data]) -> np.ndarray:
        return np.asarray([[float(d.graph_attr[0, 0]) * _LOG_SCALE] for d in data])

    def _fit_cell(self, f: np.ndarray, y: np.ndarray) -> object:
        a = np.column_stack([np.ones(len(f)), f[:, 0]])
        coef, *_ = np.linalg.lstsq(a, np.log(y), rcond=None)
        return coef

    def _predict_cell(self, model: object, f: np.ndarray) -> np.ndarray:
        coef = np.asarray(model)
        return np.exp(coef[0] + coef[1] * f[:, 0])


def kernel_features(data: Sequence[Data]) -> np.ndarray:
    """``[G, N_OP_COLS * 4]``: per op type, the sums over its nodes of (1, FLOPs, bytes moved,
    params); a kernel-sum model is a non-negative linear function of these."""
    rows = []
    for d in data:
        x = d.x.numpy()
        op = x[:, :N_OP_COLS].argmax(1)
        phi = np.column_stack([
            np.ones(len(x)), _raw(x, "log_flops"),
            _raw(x, "log_bytes_read") + _raw(x, "log_bytes_written"), _raw(x, "log_params"),
        ])
        agg = np.zeros((N_OP_COLS, phi.shape[1]))
        np.add.at(agg, op, phi)
        rows.append(agg.ravel())
    return np.asarray(rows).reshape(len(rows), N_OP_COLS * 4)


def fit_kernel_sum(feats: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(used columns, coefficients)``: non-negative least squares of ``y`` on
    :func:`kernel_features`, rows weighted by ``1 / y`` (relative error)."""
    used = np.flatnonzero(np.abs(feats).sum(0) > 0)
    scale = np.abs(feats[:, used]).max(0)
    a = feats[:, used] / scale / y[:, None]
    coef, _ = nnls(a, np.ones(len(y)), maxiter=50 * a.shape[1])
    return used, coef / scale


def kernel_predict(model: tuple[Sequence[int], Sequence[float]], feats: np.ndarray) -> np.ndarray:
    """A fitted kernel-sum model ``(used columns, coefficients)`` applied to :func:`kernel_features`."""
    used, coef = model
    return np.maximum(feats[:, np.asarray(used, dtype=np.int64)] @ np.asarray(coef, dtype=np.float64), 1e-9)


class KernelSum(_PerCell):
    """nn-Meter-style additive kernel model: sum over nodes of per-op linear
    predictors in (1, FLOPs, bytes, params), fitted with non-negative least
    squares on graph latencies, rows weighted by 1/y (relative error)."""

    name = "kernel_sum"

    def _features(self, data: Sequence[Data]) -> np.ndarray:
        return kernel_features(data)

    def _fit_cell(self, f: np.ndarray, y: np.ndarray) -> object:
        return fit_kernel_sum(f, y)

    def _predict_cell(self, model: object, f: np.ndarray) -> np.ndarray:
        return kernel_predict(model, f)  # type: ignore[arg-type]


class GraphGBT(_PerCell):
    """Gradient-boosted trees on the op histogram and graph totals, target log y."""

    name = "graph_gbt"

    def __init__(self, max_iter: int = 300, seed: int = 0) -> None:
        self.max_iter = max_iter
        self.seed = seed

    def _features(self, data: Sequence[Data]) -> np.ndarray:
        return graph_level(data)

    def _fit_cell(self, f: np.ndarray, y: np.ndarray) -> object:
        if len(y) < 20:  # too few samples for trees: the median (a constant model)
            return float(np.median(y))
        m = HistGradientBoostingRegressor(max_iter=self.max_iter, learning_rate=0.08,
                                          min_samples_leaf=max(2, min(20, len(y) // 10)),
                                          random_state=self.seed)
        return m.fit(f, np.log(y))

    def _predict_cell(self, model: object, f: np.ndarray) -> np.ndarray:
        if isinstance(model, float):
            return np.full(len(f), model)
        return np.exp(model.predict(f))  # type: ignore[attr-defined]


BASELINES = {c.name: c for c in (MacsRegression, KernelSum, GraphGBT)}
