"""The /v1/dashboard JSON, on both backends, filled through the real API with real models,
real measurements and predictions from a predictor trained on those measurements."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.config import Settings
from service.db import make_engine, make_sessionmaker
from service.jobs.repository import KIND as MEASURE_KIND
from service.main import create_app
from service.models import JOB_STATUSES, Job
from service.worker import Worker, load_handlers
from tests.dashboard import realdata
from tests.dashboard.populate import EMPTY_DEVICE, Populated, ok, populate
from tests.service.conftest import ADMIN

pytestmark = pytest.mark.slow


@pytest.fixture
def http(settings: Settings, clean_db) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def data(http: TestClient, measured_models: list[realdata.Model]) -> Populated:
    return populate(http, ADMIN, measured_models)


def _medians(http: TestClient, device_id: int) -> dict[int, float]:
    rows = ok(http.get("/v1/measurements", params={"device_id": device_id, "limit": 500}))["items"]
    by_graph: dict[int, list[float]] = {}
    for r in rows:
        by_graph.setdefault(r["graph_id"], []).append(r["latency_ms"])
    return {g: statistics.median(v) for g, v in by_graph.items()}


def _expected_errors(http: TestClient, data: Populated, device: str) -> dict[int, float]:
    medians = _medians(http, data.devices[device]["id"])
    out = {}
    for name, graph in data.graphs.items():
        if graph["id"] in medians and name in data.predicted_ms:
            out[graph["id"]] = (data.predicted_ms[name] - medians[graph["id"]]) / medians[graph["id"]] * 100
    return out


def test_overview_counts_and_accuracy(http, data, measured_models):
    view = ok(http.get("/v1/dashboard/overview"))
    totals = view["totals"]
    assert totals == {
        "devices": 3,
        "graphs": len(measured_models),
        "measurements": len(measured_models) + 1,
        "predictions": len(measured_models),
        "predictors": 0,
        "jobs": totals["jobs"],
    }
    assert totals["jobs"] == sum(ok(http.get("/v1/dashboard/jobs"))["statuses"].values()) >= 3
    rows = {d["name"]: d for d in view["devices"]}
    assert list(rows) == [realdata.ORT_DEVICE, realdata.LITERT_DEVICE, EMPTY_DEVICE]
    for name in (realdata.ORT_DEVICE, realdata.LITERT_DEVICE):
        errors = list(_expected_errors(http, data, name).values())
        total = ok(http.get("/v1/measurements", params={"device_id": rows[name]["id"]}))["total"]
        assert rows[name]["measurements"] == total
        assert rows[name]["graphs_measured"] == sum(m.device == name for m in measured_models)
        acc = rows[name]["accuracy"]
        assert acc["pairs"] == len(errors) == rows[name]["graphs_measured"]
        assert acc["mape"] == pytest.approx(statistics.mean(abs(e) for e in errors))
        assert acc["within_25"] == pytest.approx(sum(abs(e) <= 25 for e in errors) / len(errors))
        profile = ok(http.get(f"/v1/devices/{rows[name]['id']}"))["profile"]
        expected_state = (
            profile.get("calibration", {}).get("state") or "uncalibrated"
        )  # no active version yet
        assert rows[name]["calibration"]["state"] == expected_state
        assert rows[name]["calibration"]["detail"] == profile.get("calibration", {})
    empty = rows[EMPTY_DEVICE]
    assert (
        empty["measurements"] == 0 and empty["accuracy"]["pairs"] == 0 and empty["accuracy"]["mape"] is None
    )
    assert empty["last_measured_at"] is None and empty["sensors"] == ["power"]


def test_device_accuracy_pairs_and_histogram(http, data):
    dev = data.devices[realdata.ORT_DEVICE]
    acc = ok(http.get(f"/v1/dashboard/devices/{dev['id']}/accuracy"))
    expected = _expected_errors(http, data, realdata.ORT_DEVICE)
    assert {p["graph_id"]: p["error_pct"] for p in acc["pairs"]} == pytest.approx(expected)
    medians = _medians(http, dev["id"])
    for p in acc["pairs"]:
        assert p["measured_ms"] == pytest.approx(medians[p["graph_id"]])
        assert p["graph"].endswith(".onnx")
    assert sum(b["count"] for b in acc["histogram"]) == len(acc["pairs"])
    for b in acc["histogram"]:
        inside = [
            e
            for e in expected.values()
            if (b["lo"] is None or e >= b["lo"]) and (b["hi"] is None or e < b["hi"])
        ]
        assert b["count"] == len(inside)
    assert max(p["measurements"] for p in acc["pairs"]) == 2  # the job's measurement of one graph


def test_graph_view(http, data):
    graph = data.graphs["conv-w8.onnx"]
    detail = ok(http.get(f"/v1/graphs/{graph['id']}"))
    view = ok(http.get(f"/v1/dashboard/graphs/{graph['id']}"))
    assert [n["name"] for n in view["nodes"]] == [n["name"] for n in detail["ir"]["nodes"]]
    assert sum(r["value"] for r in view["op_macs"]) == pytest.approx(
        sum(n["macs"] or 0 for n in detail["ir"]["nodes"])
    )
    assert [d["name"] for d in view["devices"]] == [realdata.ORT_DEVICE, realdata.LITERT_DEVICE, EMPTY_DEVICE]
    [pred] = view["predictions"]
    assert pred["device"] == realdata.ORT_DEVICE
    assert pred["latency_ms"] == pytest.approx(data.predicted_ms["conv-w8.onnx"])


def test_breakdown_from_prediction_api_sums_to_prediction(http, data):
    """What the graph page asks for: per-layer contributions of the predicted latency."""
    graph = data.graphs["conv-w16.onnx"]
    body = ok(
        http.post(
            "/v1/predictions",
            json={
                "graph_id": graph["id"],
                "devices": [realdata.ORT_DEVICE],
                "targets": ["latency"],
                "breakdown": True,
            },
        )
    )
    layers = body["breakdown"][realdata.ORT_DEVICE]["latency"]
    total = body["predictions"][realdata.ORT_DEVICE]["latency"]["value"]
    assert sum(layer["contribution"] for layer in layers) == pytest.approx(total, rel=1e-3)
    view = ok(http.get(f"/v1/dashboard/graphs/{graph['id']}"))
    assert {layer["node"] for layer in layers} <= {n["name"] for n in view["nodes"]}


def test_jobs_overview(http, data, db_sessions):
    """Other areas queue jobs of their own (training, calibration): compare with the table."""
    jobs = ok(http.get("/v1/dashboard/jobs"))
    with db_sessions() as session:
        rows = session.scalars(select(Job).order_by(Job.id.desc())).all()
    assert jobs["statuses"] == {s: sum(j.status == s for j in rows) for s in JOB_STATUSES}
    counts = Counter((j.kind, j.status) for j in rows)
    assert sorted((r["kind"], r["status"], r["count"]) for r in jobs["by_kind"]) == sorted(
        (k, s, n) for (k, s), n in counts.items()
    )
    assert [j["id"] for j in jobs["recent"]] == [j.id for j in rows][:50]
    measure = {(r["status"], r["count"]) for r in jobs["by_kind"] if r["kind"] == MEASURE_KIND}
    assert measure == {("queued", 1), ("done", 1), ("failed", 1)}
    failed = next(j for j in jobs["recent"] if j["status"] == "failed" and j["kind"] == MEASURE_KIND)
    assert failed["error"] == "runtime refused the model" and failed["attempts"] == 1


def test_calibration_after_a_trained_version(http, data, settings):
    """A version trained by the worker shows up against the devices it covers."""
    assert ok(http.get("/v1/predictors")) == []
    body = {"epochs": 3, "ensemble": 1, "hidden_channels": 8, "holdout_fraction": 0.15}
    ok(http.post("/v1/predictors/train", json=body, headers=ADMIN), 202)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        worker = Worker(
            make_sessionmaker(engine), settings, load_handlers(["predictor.train"]), "dash-worker"
        )
        assert worker.run_one()
    finally:
        engine.dispose()
    jobs = ok(http.get("/v1/dashboard/jobs"))
    train = [j for j in jobs["recent"] if j["kind"] == "predictor.train"]
    [version] = ok(http.get("/v1/predictors"))
    assert version["status"] == "active", train
    view = ok(http.get("/v1/dashboard/overview"))
    assert view["totals"]["predictors"] == 1
    label = f"{version['name']} {version['version']} (active)"
    for dev in view["devices"]:
        covered = dev["name"] in version["devices"]
        assert dev["calibration"]["predictors"] == ([label] if covered else [])
        own_state = dev["calibration"]["detail"].get("state")
        expected = own_state or ("calibrated" if covered else "uncalibrated")
        assert dev["calibration"]["state"] == expected
    assert {realdata.ORT_DEVICE, realdata.LITERT_DEVICE} <= set(version["devices"])


@pytest.mark.parametrize(
    "path",
    [
        "/v1/dashboard/devices/999/accuracy",
        "/v1/dashboard/graphs/999",
        "/v1/dashboard/devices/abc/accuracy",
        "/dashboard/graphs/x",
        "/dashboard/static/../pages.py",
        "/dashboard/static/%2e%2e/pages.py",
        "/dashboard/static/shell.html",
        "/dashboard/static/nope.js",
    ],
)
def test_bad_paths_are_4xx(http, path):
    resp = http.get(path)
    assert 400 <= resp.status_code < 500 and set(resp.json()) >= {"error", "detail"}


def test_pages_and_assets_served(http):
    for path in (
        "/dashboard",
        "/dashboard/devices/1",
        "/dashboard/graphs",
        "/dashboard/graphs/3",
        "/dashboard/predictors",
        "/dashboard/jobs",
    ):
        resp = http.get(path)
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in resp.headers["content-security-policy"]
        assert 'src="/dashboard/static/vendor/chart.umd.min.js"' in resp.text
    chart = http.get("/dashboard/static/vendor/chart.umd.min.js")
    assert chart.status_code == 200 and chart.text.startswith("/*!\n * Chart.js v4.5.1")
    assert http.get("/dashboard/static/js/main.js").headers["content-type"].startswith("text/javascript")
