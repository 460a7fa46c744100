"""Reading predicted latency out of ``prediction_log.result``.

The logged result follows ``predictor.artifacts.Predictor.predict``: ``{"predictions":
{device: {"latency": {"value": ms, ...}}}, "breakdown": {device: {"latency": {node: ms}}}}``,
keyed by the predictor's device name. A log row also carries ``device_id``; when the
result holds one device only, that entry is the row's device whatever its key."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

TARGET = "latency"


def _entry(section: Any, names: Iterable[str]) -> Any:
    if not isinstance(section, Mapping) or not section:
        return None
    for name in names:
        if name in section:
            return section[name]
    if len(section) == 1:
        return next(iter(section.values()))
    return None


def predicted_latency(result: Mapping[str, Any], names: Iterable[str]) -> float | None:
    """Predicted latency in ms for the device known by ``names``, or None."""
    entry = _entry(result.get("predictions"), list(names))
    target = entry.get(TARGET) if isinstance(entry, Mapping) else None
    value = target.get("value") if isinstance(target, Mapping) else None
    if isinstance(value, int | float) and math.isfinite(value) and value > 0:
        return float(value)
    return None


def latency_breakdown(result: Mapping[str, Any], names: Iterable[str]) -> dict[str, float] | None:
    """Predicted latency per node (node name -> ms) for the device, or None."""
    entry = _entry(result.get("breakdown"), list(names))
    nodes = entry.get(TARGET) if isinstance(entry, Mapping) else None
    if not isinstance(nodes, Mapping) or not nodes:
        return None
    out = {str(k): float(v) for k, v in nodes.items() if isinstance(v, int | float) and math.isfinite(v)}
    return out or None


def device_names(name: str, profile: Mapping[str, Any] | None) -> list[str]:
    """Names a predictor may use for a device: its registered name, its agent device key."""
    names = [name]
    key = (profile or {}).get("device_key")
    if isinstance(key, str) and key and key != name:
        names.append(key)
    return names
