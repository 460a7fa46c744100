"""Pure numbers for the dashboard: pairing predictions with measurements, error summaries,
histograms, per-layer breakdowns. No database, no HTTP."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

#: Allowed histogram bin widths (relative error in %).
NICE_WIDTHS = (1.0, 2.0, 2.5, 5.0, 10.0, 20.0, 25.0, 50.0)
MAX_BINS = 20
MAX_RANGE_PCT = 200.0


def median_by_key(pairs: Iterable[tuple[int, float]]) -> dict[int, float]:
    grouped: dict[int, list[float]] = defaultdict(list)
    for key, value in pairs:
        grouped[key].append(value)
    return {k: statistics.median(v) for k, v in grouped.items()}


def rel_error_pct(predicted: float, measured: float) -> float | None:
    if measured <= 0 or not math.isfinite(predicted) or not math.isfinite(measured):
        return None
    return (predicted - measured) / measured * 100.0


def error_summary(errors_pct: list[float]) -> dict[str, Any]:
    """MAPE, median |error| and the share within 10 % / 25 % (None without pairs)."""
    if not errors_pct:
        return {"pairs": 0, "mape": None, "median_ape": None, "within_10": None, "within_25": None}
    absolute = [abs(e) for e in errors_pct]
    n = len(absolute)
    return {
        "pairs": n,
        "mape": sum(absolute) / n,
        "median_ape": statistics.median(absolute),
        "within_10": sum(a <= 10 for a in absolute) / n,
        "within_25": sum(a <= 25 for a in absolute) / n,
    }


def _bin_width(span: float) -> float:
    for width in NICE_WIDTHS:
        if span / width <= MAX_BINS / 2:
            return width
    return NICE_WIDTHS[-1]


def histogram(errors_pct: list[float]) -> list[dict[str, Any]]:
    """Bins of equal width, symmetric around 0, covering at most +-200 %; errors beyond
    fall into two open-ended edge bins. Each bin: ``{lo, hi, count}`` (lo/hi None = open)."""
    if not errors_pct:
        return []
    span = min(max(abs(e) for e in errors_pct), MAX_RANGE_PCT)
    width = _bin_width(max(span, NICE_WIDTHS[0]))
    half = math.ceil(span / width) or 1
    edges = [width * i for i in range(-half, half + 1)]
    bins = [{"lo": lo, "hi": hi, "count": 0} for lo, hi in zip(edges, edges[1:], strict=False)]
    under = {"lo": None, "hi": edges[0], "count": 0}
    over = {"lo": edges[-1], "hi": None, "count": 0}
    for e in errors_pct:
        if e < edges[0]:
            under["count"] += 1
        elif e >= edges[-1]:
            over["count"] += 1
        else:
            bins[min(int((e - edges[0]) // width), len(bins) - 1)]["count"] += 1
    return ([under] if under["count"] else []) + bins + ([over] if over["count"] else [])


def op_totals(nodes: Iterable[Mapping[str, Any]], value_key: str) -> list[dict[str, Any]]:
    """Sum ``value_key`` per op type, largest first: ``[{op, value, nodes}]``."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for node in nodes:
        value = node.get(value_key)
        if value is None:
            continue
        slot = totals[str(node.get("op", "?"))]
        slot[0] += float(value)
        slot[1] += 1
    rows = [{"op": op, "value": v, "nodes": int(n)} for op, (v, n) in totals.items()]
    return sorted(rows, key=lambda r: (-r["value"], r["op"]))
