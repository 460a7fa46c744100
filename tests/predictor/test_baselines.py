"""Baselines: fit/predict on synthetic devices with known structure."""

from __future__ import annotations

import numpy as np

from predictor.baselines import BASELINES, GraphGBT, KernelSum, MacsRegression
from predictor.evaluate import metrics
from predictor.train import build_table
from tests.predictor.test_features import synthetic_records


def _split():
    table = build_table(synthetic_records(200, seed=5))
    tr, te = np.arange(150), np.arange(150, 200)
    return [table.data[i] for i in tr], table.y[tr], [table.data[i] for i in te], table.y[te]


def test_kernel_sum_recovers_an_additive_device_model():
    dtr, ytr, dte, yte = _split()
    pred = KernelSum().fit(dtr, ytr).predict(dte)
    assert pred.shape == yte.shape
    # the synthetic devices are exactly additive per-op linear models
    assert metrics(pred, yte)["mape"] < 1.0


def test_macs_regression_and_gbt_fit_and_rank():
    dtr, ytr, dte, yte = _split()
    for model in (MacsRegression(), GraphGBT(max_iter=100)):
        pred = model.fit(dtr, ytr).predict(dte)
        m = metrics(pred, yte)
        assert np.isfinite(pred).all() and (pred > 0).all()
        assert m["rho"] > 0.8, model.name


def test_unmeasured_cells_stay_unpredicted():
    dtr, ytr, dte, _ = _split()
    ytr = ytr.copy()
    ytr[:, 1, 0] = np.nan
    for cls in BASELINES.values():
        pred = cls().fit(dtr, ytr).predict(dte)
        assert np.isnan(pred[:, 1, 0]).all() and np.isfinite(pred[:, 0, 0]).all()


def test_gbt_with_few_samples_falls_back_to_the_median():
    dtr, ytr, dte, _ = _split()
    pred = GraphGBT().fit(dtr[:10], ytr[:10]).predict(dte)
    assert np.allclose(pred[:, 0, 0], np.median(ytr[:10, 0, 0]))
