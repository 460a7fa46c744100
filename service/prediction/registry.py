"""The predictors the service answers with, loaded once in the lifespan.

A :class:`PredictorRegistry` maps each device name to the checkpoint that covers it
(the first by file name when several do) and keeps a small LRU cache of featurised
stored graphs, keyed by the graph's content hash."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from torch_geometric.data import Data

from predictor.artifacts import CHECKPOINT_DIR, Predictor, load_default_predictors

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

    def __post_init__(self) -> None:
        self.by_device: dict[str, Predictor] = {}
        for name in sorted(self.predictors):
            for device in self.predictors[name].devices:
                self.by_device.setdefault(device, self.predictors[name])

    @classmethod
    def load(cls, directory: Path | None, cache_size: int = 0) -> PredictorRegistry:
        """Every loadable checkpoint under ``directory`` (default: the shipped ones)."""
        directory = directory or CHECKPOINT_DIR
        predictors = load_default_predictors(directory) if directory.is_dir() else {}
        if not predictors:
            log.warning("predictions.no_predictors", extra={"directory": str(directory)})
        registry = cls(predictors, FeatureCache(cache_size))
        log.info(
            "predictions.loaded",
            extra={"checkpoints": sorted(predictors), "devices": len(registry.by_device)},
        )
        return registry

    def for_device(self, device: str) -> Predictor | None:
        return self.by_device.get(device)
