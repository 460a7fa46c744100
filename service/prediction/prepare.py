"""Turn a request's graph (a stored graph id or an IR document) into features, plus
the warnings that belong to the graph itself (unknown ops, unresolved shapes) and to
its distance from a predictor's training data."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.orm import Session
from torch_geometric.data import Data

from predictor.artifacts import Predictor
from predictor.columns import from_columns as read_columns
from predictor.features import DocScan, describe_kind, featurize_scanned, node_kinds
from predictor.graph.ir import IRError
from service.errors import NotFound
from service.prediction import repository
from service.prediction.registry import FeatureCache

#: A graph-level feature beyond the training range by more than this factor is "far".
OOD_FACTOR = 2.0
#: features.py scales graph features as log1p(v) / 10 (feature schema v1).
_FEATURE_LOG_SCALE = 0.1
_OOD_LABELS = {
    "log_macs": "MACs",
    "log_flops": "FLOPs",
    "log_params": "parameters",
    "log_bytes_read": "bytes read",
    "log_bytes_written": "bytes written",
    "log_nodes": "nodes",
    "log_edges": "edges",
}


@dataclass
class Prepared:
    """A featurised graph with what the answer needs besides the features."""

    data: Data
    names: list[str]
    ops: list[str]
    warnings: list[dict[str, str]] = field(default_factory=list)
    graph_id: int | None = None


def from_ir(doc: dict[str, Any], max_nodes: int | None = 200_000) -> Prepared:
    """Validate an IR document and featurise it; malformed -> ``IRError`` (4xx)."""
    [item] = from_irs([doc], max_nodes)
    if isinstance(item, IRError):
        raise item
    return item


def from_columns(doc: dict[str, Any], max_nodes: int | None = 200_000) -> Prepared:
    """Check a columns document (:mod:`predictor.columns`) and featurise it; bad -> ``IRError`` (4xx)."""
    [item] = from_irs([doc], max_nodes, ["columns"])
    if isinstance(item, IRError):
        raise item
    return item


def from_irs(docs: list[dict[str, Any]], max_nodes: int | None,
             kinds: list[str] | None = None) -> list[Prepared | IRError]:
    """Many IR documents (or, where ``kinds`` says ``"columns"``, columns documents) featurised in
    one batch (no Graph objects built); a malformed one gives its ``IRError`` in its place."""
    items: list[Any] = list(docs)
    for i, kind in enumerate(kinds or ()):
        if kind == "columns":
            try:
                items[i] = read_columns(docs[i], max_nodes)
            except IRError as exc:
                items[i] = exc
    todo = [d for d in items if not isinstance(d, IRError)]
    done = iter(featurize_scanned(todo, max_nodes=max_nodes))
    return [d if isinstance(d, IRError) else _prepared(next(done)) for d in items]


def _prepared(item: tuple[Data, DocScan] | IRError) -> Prepared | IRError:
    return item if isinstance(item, IRError) else _prepare(*item)


def from_graph_ids(session: Session, ids: list[int], cache: FeatureCache) -> dict[int, Prepared | NotFound]:
    """Stored graphs by id: featurised once, then served from the cache by content hash
    (the IR document is read from the database only on a cache miss)."""
    keys = repository.graph_keys(session, ids)
    out: dict[int, Prepared | NotFound] = {}
    for graph_id in dict.fromkeys(ids):
        sha = keys.get(graph_id)
        if sha is None:
            out[graph_id] = NotFound(f"graph {graph_id}")
            continue
        cached = cache.get(sha)
        if cached is None:
            doc = repository.graph_ir(session, graph_id) or {}
            cached = from_ir(doc)
            cache.put(sha, cached)
        out[graph_id] = _for_id(cached, graph_id)
    return out


def from_graph_id(session: Session, graph_id: int, cache: FeatureCache) -> Prepared:
    found = from_graph_ids(session, [graph_id], cache)[graph_id]
    if isinstance(found, NotFound):
        raise found
    return found


def from_stored(sha256: str, graph_id: int, ir: dict[str, Any], cache: FeatureCache) -> Prepared:
    cached = cache.get(sha256)
    if cached is None:
        cached = from_ir(ir)
        cache.put(sha256, cached)
    return _for_id(cached, graph_id)


def _for_id(cached: Prepared, graph_id: int) -> Prepared:
    return Prepared(cached.data, cached.names, cached.ops, list(cached.warnings), graph_id)


def _prepare(data: Data, scan: DocScan) -> Prepared:
    """A featurised document with its warnings (from the same pass over its nodes)."""
    return Prepared(data, data.node_names, scan.ops, graph_warnings(scan.ops, scan.unresolved))


def graph_warnings(ops: list[str], unresolved: set[str]) -> list[dict[str, str]]:
    """Unknown operators and unresolved tensor shapes (named by ``unresolved``), counted and named."""
    out = []
    unknown = Counter(op.split(":", 1)[1] for op in ops if op.startswith("unknown:"))
    if unknown:
        kinds = ", ".join(f"{op} x{k}" for op, k in sorted(unknown.items()))
        out.append(
            {
                "code": "unknown_ops",
                "message": f"{sum(unknown.values())} node(s) of unknown op types ({kinds}); "
                "their cost is estimated from shapes only",
            }
        )
    if unresolved:
        out.append(
            {
                "code": "unresolved_shapes",
                "message": f"{len(unresolved)} tensor(s) have unresolved shapes; give input_shapes "
                "for dynamic inputs to get costs for every node",
            }
        )
    return out


def distance_warning(data: Data, predictor: Predictor) -> dict[str, str] | None:
    """Graph-level features outside the predictor's training range by more than
    :data:`OOD_FACTOR` (needs ``meta["graph_stats"]``; older checkpoints: no check)."""
    stats = predictor.meta.get("graph_stats")
    if not stats:
        return None
    x = data.graph_attr[0].tolist()
    margin = math.log(OOD_FACTOR) * _FEATURE_LOG_SCALE
    far = []
    for name, v, lo, hi in zip(stats["features"], x, stats["min"], stats["max"], strict=False):
        if v < lo - margin or v > hi + margin:
            far.append(
                f"{_OOD_LABELS.get(name, name)} {_raw(v):.3g} vs training range "
                f"[{_raw(lo):.3g}, {_raw(hi):.3g}]"
            )
    if not far:
        return None
    return {
        "code": "out_of_distribution",
        "message": f"the graph is far from the training data of {predictor.version}: "
        + "; ".join(far)
        + "; expect larger errors than the interval suggests",
    }


def novelty_warning(item: Prepared, predictor: Predictor) -> dict[str, str] | None:
    """Nodes whose kind (op, kernel, stride: :func:`predictor.features.node_kinds`) no training graph
    of ``predictor`` had, unknown ops aside (they have their own warning); needs
    ``meta["node_kinds"]`` (checkpoints without it: no check)."""
    if not predictor.meta.get("node_kinds"):
        return None  # no kinds recorded: nothing to compare with, no work in the batch path
    codes = node_kinds(item.data)
    unseen = predictor.unseen_kinds(item.data, codes)
    if unseen is None:
        return None
    ops = item.ops
    idx = [i for i in np.flatnonzero(unseen).tolist() if not ops[i].startswith("unknown:")]
    if not idx:
        return None
    kinds = Counter(describe_kind(int(codes[i]), ops[i]) for i in idx)
    shown = ", ".join(f"{k} x{c}" for k, c in kinds.most_common(5)) + (", ..." if len(kinds) > 5 else "")
    return {
        "code": "novel_nodes",
        "message": f"{len(idx)} of {len(ops)} node(s) are of kinds no training graph of {predictor.version} "
        f"had ({shown}); expect larger errors than the interval suggests",
    }


def _raw(feature: float) -> float:
    return float(np.expm1(feature / _FEATURE_LOG_SCALE))
