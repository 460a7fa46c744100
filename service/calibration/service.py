"""New-device calibration: request (on registration or by an admin), select K
architectures and queue them for the device's agent, adapt the active predictor to
the device as measurements arrive, and keep the state in ``device.profile["calibration"]``:

``{"state": "selecting"|"measuring"|"calibrated"|"waiting_for_predictor", "k", "graph_ids",
"selection": [{graph_id, arch, space, uncertainty}], "measured", "artifact", "base_version",
"history": [{at, measured, mape, spearman, n, folds, method, judged_on, [judged_mape, judged_n],
base_version}]}``
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from predictor.artifacts import CheckpointError, load_checkpoint, save_checkpoint
from predictor.features import featurize
from predictor.graph.ir import Graph as IRGraph
from service import jobqueue
from service.calibration import adaptation, repository, selection
from service.config import CoreSettings
from service.db import utcnow
from service.device import service as devices
from service.errors import NotFound, ServiceError
from service.graph import service as graph_service
from service.graph.storage import GraphStore
from service.jobs import service as measurement_jobs
from service.jobs.schemas import JobsCreate
from service.models import Device, Job
from service.training.evaluation import accuracy
from service.training.registry import active_row, resolve

log = logging.getLogger(__name__)

SELECT_KIND, FIT_KIND = "calibration.select", "calibration.fit"
HEAD_MIN_MEASUREMENTS = 10
REAL_JUDGE_MIN = 5
FORMAT_OF_RUNTIME = {"onnxruntime": "onnx", "litert": "tflite", "tflite": "tflite"}


def _set_state(device: Device, **changes: Any) -> dict[str, Any]:
    state = {**(device.profile or {}).get("calibration", {}), **changes}
    device.profile = {**(device.profile or {}), "calibration": state}
    return state


def request(session: Session, device_id: int, k: int, pool: int | None = None) -> Job:
    """Queue the selection of ``k`` architectures for a device (a no-op while one is queued)."""
    device = devices.get(session, device_id)
    if not 1 <= k <= 50:
        raise ServiceError("k must be between 1 and 50", 422, "validation_error")
    payload = {"k": k, **({"pool": pool} if pool else {})}
    pending = repository.pending_job(session, SELECT_KIND, device_id)
    if pending is not None and pending.status != "queued":
        raise ServiceError(
            f"a selection for device {device_id} is running; retry when it is done", 409, "conflict"
        )
    _set_state(device, state="selecting", k=k, requested_at=utcnow().isoformat(), history=[])
    if pending is not None:  # a queued selection not started yet: the new request replaces its parameters
        pending.payload = payload
        session.flush()
        return pending
    return jobqueue.enqueue(session, SELECT_KIND, payload, device_id=device_id, max_attempts=2)


def state(session: Session, device_id: int) -> dict[str, Any]:
    device = devices.get(session, device_id)
    cal = dict((device.profile or {}).get("calibration") or {})
    if not cal:
        raise NotFound(f"calibration of device {device_id} (none requested)")
    cal["measured"] = repository.measured_graphs(session, device_id)
    return cal


def run_select(session: Session, settings: CoreSettings, device_id: int, payload: dict[str, Any]) -> dict:
    """Job body: pick K architectures, store them as graphs, queue measurement jobs."""
    device = devices.get(session, device_id)
    k = int(payload.get("k", settings.calibration_k))
    fmt = FORMAT_OF_RUNTIME.get(device.runtime, "onnx")
    active = _active_predictor(session, settings)
    base = active[1] if active else None
    cands = _pool(int(payload.get("pool", 4 * k)), selection.base_spaces(base),
                  real=settings.calibration_real_networks, max_mparams=real_network_mparams(settings.max_upload_bytes),
                  fmt=fmt)
    picks = selection.select(cands, k, base)
    graph_ids = [_store_graph(session, settings, c, fmt) for c, _ in picks]
    measurement_jobs.queue(session, device_id, JobsCreate(graph_ids=graph_ids, lease_seconds=600.0))
    device = repository.lock_device(session, device_id)
    assert device is not None
    info = [
        {"graph_id": g, "arch": c.key, "space": c.space, "uncertainty": round(u, 4)}
        for g, (c, u) in zip(graph_ids, picks, strict=True)
    ]
    _set_state(device, state="measuring", k=k, graph_ids=graph_ids, selection=info, format=fmt)
    session.flush()
    return {"device_id": device_id, "graph_ids": graph_ids, "pool": len(cands)}


def real_network_mparams(max_upload_bytes: int) -> float:
    """The largest real network (millions of fp32 weights) whose file the graph store accepts."""
    return 0.95 * max_upload_bytes / 4 / 1e6


def _pool(size: int, spaces: list[str], real: bool = False,
          max_mparams: float | None = None, fmt: str = "onnx") -> list[selection.Candidate]:
    """``size`` corpus candidates of ``spaces`` (topped up with sampled ones), plus with ``real`` the
    real networks of the ``fmt`` zoo of at most ``max_mparams`` million weights."""
    names = list(spaces)
    cands = selection.corpus_candidates(size, names)
    if len(cands) < size:
        cands += selection.sampled_candidates(size - len(cands), names)
    return cands + (selection.zoo_candidates(max_mparams=max_mparams, fmt=fmt) if real else [])


def _store_graph(session: Session, settings: CoreSettings, cand: selection.Candidate, fmt: str) -> int:
    from datasets.measure import build_model

    data = build_model(cand.spec, fmt, "fp32")
    item = graph_service.Upload(data=data, filename=f"{cand.key}.{fmt}", input_shapes=None)
    with ThreadPoolExecutor(1) as pool:
        graph, _ = graph_service.upload(session, GraphStore(settings.graphs_dir), pool, settings.limits, item)
    return graph.id


def _active_predictor(session: Session, settings: CoreSettings):
    row = active_row(session)
    if row is None:
        return None
    try:
        return row, load_checkpoint(resolve(settings.data_dir, row.artifact_path))
    except CheckpointError as exc:
        log.error("calibration.predictor_unreadable", extra={"error": str(exc)})
        return None


def request_fit(session: Session, device_id: int) -> Job | None:
    """Queue a calibrate job for a device whose calibration is under way (deduplicated)."""
    device = session.get(Device, device_id)
    if device is None or not (device.profile or {}).get("calibration"):
        return None
    return repository.pending_job(session, FIT_KIND, device_id) or jobqueue.enqueue(
        session, FIT_KIND, {}, device_id=device_id, max_attempts=2
    )


def run_fit(session: Session, settings: CoreSettings, device_id: int) -> dict[str, Any]:
    """Job body: adapt the active predictor to the device; record CV accuracy."""
    rows = repository.device_latencies(session, device_id)
    base = _active_predictor(session, settings)
    device = repository.lock_device(session, device_id)
    if device is None:
        raise NotFound(f"device {device_id}")
    if base is None:
        _set_state(device, state="waiting_for_predictor", measured=len(rows))
        return {"device_id": device_id, "measured": len(rows), "calibrated": False}
    row, predictor = base
    data = [featurize(IRGraph.from_dict(ir)) for _, ir, _ in rows]
    latency = np.asarray([lat for _, _, lat in rows])
    name = device.name
    fitter = None
    if name in predictor.devices:  # trained on this device already: judge the model as it is
        cv = {
            **accuracy(adaptation.predicted_latency(predictor, name, data), latency),
            "folds": 0,
            "method": "trained",
        }
    else:
        real_ids = {p["graph_id"] for p in (device.profile or {}).get("calibration", {}).get("selection", [])
                    if p.get("space") == "zoo"}
        real = np.asarray([gid in real_ids for gid, _, _ in rows], dtype=bool)
        cv, fitter = best_fit(predictor, name, data, latency, real)
    entry = {"at": utcnow().isoformat(), "measured": len(rows), "base_version": row.version, **cv}
    artifact = None
    if len(rows) >= 2 and fitter is not None:
        adapted = fitter(predictor, name, data, latency)
        artifact = f"predictors/{row.name}/{row.version}/devices/{device_id}.pt"
        save_checkpoint(adapted, resolve(settings.data_dir, artifact))
    cal = (device.profile or {}).get("calibration", {})
    done = len(rows) >= int(cal.get("k", settings.calibration_k))
    _set_state(
        device,
        state="calibrated" if done else "measuring",
        measured=len(rows),
        artifact=artifact,
        predictor_device=name,
        base_version=row.version,
        history=[*cal.get("history", []), entry],
    )
    session.flush()
    return {"device_id": device_id, **entry}


def best_fit(predictor, name: str, data: list, latency: np.ndarray,
             real: np.ndarray | None = None) -> tuple[dict[str, Any], Any]:
    """Cross-validate the embedding fit and (from ``HEAD_MIN_MEASUREMENTS`` on) the embedding +
    head fine-tuning; the method with the lower CV MAPE is used. ``real`` marks the measurements of
    real networks (the zoo's, picked when ``calibration_real_networks`` is on): from
    ``REAL_JUDGE_MIN`` of them on, the choice is judged by the CV MAPE over those alone, as real
    networks are what the device will be asked about (the search-space architectures, most of K,
    favour the embedding fit while the real networks favour the head: bench/results/
    calibration-intel-f6m167-s15.txt)."""
    methods = {"embedding": adaptation.fit}
    if len(data) >= HEAD_MIN_MEASUREMENTS:
        methods["embedding+head"] = adaptation.fit_head
    judge = real if real is not None and int(np.sum(real)) >= REAL_JUDGE_MIN else None
    scores = {
        m: adaptation.cross_validate(predictor, name, data, latency, fitter=f, judge=judge)
        for m, f in methods.items()
    }
    key = "judged_mape" if judge is not None else "mape"
    best = min(scores, key=lambda m: scores[m].get(key) if scores[m].get(key) is not None else float("inf"))
    return {**scores[best], "method": best, "judged_on": "real networks" if judge is not None else "all"}, \
        methods[best]
