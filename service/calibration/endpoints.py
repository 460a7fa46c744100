from __future__ import annotations

from fastapi import APIRouter, Request, status

from service.auth import AdminDep
from service.calibration import service
from service.calibration.schemas import CalibrationQueued, CalibrationRequest, CalibrationState
from service.db import SessionDep
from service.errors import ERROR_RESPONSES

router = APIRouter(prefix="/v1/devices", tags=["calibration"], responses=ERROR_RESPONSES)


@router.post("/{device_id}/calibration", status_code=status.HTTP_202_ACCEPTED, dependencies=[AdminDep])
def request_calibration(
    device_id: int, session: SessionDep, request: Request, body: CalibrationRequest | None = None
) -> CalibrationQueued:
    """Select K informative architectures for the device and queue them for its agent (admin)."""
    body = body or CalibrationRequest()
    k = body.k or request.app.state.settings.calibration_k
    job = service.request(session, device_id, k, body.pool)
    return CalibrationQueued(job_id=job.id, device_id=device_id, k=k)


@router.get("/{device_id}/calibration")
def calibration_state(device_id: int, session: SessionDep) -> CalibrationState:
    """Requested K, measured count, and the cross-validated accuracy history."""
    return CalibrationState.model_validate(service.state(session, device_id))
