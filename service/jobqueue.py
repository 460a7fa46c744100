"""The job queue on the ``jobs`` table: enqueue, lease, heartbeat, complete, fail.

Used by ``edgeperf worker`` and by any endpoint area that hands out work (an agent
leasing measurement jobs for its device). Functions only flush; the caller's session
dependency (or ``session.begin()``) owns the transaction.

Leasing is safe with several workers: PostgreSQL skips rows locked by another
leaser (``FOR UPDATE SKIP LOCKED``); on both backends the lease itself is a
conditional UPDATE that only one leaser can win. A lease that expires (worker died)
makes the job available again; ``attempts`` counts leases, and a job whose attempts
reach ``max_attempts`` ends ``failed``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from service.db import utcnow
from service.errors import NotFound, ServiceError
from service.models import Job

log = logging.getLogger(__name__)


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    device_id: int | None = None,
    graph_id: int | None = None,
    max_attempts: int = 3,
) -> Job:
    job = Job(
        kind=kind,
        payload=payload or {},
        device_id=device_id,
        graph_id=graph_id,
        max_attempts=max_attempts,
        status="queued",
        attempts=0,
    )
    session.add(job)
    session.flush()
    log.info("job.enqueued", extra={"job_id": job.id, "kind": kind})
    return job


def _available(now: Any) -> ColumnElement[bool]:
    expired = and_(Job.status == "leased", Job.lease_expires_at < now)
    return and_(or_(Job.status == "queued", expired), Job.attempts < Job.max_attempts)


def _fail_exhausted(session: Session, now: Any) -> None:
    """Leases that expired on their last attempt: the job has failed."""
    session.execute(
        update(Job)
        .where(Job.status == "leased", Job.lease_expires_at < now, Job.attempts >= Job.max_attempts)
        .values(status="failed", error="lease expired on the last attempt", finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def lease(
    session: Session,
    worker_id: str,
    *,
    kinds: Sequence[str] | None = None,
    device_id: int | None = None,
    lease_seconds: float = 300.0,
) -> Job | None:
    """Lease the oldest available job (optionally of ``kinds`` / for ``device_id``), or None."""
    now = utcnow()
    _fail_exhausted(session, now)
    query = select(Job.id).where(_available(now)).order_by(Job.id).limit(1)
    if kinds:
        query = query.where(Job.kind.in_(list(kinds)))
    if device_id is not None:
        query = query.where(Job.device_id == device_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    job_id = session.scalar(query)
    if job_id is None:
        return None
    won = session.execute(
        update(Job)
        .where(Job.id == job_id, _available(now))
        .values(
            status="leased",
            leased_by=worker_id,
            attempts=Job.attempts + 1,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            started_at=func.coalesce(Job.started_at, now),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # another leaser got it first
        return None
    job = session.get(Job, job_id, populate_existing=True)
    log.info("job.leased", extra={"job_id": job_id, "worker": worker_id})
    return job


def _owned(session: Session, job_id: int, worker_id: str) -> Job:
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise NotFound(f"job {job_id}")
    if job.status != "leased" or job.leased_by != worker_id:
        raise ServiceError(f"job {job_id} is not leased by {worker_id!r}", 409, "lease_lost")
    return job


def heartbeat(session: Session, job_id: int, worker_id: str, lease_seconds: float = 300.0) -> Job:
    job = _owned(session, job_id, worker_id)
    job.lease_expires_at = utcnow() + timedelta(seconds=lease_seconds)
    session.flush()
    return job


def complete(session: Session, job_id: int, worker_id: str, result: dict[str, Any] | None = None) -> Job:
    job = _owned(session, job_id, worker_id)
    job.status, job.result, job.error = "done", result or {}, None
    job.finished_at = job.updated_at = utcnow()
    job.lease_expires_at = None
    session.flush()
    log.info("job.done", extra={"job_id": job_id, "kind": job.kind})
    return job


def fail(session: Session, job_id: int, worker_id: str, error: str, *, retry: bool = True) -> Job:
    """Record a failure; the job is queued again while attempts remain (and ``retry``)."""
    job = _owned(session, job_id, worker_id)
    final = not retry or job.attempts >= job.max_attempts
    job.status = "failed" if final else "queued"
    job.error = error[:4000]
    job.leased_by = None
    job.lease_expires_at = None
    job.updated_at = utcnow()
    if final:
        job.finished_at = job.updated_at
    session.flush()
    log.warning("job.failed", extra={"job_id": job_id, "kind": job.kind, "final": final})
    return job
