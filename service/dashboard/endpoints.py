"""``/dashboard`` pages and the read-only JSON under ``/v1/dashboard`` that they need."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.dashboard import service
from service.dashboard.pages import router as pages_router
from service.dashboard.schemas import DeviceAccuracy, GraphView, JobsOverview, Overview
from service.db import SessionDep
from service.errors import ERROR_RESPONSES

api = APIRouter(prefix="/v1/dashboard", tags=["dashboard"], responses=ERROR_RESPONSES)


@api.get("/overview")
def get_overview(session: SessionDep) -> Overview:
    """Totals, and every device with its profile, measurement counts, calibration state
    and prediction accuracy (logged predictions vs median measured latency)."""
    return service.overview(session)


@api.get("/devices/{device_id}/accuracy")
def get_device_accuracy(device_id: int, session: SessionDep) -> DeviceAccuracy:
    """Predicted-vs-measured latency per graph of a device, and a histogram of the errors."""
    return service.device_accuracy(session, device_id)


@api.get("/graphs/{graph_id}")
def get_graph_view(graph_id: int, session: SessionDep, request: Request) -> GraphView:
    """A graph's summary, per-node costs, MACs per op type and the latest logged latency
    prediction per device. The per-layer latency breakdown is ``POST /v1/predictions``
    with ``breakdown: true``."""
    registry = getattr(request.app.state, "predictors", None)
    return service.graph_view(
        session, graph_id, lambda name: registry is not None and bool(registry.serving(session, [name]))
    )


@api.get("/jobs")
def get_jobs(session: SessionDep) -> JobsOverview:
    """Job counts by status and kind, and the most recent jobs."""
    return service.jobs(session)


router = APIRouter()
router.include_router(pages_router)
router.include_router(api)
