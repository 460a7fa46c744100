"""Worker handlers for ``calibration.select`` and ``calibration.fit`` jobs."""

from __future__ import annotations

from typing import Any

from service.calibration import service
from service.errors import ServiceError
from service.models import Job
from service.worker import JobContext


def _device(job: Job) -> int:
    if job.device_id is None:
        raise ServiceError(f"job {job.id} names no device", 422, "validation_error")
    return job.device_id


def select(ctx: JobContext, job: Job) -> dict[str, Any]:
    return service.run_select(ctx.session, ctx.settings, _device(job), dict(job.payload or {}))


def fit(ctx: JobContext, job: Job) -> dict[str, Any]:
    return service.run_fit(ctx.session, ctx.settings, _device(job))
