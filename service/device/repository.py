from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import Device
from service.upsert import insert_ignore


def get(session: Session, device_id: int) -> Device | None:
    return session.get(Device, device_id)


def get_by_name(session: Session, name: str, *, lock: bool = False) -> Device | None:
    query = select(Device).where(Device.name == name)
    return session.scalar(query.with_for_update() if lock else query)


def list_page(session: Session, limit: int, offset: int) -> tuple[list[Device], int]:
    total = session.scalar(select(func.count()).select_from(Device)) or 0
    rows = session.scalars(select(Device).order_by(Device.id).limit(limit).offset(offset)).all()
    return list(rows), total


def insert_missing(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert the rows whose name is not taken yet (concurrent start-ups included); returns how many."""
    return len(insert_ignore(session, Device, rows, ["name"]))


def add(session: Session, device: Device) -> Device:
    session.add(device)
    session.flush()
    return device
