"""Read-only queries behind the dashboard. Nothing here writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from service.models import Device, Graph, Job, Measurement, PredictionLog, Predictor

#: Most rows read for one device's accuracy page (newest first).
MAX_ROWS = 20_000


def devices(session: Session) -> list[Device]:
    return list(session.scalars(select(Device).order_by(Device.id)))


def measurement_stats(session: Session) -> dict[int, tuple[int, int, datetime | None]]:
    """device id -> (measurements, distinct graphs measured, last measured_at)."""
    rows = session.execute(
        select(
            Measurement.device_id,
            func.count(Measurement.id),
            func.count(func.distinct(Measurement.graph_id)),
            func.max(Measurement.measured_at),
        ).group_by(Measurement.device_id)
    )
    return {dev: (n, g, last) for dev, n, g, last in rows}


def measured_latencies(session: Session, device_id: int) -> list[tuple[int, float]]:
    """(graph id, latency ms) of every measurement of a device."""
    rows = session.execute(
        select(Measurement.graph_id, Measurement.latency_ms)
        .where(Measurement.device_id == device_id)
        .order_by(Measurement.id.desc())
        .limit(MAX_ROWS)
    )
    return [(g, float(v)) for g, v in rows]


def prediction_logs(
    session: Session, *, device_id: int | None = None, graph_id: int | None = None, limit: int = MAX_ROWS
) -> list[PredictionLog]:
    """Logged predictions of a device (its own rows, and rows of multi-device requests,
    which carry no device id) or of a graph, newest first."""
    query = select(PredictionLog).order_by(PredictionLog.id.desc()).limit(limit)
    if device_id is not None:
        query = query.where(or_(PredictionLog.device_id == device_id, PredictionLog.device_id.is_(None)))
    if graph_id is not None:
        query = query.where(PredictionLog.graph_id == graph_id)
    return list(session.scalars(query))


def graph_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Graph.id, Graph.filename).where(Graph.id.in_(ids)))
    return {i: name for i, name in rows}


def get_graph(session: Session, graph_id: int) -> Graph | None:
    return session.get(Graph, graph_id)


def get_device(session: Session, device_id: int) -> Device | None:
    return session.get(Device, device_id)


def predictors(session: Session) -> list[Predictor]:
    return list(session.scalars(select(Predictor).order_by(Predictor.created_at.desc(), Predictor.id.desc())))


def counts(session: Session) -> dict[str, int]:
    def count(model: Any) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    return {
        "devices": count(Device),
        "graphs": count(Graph),
        "measurements": count(Measurement),
        "predictions": count(PredictionLog),
        "predictors": count(Predictor),
        "jobs": count(Job),
    }


def job_counts(session: Session) -> list[tuple[str, str, int]]:
    """(kind, status, count) over all jobs."""
    rows = session.execute(select(Job.kind, Job.status, func.count(Job.id)).group_by(Job.kind, Job.status))
    return [(k, s, n) for k, s, n in rows]


def recent_jobs(session: Session, limit: int) -> list[Job]:
    return list(session.scalars(select(Job).order_by(Job.id.desc()).limit(limit)))
