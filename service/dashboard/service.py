"""Assembles what each dashboard page shows from repository rows and ``stats``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from service.dashboard import logged, repository, stats
from service.dashboard.schemas import (
    Calibration,
    DeviceAccuracy,
    DeviceRow,
    ErrorSummary,
    GraphBreakdown,
    GraphPrediction,
    JobCount,
    JobRow,
    JobsOverview,
    NodeRow,
    OpTotal,
    Overview,
    Pair,
    PredictorRow,
)
from service.errors import NotFound
from service.models import JOB_STATUSES, Device, Predictor

#: Predictor statuses that count as serving a device (a device they list is calibrated).
SERVING_STATUSES = frozenset({"ready", "active", "deployed", "calibrated"})
RECENT_JOBS = 50


def _calibration(device: Device, predictors: list[Predictor]) -> Calibration:
    names = set(logged.device_names(device.name, device.profile))
    covering = [p for p in predictors if names & set(p.devices or [])]
    state = "calibrated" if any(p.status in SERVING_STATUSES for p in covering) else "uncalibrated"
    return Calibration(state=state, predictors=[f"{p.name} {p.version} ({p.status})" for p in covering])


def _pairs(session: Session, device: Device) -> list[Pair]:
    measured = repository.measured_latencies(session, device.id)
    medians = stats.median_by_key(measured)
    counts: dict[int, int] = {}
    for graph_id, _ in measured:
        counts[graph_id] = counts.get(graph_id, 0) + 1
    names = logged.device_names(device.name, device.profile)
    predicted: dict[int, float] = {}
    for row in repository.prediction_logs(session, device_id=device.id):  # newest first
        value = logged.predicted_latency(row.result or {}, names)
        if row.graph_id in medians and row.graph_id not in predicted and value is not None:
            predicted[row.graph_id] = value
    labels = repository.graph_names(session, set(predicted))
    pairs = []
    for graph_id, pred in sorted(predicted.items()):
        error = stats.rel_error_pct(pred, medians[graph_id])
        if error is not None:
            pairs.append(Pair(graph_id=graph_id, graph=labels.get(graph_id) or f"graph {graph_id}",
                              measured_ms=medians[graph_id], predicted_ms=pred, error_pct=error,
                              measurements=counts[graph_id]))
    return pairs


def _device_row(session: Session, device: Device, measured: Mapping[int, tuple[int, int, Any]],
                predictors: list[Predictor]) -> tuple[DeviceRow, list[Pair]]:
    n, graphs, last = measured.get(device.id, (0, 0, None))
    pairs = _pairs(session, device)
    row = DeviceRow(
        id=device.id, name=device.name, hardware=device.hardware or {}, runtime=device.runtime,
        runtime_version=device.runtime_version, precision=device.precision, threads=device.threads,
        sensors=device.sensors or [], profile=device.profile or {}, measurements=n, graphs_measured=graphs,
        last_measured_at=last, calibration=_calibration(device, predictors),
        accuracy=ErrorSummary(**stats.error_summary([p.error_pct for p in pairs])),
    )
    return row, pairs


def overview(session: Session) -> Overview:
    measured = repository.measurement_stats(session)
    predictors = repository.predictors(session)
    rows = [_device_row(session, d, measured, predictors)[0] for d in repository.devices(session)]
    return Overview(totals=repository.counts(session), devices=rows)


def device_accuracy(session: Session, device_id: int) -> DeviceAccuracy:
    device = repository.get_device(session, device_id)
    if device is None:
        raise NotFound(f"device {device_id}")
    row, pairs = _device_row(session, device, repository.measurement_stats(session),
                             repository.predictors(session))
    return DeviceAccuracy(device=row, pairs=pairs, histogram=stats.histogram([p.error_pct for p in pairs]))


def _graph_predictions(session: Session, graph_id: int) -> list[tuple[GraphPrediction, dict[str, float] | None]]:
    """Latest logged prediction per device for a graph, with its per-node breakdown."""
    devices = {d.id: d for d in repository.devices(session)}
    seen: set[int | None] = set()
    out = []
    for row in repository.prediction_logs(session, graph_id=graph_id):  # newest first
        if row.device_id in seen:
            continue
        device = devices.get(row.device_id) if row.device_id is not None else None
        names = logged.device_names(device.name, device.profile) if device else []
        value = logged.predicted_latency(row.result or {}, names)
        breakdown = logged.latency_breakdown(row.result or {}, names)
        if value is None:
            continue
        seen.add(row.device_id)
        out.append((GraphPrediction(device_id=row.device_id, device=device.name if device else "(deleted)",
                                    predictor_id=row.predictor_id, latency_ms=value, created_at=row.created_at,
                                    has_breakdown=breakdown is not None), breakdown))
    return out


def _nodes(ir: Mapping[str, Any], breakdown: Mapping[str, float] | None) -> list[NodeRow]:
    rows = []
    for node in ir.get("nodes") or []:
        name = str(node.get("name", ""))
        rows.append(NodeRow(name=name, op=str(node.get("op", "?")), macs=node.get("macs"),
                            params=node.get("params"), predicted_ms=(breakdown or {}).get(name)))
    return rows


def graph_breakdown(session: Session, graph_id: int, device_id: int | None = None) -> GraphBreakdown:
    graph = repository.get_graph(session, graph_id)
    if graph is None:
        raise NotFound(f"graph {graph_id}")
    predictions = _graph_predictions(session, graph_id)
    chosen = next(((p, b) for p, b in predictions if device_id is None or p.device_id == device_id), None)
    if device_id is not None and chosen is None:
        raise NotFound(f"a logged prediction of graph {graph_id} on device {device_id}")
    nodes = _nodes(graph.ir or {}, chosen[1] if chosen else None)
    dumped = [n.model_dump() for n in nodes]
    return GraphBreakdown(
        id=graph.id, filename=graph.filename, format=graph.format, summary=graph.summary or {},
        prediction=chosen[0] if chosen else None, predictions=[p for p, _ in predictions], nodes=nodes,
        op_latency_ms=[OpTotal(**r) for r in stats.op_totals(dumped, "predicted_ms")],
        op_macs=[OpTotal(**r) for r in stats.op_totals(dumped, "macs")],
    )


def predictors(session: Session) -> list[PredictorRow]:
    return [PredictorRow.model_validate(p) for p in repository.predictors(session)]


def jobs(session: Session) -> JobsOverview:
    counts = repository.job_counts(session)
    statuses = dict.fromkeys(JOB_STATUSES, 0)
    for _, status, n in counts:
        statuses[status] = statuses.get(status, 0) + n
    return JobsOverview(
        statuses=statuses,
        by_kind=[JobCount(kind=k, status=s, count=n) for k, s, n in sorted(counts)],
        recent=[JobRow.model_validate(j) for j in repository.recent_jobs(session, RECENT_JOBS)],
    )
