"""Corpus statistics: counts per space and runtime with latency and MACs ranges."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from typing import Any


def _range(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def compute(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """{"groups": [{device_key, runtime, variant, space, count, latency_ms{min,median,max}, macs{...}}],
    "totals": {runtime: distinct architectures}, "device_totals": {device_key: distinct architectures}}.
    Latency is the label the predictor learns (:func:`datasets.corpus.latency_label_ms`).

    An architecture measured again (same device, id and variant) counts once, by its newest
    record (records come oldest first); a record without a latency label counts, but stays
    out of the latency range (``latency_ms`` is None for a group with no label at all)."""
    from datasets.corpus import latency_label_ms

    latest: dict[tuple, dict[str, Any]] = {}
    for r in records:
        latest[(r.get("device_key", "?"), r["arch_id"], r.get("variant", "fp32"))] = r
    lat: dict[tuple, list[float]] = defaultdict(list)
    counts: dict[tuple, int] = defaultdict(int)
    macs: dict[tuple, list[float]] = defaultdict(list)
    archs: dict[str, set[str]] = defaultdict(set)
    per_device: dict[str, set[str]] = defaultdict(set)
    for r in latest.values():
        m = r.get("measurement") or {}
        runtime = m.get("runtime") or r.get("device_key", "?")
        key = (r.get("device_key", "?"), runtime, r.get("variant", "fp32"), r["space"])
        label = latency_label_ms(m)
        if label is not None:
            lat[key].append(float(label))
        counts[key] += 1
        macs[key].append(float((r.get("summary") or {}).get("macs", 0)))
        archs[runtime].add(r["arch_id"])
        per_device[key[0]].add(r["arch_id"])
    groups = [{"device_key": k[0], "runtime": k[1], "variant": k[2], "space": k[3], "count": n,
               "latency_ms": _range(lat[k]) if lat[k] else None, "macs": _range(macs[k])}
              for k, n in sorted(counts.items())]
    return {"groups": groups, "totals": {rt: len(ids) for rt, ids in sorted(archs.items())},
            "device_totals": {d: len(ids) for d, ids in sorted(per_device.items())}}


def format_table(table: dict[str, Any]) -> str:
    head = f"{'device':<38} {'runtime':<12} {'variant':<7} {'space':<10} {'count':>6}  {'latency ms min/median/max':<28} MMACs min/median/max"
    lines = [head, "-" * len(head)]
    for g in table["groups"]:
        la, ma = g["latency_ms"], g["macs"]
        lat = f"{la['min']:>7.3f} {la['median']:>8.3f} {la['max']:>9.3f}" if la else f"{'(no label)':>26}"
        lines.append(f"{g['device_key']:<38} {g['runtime']:<12} {g['variant']:<7} {g['space']:<10} {g['count']:>6}  "
                     f"{lat}   "
                     f"{ma['min'] / 1e6:>8.1f} {ma['median'] / 1e6:>8.1f} {ma['max'] / 1e6:>8.1f}")
    for dev, n in table.get("device_totals", {}).items():
        lines.append(f"total {dev}: {n} architectures")
    for rt, n in table["totals"].items():
        lines.append(f"total {rt} (all devices): {n} distinct architectures")
    return "\n".join(lines)
