from __future__ import annotations

from datetime import timedelta

import pytest

from service import jobqueue
from service.db import utcnow
from service.errors import ServiceError
from service.models import Job


@pytest.fixture
def sessions(db_sessions):
    return db_sessions


def test_lease_complete(sessions):
    with sessions.begin() as s:
        first = jobqueue.enqueue(s, "measure", {"n": 1}).id
        second = jobqueue.enqueue(s, "train").id
    with sessions.begin() as s:
        job = jobqueue.lease(s, "w1", lease_seconds=60)
        assert job.id == first and job.status == "leased" and job.attempts == 1 and job.leased_by == "w1"
        assert job.lease_expires_at > utcnow() and job.started_at is not None
    with sessions.begin() as s:
        assert jobqueue.lease(s, "w2", kinds=["train"]).id == second
        assert jobqueue.lease(s, "w2") is None
    with sessions.begin() as s:
        with pytest.raises(ServiceError) as exc:
            jobqueue.complete(s, first, "w2", {})
        assert exc.value.status_code == 409
    with sessions.begin() as s:
        done = jobqueue.complete(s, first, "w1", {"ok": True})
        assert done.status == "done" and done.result == {"ok": True} and done.finished_at is not None


def test_failures_retry_until_max_attempts(sessions):
    with sessions.begin() as s:
        job_id = jobqueue.enqueue(s, "measure", max_attempts=2).id
    for attempt, expected in ((1, "queued"), (2, "failed")):
        with sessions.begin() as s:
            assert jobqueue.lease(s, "w").attempts == attempt
            assert jobqueue.fail(s, job_id, "w", "boom").status == expected
    with sessions.begin() as s:
        assert jobqueue.lease(s, "w") is None
        assert s.get(Job, job_id).error == "boom"


def test_expired_lease_is_taken_over_then_fails_when_exhausted(sessions):
    with sessions.begin() as s:
        job_id = jobqueue.enqueue(s, "measure", max_attempts=2).id
    with sessions.begin() as s:
        jobqueue.lease(s, "dead-worker", lease_seconds=-1)
    with sessions.begin() as s:
        taken = jobqueue.lease(s, "w2", lease_seconds=-1)
        assert taken.id == job_id and taken.attempts == 2 and taken.leased_by == "w2"
    with sessions.begin() as s:
        assert jobqueue.lease(s, "w3") is None
        job = s.get(Job, job_id)
        assert job.status == "failed" and "lease expired" in job.error


def test_heartbeat_extends_and_device_filter(sessions):
    from service.models import Device

    with sessions.begin() as s:
        dev = Device(name="d", runtime="litert", token_hash="x" * 64)
        s.add(dev)
        s.flush()
        jobqueue.enqueue(s, "measure")
        mine = jobqueue.enqueue(s, "measure", device_id=dev.id).id
        dev_id = dev.id
    with sessions.begin() as s:
        job = jobqueue.lease(s, "agent", device_id=dev_id, lease_seconds=1)
        assert job.id == mine
        before = job.lease_expires_at
        assert jobqueue.heartbeat(s, mine, "agent", 600).lease_expires_at > before + timedelta(seconds=500)


def test_concurrent_leases_never_share_a_job(sessions):
    """On PostgreSQL the first lease is still uncommitted (its row locked) when the
    second leaser looks; SQLite serialises writers, so there the first commits first."""
    with sessions.begin() as s:
        for _ in range(2):
            jobqueue.enqueue(s, "measure")
    a, b = sessions(), sessions()
    try:
        ja = jobqueue.lease(a, "a")
        if a.get_bind().dialect.name == "sqlite":
            a.commit()
        jb = jobqueue.lease(b, "b")
        b.commit()
        a.commit()
        assert ja is not None and jb is not None and ja.id != jb.id
    finally:
        a.close()
        b.close()
