"""The predictors the service answers with.

A :class:`PredictorRegistry` resolves each device name to the model that serves it, in
this order: the active trained version when it knows the device, the device's calibrated
checkpoint (both from the database, followed by
:class:`service.training.registry.ActivePredictors`), then the shipped checkpoints loaded
once in the lifespan (the first by file name when several cover the device). It also keeps
a small LRU cache of featurised stored graphs, keyed by the graph's content hash."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session
from torch_geometric.data import Data

from predictor.artifacts import CHECKPOINT_DIR, Predictor, load_default_predictors
from service.training.registry import ActivePredictors, Served

log = logging.getLogger(__name__)


class FeatureCache:
    """Thread-safe LRU of ``key -> Data`` (``size`` 0 disables it)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Data] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Data | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: str, data: Data) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = data
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


@dataclass
class PredictorRegistry:
    predictors: dict[str, Predictor] = field(default_factory=dict)
    cache: FeatureCache = field(default_factory=lambda: FeatureCache(0))
    active: ActivePredictors | None = None

    def __post_init__(self) -> None:
        self.by_device: dict[str, Predictor] = {}
        for name in sorted(self.predictors):
            for device in self.predictors[name].devices:
                self.by_device.setdefault(device, self.predictors[name])

    @classmethod
    def load(
        cls, directory: Path | None, cache_size: int = 0, active: ActivePredictors | None = None
    ) -> PredictorRegistry:
        """Every loadable checkpoint under ``directory`` (default: the shipped ones), served
        after the database's versions when ``active`` is given."""
        directory = directory or CHECKPOINT_DIR
        predictors = load_default_predictors(directory) if directory.is_dir() else {}
        if not predictors:
            log.warning("predictions.no_predictors", extra={"directory": str(directory)})
        registry = cls(predictors, FeatureCache(cache_size), active)
        log.info(
            "predictions.loaded",
            extra={"checkpoints": sorted(predictors), "devices": len(registry.by_device)},
        )
        return registry

    def for_device(self, device: str) -> Predictor | None:
        """The shipped checkpoint that covers ``device`` (None if none does)."""
        return self.by_device.get(device)

    def serving(self, session: Session, devices: list[str]) -> dict[str, Served]:
        """``device -> (model, version)`` for every device among ``devices`` that has one."""
        found = self.active.for_devices(session, devices) if self.active is not None else {}
        for device in devices:
            shipped = self.by_device.get(device)
            if device not in found and shipped is not None:
                found[device] = (shipped, shipped.version)
        return found
