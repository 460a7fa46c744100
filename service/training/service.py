"""Retraining: queue a train job, run it in a worker (train, judge on held-out data,
promote only if better), list versions, restore an earlier one."""

from __future__ import annotations

import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from predictor.artifacts import CheckpointError, Predictor, load_checkpoint, save_checkpoint
from predictor.train import TrainConfig, build_table, train_predictor
from service import jobqueue
from service.db import utcnow
from service.errors import NotFound, ServiceError
from service.models import Job
from service.models import Predictor as PredictorRow
from service.training import data, ddp, repository
from service.training.evaluation import compare
from service.training.registry import DEFAULT_NAME, artifact_relpath, resolve

log = logging.getLogger(__name__)

TRAIN_KEYS = {f.name for f in fields(TrainConfig)} - {"extra"}
MIN_TRAIN_GRAPHS = 8
DEFAULT_MAX_MINUTES = 10.0  # per ensemble member


def request_training(session: Session, params: dict[str, Any], reason: str = "admin") -> tuple[Job, bool]:
    """Queue a train job unless one is already queued or running. Returns (job, new)."""
    pending = repository.pending_train_job(session)
    if pending is not None:
        return pending, False
    job = jobqueue.enqueue(session, repository.TRAIN_KIND, {**params, "reason": reason}, max_attempts=2)
    return job, True


def train_config(payload: dict[str, Any]) -> TrainConfig:
    unknown = set(payload) - TRAIN_KEYS - {"name", "holdout_fraction", "reason", "ddp"}
    if unknown:
        raise ServiceError(f"unknown training parameter(s) {sorted(unknown)}", 422, "validation_error")
    cfg = TrainConfig(**{k: v for k, v in payload.items() if k in TRAIN_KEYS})
    if cfg.max_minutes is None:  # keep a job well inside a worker's lease (see docker-compose.yml)
        cfg.max_minutes = DEFAULT_MAX_MINUTES
    return cfg


def run_training(session: Session, data_dir: Path, payload: dict[str, Any], job_id: int) -> dict[str, Any]:
    """The body of a train job: returns its result (version, metrics, promoted)."""
    name = payload.get("name", DEFAULT_NAME)
    cfg = train_config(payload)
    fraction = float(payload.get("holdout_fraction", 0.2))
    train_recs, held_recs = data.split_records(data.load_records(session), fraction)
    if len({r.key for r in train_recs}) < MIN_TRAIN_GRAPHS or not held_recs:
        raise ServiceError(
            f"not enough data: {len({r.key for r in train_recs})} training graphs (need {MIN_TRAIN_GRAPHS}) "
            f"and {len({r.key for r in held_recs})} held-out graphs (need 1)",
            422,
            "not_enough_data",
        )
    table = build_table(train_recs)
    held = build_table(held_recs, devices=table.devices, targets=table.targets)
    version = f"{utcnow():%Y%m%d%H%M%S}-j{job_id}"
    if payload.get("ddp"):
        new = ddp.train(train_recs, cfg, name, int(payload["ddp"]), data_dir / "tmp" / f"train-{job_id}")
    else:
        new = train_predictor(table, cfg, name=name, description={"source": "database", "job_id": job_id})
    current_row = repository.lock_active(session, name)
    current = _load_current(data_dir, current_row)
    verdict = compare(new, current, held)
    new.meta["metrics"] = {**new.meta.get("metrics", {}), "holdout": verdict["holdout"]}
    rel = artifact_relpath(name, version)
    save_checkpoint(new, resolve(data_dir, rel))
    row = PredictorRow(
        name=name,
        version=version,
        devices=new.devices,
        artifact_path=rel,
        metrics=_metrics(new, verdict, len(table.keys), len(held.keys)),
        status="active" if verdict["promote"] else "rejected",
    )
    session.add(row)
    session.flush()
    if verdict["promote"]:
        repository.archive_active(session, name, row.id)
    log.info("training.finished", extra={"version": version, "promoted": verdict["promote"]})
    return {
        "name": name,
        "version": version,
        "promoted": verdict["promote"],
        "reason": verdict["reason"],
        "holdout": verdict["holdout"],
    }


def _load_current(data_dir: Path, row: PredictorRow | None) -> Predictor | None:
    if row is None:
        return None
    try:
        return load_checkpoint(resolve(data_dir, row.artifact_path))
    except CheckpointError as exc:  # an unreadable current version cannot be kept over a new one
        log.error("training.current_unreadable", extra={"version": row.version, "error": str(exc)})
        return None


def _metrics(new: Predictor, verdict: dict[str, Any], train_graphs: int, held_graphs: int) -> dict[str, Any]:
    val = new.meta.get("metrics", {}).get("val_mape_ensemble")
    return {
        "holdout": verdict["holdout"],
        "comparison": verdict.get("same_rows"),
        "reason": verdict["reason"],
        "val_mape": None if val is None or not np.isfinite(val) else round(float(val), 4),
        "train_graphs": train_graphs,
        "holdout_graphs": held_graphs,
    }


def restore(session: Session, data_dir: Path, name: str, version: str) -> PredictorRow:
    """Make an earlier version active again (the active one is archived)."""
    row = repository.get_version(session, name, version, lock=True)
    if row is None:
        raise NotFound(f"predictor {name} version {version}")
    try:
        load_checkpoint(resolve(data_dir, row.artifact_path))
    except CheckpointError as exc:
        raise ServiceError(f"version {version} cannot be restored: {exc}", 409, "conflict") from exc
    repository.lock_active(session, name)
    row.status = "active"
    session.flush()
    repository.archive_active(session, name, row.id)
    session.refresh(row)
    log.info("predictor.restored", extra={"predictor": name, "version": version})
    return row
