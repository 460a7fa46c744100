from __future__ import annotations

from fastapi import APIRouter

from service.auth import DeviceDep
from service.db import SessionDep
from service.errors import ERROR_RESPONSES, ServiceError
from service.measurement import repository, service
from service.measurement.schemas import IngestResult, MeasurementBatch, MeasurementRead
from service.pagination import PageDep, Paginated
from service.params import IdQuery

router = APIRouter(prefix="/v1/measurements", tags=["measurements"], responses=ERROR_RESPONSES)


@router.post("")
def post_measurements(body: MeasurementBatch, device: DeviceDep, session: SessionDep) -> IngestResult:
    """Ingest a batch from a device's agent (``Authorization: Bearer <device token>``).

    Idempotent per ``(device, client_id)``: resent items count as duplicates."""
    if body.device_id is not None and body.device_id != device.id:
        raise ServiceError("a device token can only post measurements of its own device", 403, "forbidden")
    return service.ingest(session, device.id, body.items)


@router.get("")
def list_measurements(
    session: SessionDep,
    page: PageDep,
    device_id: IdQuery = None,
    graph_id: IdQuery = None,
) -> Paginated[MeasurementRead]:
    rows, total = repository.list_page(session, page.limit, page.offset, device_id, graph_id)
    items = [MeasurementRead.model_validate(r) for r in rows]
    return Paginated[MeasurementRead](items=items, total=total, limit=page.limit, offset=page.offset)
