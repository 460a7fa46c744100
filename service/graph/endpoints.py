from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile, status

from service.db import SessionDep
from service.errors import ERROR_RESPONSES, NotFound, ServiceError
from service.graph import repository, service
from service.graph.parsing import parse_input_shapes
from service.graph.schemas import GraphDetail, GraphRead
from service.pagination import PageDep, Paginated
from service.params import IdPath

router = APIRouter(prefix="/v1/graphs", tags=["graphs"], responses=ERROR_RESPONSES)


def _read_limited(file: UploadFile, limit: int) -> bytes:
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise ServiceError(f"upload is larger than the limit of {limit} bytes", 413, "too_large")
    return data


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": GraphRead, "description": "the same content was uploaded before"}},
)
def upload_graph(
    request: Request,
    response: Response,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="an .onnx or .tflite model")],
    input_shapes: Annotated[
        str | None, Form(description='JSON object, input name -> list of ints, e.g. {"x": [1, 3, 224, 224]}')
    ] = None,
) -> GraphRead:
    """Upload a model: 201 with the parsed summary when new, 200 with the existing graph
    when the same content (and the same input shapes) was uploaded before."""
    state = request.app.state
    data = _read_limited(file, state.settings.max_upload_bytes)
    item = service.Upload(data, file.filename or "", parse_input_shapes(input_shapes))
    graph, created = service.upload(
        session, state.graph_store, state.parse_executor, state.settings.limits, item
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return GraphRead.model_validate(graph)


@router.get("")
def list_graphs(session: SessionDep, page: PageDep) -> Paginated[GraphRead]:
    rows, total = repository.list_page(session, page.limit, page.offset)
    items = [GraphRead.model_validate(r) for r in rows]
    return Paginated[GraphRead](items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{graph_id}")
def get_graph(graph_id: IdPath, session: SessionDep) -> GraphDetail:
    """A graph with its full IR document."""
    return GraphDetail.model_validate(service.get(session, graph_id))


@router.get(
    "/{graph_id}/file",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def get_graph_file(graph_id: IdPath, request: Request, session: SessionDep) -> Response:
    """The uploaded model file, byte for byte."""
    graph = service.get(session, graph_id)
    data = request.app.state.graph_store.get(graph.file_sha256)
    if data is None:
        raise NotFound(f"file of graph {graph_id}")
    name = graph.filename or f"{graph.sha256}.{graph.format}"
    headers = {"Content-Disposition": f'attachment; filename="{_safe(name)}"'}
    return Response(data, media_type="application/octet-stream", headers=headers)


def _safe(name: str) -> str:
    return "".join(c for c in name if c.isascii() and (c.isalnum() or c in "._-")) or "model"
