"""Two real ``edgeperf worker`` processes (separate connections) racing for one queue:
every job runs exactly once (FOR UPDATE SKIP LOCKED on PostgreSQL, a conditional UPDATE on
SQLite)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from service import jobqueue
from service.models import Job

JOBS = 40
ROUNDS = 5


def _start(env: dict[str, str], log: Path) -> subprocess.Popen:
    edgeperf = str(Path(sys.executable).parent / "edgeperf")
    return subprocess.Popen(
        [edgeperf, "worker", "--kinds", "device.drift", "--poll", "0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )


def _wait(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _all_done(db_sessions, ids: list[int]) -> bool:
    with db_sessions() as s:
        return s.query(Job).filter(Job.id.in_(ids), Job.status == "done").count() == len(ids)


def test_two_worker_processes_never_share_a_job(db_sessions, database_url, tmp_path):
    env = {**os.environ, "EDGEPERF_DATABASE_URL": database_url, "EDGEPERF_DATA_DIR": str(tmp_path)}
    logs = [tmp_path / "w0.log", tmp_path / "w1.log"]
    procs = [_start(env, log) for log in logs]
    try:
        assert _wait(lambda: all("worker.started" in p.read_text() for p in logs), 120), [
            p.read_text() for p in logs
        ]
        ids: list[int] = []
        # Drift checks of no device are cheap: one worker can drain a round inside the other's
        # 0.1 s poll. Rounds go on until both have leased (at most ROUNDS), so the race is exercised.
        for _ in range(ROUNDS):
            with db_sessions.begin() as s:
                ids += [jobqueue.enqueue(s, "device.drift").id for _ in range(JOBS)]

            assert _wait(lambda ids=ids: _all_done(db_sessions, ids), 120)
            with db_sessions() as s:
                leasers = {j.leased_by for j in s.query(Job).filter(Job.id.in_(ids))}
            if len(leasers) == 2:
                break
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        outs = [p.communicate(timeout=60)[0] for p in procs]
    counts = [int(o.split("processed ")[1].split(" ")[0]) for o in outs]
    assert sum(counts) == len(ids), outs
    with db_sessions() as s:
        jobs = s.query(Job).filter(Job.id.in_(ids)).all()
        assert all(j.attempts == 1 for j in jobs)
        assert len({j.leased_by for j in jobs}) == 2, counts  # both took part
