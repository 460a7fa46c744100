"""Measurement jobs: an admin queues graphs for a device; that device's agents lease them,
fetch the model, and complete (the measurement goes through the one ingestion path) or
fail them. Built on :mod:`service.jobqueue`; a device token acts only on its own jobs."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.orm import Session

from service import jobqueue
from service.db import utcnow
from service.device import service as devices
from service.errors import NotFound, ServiceError
from service.graph import repository as graphs
from service.jobs import repository
from service.jobs.schemas import (
    CompleteIn,
    CompleteOut,
    FailIn,
    FailOut,
    HeartbeatIn,
    HeartbeatOut,
    JobsCreate,
)
from service.measurement import service as measurements
from service.models import Device, Graph, Job

log = logging.getLogger(__name__)


def worker_id(device: Device, agent_id: str) -> str:
    return f"device-{device.id}:{agent_id}"


def queue(session: Session, device_id: int, body: JobsCreate) -> list[Job]:
    device = devices.get(session, device_id)
    wanted = list(dict.fromkeys(body.graph_ids))
    missing = sorted(set(wanted) - graphs.existing_ids(session, set(wanted)))
    if missing:
        raise ServiceError(f"unknown graph ids: {missing[:20]}", 422, "unknown_graph")
    jobs = []
    for graph_id in wanted:
        graph = graphs.get(session, graph_id)
        assert graph is not None
        payload = {
            "runtime": body.runtime,
            "threads": body.threads or device.threads,
            "input_shapes": body.input_shapes if body.input_shapes is not None else graph.input_shapes,
            "format": graph.format,
            "lease_seconds": body.lease_seconds,
        }
        jobs.append(jobqueue.enqueue(session, repository.KIND, payload, device_id=device.id, graph_id=graph_id,
                                     max_attempts=body.max_attempts))
    log.info("jobs.queued", extra={"device_id": device.id, "count": len(jobs)})
    return jobs


def _lease_seconds(job: Job) -> float:
    return float((job.payload or {}).get("lease_seconds") or 300.0)


def lease(session: Session, device: Device, agent_id: str) -> Job | None:
    job = jobqueue.lease(session, worker_id(device, agent_id), kinds=[repository.KIND], device_id=device.id)
    if job is not None:
        job.lease_expires_at = utcnow() + timedelta(seconds=_lease_seconds(job))
        session.flush()
    return job


def heartbeat(session: Session, device: Device, job_id: int, body: HeartbeatIn) -> HeartbeatOut:
    """Extend the lease of a job this agent holds (a long measurement): 409 ``lease_lost``
    once the job was leased by another agent, completed or failed."""
    job = own_job(session, device, job_id)
    seconds = body.lease_seconds or _lease_seconds(job)
    job = jobqueue.heartbeat(session, job_id, worker_id(device, body.agent_id), seconds)
    assert job.lease_expires_at is not None
    return HeartbeatOut(job_id=job.id, lease_expires_at=job.lease_expires_at)


def own_job(session: Session, device: Device, job_id: int) -> Job:
    """The job, if it belongs to this device (404 otherwise: other devices' jobs are not shown)."""
    job = session.get(Job, job_id)
    if job is None or job.device_id != device.id or job.kind != repository.KIND:
        raise NotFound(f"job {job_id}")
    return job


def model_file(session: Session, device: Device, graph_id: int, store: object) -> tuple[Graph, bytes]:
    graph = graphs.get(session, graph_id)
    if graph is None or not repository.device_has_graph(session, device.id, graph_id):
        raise NotFound(f"graph {graph_id}")
    data = store.get(graph.file_sha256)  # type: ignore[attr-defined]
    if data is None:
        raise NotFound(f"file of graph {graph_id}")
    return graph, data


def complete(session: Session, device: Device, job_id: int, body: CompleteIn) -> CompleteOut:
    """Ingest the measurement, then mark the job done if this agent still holds it. A job
    leased again by another agent meanwhile keeps its new lease; the measurement is kept."""
    job = own_job(session, device, job_id)
    m = body.measurement
    if (m.graph_id is not None and m.graph_id != job.graph_id) or m.graph_sha256 is not None:
        raise ServiceError(f"the measurement must name graph_id {job.graph_id} of job {job_id}", 422,
                           "graph_mismatch")
    ingested = measurements.ingest(session, device.id, [m])
    me = worker_id(device, body.agent_id)
    if job.status == "leased" and job.leased_by == me:
        jobqueue.complete(session, job_id, me, {"client_id": m.client_id, "median_ms": m.median_ms})
    else:
        log.warning("jobs.complete_without_lease", extra={"job_id": job_id, "status": job.status})
    return CompleteOut(inserted=ingested.inserted, duplicates=ingested.duplicates, job_status=job.status)


def fail(session: Session, device: Device, job_id: int, body: FailIn) -> FailOut:
    job = own_job(session, device, job_id)
    me = worker_id(device, body.agent_id)
    if job.status != "leased" or job.leased_by != me:
        raise ServiceError(f"job {job_id} is not leased by this agent", 409, "lease_lost")
    job = jobqueue.fail(session, job_id, me, body.error, retry=body.retry)
    return FailOut(job_status=job.status, attempts=job.attempts, max_attempts=job.max_attempts)


def store_environment(session: Session, device: Device, environment: dict) -> str | None:
    device.profile = {**(device.profile or {}), "environment": environment}
    session.flush()
    log.info("agent.environment", extra={"device_id": device.id, "device_key": environment.get("device_key")})
    key = environment.get("device_key")
    return str(key) if key is not None else None
