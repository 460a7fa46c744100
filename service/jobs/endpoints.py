from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response

from service.auth import AdminDep, DeviceDep
from service.db import SessionDep
from service.errors import ERROR_RESPONSES
from service.jobs import repository, service
from service.jobs.schemas import (
    AgentJob,
    CompleteIn,
    CompleteOut,
    EnvironmentIn,
    EnvironmentStored,
    FailIn,
    FailOut,
    HeartbeatIn,
    HeartbeatOut,
    JobRead,
    JobsCreate,
    JobsCreated,
    LeaseIn,
    LeaseOut,
)
from service.pagination import PageDep, Paginated

router = APIRouter(tags=["jobs"], responses=ERROR_RESPONSES)


@router.post("/v1/devices/{device_id}/jobs", status_code=status.HTTP_201_CREATED, dependencies=[AdminDep])
def queue_jobs(device_id: int, body: JobsCreate, session: SessionDep) -> JobsCreated:
    """Queue one measurement job per graph for the device (admin)."""
    jobs = service.queue(session, device_id, body)
    return JobsCreated(jobs=[JobRead.model_validate(j) for j in jobs])


@router.get("/v1/devices/{device_id}/jobs", dependencies=[AdminDep])
def list_jobs(device_id: int, session: SessionDep, page: PageDep,
              status: Annotated[str | None, Query(pattern="^(queued|leased|done|failed)$")] = None,
              ) -> Paginated[JobRead]:
    rows, total = repository.list_page(session, device_id, status, page.limit, page.offset)
    items = [JobRead.model_validate(r) for r in rows]
    return Paginated[JobRead](items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("/v1/agent/environment")
def post_environment(body: EnvironmentIn, device: DeviceDep, session: SessionDep) -> EnvironmentStored:
    """The agent reports what it sees of its machine; kept in the device's profile."""
    key = service.store_environment(session, device, body.environment)
    return EnvironmentStored(device_id=device.id, device_key=key)


@router.post("/v1/agent/jobs/lease")
def lease_job(body: LeaseIn, device: DeviceDep, session: SessionDep) -> LeaseOut:
    """Lease the oldest available job of the token's device (``job`` is null when none)."""
    job = service.lease(session, device, body.agent_id)
    return LeaseOut(job=AgentJob.model_validate(job) if job is not None else None)


@router.get("/v1/agent/graphs/{graph_id}/model", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}})
def get_model(graph_id: int, request: Request, device: DeviceDep, session: SessionDep) -> Response:
    """The model file of a graph queued for the token's device."""
    graph, data = service.model_file(session, device, graph_id, request.app.state.graph_store)
    return Response(data, media_type="application/octet-stream", headers={"X-Edgeperf-Format": graph.format})


@router.post("/v1/agent/jobs/{job_id}/complete")
def complete_job(job_id: int, body: CompleteIn, device: DeviceDep, session: SessionDep) -> CompleteOut:
    """Store the job's measurement (the ingestion path: idempotent by client id) and finish the job."""
    return service.complete(session, device, job_id, body)


@router.post("/v1/agent/jobs/{job_id}/heartbeat")
def heartbeat_job(job_id: int, body: HeartbeatIn, device: DeviceDep, session: SessionDep) -> HeartbeatOut:
    """Extend the lease of a job the agent is still measuring (409 ``lease_lost`` when it no longer holds it)."""
    return service.heartbeat(session, device, job_id, body)


@router.post("/v1/agent/jobs/{job_id}/fail")
def fail_job(job_id: int, body: FailIn, device: DeviceDep, session: SessionDep) -> FailOut:
    """Record the runtime's failure; the job is queued again until it reaches max_attempts."""
    return service.fail(session, device, job_id, body)
