"""Device registry: create (with a one-time agent token), read, and the reference devices
seeded at start-up from the shipped checkpoints."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from predictor.artifacts import Predictor
from service.auth import new_device_token
from service.db import utcnow
from service.device import repository
from service.device.schemas import DeviceCreate
from service.errors import NotFound, ServiceError
from service.models import Device
from service.models.device import REFERENCE, REGISTERED

log = logging.getLogger(__name__)


def create(session: Session, data: DeviceCreate) -> tuple[Device, str]:
    """Register a device; returns it with its agent token (only the hash is stored).

    A reference device of the same name (seeded from a checkpoint, no token yet) is taken
    over: it keeps its id and gets the request's fields and a token. Any other existing
    name is a 409."""
    existing = repository.get_by_name(session, data.name, lock=True)
    if existing is not None and existing.kind != REFERENCE:
        raise _name_taken(data.name)
    device = _fill(existing or Device(token_hash=""), data)
    try:
        repository.add(session, device)
    except IntegrityError as exc:  # a concurrent create won the race for the name
        raise _name_taken(data.name) from exc
    token, token_hash = new_device_token(device.id)
    device.token_hash = token_hash
    session.flush()
    event = "device.created" if existing is None else "device.reference_registered"
    log.info(event, extra={"device_id": device.id, "device_name": device.name})
    return device, token


def _name_taken(name: str) -> ServiceError:
    return ServiceError(f"a device named {name!r} already exists", 409, "conflict")


def _fill(device: Device, data: DeviceCreate) -> Device:
    for key, value in data.model_dump(exclude={"hardware", "profile"}).items():
        setattr(device, key, value)
    device.hardware = data.hardware.model_dump()
    device.profile = {**(device.profile or {}), **data.profile}  # a reference keeps its provenance
    device.kind = REGISTERED
    return device


def get(session: Session, device_id: int) -> Device:
    device = repository.get(session, device_id)
    if device is None:
        raise NotFound(f"device {device_id}")
    return device


def seed_reference(session: Session, checkpoints: Mapping[str, Predictor]) -> int:
    """List every device the shipped ``checkpoints`` (file stem -> predictor) predict for as
    a ``reference`` device without a token. Names already in the registry are left as they
    are, so this is idempotent. Returns how many rows were added."""
    rows: dict[str, dict[str, Any]] = {}
    for stem in sorted(checkpoints):
        for name in checkpoints[stem].devices:
            rows.setdefault(name, _reference_row(name, stem, checkpoints[stem]))
    added = repository.insert_missing(session, list(rows.values()))
    log.info("devices.reference_seeded", extra={"devices": len(rows), "added": added})
    return added


def _reference_row(name: str, stem: str, predictor: Predictor) -> dict[str, Any]:
    data = predictor.meta.get("training_data") or {}
    trained = f"{data.get('graphs', '?')} graphs of {', '.join(data.get('spaces') or []) or 'unknown spaces'}"
    return {
        "name": name,
        "kind": REFERENCE,
        "description": (
            f"Reference device of the shipped checkpoint {stem}.pt (trained on {trained}): "
            "answered by name in predictions; no agent measures it here (registering this "
            "name issues an agent token)."
        ),
        "hardware": {},
        "runtime": "",
        "runtime_version": "",
        "precision": "fp32",
        "threads": 1,
        "sensors": [],
        "profile": {"reference": {"checkpoint": stem, "targets": predictor.targets}},
        "token_hash": "",
        "created_at": utcnow(),
    }
