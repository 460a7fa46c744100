"""Worker handler for ``predictor.train`` jobs."""

from __future__ import annotations

from typing import Any

from service.models import Job
from service.training.service import run_training
from service.worker import JobContext


def train(ctx: JobContext, job: Job) -> dict[str, Any]:
    return run_training(ctx.session, ctx.settings.data_dir, dict(job.payload or {}), job.id)
