"""Reading predicted latency out of ``prediction_log.result``.

The prediction API logs ``{"predictions": {device name: {target: value}}}`` (values
only, no breakdown); ``predictor.artifacts.Predictor.predict``'s own shape,
``{device: {target: {"value": ...}}}``, is read too. A log row also carries a
``device_id``; when the result holds one device only, that entry is the row's device
whatever its key."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

TARGET = "latency"


def _entry(section: Any, names: Iterable[str], only: bool) -> Any:
    """The entry of ``section`` keyed by one of ``names``; with ``only``, also the single
    entry of a one-device result (the log row names the device by id)."""
    if not isinstance(section, Mapping) or not section:
        return None
    for name in names:
        if name in section:
            return section[name]
    if only and len(section) == 1:
        return next(iter(section.values()))
    return None


def predicted_latency(result: Mapping[str, Any], names: Iterable[str], only: bool = False) -> float | None:
    """Predicted latency in ms for the device known by ``names``, or None."""
    entry = _entry(result.get("predictions"), list(names), only)
    target = entry.get(TARGET) if isinstance(entry, Mapping) else None
    value = target.get("value") if isinstance(target, Mapping) else target
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    return None


def device_names(name: str, profile: Mapping[str, Any] | None) -> list[str]:
    """Names a predictor may use for a device: its registered name, its agent device key."""
    names = [name]
    key = (profile or {}).get("device_key")
    if isinstance(key, str) and key and key != name:
        names.append(key)
    return names
