"""Drift: measurements that fall outside the prediction's 90% interval.

After each ingested batch, a ``device.drift`` job (one queued per device at most)
predicts the device's new measurements with the model that serves the device (the
active predictor if it knows the device, else the device's calibrated adaptation),
and records in ``device.profile["drift"]``: ``checked``, ``outside``,
``since_retrain``, ``last_measurement_id`` and the most recent out-of-interval
``examples``. When out-of-interval measurements over all devices since the last
drift-triggered retraining reach ``drift_retrain_threshold``, a train job is queued.
The same job re-queues the device's calibration fit while its calibration is under way.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from predictor.artifacts import CheckpointError, Predictor, load_checkpoint
from predictor.features import featurize
from predictor.graph.ir import Graph as IRGraph
from service import jobqueue
from service.calibration import repository as cal_repo
from service.config import CoreSettings
from service.models import Device, Graph, Job, Measurement
from service.training import service as training
from service.training.registry import active_row, calibrated_path, resolve

log = logging.getLogger(__name__)

KIND = "device.drift"
MAX_EXAMPLES = 20


def after_ingest(session: Session, device_id: int, inserted: int) -> None:
    """Called by measurement ingestion: queue the device's drift check (deduplicated)."""
    if inserted > 0 and cal_repo.pending_job(session, KIND, device_id) is None:
        jobqueue.enqueue(session, KIND, {}, device_id=device_id, max_attempts=2)


def check_job(ctx: Any, job: Job) -> dict[str, Any]:
    from service.calibration import service as calibration  # calibration imports the ingestion path

    result = check(ctx.session, ctx.settings, int(job.device_id or 0))
    calibration.request_fit(ctx.session, int(job.device_id or 0))
    return result


def _model_for(session: Session, settings: CoreSettings, device: Device) -> tuple[Predictor, str] | None:
    row = active_row(session)
    if row is None:
        return None
    try:
        if device.name in row.devices:
            return load_checkpoint(resolve(settings.data_dir, row.artifact_path)), device.name
        path = calibrated_path(session, settings.data_dir, device.name, row.version)
        return (load_checkpoint(path), device.name) if path is not None else None
    except CheckpointError as exc:
        log.error("drift.model_unreadable", extra={"device_id": device.id, "error": str(exc)})
    return None


def check(session: Session, settings: CoreSettings, device_id: int) -> dict[str, Any]:
    device = cal_repo.lock_device(session, device_id)
    if device is None:
        return {"device_id": device_id, "checked": 0}
    drift = dict((device.profile or {}).get("drift") or {})
    model = _model_for(session, settings, device)
    if model is None:
        return {"device_id": device_id, "checked": 0, "reason": "no model serves this device yet"}
    rows = session.execute(
        select(Measurement.id, Measurement.latency_ms, Graph.id, Graph.ir)
        .join(Graph, Graph.id == Measurement.graph_id)
        .where(Measurement.device_id == device_id, Measurement.id > int(drift.get("last_measurement_id", 0)))
        .order_by(Measurement.id)
    ).all()
    if not rows:
        return {"device_id": device_id, "checked": 0}
    outside = _outside(model, rows)
    _record(device, drift, rows, outside)
    session.flush()
    _maybe_retrain(session, settings)
    return {"device_id": device_id, "checked": len(rows), "outside": len(outside)}


def _outside(model: tuple[Predictor, str], rows) -> list[dict[str, Any]]:
    pred, dev = model
    data = [featurize(IRGraph.from_dict(ir)) for _, _, _, ir in rows]
    mu, sigma = pred.predict_log(data, pred.device_indices([dev]))
    lo, hi = pred.interval(mu, sigma, pred.device_indices([dev]))
    t = pred.targets.index("latency")
    out = []
    for i, (mid, lat, gid, _) in enumerate(rows):
        low, high = float(lo[i, 0, t]), float(hi[i, 0, t])
        if not low <= lat <= high:
            out.append(
                {
                    "measurement_id": mid,
                    "graph_id": gid,
                    "measured_ms": lat,
                    "predicted_ms": float(np.exp(mu[i, 0, t])),
                    "interval90_ms": [low, high],
                }
            )
    return out


def _record(device: Device, drift: dict[str, Any], rows, outside: list[dict[str, Any]]) -> None:
    drift["checked"] = int(drift.get("checked", 0)) + len(rows)
    drift["outside"] = int(drift.get("outside", 0)) + len(outside)
    drift["since_retrain"] = int(drift.get("since_retrain", 0)) + len(outside)
    drift["last_measurement_id"] = int(rows[-1][0])
    drift["examples"] = [*drift.get("examples", []), *outside][-MAX_EXAMPLES:]
    device.profile = {**(device.profile or {}), "drift": drift}
    if outside:
        log.warning("drift.detected", extra={"device_id": device.id, "outside": len(outside)})


def _maybe_retrain(session: Session, settings: CoreSettings) -> None:
    devices = list(session.scalars(select(Device)))
    total = sum(int(((d.profile or {}).get("drift") or {}).get("since_retrain", 0)) for d in devices)
    if total < settings.drift_retrain_threshold:
        return
    job, new = training.request_training(session, {}, reason="drift")
    for d in devices:
        drift = (d.profile or {}).get("drift")
        if drift:
            d.profile = {**d.profile, "drift": {**drift, "since_retrain": 0}}
    session.flush()
    log.info("drift.retrain_queued", extra={"job_id": job.id, "new": new, "outside": total})
