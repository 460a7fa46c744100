from __future__ import annotations

from fastapi import APIRouter, Request, status

from service.auth import AdminDep
from service.calibration import service as calibration
from service.db import SessionDep
from service.device import repository, service
from service.device.schemas import DeviceCreate, DeviceCreated, DeviceRead
from service.errors import ERROR_RESPONSES
from service.pagination import PageDep, Paginated
from service.params import IdPath

router = APIRouter(prefix="/v1/devices", tags=["devices"], responses=ERROR_RESPONSES)


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[AdminDep])
def create_device(body: DeviceCreate, session: SessionDep, request: Request) -> DeviceCreated:
    """Register a device (admin). The response carries the agent token, shown only once."""
    device, token = service.create(session, body)
    if request.app.state.settings.calibration_on_register:
        calibration.request(session, device.id, request.app.state.settings.calibration_k)
    return DeviceCreated.model_validate({**DeviceRead.model_validate(device).model_dump(), "token": token})


@router.get("")
def list_devices(session: SessionDep, page: PageDep) -> Paginated[DeviceRead]:
    rows, total = repository.list_page(session, page.limit, page.offset)
    items = [DeviceRead.model_validate(r) for r in rows]
    return Paginated[DeviceRead](items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{device_id}")
def get_device(device_id: IdPath, session: SessionDep) -> DeviceRead:
    return DeviceRead.model_validate(service.get(session, device_id))
