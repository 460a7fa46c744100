from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import Measurement
from service.upsert import insert_ignore

_CHUNK = 200  # rows per INSERT, well under SQLite's bound-parameter limit


def insert_new(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert rows, skipping (device_id, client_id) pairs already stored. Returns how many went in."""
    inserted = 0
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        inserted += len(insert_ignore(session, Measurement, chunk, ["device_id", "client_id"]))
    return inserted


def list_page(
    session: Session, limit: int, offset: int, device_id: int | None, graph_id: int | None
) -> tuple[list[Measurement], int]:
    query = select(Measurement)
    if device_id is not None:
        query = query.where(Measurement.device_id == device_id)
    if graph_id is not None:
        query = query.where(Measurement.graph_id == graph_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Measurement.id).limit(limit).offset(offset)).all()
    return list(rows), total
