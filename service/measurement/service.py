"""Measurement ingestion: the one path for agent batches and imported public data.

Items carry a client id unique per device; a unique index plus insert-on-conflict-
do-nothing makes a resent batch harmless. A batch is all-or-nothing: if any item
names a graph that does not exist, nothing is stored."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from service import drift
from service.errors import ServiceError
from service.graph import repository as graphs
from service.measurement import repository
from service.measurement.schemas import IngestResult, MeasurementIn

log = logging.getLogger(__name__)


def ingest(session: Session, device_id: int, items: Sequence[MeasurementIn]) -> IngestResult:
    graph_ids = _resolve_graphs(session, items)
    rows: dict[str, dict[str, Any]] = {}
    for item in items:
        rows.setdefault(item.client_id, _row(device_id, graph_ids[_ref(item)], item))
    inserted = repository.insert_new(session, list(rows.values()))
    drift.after_ingest(session, device_id, inserted)  # queue the drift check / calibration update
    result = IngestResult(inserted=inserted, duplicates=len(items) - inserted)
    log.info("measurement.ingested", extra={"device_id": device_id, **result.model_dump()})
    return result


def _ref(item: MeasurementIn) -> int | str:
    return item.graph_id if item.graph_id is not None else str(item.graph_sha256)


def _resolve_graphs(session: Session, items: Sequence[MeasurementIn]) -> dict[int | str, int]:
    """Map every item's graph reference (id or hash) to a graph id, or fail with 422."""
    ids = {i.graph_id for i in items if i.graph_id is not None}
    hashes = {str(i.graph_sha256) for i in items if i.graph_sha256 is not None}
    found: dict[int | str, int] = {i: i for i in graphs.existing_ids(session, ids)}
    found.update(graphs.ids_by_sha256(session, hashes))
    missing = sorted({i.client_id for i in items if _ref(i) not in found})
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise ServiceError(
            f"{len(missing)} item(s) reference a graph that does not exist (upload it first): {shown}",
            422,
            "unknown_graph",
        )
    return found


def _row(device_id: int, graph_id: int, item: MeasurementIn) -> dict[str, Any]:
    data = item.model_dump(exclude={"graph_id", "graph_sha256"})
    if data["latency_ms"] is None:
        data["latency_ms"] = data["median_ms"]
    return {**data, "device_id": device_id, "graph_id": graph_id}
