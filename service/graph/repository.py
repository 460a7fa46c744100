from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import Graph
from service.upsert import insert_ignore


def get(session: Session, graph_id: int) -> Graph | None:
    return session.get(Graph, graph_id)


def get_by_sha256(session: Session, sha256: str) -> Graph | None:
    return session.scalar(select(Graph).where(Graph.sha256 == sha256))


def ids_by_sha256(session: Session, hashes: set[str]) -> dict[str, int]:
    if not hashes:
        return {}
    rows = session.execute(select(Graph.sha256, Graph.id).where(Graph.sha256.in_(hashes)))
    return {h: i for h, i in rows}


def existing_ids(session: Session, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    return set(session.scalars(select(Graph.id).where(Graph.id.in_(ids))))


def insert_if_new(session: Session, row: dict[str, Any]) -> bool:
    """Insert a graph unless one with the same hash exists (race-free). True if inserted."""
    return bool(insert_ignore(session, Graph, [row], ["sha256"]))


def list_page(session: Session, limit: int, offset: int) -> tuple[list[Graph], int]:
    total = session.scalar(select(func.count()).select_from(Graph)) or 0
    rows = session.scalars(select(Graph).order_by(Graph.id).limit(limit).offset(offset)).all()
    return list(rows), total
