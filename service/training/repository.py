from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.models import Job
from service.models import Predictor as PredictorRow

TRAIN_KIND = "predictor.train"


def list_versions(session: Session, name: str | None = None) -> list[PredictorRow]:
    query = select(PredictorRow).order_by(PredictorRow.id.desc())
    if name is not None:
        query = query.where(PredictorRow.name == name)
    return list(session.scalars(query))


def get_version(session: Session, name: str, version: str, *, lock: bool = False) -> PredictorRow | None:
    query = select(PredictorRow).where(PredictorRow.name == name, PredictorRow.version == version)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def lock_active(session: Session, name: str) -> PredictorRow | None:
    """The active row of ``name``, row-locked (PostgreSQL) so promotions serialise."""
    query = select(PredictorRow).where(PredictorRow.name == name, PredictorRow.status == "active")
    return session.scalars(query.order_by(PredictorRow.id.desc()).with_for_update()).first()


def archive_active(session: Session, name: str, except_id: int) -> None:
    session.execute(
        update(PredictorRow)
        .where(PredictorRow.name == name, PredictorRow.status == "active", PredictorRow.id != except_id)
        .values(status="archived")
        .execution_options(synchronize_session=False)
    )


def pending_train_job(session: Session) -> Job | None:
    query = select(Job).where(Job.kind == TRAIN_KIND, Job.status.in_(("queued", "leased")))
    return session.scalars(query.order_by(Job.id).limit(1)).first()
