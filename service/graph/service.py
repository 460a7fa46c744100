"""Graph upload: parse within limits, store the file by content hash, deduplicate."""

from __future__ import annotations

import json
import logging
from concurrent.futures import Executor
from dataclasses import dataclass

from sqlalchemy.orm import Session

from predictor.graph.ir import IRError
from predictor.graph.limits import Limits
from service.errors import NotFound
from service.graph import repository
from service.graph.parsing import parse_model
from service.graph.storage import GraphStore, sha256_hex
from service.models import Graph

log = logging.getLogger(__name__)


@dataclass
class Upload:
    data: bytes
    filename: str
    input_shapes: dict[str, list[int]] | None


def upload(
    session: Session, store: GraphStore, executor: Executor, limits: Limits, item: Upload
) -> tuple[Graph, bool]:
    """Parse and store a model. Returns the graph row and whether it is new.

    The same bytes uploaded again return the existing row without re-parsing."""
    if not item.data:
        raise IRError("empty", "the uploaded file is empty")
    limits.check_file_size(len(item.data))
    file_sha = sha256_hex(item.data)
    sha = graph_key(file_sha, item.input_shapes)
    existing = repository.get_by_sha256(session, sha)
    if existing is not None:
        return existing, False
    ir = parse_model(executor, item.data, item.filename, item.input_shapes, limits)
    store.put(file_sha, item.data)
    row = _row(sha, file_sha, item, ir.format, ir.summary(), ir.to_dict())
    created = repository.insert_if_new(session, row)
    graph = repository.get_by_sha256(session, sha)
    assert graph is not None  # inserted above or by a concurrent upload
    log.info("graph.uploaded", extra={"graph_id": graph.id, "format": graph.format, "new": created})
    return graph, created


def graph_key(file_sha: str, input_shapes: dict[str, list[int]] | None) -> str:
    """The graph's identity: the file hash, or file hash + canonical input shapes."""
    if not input_shapes:
        return file_sha
    canonical = json.dumps(input_shapes, sort_keys=True, separators=(",", ":"))
    return sha256_hex(f"{file_sha}\n{canonical}".encode())


def _row(sha: str, file_sha: str, item: Upload, fmt: str, summary: dict, ir: dict) -> dict:
    return {
        "sha256": sha,
        "file_sha256": file_sha,
        "format": fmt,
        "filename": item.filename[:255],
        "size_bytes": len(item.data),
        "input_shapes": item.input_shapes,
        "summary": summary,
        "ir": ir,
    }


def get(session: Session, graph_id: int) -> Graph:
    graph = repository.get(session, graph_id)
    if graph is None:
        raise NotFound(f"graph {graph_id}")
    return graph
