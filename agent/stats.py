"""Robust statistics over timed rounds.

Other processes on a shared machine only ever *add* time to an inference, so the
estimate is taken from the fastest rounds: rounds whose median lies within
``accept_tolerance`` of the fastest round's median are "accepted", and the reported
median/p10/p90/MAD are computed over the samples of the accepted rounds. All samples are
still kept and returned; ``median_all_ms`` is the plain median over every sample.

Samples during which the measuring thread was involuntarily switched out (preempted by
another process; see :mod:`agent.protocol`) are flagged. A round's statistics use its
unflagged samples when it has at least three; otherwise all its samples (so it is slow
and rarely accepted).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def quantiles(samples: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(samples, dtype=np.float64)
    median = float(np.median(arr))
    return {
        "median_ms": median,
        "p10_ms": float(np.percentile(arr, 10)),
        "p90_ms": float(np.percentile(arr, 90)),
        "mad_ms": float(np.median(np.abs(arr - median))),
        "mean_ms": float(arr.mean()),
        "min_ms": float(arr.min()),
    }


def spread(samples: Sequence[float]) -> float:
    """(p90 - p10) / median: the relative width of a sample set."""
    q = quantiles(samples)
    return (q["p90_ms"] - q["p10_ms"]) / q["median_ms"] if q["median_ms"] > 0 else 0.0


def round_medians(rounds: Sequence[Sequence[float]]) -> list[float]:
    return [float(np.median(r)) for r in rounds]


def accepted_rounds(rounds: Sequence[Sequence[float]], accept_tolerance: float) -> list[int]:
    """Indices of rounds whose median is within ``accept_tolerance`` of the fastest round's."""
    meds = round_medians(rounds)
    best = min(meds)
    return [i for i, m in enumerate(meds) if m <= best * (1.0 + accept_tolerance)]


def settled(rounds: Sequence[Sequence[float]], settle_tolerance: float, max_spread: float) -> bool:
    """Contention check: the two fastest round medians agree within ``settle_tolerance`` and
    the fastest round's own spread is below ``max_spread``."""
    if len(rounds) < 2:
        return False
    meds = round_medians(rounds)
    order = np.argsort(meds)
    first, second = meds[order[0]], meds[order[1]]
    agree = (second - first) <= settle_tolerance * first
    return bool(agree and spread(rounds[order[0]]) <= max_spread)


def clean_round(samples: Sequence[float], preempted: Sequence[bool]) -> list[float]:
    """The round's unpreempted samples when there are at least three, else all of them."""
    clean = [s for s, p in zip(samples, preempted, strict=True) if not p]
    return clean if len(clean) >= 3 else list(samples)


def clean_rounds(rounds: Sequence[Sequence[float]], flags: Sequence[Sequence[bool]]) -> list[list[float]]:
    return [clean_round(r, f) for r, f in zip(rounds, flags, strict=True)]


def summarize(
    rounds: Sequence[Sequence[float]], flags: Sequence[Sequence[bool]], accept_tolerance: float
) -> dict[str, object]:
    """Statistics of a measurement: accepted-round quantiles plus the raw material."""
    cleaned = clean_rounds(rounds, flags)
    keep = accepted_rounds(cleaned, accept_tolerance)
    kept = [s for i in keep for s in cleaned[i]]
    flat = [s for r in rounds for s in r]
    out: dict[str, object] = dict(quantiles(kept))
    out.update(
        {
            "median_all_ms": float(np.median(flat)),
            "spread": spread(kept),
            "spread_all": spread(flat),
            "samples_ms": flat,
            "preempted": [p for f in flags for p in f],
            "preempted_fraction": sum(p for f in flags for p in f) / max(1, len(flat)),
            "round_sizes": [len(r) for r in rounds],
            "round_medians_ms": round_medians(cleaned),
            "accepted_rounds": keep,
            "runs": len(flat),
        }
    )
    return out
