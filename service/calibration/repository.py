from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import Device, Graph, Job, Measurement


def lock_device(session: Session, device_id: int) -> Device | None:
    """The device row, locked (PostgreSQL) for a read-modify-write of its profile."""
    return session.get(Device, device_id, with_for_update=True, populate_existing=True)


def pending_job(session: Session, kind: str, device_id: int) -> Job | None:
    query = select(Job).where(
        Job.kind == kind, Job.device_id == device_id, Job.status.in_(("queued", "leased"))
    )
    return session.scalars(query.limit(1)).first()


def device_latencies(session: Session, device_id: int) -> list[tuple[int, dict, float]]:
    """(graph id, IR document, mean measured latency) of every graph measured on the device."""
    query = (
        select(Measurement.graph_id, func.avg(Measurement.latency_ms))
        .where(Measurement.device_id == device_id, Measurement.latency_ms > 0)
        .group_by(Measurement.graph_id)
    )
    means = dict(session.execute(query).all())
    if not means:
        return []
    irs = dict(session.execute(select(Graph.id, Graph.ir).where(Graph.id.in_(list(means)))).all())
    return [(gid, irs[gid], float(means[gid])) for gid in sorted(means) if gid in irs]


def measured_graphs(session: Session, device_id: int) -> int:
    """How many distinct graphs have a latency measurement on the device."""
    query = select(func.count(func.distinct(Measurement.graph_id))).where(
        Measurement.device_id == device_id, Measurement.latency_ms > 0
    )
    return int(session.scalar(query) or 0)
