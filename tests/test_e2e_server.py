"""End to end: the real ``edgeperf migrate`` / ``edgeperf serve`` commands (the ones the
Docker image runs) on a free loopback port, talked to over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service import databases
from tests.service.model_files import onnx_bytes, tflite_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ADMIN_KEY = "e2e-admin-key-0123456789abcdef"
EDGEPERF = str(Path(sys.executable).parent / "edgeperf")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(proc: subprocess.Popen, base: str, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"server not ready after {timeout} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(params=databases.backends())
def server(request, tmp_path) -> Iterator[str]:
    env = {**os.environ, "EDGEPERF_DATA_DIR": str(tmp_path / "data"), "EDGEPERF_ADMIN_KEY": ADMIN_KEY}
    env.pop("EDGEPERF_DEV_MODE", None)
    pg_url = None
    if request.param == "postgresql":
        pg_url = env["EDGEPERF_DATABASE_URL"] = databases.create_pg_database("edgeperf_e2e")
        done = subprocess.run([EDGEPERF, "migrate"], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    else:
        env.pop("EDGEPERF_DATABASE_URL", None)  # default: SQLite under the data dir, migrated by serve
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [EDGEPERF, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, base, log)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
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
