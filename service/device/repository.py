from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import Device


def get(session: Session, device_id: int) -> Device | None:
    return session.get(Device, device_id)


def get_by_name(session: Session, name: str) -> Device | None:
    return session.scalar(select(Device).where(Device.name == name))


def list_page(session: Session, limit: int, offset: int) -> tuple[list[Device], int]:
    total = session.scalar(select(func.count()).select_from(Device)) or 0
    rows = session.scalars(select(Device).order_by(Device.id).limit(limit).offset(offset)).all()
    return list(rows), total


def add(session: Session, device: Device) -> Device:
    session.add(device)
    session.flush()
    return device
