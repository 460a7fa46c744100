from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.models import Device, Graph, PredictionLog


def device_ids(session: Session, names: list[str]) -> dict[str, int]:
    """Registered devices among ``names``: name -> id."""
    if not names:
        return {}
    rows = session.execute(select(Device.name, Device.id).where(Device.name.in_(names)))
    return {name: device_id for name, device_id in rows}


def all_devices(session: Session) -> dict[str, int]:
    """Every registered device: name -> id."""
    return {name: device_id for name, device_id in session.execute(select(Device.name, Device.id))}


def graph_keys(session: Session, ids: list[int]) -> dict[int, str]:
    """Content hashes of stored graphs (without loading their IR documents): id -> sha256."""
    if not ids:
        return {}
    return {
        i: sha for i, sha in session.execute(select(Graph.id, Graph.sha256).where(Graph.id.in_(set(ids))))
    }


def graph_ir(session: Session, graph_id: int) -> dict[str, Any] | None:
    return session.scalar(select(Graph.ir).where(Graph.id == graph_id))


def log_prediction(
    session: Session,
    *,
    graph_id: int | None,
    device_id: int | None,
    request: dict[str, Any],
    result: dict[str, Any],
    duration_ms: float,
) -> None:
    """One ``prediction_log`` row per request (compact: values only, no breakdown).
    Flushed with the request's transaction by the session dependency."""
    session.add(
        PredictionLog(
            graph_id=graph_id, device_id=device_id, request=request, result=result, duration_ms=duration_ms
        )
    )
