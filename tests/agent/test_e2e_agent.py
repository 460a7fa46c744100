"""End to end: a real ``edgeperf serve`` on PostgreSQL, real ``edgeperf agent run`` processes,
real onnxruntime and LiteRT measurements landing in the database; a runtime that cannot
run a model fails the job (the agent keeps working); an agent killed mid-job loses its
lease, and the job is leased again and finished by another agent."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from agent.client import AgentClient
from agent.protocol import measure
from agent.runner import Agent, AgentConfig, to_measurement
from tests.agent import models
from tests.agent.conftest import QUICK
from tests.service import databases

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ADMIN = {"Authorization": "Bearer e2e-agent-admin-key-0123456789"}
EDGEPERF = str(Path(sys.executable).parent / "edgeperf")
AGENT_QUICK = ["--rounds", "3", "--runs-per-round", "5", "--warmup-s", "0.05", "--poll-s", "0.2"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(base URL, psycopg URL) of a real server on a fresh PostgreSQL database."""
    tmp = tmp_path_factory.mktemp("e2e-agent")
    url = databases.create_pg_database("edgeperf_agent_e2e")
    env = {**os.environ, "EDGEPERF_DATA_DIR": str(tmp / "data"), "EDGEPERF_DATABASE_URL": url,
           "EDGEPERF_ADMIN_KEY": ADMIN["Authorization"].split()[1]}
    env.pop("EDGEPERF_DEV_MODE", None)
    port = _free_port()
    with (tmp / "server.log").open("w") as log:
        proc = subprocess.Popen([EDGEPERF, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            pytest.fail(f"server not ready:\n{(tmp / 'server.log').read_text()[-3000:]}")
        yield base, url.replace("postgresql+psycopg://", "postgresql://")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        databases.drop_pg_database(url)


@pytest.fixture
def http(pg_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pg_server[0], timeout=60) as client:
        yield client


def _device(http: httpx.Client, name: str) -> dict:
    resp = http.post("/v1/devices", headers=ADMIN, json={"name": name, "runtime": "onnxruntime"})
    assert resp.status_code == 201, resp.text
    return resp.json()


def _upload(http: httpx.Client, path: Path) -> int:
    resp = http.post("/v1/graphs", files={"file": (path.name, path.read_bytes())})
    assert resp.status_code in (200, 201), resp.text
    return resp.json()["id"]


def _jobs(http: httpx.Client, device_id: int) -> list[dict]:
    return http.get(f"/v1/devices/{device_id}/jobs", headers=ADMIN).json()["items"]


def _agent(base: str, token: str, outbox: Path, *extra: str) -> subprocess.Popen:
    cmd = [EDGEPERF, "agent", "run", "--server", base, "--token", token, "--outbox", str(outbox), *AGENT_QUICK, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _rows(pg_url: str, device_id: int) -> list[tuple]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute("SELECT graph_id, runtime, median_ms, peak_memory_mb, samples_ms, extra "
                            "FROM measurements WHERE device_id = %s ORDER BY graph_id", (device_id,)).fetchall()


def test_agent_measures_onnx_and_tflite_and_fails_what_it_cannot_run(pg_server, http, model_dir, tmp_path,
                                                                     onnx_model, tflite_model, onnx_bad, tflite_bad):
    base, pg_url = pg_server
    device = _device(http, "e2e-agent-a")
    ids = [_upload(http, p) for p in (onnx_model, tflite_model, onnx_bad, tflite_bad)]
    resp = http.post(f"/v1/devices/{device['id']}/jobs", headers=ADMIN, json={"graph_ids": ids, "max_attempts": 2})
    assert resp.status_code == 201, resp.text
    proc = _agent(base, device["token"], tmp_path / "outbox", "--max-jobs", "6")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    jobs = {j["graph_id"]: j for j in _jobs(http, device["id"])}
    assert [jobs[i]["status"] for i in ids] == ["done", "done", "failed", "failed"], out[-3000:]
    assert "FancyOp" in jobs[ids[2]]["error"] and "Digamma" in jobs[ids[3]]["error"]
    assert jobs[ids[2]]["attempts"] == 2 and jobs[ids[3]]["attempts"] == 2
    rows = _rows(pg_url, device["id"])
    assert [(r[0], r[1]) for r in rows] == [(ids[0], "onnxruntime"), (ids[1], "litert")]
    for _, _, median, peak, samples, extra in rows:
        assert median > 0 and peak > 0 and len(samples) >= 15 and extra["rounds"] >= 3
        assert extra["device_key"].startswith("cpu-")
    env = http.get(f"/v1/devices/{device['id']}").json()["profile"]["environment"]
    assert env["cores"] >= 1 and env["device_key"].startswith("cpu-")
    assert not list((tmp_path / "outbox").glob("*.json"))


def test_killed_agent_job_is_leased_again(pg_server, http, model_dir, tmp_path):
    base, pg_url = pg_server
    device = _device(http, "e2e-agent-kill")
    graph = _upload(http, models.onnx_convnet(model_dir / "conv96.onnx", channels=32, res=96))
    body = {"graph_ids": [graph], "lease_seconds": 3, "max_attempts": 3}
    assert http.post(f"/v1/devices/{device['id']}/jobs", headers=ADMIN, json=body).status_code == 201
    victim = _agent(base, device["token"], tmp_path / "outbox-a", "--warmup-s", "30")
    deadline = time.monotonic() + 60
    while _jobs(http, device["id"])[0]["status"] != "leased":
        assert time.monotonic() < deadline and victim.poll() is None
        time.sleep(0.05)
    time.sleep(1.0)  # fetching / measuring now (its warm-up alone lasts 30 s)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    job = _jobs(http, device["id"])[0]
    assert job["status"] == "leased" and job["attempts"] == 1 and not _rows(pg_url, device["id"])
    rescuer = _agent(base, device["token"], tmp_path / "outbox-b", "--max-jobs", "1")
    out, _ = rescuer.communicate(timeout=120)
    assert rescuer.returncode == 0, out[-3000:]
    job = _jobs(http, device["id"])[0]
    assert job["status"] == "done" and job["attempts"] == 2
    rows = _rows(pg_url, device["id"])
    assert len(rows) == 1 and rows[0][5]["job_id"] == job["id"]


def test_results_measured_while_server_is_down_are_sent_after_restart(pg_server, http, tmp_path, onnx_model):
    base, pg_url = pg_server
    device = _device(http, "e2e-agent-outbox")
    graph = _upload(http, onnx_model)
    http.post(f"/v1/devices/{device['id']}/jobs", headers=ADMIN, json={"graph_ids": [graph]})
    cfg = AgentConfig(server=base, token=device["token"], outbox_dir=tmp_path / "outbox", protocol=QUICK)
    live = AgentClient(base, device["token"])
    agent_id = "outbox-agent"
    job = live.lease(agent_id)
    result = measure(onnx_model, config=QUICK)
    item = to_measurement(result, graph, job["id"], "cpu-test")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    down = Agent(cfg, AgentClient(dead, device["token"], retries=1, backoff_s=0.01))
    down.agent_id = agent_id
    down.outbox.put({"client_id": item["client_id"], "kind": "complete", "job_id": job["id"], "measurement": item})
    down.outbox.put({"client_id": "loose-1", "kind": "measurement",
                     "measurement": {**item, "client_id": "loose-1"}})
    down.flush()  # server unreachable: nothing is lost
    assert len(down.outbox) == 2 and not _rows(pg_url, device["id"])
    restarted = Agent(cfg, live)  # a new process reading the same outbox
    restarted.agent_id = agent_id
    restarted.flush()
    assert len(restarted.outbox) == 0
    rows = _rows(pg_url, device["id"])
    assert len(rows) == 2 and all(r[4] == result["samples_ms"] for r in rows)
    assert _jobs(http, device["id"])[0]["status"] == "done"


def test_heartbeat_keeps_a_long_measurement_leased(pg_server, http, model_dir, tmp_path, onnx_model):
    base, pg_url = pg_server
    device = _device(http, "e2e-agent-heartbeat")
    graph = _upload(http, onnx_model)
    body = {"graph_ids": [graph], "lease_seconds": 2, "max_attempts": 3}
    assert http.post(f"/v1/devices/{device['id']}/jobs", headers=ADMIN, json=body).status_code == 201
    slow = _agent(base, device["token"], tmp_path / "outbox", "--max-jobs", "1", "--warmup-s", "8")
    try:
        deadline = time.monotonic() + 60
        while _jobs(http, device["id"])[0]["status"] != "leased":
            assert time.monotonic() < deadline and slow.poll() is None
            time.sleep(0.05)
        time.sleep(4.0)  # twice the lease: only the heartbeats keep it
        assert slow.poll() is None, "the measurement should still be running"
        assert AgentClient(base, device["token"]).lease("rival") is None
        out, _ = slow.communicate(timeout=120)
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait()
    assert slow.returncode == 0, out[-3000:]
    job = _jobs(http, device["id"])[0]
    assert job["status"] == "done" and job["attempts"] == 1
    assert len(_rows(pg_url, device["id"])) == 1
