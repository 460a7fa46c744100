from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import ValidationError

from service.db import SessionDep
from service.errors import ERROR_RESPONSES, ServiceError
from service.graph import service as graph_service
from service.graph.parsing import parse_input_shapes
from service.json_body import JSONBodyRoute, OrjsonResponse
from service.prediction import service
from service.prediction.prepare import from_stored
from service.prediction.registry import PredictorRegistry
from service.prediction.schemas import (
    BatchRequest,
    BatchResponse,
    PredictionOptions,
    PredictionRequest,
    PredictionResponse,
    UploadPredictionResponse,
)

router = APIRouter(
    prefix="/v1/predictions",
    tags=["predictions"],
    responses={**ERROR_RESPONSES, 409: ERROR_RESPONSES[422]},
    route_class=JSONBodyRoute,  # gzip bodies; big IR batches parsed without the cyclic GC
)


def _registry(request: Request) -> PredictorRegistry:
    return request.app.state.predictors


@router.post("", response_model=PredictionResponse, response_model_exclude_none=False)
def predict(body: PredictionRequest, request: Request, session: SessionDep) -> Any:
    """Predict latency, energy and peak memory of one graph (a stored ``graph_id``, an ``ir``
    document, or ``columns``, its packed form from ``predictor.columns``: structure only, no
    weights) on one or many devices."""
    settings = request.app.state.settings
    return service.predict(session, _registry(request), body, settings.max_graph_nodes)


@router.post("/batch", response_model=BatchResponse)
def predict_batch(body: BatchRequest, request: Request, session: SessionDep) -> OrjsonResponse:
    """Many graphs in one call (a NAS loop), each by ``graph_id``, ``ir`` or ``columns`` (the
    packed form ``edgeperf.client`` sends: read in about a fifth of an IR document's time, the
    whole request in about half). Items that fail are reported in place; the rest are answered. More than
    ``max_batch_size`` items: 413."""
    settings = request.app.state.settings
    out = service.predict_batch(
        session, _registry(request), body, settings.max_graph_nodes, settings.max_batch_size
    )
    return OrjsonResponse(out)


@router.post("/upload", response_model=UploadPredictionResponse)
def predict_upload(
    request: Request,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="an .onnx or .tflite model")],
    devices: Annotated[str, Form(description='"all", a name, comma-separated names or a JSON list')],
    input_shapes: Annotated[str | None, Form(description='JSON object, e.g. {"x": [1, 3, 224, 224]}')] = None,
    targets: Annotated[
        str | None, Form(description="comma-separated subset of latency,energy,memory")
    ] = None,
    breakdown: Annotated[bool, Form()] = False,
) -> Any:
    """Upload a model file (stored like ``POST /v1/graphs``) and predict it at once."""
    started = time.perf_counter()
    state = request.app.state
    options = _form_options(devices, targets)
    resolved = service.resolve_devices(session, state.predictors, options.devices)
    data = file.file.read(state.settings.max_upload_bytes + 1)
    if len(data) > state.settings.max_upload_bytes:
        raise ServiceError(
            f"upload is larger than the limit of {state.settings.max_upload_bytes} bytes", 413, "too_large"
        )
    item = graph_service.Upload(data, file.filename or "", parse_input_shapes(input_shapes))
    graph, created = graph_service.upload(
        session, state.graph_store, state.parse_executor, state.settings.limits, item
    )
    prepared = from_stored(graph.sha256, graph.id, graph.ir, state.predictors.cache)
    out = service.answer(
        session, prepared, resolved, options.targets, breakdown, started, {"source": "upload"}
    )
    return {**out, "created": created}


def _form_options(devices: str, targets: str | None) -> PredictionOptions:
    raw: Any = devices.strip()
    if raw.startswith("["):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ServiceError(
                f"devices is not a valid JSON list: {exc.msg}", 422, "validation_error"
            ) from exc
    elif raw != "all":
        raw = [d.strip() for d in raw.split(",") if d.strip()]
    fields: dict[str, Any] = {"devices": raw}
    if targets:
        fields["targets"] = [t.strip() for t in targets.split(",") if t.strip()]
    try:
        return PredictionOptions.model_validate(fields)
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ServiceError(msg, 422, "validation_error") from exc
