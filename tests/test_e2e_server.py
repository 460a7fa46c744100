"""End to end: the real ``edgeperf migrate`` / ``edgeperf serve`` commands (the ones the
Docker image runs) on a free loopback port, talked to over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.live_server import live_server
from tests.service import databases
from tests.service.model_files import onnx_bytes, tflite_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ADMIN_KEY = "e2e-admin-key-0123456789abcdef"


@pytest.fixture(params=databases.backends())
def server(request, tmp_path) -> Iterator[str]:
    """``edgeperf migrate`` then ``edgeperf serve`` on PostgreSQL; on SQLite ``serve`` alone
    (the default database under the data dir, migrated by serve itself)."""
    pg_url = databases.create_pg_database("edgeperf_e2e") if request.param == "postgresql" else None
    try:
        with live_server(tmp_path, pg_url, ADMIN_KEY) as srv:
            yield srv.url
    finally:
        if pg_url:
            databases.drop_pg_database(pg_url)


def test_register_upload_read_back(server):
    onnx, tflite = onnx_bytes(), tflite_bytes()
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=server, timeout=60) as http:
        assert http.get("/docs").status_code == 200
        dev = http.post(
            "/v1/devices",
            headers=admin,
            json={"name": "e2e-ort-t1", "runtime": "onnxruntime", "hardware": {"cores": 2}},
        )
        assert dev.status_code == 201, dev.text
        device = dev.json()

        up = http.post("/v1/graphs", files={"file": ("net.onnx", onnx)})
        assert up.status_code == 201, up.text
        g_onnx = up.json()
        assert g_onnx["format"] == "onnx" and g_onnx["summary"]["macs"] > 0
        assert http.post("/v1/graphs", files={"file": ("net.onnx", onnx)}).json()["id"] == g_onnx["id"]

        up = http.post("/v1/graphs", files={"file": ("net.tflite", tflite)})
        assert up.status_code == 201, up.text
        g_tfl = up.json()
        assert g_tfl["format"] == "tflite" and g_tfl["summary"]["nodes"] >= 3 and g_tfl["summary"]["macs"] > 0

        for g, raw in ((g_onnx, onnx), (g_tfl, tflite)):
            detail = http.get(f"/v1/graphs/{g['id']}").json()
            assert detail["summary"] == g["summary"] and detail["ir"]["nodes"]
            assert http.get(f"/v1/graphs/{g['id']}/file").content == raw
        assert http.get("/v1/graphs").json()["total"] == 2

        m = {
            "client_id": "e2e-1",
            "graph_id": g_tfl["id"],
            "median_ms": 0.8,
            "samples_ms": [0.8, 0.9],
            "measured_at": "2026-11-25T04:00:00+00:00",
        }
        token = {"Authorization": f"Bearer {device['token']}"}
        for expected in ({"inserted": 1, "duplicates": 0}, {"inserted": 0, "duplicates": 1}):
            assert http.post("/v1/measurements", json={"items": [m]}, headers=token).json() == expected
        assert http.get("/v1/measurements", params={"device_id": device["id"]}).json()["total"] == 1


def test_bad_input_is_4xx(server):
    with httpx.Client(base_url=server, timeout=60) as http:
        cases = [
            (b"this is not a model", "notes.onnx"),
            (onnx_bytes()[:200], "cut.onnx"),
            (tflite_bytes()[:64], "cut.tflite"),
            (b"", "empty.tflite"),
        ]
        for data, name in cases:
            resp = http.post("/v1/graphs", files={"file": (name, data)})
            assert 400 <= resp.status_code < 500, (name, resp.status_code, resp.text)
            assert set(resp.json()) >= {"error", "detail"}
        assert http.post("/v1/devices", json={"name": "x", "runtime": "litert"}).status_code == 401
        assert http.get("/v1/graphs").json()["total"] == 0
        assert http.get("/healthz").json() == {"status": "ok"}


def test_several_api_processes_answer_on_one_port(tmp_path):
    """``edgeperf serve`` with ``WEB_CONCURRENCY=2`` (``--workers``): two API processes behind one
    port, each with the shipped predictors, answering concurrent batch predictions alike."""
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    backend = databases.backends()[0]
    pg_url = databases.create_pg_database("edgeperf_e2e") if backend == "postgresql" else None
    try:
        with live_server(tmp_path, pg_url, ADMIN_KEY, WEB_CONCURRENCY="2") as srv:
            children = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _ppid(p) == srv.proc.pid]
            assert len(children) >= 2, "uvicorn started no worker processes"
            with httpx.Client(base_url=srv.url, timeout=120) as http:
                gid = http.post("/v1/graphs", files={"file": ("net.onnx", onnx_bytes())}).json()["id"]
                ir = http.get(f"/v1/graphs/{gid}").json()["ir"]
                body = {"items": [{"ir": ir}] * 20 + [{"graph_id": gid}] * 5, "devices": ["help-pixel3"]}

                def post(_):
                    r = http.post("/v1/predictions/batch", json=body)
                    assert r.status_code == 200, r.text
                    return r.json()

                with ThreadPoolExecutor(4) as pool:
                    answers = list(pool.map(post, range(12)))
            values = {round(item["predictions"]["help-pixel3"]["latency"]["value"], 9)
                      for a in answers for item in a["results"]}
            assert all(a["failed"] == 0 for a in answers) and len(values) == 1
    finally:
        if pg_url:
            databases.drop_pg_database(pg_url)


def _ppid(proc_dir) -> int | None:
    try:
        for line in (proc_dir / "status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def test_serve_refuses_a_bad_worker_count(tmp_path):
    import os
    import subprocess

    from tests.live_server import EDGEPERF

    env = {**os.environ, "EDGEPERF_DATA_DIR": str(tmp_path / "data"), "EDGEPERF_ADMIN_KEY": ADMIN_KEY}
    env.pop("EDGEPERF_DATABASE_URL", None)
    done = subprocess.run([EDGEPERF, "serve", "--workers", "0"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--workers" in done.stderr
