"""The FastAPI application: ``create_app()`` and its lifespan.

Heavy things (engine, session factory, parse pool) are built in the lifespan and kept
on ``app.state``: ``settings``, ``engine``, ``sessionmaker``, ``graph_store``,
``parse_executor``, ``metrics``, ``predictors`` (the shipped checkpoints, after the
database's active version). Start-up also lists the shipped checkpoints' devices in the
device registry as reference devices (``EDGEPERF_SEED_REFERENCE_DEVICES``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from predictor.frontends import preload as preload_front_ends
from service.body_limit import BodySizeLimitMiddleware
from service.calibration.endpoints import router as calibration_router
from service.config import Settings, load_settings
from service.dashboard.endpoints import router as dashboard_router
from service.db import make_engine, make_sessionmaker
from service.device import service as device_service
from service.device.endpoints import router as devices_router
from service.errors import install_error_handlers
from service.graph.endpoints import router as graphs_router
from service.graph.storage import GraphStore
from service.health.endpoints import router as health_router
from service.health.metrics import MetricsMiddleware, RequestMetrics
from service.jobs.endpoints import router as jobs_router
from service.measurement.endpoints import router as measurements_router
from service.prediction.endpoints import router as predictions_router
from service.prediction.registry import PredictorRegistry
from service.ratelimit import AuthFailureLimiter
from service.training.endpoints import router as predictors_router
from service.training.registry import ActivePredictors

log = logging.getLogger(__name__)

MULTIPART_OVERHEAD = 1024 * 1024  # form fields and part headers beside the model file

ROUTERS = [health_router, devices_router, graphs_router, measurements_router, jobs_router, dashboard_router,
           predictions_router, predictors_router, calibration_router]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.graph_store = GraphStore(settings.graphs_dir)
    app.state.parse_executor = ThreadPoolExecutor(settings.parse_workers, thread_name_prefix="parse")
    app.state.predictors = PredictorRegistry.load(
        settings.predictor_dir,
        settings.feature_cache_size,
        ActivePredictors(settings.data_dir, settings.predictor_reload_s),
    )
    if settings.seed_reference_devices:
        _seed_reference_devices(app)
    preload_front_ends()  # the first upload would otherwise import onnx (about 0.7 s)
    log.info("service.started", extra={"database": engine.url.render_as_string(hide_password=True)})
    try:
        yield
    finally:
        app.state.parse_executor.shutdown(wait=False, cancel_futures=True)
        engine.dispose()
        log.info("service.stopped")


def _seed_reference_devices(app: FastAPI) -> None:
    """List the shipped checkpoints' devices in the registry (idempotent; every replica may
    do it). A database that is not reachable yet does not stop the start: the next one seeds."""
    try:
        with app.state.sessionmaker.begin() as session:
            device_service.seed_reference(session, app.state.predictors.predictors)
    except SQLAlchemyError:
        log.exception("devices.reference_seed_failed")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Without ``settings`` they are read (and validated) from the environment."""
    settings = settings or load_settings()
    app = FastAPI(
        title="edgeperf",
        version="1",
        description="Predict latency, energy and peak memory of neural networks on edge devices.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = RequestMetrics()
    app.state.auth_limiter = AuthFailureLimiter(settings.auth_failure_limit, settings.auth_failure_window_s)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_upload_bytes + MULTIPART_OVERHEAD)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app
