"""Predictor artifacts on disk and the active version the API serves.

Artifacts live under ``<data_dir>/predictors/<name>/<version>.pt`` (a shared volume
when workers and API replicas run on several machines); the ``predictors`` row stores
the path relative to ``data_dir``. :class:`ActivePredictors` keeps the loaded active
version of each name and, at most every ``reload_s`` seconds, asks the database
(one indexed query) whether another version became active; if so it loads that one.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from predictor.artifacts import Predictor, load_checkpoint
from service.models import Device
from service.models import Predictor as PredictorRow

log = logging.getLogger(__name__)

DEFAULT_NAME = "perfsage"


def artifact_relpath(name: str, version: str) -> str:
    return f"predictors/{name}/{version}.pt"


def resolve(data_dir: Path, artifact_path: str) -> Path:
    path = Path(artifact_path)
    return path if path.is_absolute() else data_dir / path


def active_row(session: Session, name: str = DEFAULT_NAME) -> PredictorRow | None:
    query = select(PredictorRow).where(PredictorRow.name == name, PredictorRow.status == "active")
    return session.scalars(query.order_by(PredictorRow.id.desc()).limit(1)).first()


@dataclass
class Loaded:
    id: int
    version: str
    predictor: Predictor


class ActivePredictors:
    """Thread-safe cache of the active version per predictor name."""

    def __init__(self, data_dir: Path, reload_s: float = 5.0) -> None:
        self.data_dir = data_dir
        self.reload_s = reload_s
        self._loaded: dict[str, Loaded] = {}
        self._checked: dict[str, float] = {}
        self._adapted: dict[str, tuple[float, Predictor]] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, name: str = DEFAULT_NAME) -> Loaded | None:
        """The active version of ``name`` (None when no version is active)."""
        now = time.monotonic()
        with self._lock:
            cached = self._loaded.get(name)
            if cached is not None and now - self._checked.get(name, 0.0) < self.reload_s:
                return cached
        row = active_row(session, name)
        with self._lock:
            self._checked[name] = now
            if row is None:
                self._loaded.pop(name, None)
                return None
            cached = self._loaded.get(name)
            if cached is None or cached.id != row.id:
                cached = Loaded(
                    row.id, row.version, load_checkpoint(resolve(self.data_dir, row.artifact_path))
                )
                self._loaded[name] = cached
                log.info("predictor.reloaded", extra={"predictor": name, "version": row.version})
            return cached

    def for_device(
        self, session: Session, device: str, name: str = DEFAULT_NAME
    ) -> tuple[Predictor, str] | None:
        """The model that serves ``device`` and its version: the active version when it was
        trained on the device, else the device's calibration of that version (if any)."""
        loaded = self.get(session, name)
        if loaded is None:
            return None
        if device in loaded.predictor.devices:
            return loaded.predictor, loaded.version
        path = calibrated_path(session, self.data_dir, device, loaded.version)
        if path is None:
            return None
        mtime = path.stat().st_mtime
        with self._lock:
            hit = self._adapted.get(str(path))
        if hit is None or hit[0] != mtime:
            hit = (mtime, load_checkpoint(path))
            with self._lock:
                self._adapted[str(path)] = hit
        return hit[1], f"{loaded.version}+calibrated"


def calibrated_path(session: Session, data_dir: Path, device: str, base_version: str) -> Path | None:
    """The device's calibrated checkpoint if it was adapted from ``base_version``."""
    row = session.scalars(select(Device).where(Device.name == device)).first()
    cal = ((row.profile or {}).get("calibration") or {}) if row is not None else {}
    if not cal.get("artifact") or cal.get("base_version") != base_version:
        return None
    path = resolve(data_dir, cal["artifact"])
    return path if path.exists() else None
