from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from service import jobqueue
from service.models import Graph, Job
from service.worker import Worker, load_handlers
from tests.service.model_files import onnx_bytes

pytestmark = pytest.mark.anyio


async def _graph(client) -> dict:
    resp = await client.post("/v1/graphs", files={"file": ("net.onnx", onnx_bytes())})
    assert resp.status_code == 201
    return resp.json()


async def test_reparse_job_refreshes_stored_ir(client, app, settings):
    graph = await _graph(client)
    sessions = app.state.sessionmaker
    with sessions.begin() as s:
        row = s.get(Graph, graph["id"])
        row.summary = {**row.summary, "macs": 0}
        job_id = jobqueue.enqueue(s, "graph.reparse", graph_id=graph["id"]).id
    worker = Worker(sessions, settings, load_handlers(), "test-worker")
    assert worker.run(threading.Event(), once=True) == 1
    with sessions() as s:
        job = s.get(Job, job_id)
        assert job.status == "done" and job.result["macs"] == graph["summary"]["macs"]
        assert s.get(Graph, graph["id"]).summary["macs"] == graph["summary"]["macs"]


async def test_failing_job_is_recorded_and_retried(client, app, settings):
    graph = await _graph(client)
    for path in Path(settings.graphs_dir).rglob("*"):
        if path.is_file():
            path.unlink()
    with app.state.sessionmaker.begin() as s:
        job_id = jobqueue.enqueue(s, "graph.reparse", graph_id=graph["id"], max_attempts=2).id
    worker = Worker(app.state.sessionmaker, settings, load_handlers(), "test-worker")
    assert worker.run(threading.Event(), once=True) == 2
    with app.state.sessionmaker() as s:
        job = s.get(Job, job_id)
        assert job.status == "failed" and job.attempts == 2 and "file of graph" in job.error


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="no handler"):
        load_handlers(["nope"])


async def test_worker_command_runs_the_queue(client, app, settings, database_url):
    graph = await _graph(client)
    with app.state.sessionmaker.begin() as s:
        job_id = jobqueue.enqueue(s, "graph.reparse", graph_id=graph["id"]).id
    env = {**os.environ, "EDGEPERF_DATABASE_URL": database_url, "EDGEPERF_DATA_DIR": str(settings.data_dir)}
    edgeperf = str(Path(sys.executable).parent / "edgeperf")
    done = subprocess.run(
        [edgeperf, "worker", "--once"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "processed 1 job(s)" in done.stdout
    with app.state.sessionmaker() as s:
        assert s.get(Job, job_id).status == "done"


def test_heartbeat_keeps_a_long_job_leased(db_sessions, settings):
    """A job running longer than its lease is not handed to another worker."""
    import time

    seen: dict[str, object] = {}

    def slow(ctx, job):
        time.sleep(1.2)
        with db_sessions.begin() as other:
            seen["stolen"] = jobqueue.lease(other, "thief", kinds=["test.slow"])
        return {"slept": True}

    with db_sessions.begin() as s:
        job_id = jobqueue.enqueue(s, "test.slow").id
    worker = Worker(db_sessions, settings, {"test.slow": slow}, "busy", lease_seconds=0.4)
    assert worker.run_one()
    assert seen["stolen"] is None
    with db_sessions() as s:
        job = s.get(Job, job_id)
        assert job.status == "done" and job.attempts == 1 and job.result == {"slept": True}
