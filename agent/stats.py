"""Robust statistics over timed rounds.

Each timed run records its wall time, the measuring thread's CPU time and whether the
thread was involuntarily switched out meanwhile (another process took the core). A
preempted run's wall time holds time that was not inference, so a round's *corrected*
samples are:

* single-threaded runtimes (the inference runs on the measuring thread): the wall time of
  runs that were not preempted, and the thread's CPU time for runs that were (for a
  thread that never waits, that is the wall time the run would have taken on its own).
  This holds only while the thread's CPU time is the whole inference (:func:`cpu_tracks_wall`:
  it tracks the wall time of unpreempted runs or, when too few runs escaped preemption to
  tell (a long model on a busy core), the thread never waited: no voluntary context
  switch); a runtime that waits for an accelerator or for other threads falls back to the
  multi-threaded rule;
* multi-threaded runtimes (worker threads' CPU time is not the caller's): the wall times of
  the runs that were not preempted when there are at least three, else all of them.

Other processes only ever *add* time, so the estimate comes from the fastest rounds:
rounds whose corrected median lies within ``accept_tolerance`` of the fastest round's are
"accepted", and p10/p90/MAD are computed over their corrected samples. With several
sessions of one model (they differ by a few percent: memory layout), a round's value and
the reported median are the mean over sessions of each session's median. Every raw
wall sample is kept and returned (``samples_ms``); ``median_all_ms`` is their plain median.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Round:
    """One round's runs, possibly over several sessions of the same model (``session``)."""

    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] | None = None  # set when the inference runs on the measuring thread
    preempted: list[bool] = field(default_factory=list)
    session: list[int] = field(default_factory=list)
    blocked: list[bool] = field(default_factory=list)  # the thread waited (voluntary switch); [] = unknown

    def add(self, wall: float, cpu: float, preempted: bool, session: int = 0, blocked: bool = False) -> None:
        self.wall_ms.append(wall)
        self.preempted.append(preempted)
        self.session.append(session)
        self.blocked.append(blocked)
        if self.cpu_ms is not None:
            self.cpu_ms.append(cpu)

    def usable(self, session: int | None = None) -> int:
        """Runs (of ``session``) that yield a corrected sample without falling back."""
        mine = [p for p, s in zip(self.preempted, self.session, strict=True) if session is None or s == session]
        return len(mine) if self.cpu_ms is not None else mine.count(False)

    def corrected(self, use_cpu: bool = True) -> dict[int, list[float]]:
        """Corrected samples per session."""
        if self.cpu_ms is not None and use_cpu:
            values = [c if p else w for w, c, p in zip(self.wall_ms, self.cpu_ms, self.preempted, strict=True)]
            keep = [True] * len(values)
        else:
            values = list(self.wall_ms)
            keep = [not p for p in self.preempted]
            if keep.count(True) < 3:
                keep = [True] * len(values)
        out: dict[int, list[float]] = {}
        for v, k, s in zip(values, keep, self.session, strict=True):
            if k:
                out.setdefault(s, []).append(v)
        return out


Groups = dict[int, list[float]]


def cpu_tracks_wall(rounds: Sequence[Round], min_ratio: float = 0.9, max_blocked: float = 0.1) -> bool:
    """Whether the measuring thread's CPU time is the whole inference: (nearly) the whole
    wall time of runs that were not preempted, or, with fewer than three such runs (every
    run of a long model preempted on a busy core), whether the thread hardly ever waited
    (at most ``max_blocked`` of the runs had a voluntary context switch)."""
    if any(r.cpu_ms is None for r in rounds):
        return False
    ratios = [c / w for r in rounds if r.cpu_ms is not None
              for w, c, p in zip(r.wall_ms, r.cpu_ms, r.preempted, strict=True) if not p and w > 0]
    if len(ratios) >= 3:
        return float(np.median(ratios)) >= min_ratio
    blocked = [b for r in rounds for b in r.blocked]
    known = bool(rounds) and all(len(r.blocked) == len(r.wall_ms) for r in rounds)
    return known and len(blocked) >= 3 and blocked.count(True) <= max_blocked * len(blocked)


def corrected_rounds(rounds: Sequence[Round]) -> list[Groups]:
    use_cpu = cpu_tracks_wall(rounds)
    return [r.corrected(use_cpu) for r in rounds]


def value(groups: Groups) -> float:
    """The mean over sessions of each session's median: sessions of one model can differ by
    a few percent (memory layout), so each counts equally rather than by its run count."""
    return float(np.mean([np.median(v) for v in groups.values()]))


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


def accepted_rounds(values: Sequence[float], accept_tolerance: float) -> list[int]:
    """Indices of rounds whose value is within ``accept_tolerance`` of the fastest round's."""
    best = min(values)
    return [i for i, m in enumerate(values) if m <= best * (1.0 + accept_tolerance)]


def settled(rounds: Sequence[Groups], settle_tolerance: float, max_spread: float) -> bool:
    """Contention check: the two fastest rounds agree within ``settle_tolerance`` and the
    fastest round's own spread (mean over its sessions) is below ``max_spread``."""
    if len(rounds) < 2:
        return False
    values = [value(g) for g in rounds]
    order = np.argsort(values)
    first, second = values[order[0]], values[order[1]]
    agree = (second - first) <= settle_tolerance * first
    width = float(np.mean([spread(v) for v in rounds[order[0]].values()]))
    return bool(agree and width <= max_spread)


def low_quantile(rounds: Sequence[Round], q: float) -> float:
    """Mean over sessions of the ``q``-quantile of each session's corrected samples (all
    rounds). Contention only adds time, so a low quantile is the most stable estimate
    on a busy machine; on an idle one it sits within about a percent of the median."""
    pooled: Groups = {}
    for groups in corrected_rounds(rounds):
        for sess, samples in groups.items():
            pooled.setdefault(sess, []).extend(samples)
    return float(np.mean([np.quantile(v, q) for v in pooled.values()]))


def rounds_from_result(result: dict) -> list[Round]:
    """Rebuild the rounds of a protocol result from its raw arrays (for re-analysis)."""
    out, start = [], 0
    cpu, blocked = result.get("cpu_ms"), result.get("blocked")
    for size in result["round_sizes"]:
        end = start + size
        out.append(Round(wall_ms=list(result["samples_ms"][start:end]),
                         cpu_ms=None if cpu is None else list(cpu[start:end]),
                         preempted=list(result["preempted"][start:end]),
                         session=list(result["sessions_of_samples"][start:end]),
                         blocked=[] if blocked is None else list(blocked[start:end])))
        start = end
    return out


def summarize(rounds: Sequence[Round], accept_tolerance: float) -> dict[str, object]:
    """Statistics of a measurement: accepted-round quantiles plus the raw material."""
    corrected = corrected_rounds(rounds)
    values = [value(g) for g in corrected]
    keep = accepted_rounds(values, accept_tolerance)
    per_session: Groups = {}
    for i in keep:
        for sess, samples in corrected[i].items():
            per_session.setdefault(sess, []).extend(samples)
    kept = [s for samples in per_session.values() for s in samples]
    flat = [s for r in rounds for s in r.wall_ms]
    preempted = [p for r in rounds for p in r.preempted]
    out: dict[str, object] = dict(quantiles(kept))
    out["median_ms"] = value(per_session)
    out["session_medians_ms"] = [float(np.median(per_session[k])) for k in sorted(per_session)]
    out.update(
        {
            "median_all_ms": float(np.median(flat)),
            "spread": spread(kept),
            "spread_all": spread(flat),
            "samples_ms": flat,
            "cpu_ms": [c for r in rounds for c in (r.cpu_ms or [])] or None,
            "preempted": preempted,
            "blocked": [b for r in rounds for b in r.blocked],
            "preempted_fraction": sum(preempted) / max(1, len(flat)),
            "cpu_corrected": cpu_tracks_wall(rounds),
            "round_sizes": [len(r.wall_ms) for r in rounds],
            "round_medians_ms": values,
            "sessions_of_samples": [s for r in rounds for s in r.session],
            "accepted_rounds": keep,
            "runs": len(flat),
        }
    )
    return out
