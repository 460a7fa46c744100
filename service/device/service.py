"""Device registry: create (with a one-time agent token), read."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.auth import new_device_token
from service.device import repository
from service.device.schemas import DeviceCreate
from service.errors import NotFound, ServiceError
from service.models import Device

log = logging.getLogger(__name__)


def create(session: Session, data: DeviceCreate) -> tuple[Device, str]:
    """Register a device; returns it with its agent token (only the hash is stored)."""
    if repository.get_by_name(session, data.name) is not None:
        raise ServiceError(f"a device named {data.name!r} already exists", 409, "conflict")
    device = Device(
        **data.model_dump(exclude={"hardware"}), hardware=data.hardware.model_dump(), token_hash=""
    )
    try:
        repository.add(session, device)
    except IntegrityError as exc:  # a concurrent create won the race for the name
        raise ServiceError(f"a device named {data.name!r} already exists", 409, "conflict") from exc
    token, token_hash = new_device_token(device.id)
    device.token_hash = token_hash
    session.flush()
    log.info("device.created", extra={"device_id": device.id, "device_name": device.name})
    return device, token


def get(session: Session, device_id: int) -> Device:
    device = repository.get(session, device_id)
    if device is None:
        raise NotFound(f"device {device_id}")
    return device
