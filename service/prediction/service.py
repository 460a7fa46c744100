"""Predictions: resolve devices to predictors, run graphs through them in batches,
and assemble answers where a target without data is reported unavailable, never invented."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from predictor.artifacts import TARGET_UNITS, Predictor
from predictor.graph.ir import IRError, gc_paused
from service.errors import NotFound, ServiceError
from service.prediction import repository
from service.prediction.prepare import (
    Prepared,
    distance_warning,
    from_columns,
    from_graph_id,
    from_graph_ids,
    from_ir,
    from_irs,
    novelty_warning,
)
from service.prediction.registry import PredictorRegistry
from service.prediction.schemas import SOURCES, BatchItem, BatchRequest, PredictionRequest, sources_given

log = logging.getLogger(__name__)


@dataclass
class Target:
    """A resolved device: its name, its row id (None when only a checkpoint knows it), the model
    that serves it and the version reported for it."""

    name: str
    device_id: int | None
    predictor: Predictor
    version: str


def resolve_devices(session: Session, registry: PredictorRegistry, wanted: list[str] | str) -> list[Target]:
    """``"all"`` -> registered devices with a predictor; names -> 404 when neither registered nor
    known to a predictor, 409 when registered but without a predictor yet (the device's
    state, not a server fault: a client should calibrate the device, not retry)."""
    if wanted == "all":
        return _all_devices(session, registry)
    names = list(wanted)
    ids = repository.device_ids(session, names)
    served = registry.serving(session, names)
    unknown = [n for n in names if n not in ids and n not in served]
    if unknown:
        raise ServiceError(f"unknown device(s): {', '.join(unknown)}", 404, "unknown_device")
    missing = [n for n in names if n not in served]
    if missing:
        raise ServiceError(
            f"no predictor for device(s): {', '.join(missing)}; measure the device and "
            "train or calibrate a predictor for it",
            409,
            "no_predictor",
        )
    return [Target(n, ids.get(n), *served[n]) for n in names]


def _all_devices(session: Session, registry: PredictorRegistry) -> list[Target]:
    rows = repository.all_devices(session)
    served = registry.serving(session, sorted(rows))
    out = [Target(n, i, *served[n]) for n, i in sorted(rows.items()) if n in served]
    if not out:
        raise ServiceError("no registered device has a predictor yet", 409, "no_predictor")
    return out


def run(prepared: Sequence[Prepared], devices: list[Target], targets: Sequence[str]) -> list[dict[str, Any]]:
    """``device -> target -> {available, value, unit, interval_90, reason}`` per graph, one
    batched pass per predictor."""
    out: list[dict[str, Any]] = [{} for _ in prepared]
    for predictor, group in _by_predictor(devices):
        known = [t for t in targets if t in predictor.targets]
        names = [d.name for d in group]
        raw = predictor.predict([p.data for p in prepared], names, known) if known else [None] * len(prepared)
        for i, res in enumerate(raw):
            for name in names:
                out[i][name] = {t: _target(res, predictor, name, t) for t in targets}
    return out


def _by_predictor(devices: list[Target]) -> list[tuple[Predictor, list[Target]]]:
    groups: dict[int, tuple[Predictor, list[Target]]] = {}
    for d in devices:
        groups.setdefault(id(d.predictor), (d.predictor, []))[1].append(d)
    return list(groups.values())


def _target(res: dict[str, Any] | None, predictor: Predictor, device: str, target: str) -> dict[str, Any]:
    unit = TARGET_UNITS[target]
    if res is None or target not in predictor.targets:
        return {
            "available": False,
            "value": None,
            "unit": unit,
            "interval_90": None,
            "reason": f"predictor {predictor.version} does not predict {target}",
        }
    p = res["predictions"][device][target]
    if not p["available"]:
        return {
            "available": False,
            "value": None,
            "unit": unit,
            "interval_90": None,
            "reason": f"no {target} measurements of device {device} in the training data",
        }
    return {
        "available": True,
        "value": p["value"],
        "unit": unit,
        "interval_90": p["interval90"],
        "reason": None,
    }


#: a 90% interval whose top is more than this times its bottom says the ensemble's members disagree
#: on the graph for that device. Session 24, the shipped cpu-litert.pt on the TFLite zoo of five CPUs:
#: median spans 1.2-2.5x per CPU; the 15 of 290 latencies wider than 10x (int8 ResNet-50, DenseNet,
#: MobileNetV3 on the family-6 model-167 CPU, ...) had a MAPE of 43.5%, the other 275 7.2%
#: (session 25's cpu-litert.pt, kernel-kind scales: 12 of 290 that wide, 8.8% against 6.4% for the rest;
#: session 26's: 2 of 290, 7.6% against 5.7%)
WIDE_INTERVAL = 10.0


def interval_warning(preds: dict[str, dict[str, Any]]) -> dict[str, str] | None:
    """The devices and targets whose 90% interval spans more than :data:`WIDE_INTERVAL` x."""
    wide = []
    for device, targets in preds.items():
        for target, p in targets.items():
            iv = p.get("interval_90") if p.get("available") else None
            if iv and iv[0] > 0 and iv[1] / iv[0] > WIDE_INTERVAL:
                wide.append(f"{device} {target} {iv[0]:.3g}-{iv[1]:.3g} {p['unit']} ({iv[1] / iv[0]:.0f}x)")
    if not wide:
        return None
    return {
        "code": "wide_interval",
        "message": f"the predictor's ensemble disagrees on this graph: 90% interval of {'; '.join(wide)}; "
        "the value may be far off: measure the graph on the device (the agent) or calibrate the device",
    }


def warnings_for(item: Prepared, devices: list[Target], preds: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    out = list(item.warnings)
    for predictor, _ in _by_predictor(devices):
        for w in (distance_warning(item.data, predictor), novelty_warning(item, predictor)):
            if w is not None:
                out.append(w)
    wide = interval_warning(preds)
    if wide is not None:
        out.append(wide)
    return out


def breakdown(item: Prepared, devices: list[Target], answer: dict[str, Any]) -> dict[str, Any]:
    """Per-layer contributions, scaled so they sum to each available prediction."""
    out: dict[str, Any] = {}
    for predictor, group in _by_predictor(devices):
        contrib = predictor.node_contributions(item.data, predictor.device_indices([d.name for d in group]))
        for k, d in enumerate(group):
            out[d.name] = {}
            for t, p in answer[d.name].items():
                if p["available"]:
                    col = contrib[:, k, predictor.targets.index(t)]
                    out[d.name][t] = _layers(item, col, p["value"])
    return out


def _layers(item: Prepared, col: np.ndarray, value: float) -> list[dict[str, Any]]:
    scale = value / max(float(col.sum()), 1e-12)
    return [
        {
            "index": i,
            "node": item.names[i] or f"node_{i}",
            "op": item.ops[i],
            "contribution": float(c * scale),
        }
        for i, c in enumerate(col)
    ]


def versions(devices: list[Target]) -> tuple[dict[str, str], str]:
    per = {d.name: d.version for d in devices}
    return per, ",".join(dict.fromkeys(per.values()))


# -- use cases ---------------------------------------------------------------------------
def predict(session: Session, registry: PredictorRegistry, body: PredictionRequest, max_nodes: int) -> dict:
    """One graph (stored or an IR document) on one or many devices."""
    started = time.perf_counter()
    devices = resolve_devices(session, registry, body.devices)
    if body.graph_id is not None:
        item = from_graph_id(session, body.graph_id, registry.cache)
    elif body.columns is not None:
        item = from_columns(body.columns, max_nodes)
    else:
        assert body.ir is not None  # the schema demands exactly one
        item = from_ir(body.ir, max_nodes)
    return answer(
        session,
        item,
        devices,
        body.targets,
        body.breakdown,
        started,
        {"source": "graph_id" if body.graph_id else "columns" if body.columns is not None else "ir"},
    )


def answer(
    session: Session,
    item: Prepared,
    devices: list[Target],
    targets: list[str],
    with_breakdown: bool,
    started: float,
    request: dict[str, Any],
) -> dict[str, Any]:
    """Run one prepared graph, log it, and shape the response."""
    preds = run([item], devices, targets)[0]
    per, joined = versions(devices)
    out = {
        "graph_id": item.graph_id,
        "predictions": preds,
        "predictor_versions": per,
        "predictor_version": joined,
        "warnings": warnings_for(item, devices, preds),
        "breakdown": breakdown(item, devices, preds) if with_breakdown else None,
    }
    duration = (time.perf_counter() - started) * 1000
    compact = {d: {t: p["value"] for t, p in v.items()} for d, v in preds.items()}
    repository.log_prediction(
        session,
        graph_id=item.graph_id,
        device_id=devices[0].device_id,
        duration_ms=duration,
        request={
            **request,
            "devices": [d.name for d in devices],
            "targets": targets,
            "breakdown": with_breakdown,
            "nodes": item.data.num_nodes,
        },
        result={"predictions": compact, "predictor_version": joined},
    )
    log.info(
        "prediction.served",
        extra={"graph_id": item.graph_id, "devices": len(devices), "duration_ms": round(duration, 2)},
    )
    return out


def predict_batch(
    session: Session, registry: PredictorRegistry, body: BatchRequest, max_nodes: int, max_batch: int
) -> dict[str, Any]:
    """Many graphs in one call: every item is prepared on its own (errors reported per item),
    the good ones go through the GNN together."""
    started = time.perf_counter()
    if len(body.items) > max_batch:
        raise ServiceError(
            f"a batch holds at most {max_batch} items, got {len(body.items)}; split it",
            413,
            "batch_too_large",
        )
    devices = resolve_devices(session, registry, body.devices)
    stored = from_graph_ids(
        session, [it.graph_id for it in body.items if it.graph_id is not None], registry.cache
    )
    results: list[dict[str, Any]] = []
    good: list[tuple[int, Prepared]] = []
    with gc_paused():  # many graphs' objects at once: see predictor.graph.ir.gc_paused
        docs = {i: it.ir if it.ir is not None else it.columns for i, it in enumerate(body.items)
                if sources_given(it) == 1 and it.graph_id is None}
        kinds = ["columns" if body.items[i].columns is not None else "ir" for i in docs]
        irs = dict(zip(docs, from_irs(list(docs.values()), max_nodes, kinds), strict=True))  # one featurising pass
        for i, it in enumerate(body.items):
            try:
                good.append((i, _batch_item(stored, it, irs.get(i))))
            except (IRError, ServiceError) as exc:
                results.append(_item_error(i, it.graph_id, exc))
        preds = run([p for _, p in good], devices, body.targets) if good else []
    for (i, item), pred in zip(good, preds, strict=True):
        results.append(
            {
                "index": i,
                "graph_id": item.graph_id,
                "predictions": pred,
                "warnings": warnings_for(item, devices, pred),
                "error": None,
            }
        )
    results.sort(key=lambda r: r["index"])
    per, joined = versions(devices)
    duration = (time.perf_counter() - started) * 1000
    repository.log_prediction(
        session,
        graph_id=None,
        device_id=devices[0].device_id,
        duration_ms=duration,
        request={
            "source": "batch",
            "items": len(body.items),
            "devices": [d.name for d in devices],
            "targets": body.targets,
        },
        result={"succeeded": len(good), "failed": len(body.items) - len(good), "predictor_version": joined},
    )
    log.info(
        "prediction.batch",
        extra={
            "items": len(body.items),
            "failed": len(body.items) - len(good),
            "duration_ms": round(duration, 2),
        },
    )
    return {
        "predictor_version": joined,
        "predictor_versions": per,
        "succeeded": len(good),
        "failed": len(body.items) - len(good),
        "results": results,
    }


def _batch_item(
    stored: dict[int, Prepared | NotFound], item: BatchItem, from_ir: Prepared | IRError | None
) -> Prepared:
    """A batch item's prepared graph: stored (by id) or its IR or columns document's (featurised
    with the others)."""
    if sources_given(item) != 1:
        raise ServiceError(f"give exactly one of {SOURCES}", 422, "validation_error")
    if item.graph_id is not None:
        found = stored[item.graph_id]
        if isinstance(found, NotFound):
            raise found
        return found
    assert from_ir is not None
    if isinstance(from_ir, IRError):
        raise from_ir
    return from_ir


def _item_error(index: int, graph_id: int | None, exc: IRError | ServiceError) -> dict[str, Any]:
    code = exc.code
    detail = exc.message
    return {
        "index": index,
        "graph_id": graph_id,
        "predictions": None,
        "warnings": [],
        "error": {"error": code, "detail": detail},
    }
