from __future__ import annotations

from fastapi import APIRouter, Request, status

from service.auth import AdminDep
from service.db import SessionDep
from service.errors import ERROR_RESPONSES
from service.training import repository, service
from service.training.schemas import PredictorVersion, TrainQueued, TrainRequest

router = APIRouter(prefix="/v1/predictors", tags=["predictors"], responses=ERROR_RESPONSES)


@router.post("/train", status_code=status.HTTP_202_ACCEPTED, dependencies=[AdminDep])
def train(session: SessionDep, body: TrainRequest | None = None) -> TrainQueued:
    """Queue a train job (admin); ``edgeperf worker`` runs it."""
    params = (body or TrainRequest()).model_dump(exclude_none=True)
    job, new = service.request_training(session, params)
    return TrainQueued(job_id=job.id, status=job.status, new=new)


@router.get("")
def list_versions(session: SessionDep, name: str | None = None) -> list[PredictorVersion]:
    """Every trained version, newest first, with held-out metrics and status."""
    return [PredictorVersion.model_validate(r) for r in repository.list_versions(session, name)]


@router.post("/{name}/versions/{version}/restore", dependencies=[AdminDep])
def restore(name: str, version: str, session: SessionDep, request: Request) -> PredictorVersion:
    """Make an earlier version active again (admin)."""
    row = service.restore(session, request.app.state.settings.data_dir, name, version)
    return PredictorVersion.model_validate(row)
