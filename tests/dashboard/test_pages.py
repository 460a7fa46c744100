"""The dashboard in a real browser: headless Chromium loads every page from a real
``edgeperf serve`` (SQLite) holding real data (models exported here, measured by the
agent protocol, predictions from a predictor trained on those measurements, jobs the
agent completed and failed, a predictor version trained by ``edgeperf worker``), checks
what each page shows, that no request leaves the server and nothing logs an error, and
saves screenshots under test-output/screenshots/."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import httpx
import pytest

from service.dashboard import vendor
from tests.dashboard import browser, realdata
from tests.dashboard.populate import EMPTY_DEVICE, HOSTILE_SOC, Populated, ok, populate
from tests.live_server import EDGEPERF, live_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ADMIN_KEY = "dash-admin-key-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}

_skip = browser.unavailable()
if _skip:
    pytestmark.append(pytest.mark.skip(reason=_skip))


@pytest.fixture(scope="module")
def server(tmp_path_factory, predictor_dir) -> Iterator[tuple[str, dict[str, str]]]:
    assert vendor.installed(), (
        "Chart.js is not installed: run `python -m service.dashboard.vendor` (needs npm)"
    )
    tmp = tmp_path_factory.mktemp("dash-server")
    with live_server(tmp, None, ADMIN_KEY, EDGEPERF_PREDICTOR_DIR=str(predictor_dir)) as srv:
        yield srv.url, srv.env


@pytest.fixture(scope="module")
def data(server, measured_models) -> Populated:
    base, env = server
    with httpx.Client(base_url=base, timeout=120) as http:
        populated = populate(http, ADMIN, measured_models)
        ok(
            http.post(
                "/v1/predictors/train",
                json={"epochs": 3, "ensemble": 1, "hidden_channels": 8, "holdout_fraction": 0.15},
                headers=ADMIN,
            ),
            202,
        )
    done = subprocess.run(
        [EDGEPERF, "worker", "--once", "--kinds", "predictor.train"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return populated


@pytest.fixture(scope="module")
def session_page(server):
    base, _ = server
    with browser.browser_page(base) as (page, watch):
        yield page, watch


def _load(session_page, base: str, path: str, shot: str):
    page, watch = session_page
    page.goto(base + path)
    page.wait_for_selector("body[data-ready]", timeout=30_000)
    error = page.locator("main .error")
    assert page.get_attribute("body", "data-ready") == "1", error.all_inner_texts()
    browser.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = browser.SCREENSHOTS / f"{shot}.png"
    page.screenshot(path=str(target), full_page=True)
    print(f"screenshot: {target}")
    assert watch.clean(), (watch.console_errors, watch.page_errors, watch.foreign_requests)
    return page


def _rows(page, table_id: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"#{table_id} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )


def _chart_points(page, canvas_id: str, dataset: int = 0) -> list:
    return page.evaluate(
        "([id, i]) => { const c = Chart.getChart(document.getElementById(id));"
        " return c ? c.data.datasets[i].data : null; }",
        [canvas_id, dataset],
    )


def _api(base: str, path: str):
    return ok(httpx.get(base + path, timeout=60))


def test_overview(server, data, session_page):
    base, _ = server
    page = _load(session_page, base, "/dashboard", "overview")
    rows = _rows(page, "devices")
    api = _api(base, "/v1/dashboard/overview")
    assert [r[0] for r in rows] == [d["name"] for d in api["devices"]]
    for row, dev in zip(rows, api["devices"], strict=True):
        assert row[6] == f"{dev['measurements']:,}" and row[9] == dev["calibration"]["state"]
        assert row[10] == str(dev["accuracy"]["pairs"])
    ort = next(r for r in rows if r[0] == realdata.ORT_DEVICE)
    assert ort[10] == str(len(realdata.ONNX_WIDTHS)) and ort[11].endswith("%")
    hostile = next(r for r in rows if r[0] == EMPTY_DEVICE)
    assert HOSTILE_SOC in hostile[1]  # shown as text
    assert page.locator("#devices img").count() == 0 and page.title().startswith("Devices")
    cards = page.eval_on_selector_all(
        ".card", "cs => cs.map(c => [c.dataset.card, c.querySelector('.value').textContent])"
    )
    assert dict(cards)["graphs"] == str(len(data.graphs))


@pytest.mark.parametrize("device", [realdata.ORT_DEVICE, realdata.LITERT_DEVICE])
def test_device_scatter_and_histogram(server, data, session_page, device):
    base, _ = server
    dev = data.devices[device]
    page = _load(session_page, base, f"/dashboard/devices/{dev['id']}", f"device-{device}")
    api = _api(base, f"/v1/dashboard/devices/{dev['id']}/accuracy")
    points = _chart_points(page, "scatter")
    expected = sum(name.endswith(".onnx") == (device == realdata.ORT_DEVICE) for name in data.graphs)
    assert len(points) == len(api["pairs"]) == expected
    assert sorted((p["x"], p["y"]) for p in points) == sorted(
        (p["measured_ms"], p["predicted_ms"]) for p in api["pairs"]
    )
    scales = page.evaluate(
        "() => { const s = Chart.getChart(document.getElementById('scatter')).scales;"
        " return [s.x.type, s.y.type]; }"
    )
    assert scales == ["logarithmic", "logarithmic"]
    assert sum(_chart_points(page, "histogram")) == len(api["pairs"])
    assert len(_rows(page, "pairs")) == len(api["pairs"])
    assert page.locator("h1").inner_text() == device
    history = (api["device"]["calibration"]["detail"] or {}).get("history") or []
    fit = history[-1] if history else {}
    if not fit.get("method"):
        expected = "—"
    elif fit.get("judged_on") == "real networks":
        expected = f"{fit['method']} (chosen on {fit['judged_n']} real networks: {fit['judged_mape']:.1f} % CV)"
    else:
        expected = fit["method"]
    shown = page.evaluate(
        "() => [...document.querySelectorAll('dl.kv dt')].find(e => e.textContent === 'Calibration fit')"
        ".nextElementSibling.textContent"
    )
    assert shown == expected


def test_graph_list(server, data, session_page):
    base, _ = server
    page = _load(session_page, base, "/dashboard/graphs", "graphs")
    assert sorted(r[1] for r in _rows(page, "graphs")) == sorted(data.graphs)


def test_graph_breakdown_of_predicted_latency(server, data, session_page):
    base, _ = server
    graph = data.graphs["conv-w32.onnx"]
    dev = data.devices[realdata.ORT_DEVICE]
    page = _load(session_page, base, f"/dashboard/graphs/{graph['id']}?device={dev['id']}", "graph-breakdown")
    detail = _api(base, f"/v1/graphs/{graph['id']}")
    node_names = [n["name"] for n in detail["ir"]["nodes"]]
    assert [r[0] for r in _rows(page, "breakdown")] == node_names
    bars = page.evaluate(
        "() => { const c = Chart.getChart(document.getElementById('nodes'));"
        " return [c.data.labels, c.data.datasets[0].data]; }"
    )
    assert bars[0] == node_names  # one bar per layer, in graph order
    assert "Predicted latency on" in page.locator("#prediction").inner_text()
    op_total = sum(_chart_points(page, "optotals"))
    assert op_total == pytest.approx(sum(bars[1]), rel=1e-6)
    assert sum(_chart_points(page, "ops")) == detail["summary"]["nodes"]
    shown = float(page.locator("#prediction strong").inner_text().split()[0])
    assert sum(bars[1]) == pytest.approx(shown, rel=1e-2)


def test_graph_without_predictor_shows_macs(server, data, session_page):
    base, _ = server
    graph = data.graphs["dwconv-w16.tflite"]
    dev = data.devices[EMPTY_DEVICE]
    page = _load(
        session_page, base, f"/dashboard/graphs/{graph['id']}?device={dev['id']}", "graph-no-predictor"
    )
    assert EMPTY_DEVICE in page.locator("#no-prediction").inner_text()
    detail = _api(base, f"/v1/graphs/{graph['id']}")
    with_macs = [n["name"] for n in detail["ir"]["nodes"] if n["macs"] is not None]
    labels = page.evaluate("() => Chart.getChart(document.getElementById('nodes')).data.labels")
    assert labels == with_macs


def test_predictors(server, data, session_page):
    base, _ = server
    page = _load(session_page, base, "/dashboard/predictors", "predictors")
    api = _api(base, "/v1/predictors")
    if not api:
        assert "No predictor versions" in page.locator("main").inner_text()
        jobs = _api(base, "/v1/dashboard/jobs")["recent"]
        pytest.fail(f"training produced no version: {[j for j in jobs if j['kind'] == 'predictor.train']}")
    rows = _rows(page, "predictors")
    assert [(r[0], r[1], r[2]) for r in rows] == [(p["name"], p["version"], p["status"]) for p in api]
    assert all(k in rows[0][4] for k in api[0]["metrics"])


def test_jobs(server, data, session_page):
    base, _ = server
    page = _load(session_page, base, "/dashboard/jobs", "jobs")
    api = _api(base, "/v1/dashboard/jobs")
    cards = dict(
        page.eval_on_selector_all(
            ".card", "cs => cs.map(c => [c.dataset.card, c.querySelector('.value').textContent])"
        )
    )
    assert cards == {k: str(v) for k, v in api["statuses"].items()}
    assert _chart_points(page, "status") == list(api["statuses"].values())
    rows = _rows(page, "recent-jobs")
    assert [int(r[0]) for r in rows] == [j["id"] for j in api["recent"]]
    assert any(r[2] == "failed" and r[7] == "runtime refused the model" for r in rows)
    assert {r[1] for r in rows} >= {"measure", "predictor.train"}


def test_missing_page_shows_error(server, data, session_page):
    base, _ = server
    page, watch = session_page
    page.goto(f"{base}/dashboard/devices/99999")
    page.wait_for_selector("body[data-ready]", timeout=30_000)
    assert page.get_attribute("body", "data-ready") == "error"
    assert "device 99999 not found" in page.locator("main .error").inner_text()
    watch.console_errors.clear()  # the browser logs the 404 of the JSON request itself
