"""Predictor artifacts on disk and the active version the API serves.

Artifacts live under ``<data_dir>/predictors/<name>/<version>.pt`` (a shared volume
when workers and API replicas run on several machines); the ``predictors`` row stores
the path relative to ``data_dir``. :class:`ActivePredictors` keeps the loaded active
version of each name and, at most every ``reload_s`` seconds, asks the database
(one indexed query) whether another version became active; if so it loads that one.
Devices' calibrated checkpoints (recorded in ``device.profile["calibration"]``) are
looked up the same way. The API's :class:`service.prediction.registry.PredictorRegistry`
asks it first and falls back to the shipped checkpoints.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from predictor.artifacts import CheckpointError, Predictor, load_checkpoint
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


#: what serves one device: the model and the version to report
Served = tuple[Predictor, str]


@dataclass
class Calibration:
    """A device's calibrated checkpoint as its profile records it (looked up at most every ``reload_s``)."""

    checked: float
    path: Path | None = None
    base_version: str = ""


class ActivePredictors:
    """Thread-safe cache of the active version per predictor name, and of the devices'
    calibrated checkpoints. Every API replica keeps its own and follows the database."""

    def __init__(self, data_dir: Path, reload_s: float = 5.0) -> None:
        self.data_dir = data_dir
        self.reload_s = reload_s
        self._loaded: dict[str, Loaded] = {}
        self._checked: dict[str, float] = {}
        self._calibrations: dict[str, Calibration] = {}
        self._adapted: dict[str, tuple[float, Predictor]] = {}
        self._lock = threading.Lock()

    def _due(self, checked: float | None, now: float) -> bool:
        return checked is None or now - checked >= self.reload_s

    def get(self, session: Session, name: str = DEFAULT_NAME) -> Loaded | None:
        """The active version of ``name`` (None when no version is active). One thread per
        ``reload_s`` asks the database; the others answer from the cache meanwhile."""
        now = time.monotonic()
        with self._lock:
            if not self._due(self._checked.get(name), now):
                return self._loaded.get(name)
            self._checked[name] = now
        return self._update(name, active_row(session, name))

    def _update(self, name: str, row: PredictorRow | None) -> Loaded | None:
        with self._lock:
            cached = self._loaded.get(name)
            if row is None:
                self._loaded.pop(name, None)
                return None
        if cached is not None and cached.id == row.id:
            return cached
        try:
            predictor = load_checkpoint(resolve(self.data_dir, row.artifact_path))
        except CheckpointError as exc:  # e.g. the artifact is not (yet) on this replica's volume
            log.error("predictor.reload_failed", extra={"version": row.version, "error": str(exc)})
            return cached
        loaded = Loaded(row.id, row.version, predictor)
        with self._lock:
            self._loaded[name] = loaded
        log.info("predictor.reloaded", extra={"predictor": name, "version": row.version})
        return loaded

    def for_devices(
        self, session: Session, devices: list[str], name: str = DEFAULT_NAME
    ) -> dict[str, Served]:
        """``device -> (model, version)`` for the devices the database serves: the active
        version when it was trained on the device, else the device's calibrated checkpoint
        (reported as ``<base version>+calibrated``; a calibration of an earlier version keeps
        serving until the device is calibrated again). Other devices are left out."""
        loaded = self.get(session, name)
        if loaded is None:
            return {}
        out = {d: (loaded.predictor, loaded.version) for d in devices if d in loaded.predictor.devices}
        for device, cal in self._calibrated(session, [d for d in devices if d not in out]).items():
            adapted = self._load_adapted(cal.path) if cal.path is not None else None
            if adapted is not None and device in adapted.devices:
                out[device] = (adapted, f"{cal.base_version}+calibrated")
        return out

    def for_device(self, session: Session, device: str, name: str = DEFAULT_NAME) -> Served | None:
        """The model that serves ``device`` and its version (see :meth:`for_devices`)."""
        return self.for_devices(session, [device], name).get(device)

    def _calibrated(self, session: Session, devices: list[str]) -> dict[str, Calibration]:
        now = time.monotonic()
        with self._lock:
            known = {
                d: c for d in devices if (c := self._calibrations.get(d)) and not self._due(c.checked, now)
            }
        stale = [d for d in devices if d not in known]
        if stale:
            fresh = calibrations(session, self.data_dir, stale, now)
            with self._lock:
                self._calibrations.update(fresh)
            known.update(fresh)
        return known

    def _load_adapted(self, path: Path) -> Predictor | None:
        try:
            mtime = path.stat().st_mtime
            with self._lock:
                hit = self._adapted.get(str(path))
            if hit is None or hit[0] != mtime:
                hit = (mtime, load_checkpoint(path))
                with self._lock:
                    self._adapted[str(path)] = hit
        except (OSError, CheckpointError) as exc:
            log.error("predictor.calibrated_unreadable", extra={"path": str(path), "error": str(exc)})
            return None
        return hit[1]


def calibrations(session: Session, data_dir: Path, devices: list[str], now: float) -> dict[str, Calibration]:
    """The calibrated checkpoint (if any) recorded in each device's profile (one query)."""
    out = {d: Calibration(now) for d in devices}
    for device, profile in session.execute(
        select(Device.name, Device.profile).where(Device.name.in_(devices))
    ):
        cal = (profile or {}).get("calibration") or {}
        if cal.get("artifact"):
            out[device] = Calibration(
                now, resolve(data_dir, cal["artifact"]), str(cal.get("base_version", ""))
            )
    return out


def calibrated_path(session: Session, data_dir: Path, device: str, base_version: str) -> Path | None:
    """The device's calibrated checkpoint if it was adapted from ``base_version``."""
    row = session.scalars(select(Device).where(Device.name == device)).first()
    cal = ((row.profile or {}).get("calibration") or {}) if row is not None else {}
    if not cal.get("artifact") or cal.get("base_version") != base_version:
        return None
    path = resolve(data_dir, cal["artifact"])
    return path if path.exists() else None
