"""Background work on graphs: re-parse a stored model with the current front end
(after the IR or cost formulas change, so stored IR documents match what training
and serving compute today)."""

from __future__ import annotations

import logging
from typing import Any

from predictor.frontends import load_model
from service.errors import NotFound
from service.models import Graph, Job
from service.worker import JobContext

log = logging.getLogger(__name__)


def reparse(ctx: JobContext, job: Job) -> dict[str, Any]:
    """Job kind ``graph.reparse``: refresh ``summary`` and ``ir`` of ``job.graph_id``."""
    graph = ctx.session.get(Graph, job.graph_id) if job.graph_id is not None else None
    if graph is None:
        raise NotFound(f"graph {job.graph_id}")
    data = ctx.graph_store.get(graph.file_sha256)
    if data is None:
        raise NotFound(f"file of graph {graph.id}")
    ir = load_model(
        data, filename=graph.filename, input_shapes=graph.input_shapes, limits=ctx.settings.limits
    )
    before = graph.summary.get("macs")
    graph.summary, graph.ir = ir.summary(), ir.to_dict()
    ctx.session.flush()
    log.info("graph.reparsed", extra={"graph_id": graph.id})
    return {"graph_id": graph.id, "macs_before": before, "macs": graph.summary["macs"]}
