from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import Job

KIND = "measure"


def list_page(session: Session, device_id: int, status: str | None, limit: int,
              offset: int) -> tuple[list[Job], int]:
    query = select(Job).where(Job.kind == KIND, Job.device_id == device_id)
    if status:
        query = query.where(Job.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Job.id).limit(limit).offset(offset)).all()
    return list(rows), total


def device_has_graph(session: Session, device_id: int, graph_id: int) -> bool:
    query = select(Job.id).where(Job.kind == KIND, Job.device_id == device_id, Job.graph_id == graph_id)
    return session.scalar(query.limit(1)) is not None
