"""The dashboard's pure numbers: error summaries, histograms, op totals, reading logged
predictions."""

from __future__ import annotations

import pytest

from service.dashboard import logged, stats


def test_rel_error_and_summary():
    assert stats.rel_error_pct(1.2, 1.0) == pytest.approx(20.0)
    assert stats.rel_error_pct(1.0, 0.0) is None
    assert stats.rel_error_pct(float("nan"), 1.0) is None
    s = stats.error_summary([20.0, -5.0, 30.0, -10.0])
    assert s["pairs"] == 4 and s["mape"] == pytest.approx(16.25) and s["median_ape"] == pytest.approx(15.0)
    assert s["within_10"] == 0.5 and s["within_25"] == 0.75
    assert stats.error_summary([]) == {
        "pairs": 0,
        "mape": None,
        "median_ape": None,
        "within_10": None,
        "within_25": None,
    }


def test_histogram_bins_cover_every_error_once():
    errors = [-62.7, -54.7, -16.4, -7.0, 24.8, 26.7, 0.0]
    bins = stats.histogram(errors)
    assert sum(b["count"] for b in bins) == len(errors)
    widths = {b["hi"] - b["lo"] for b in bins}
    assert len(widths) == 1 and widths.pop() in stats.NICE_WIDTHS
    assert bins[0]["lo"] <= -62.7 and bins[-1]["hi"] > 26.7 and bins[0]["lo"] == -bins[-1]["hi"]
    for b in bins:
        assert b["count"] == sum(b["lo"] <= e < b["hi"] for e in errors)
    assert len(bins) <= stats.MAX_BINS


def test_histogram_open_edge_bins_beyond_200_percent():
    bins = stats.histogram([-500.0, 5.0, 900.0, 250.0])
    assert bins[0] == {"lo": None, "hi": -200.0, "count": 1}
    assert bins[-1] == {"lo": 200.0, "hi": None, "count": 2}
    assert sum(b["count"] for b in bins) == 4 and stats.histogram([]) == []


def test_op_totals_sum_and_order():
    nodes = [
        {"op": "conv", "macs": 10},
        {"op": "relu", "macs": 0},
        {"op": "conv", "macs": 5},
        {"op": "fc", "macs": None},
    ]
    assert stats.op_totals(nodes, "macs") == [
        {"op": "conv", "value": 15.0, "nodes": 2},
        {"op": "relu", "value": 0.0, "nodes": 1},
    ]


def test_logged_prediction_shapes():
    api_log = {"predictions": {"pi5": {"latency": 3.5, "energy": None}}, "predictor_version": "v1"}
    assert logged.predicted_latency(api_log, ["pi5"]) == 3.5
    assert logged.predicted_latency(api_log, ["other"]) is None
    assert logged.predicted_latency(api_log, ["other"], only=True) == 3.5  # the row's device id says which
    library = {"predictions": {"a": {"latency": {"value": 2.0}}, "b": {"latency": {"value": 4.0}}}}
    assert logged.predicted_latency(library, ["b"]) == 4.0
    assert logged.predicted_latency(library, ["c"], only=True) is None  # two devices: no guessing
    for bad in (
        {},
        {"predictions": []},
        {"predictions": {"pi5": {"latency": True}}},
        {"predictions": {"pi5": {"latency": -1.0}}},
        {"predictions": {"pi5": {"latency": "3"}}},
    ):
        assert logged.predicted_latency(bad, ["pi5"]) is None
    assert logged.device_names("pi5", {"device_key": "cpu-x-onnxruntime-t1"}) == [
        "pi5",
        "cpu-x-onnxruntime-t1",
    ]
    assert logged.device_names("pi5", None) == ["pi5"]


def test_served_chart_js_is_the_pinned_file(tmp_path):
    """What setup installed is byte for byte the pinned Chart.js; a changed file is not accepted."""
    from service.dashboard import vendor

    assert vendor.installed(), "run `python -m service.dashboard.vendor` (scripts/_setup.sh does)"
    assert vendor.CHART_JS.read_bytes().startswith(f"/*!\n * Chart.js v{vendor.VERSION}".encode())
    for name in vendor.FILE_SHA256:
        (tmp_path / name).write_bytes((vendor.VENDOR_DIR / name).read_bytes())
    assert vendor.installed(tmp_path)
    (tmp_path / "chart.umd.min.js").write_bytes(vendor.CHART_JS.read_bytes() + b"\n")
    assert not vendor.installed(tmp_path)
