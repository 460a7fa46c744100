"""Training data from the database: measurements joined with their graphs' IR.

Several measurements of one graph on one device are reduced to their median. The
held-out part is chosen by the graph's content hash, so it is the same for every
training run: a version never trains on the graphs it (or any other version) is
judged on, and the current and the new version are compared on the same rows."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from statistics import median

from sqlalchemy import select
from sqlalchemy.orm import Session

from predictor.graph.ir import Graph as IRGraph
from predictor.graph.ir import IRError
from predictor.train import Record
from service.models import Device, Graph, Measurement

log = logging.getLogger(__name__)

#: predictor target -> measurement column
TARGET_COLUMNS = {
    "latency": Measurement.latency_ms,
    "energy": Measurement.energy_mj,
    "memory": Measurement.peak_memory_mb,
}


def is_holdout(graph_key: str, fraction: float) -> bool:
    """Whether a graph (by its SHA-256 key) belongs to the fixed held-out part."""
    return int(graph_key[:8], 16) % 10_000 < fraction * 10_000


def load_records(session: Session, device_ids: list[int] | None = None) -> list[Record]:
    """One :class:`Record` per (graph, device) with the median of each target."""
    query = (
        select(Graph.sha256, Device.name, *TARGET_COLUMNS.values())
        .join(Graph, Graph.id == Measurement.graph_id)
        .join(Device, Device.id == Measurement.device_id)
    )
    if device_ids is not None:
        query = query.where(Measurement.device_id.in_(device_ids))
    values: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for sha, device, *vals in session.execute(query):
        for target, v in zip(TARGET_COLUMNS, vals, strict=True):
            if v is not None and math.isfinite(v) and v > 0:
                values[(sha, device)][target].append(float(v))
    irs = _load_irs(session, {sha for sha, _ in values})
    records = [
        Record(key=sha, graph=irs[sha], device=dev, targets={t: median(v) for t, v in tv.items()})
        for (sha, dev), tv in values.items()
        if sha in irs
    ]
    log.info("training.records_loaded", extra={"records": len(records), "graphs": len(irs)})
    return records


def _load_irs(session: Session, hashes: set[str]) -> dict[str, IRGraph]:
    out: dict[str, IRGraph] = {}
    rows = session.execute(select(Graph.sha256, Graph.ir).where(Graph.sha256.in_(hashes))) if hashes else []
    for sha, doc in rows:
        try:
            out[sha] = IRGraph.from_dict(doc)
        except (IRError, KeyError, TypeError, ValueError) as exc:  # kept out of training, and said so
            log.warning("training.bad_ir", extra={"graph": sha, "error": str(exc)})
    return out


def split_records(records: list[Record], fraction: float) -> tuple[list[Record], list[Record]]:
    train = [r for r in records if not is_holdout(r.key, fraction)]
    held = [r for r in records if is_holdout(r.key, fraction)]
    return train, held
