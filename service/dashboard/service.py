"""Assembles what each dashboard page shows from repository rows and ``stats``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from service.dashboard import logged, repository, stats
from service.dashboard.schemas import (
    Calibration,
    DeviceAccuracy,
    DeviceRef,
    DeviceRow,
    ErrorSummary,
    GraphPrediction,
    GraphView,
    JobCount,
    JobRow,
    JobsOverview,
    NodeRow,
    OpTotal,
    Overview,
    Pair,
)
from service.errors import NotFound
from service.models import JOB_STATUSES, Device, Predictor

#: Predictor statuses that count as serving a device (a device they list is calibrated).
SERVING_STATUSES = frozenset({"active"})
RECENT_JOBS = 50
GRAPH_LOG_ROWS = 2000


def _calibration(device: Device, predictors: list[Predictor]) -> Calibration:
    """The device profile's own ``calibration`` entry when the calibration area wrote one;
    otherwise 'calibrated' when an active predictor version lists the device."""
    names = set(logged.device_names(device.name, device.profile))
    covering = [p for p in predictors if names & set(p.devices or [])]
    detail = (device.profile or {}).get("calibration")
    detail = detail if isinstance(detail, dict) else {}
    state = detail.get("state") or detail.get("status")
    if not isinstance(state, str) or not state:
        state = "calibrated" if any(p.status in SERVING_STATUSES for p in covering) else "uncalibrated"
    return Calibration(
        state=state, predictors=[f"{p.name} {p.version} ({p.status})" for p in covering], detail=detail
    )


def _pairs(session: Session, device: Device) -> list[Pair]:
    measured = repository.measured_latencies(session, device.id)
    medians = stats.median_by_key(measured)
    counts: dict[int, int] = {}
    for graph_id, _ in measured:
        counts[graph_id] = counts.get(graph_id, 0) + 1
    names = logged.device_names(device.name, device.profile)
    predicted: dict[int, float] = {}
    for row in repository.prediction_logs(session, device_id=device.id):  # newest first
        value = logged.predicted_latency(row.result or {}, names, only=row.device_id == device.id)
        if row.graph_id in medians and row.graph_id not in predicted and value is not None:
            predicted[row.graph_id] = value
    labels = repository.graph_names(session, set(predicted))
    pairs = []
    for graph_id, pred in sorted(predicted.items()):
        error = stats.rel_error_pct(pred, medians[graph_id])
        if error is not None:
            pairs.append(
                Pair(
                    graph_id=graph_id,
                    graph=labels.get(graph_id) or f"graph {graph_id}",
                    measured_ms=medians[graph_id],
                    predicted_ms=pred,
                    error_pct=error,
                    measurements=counts[graph_id],
                )
            )
    return pairs


def _device_row(
    session: Session,
    device: Device,
    measured: Mapping[int, tuple[int, int, Any]],
    predictors: list[Predictor],
) -> tuple[DeviceRow, list[Pair]]:
    n, graphs, last = measured.get(device.id, (0, 0, None))
    pairs = _pairs(session, device)
    row = DeviceRow(
        id=device.id,
        name=device.name,
        hardware=device.hardware or {},
        runtime=device.runtime,
        runtime_version=device.runtime_version,
        precision=device.precision,
        threads=device.threads,
        sensors=device.sensors or [],
        profile=device.profile or {},
        kind=device.kind,
        description=device.description,
        measurements=n,
        graphs_measured=graphs,
        last_measured_at=last,
        calibration=_calibration(device, predictors),
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
    row, pairs = _device_row(
        session, device, repository.measurement_stats(session), repository.predictors(session)
    )
    return DeviceAccuracy(device=row, pairs=pairs, histogram=stats.histogram([p.error_pct for p in pairs]))


def _graph_predictions(session: Session, graph_id: int, devices: list[Device]) -> list[GraphPrediction]:
    """Latest logged latency prediction of a graph per registered device."""
    pending = {d.id: d for d in devices}
    out = []
    for row in repository.prediction_logs(session, graph_id=graph_id, limit=GRAPH_LOG_ROWS):  # newest first
        for device in list(pending.values()):
            names = logged.device_names(device.name, device.profile)
            value = logged.predicted_latency(row.result or {}, names, only=row.device_id == device.id)
            if value is None:
                continue
            del pending[device.id]
            out.append(
                GraphPrediction(
                    device_id=device.id,
                    device=device.name,
                    predictor_id=row.predictor_id,
                    latency_ms=value,
                    created_at=row.created_at,
                )
            )
        if not pending:
            break
    return sorted(out, key=lambda p: p.device)


def _nodes(ir: Mapping[str, Any]) -> list[NodeRow]:
    return [
        NodeRow(
            name=str(n.get("name", "")), op=str(n.get("op", "?")), macs=n.get("macs"), params=n.get("params")
        )
        for n in ir.get("nodes") or []
    ]


def graph_view(session: Session, graph_id: int, has_predictor: Callable[[str], bool]) -> GraphView:
    """A graph's summary, its nodes with their costs, MACs per op type, and the latest
    logged prediction per device (the per-layer breakdown comes from the prediction API)."""
    graph = repository.get_graph(session, graph_id)
    if graph is None:
        raise NotFound(f"graph {graph_id}")
    devices = repository.devices(session)
    nodes = _nodes(graph.ir or {})
    return GraphView(
        id=graph.id,
        filename=graph.filename,
        format=graph.format,
        summary=graph.summary or {},
        devices=[DeviceRef(id=d.id, name=d.name, has_predictor=has_predictor(d.name)) for d in devices],
        predictions=_graph_predictions(session, graph_id, devices),
        nodes=nodes,
        op_macs=[OpTotal(**r) for r in stats.op_totals([n.model_dump() for n in nodes], "macs")],
    )


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
