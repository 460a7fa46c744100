"""Robust statistics over timed rounds.

Each timed run records its wall time, the measuring thread's CPU time, whether the thread
was involuntarily switched out meanwhile (*preempted*: another process took the core, so
the wall time holds time that was not inference), whether it started *cold* (another
process had the core since the previous run began: it evicted the model's data from the
core's caches) and whether it *blocked* (a voluntary switch: it waited). A round's
*corrected* samples per session come from the best tier with at least three runs
(:meth:`Round.corrected`): warm runs (neither preempted nor cold), then unpreempted runs,
then every run with preempted ones counted by their CPU time. On an idle core every run
is warm; on a core shared with a busy process, the tiers keep the rounds from mixing
runs that paid for evicted caches with runs that did not.

The CPU time stands in for the wall time only while it is the whole inference
(:func:`cpu_tracks_wall`: single-threaded runtimes whose CPU time tracks the wall time
of unpreempted runs or, when too few runs escaped preemption to tell (a long model on a
busy core), that never waited); a runtime that waits for an accelerator or for worker
threads (whose CPU time is not the caller's) counts preempted runs by their wall time.

Other processes only ever *add* time, so the estimate comes from the fastest rounds. A
model is measured on several separately loaded sessions, and each session's rounds are
judged on their own: a session's rounds whose corrected median lies within
``accept_tolerance`` of that session's fastest round are "accepted", and the session's
value is the median of its accepted samples. Sessions of one model differ (memory
placement: a few percent for compute-bound models, tens of percent for memory-bound ones
where one session out of several can be an outlier), so the reported median is the
*median* over sessions of the session values (the mean for two sessions); p10/p90/MAD
are computed over all accepted samples. Whether the sessions agree well enough that more
need not be loaded is :func:`sessions_agree`. Every raw wall sample is kept and returned
(``samples_ms``); ``median_all_ms`` is their plain median.

The contention check (:func:`settled`) compares rounds by their *slow-down factor*: per
round, the median over its sessions of the session's median in that round divided by the
session's fastest round median; that stays comparable when sessions are added between
rounds.
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
    cold: list[bool] = field(default_factory=list)  # started after another process had the core; [] = unknown

    def add(self, wall: float, cpu: float, preempted: bool, session: int = 0, blocked: bool = False,
            cold: bool = False) -> None:
        self.wall_ms.append(wall)
        self.preempted.append(preempted)
        self.session.append(session)
        self.blocked.append(blocked)
        self.cold.append(cold)
        if self.cpu_ms is not None:
            self.cpu_ms.append(cpu)

    def usable(self, session: int | None = None) -> int:
        """Runs (of ``session``) that yield a corrected sample without falling back."""
        mine = [p for p, s in zip(self.preempted, self.session, strict=True) if session is None or s == session]
        return len(mine) if self.cpu_ms is not None else mine.count(False)

    def corrected(self, use_cpu: bool = True) -> dict[int, list[float]]:
        """Corrected samples per session, from the best tier with at least three runs:

        1. *warm* runs: neither preempted nor started right after another process had the
           core (it evicted the model's data: the next run is 5-15% slower);
        2. runs that were not preempted;
        3. every run, preempted ones by their CPU time when ``use_cpu`` applies (it still
           pays for the evicted caches), else by their wall time.
        """
        cpu = self.cpu_ms if self.cpu_ms is not None and use_cpu else None
        cold = self.cold if len(self.cold) == len(self.wall_ms) else [False] * len(self.wall_ms)
        out: dict[int, list[float]] = {}
        for sess in dict.fromkeys(self.session):
            mine = [i for i, s in enumerate(self.session) if s == sess]
            warm = [self.wall_ms[i] for i in mine if not self.preempted[i] and not cold[i]]
            clean = [self.wall_ms[i] for i in mine if not self.preempted[i]]
            if len(warm) >= 3:
                out[sess] = warm
            elif len(clean) >= 3:
                out[sess] = clean
            elif cpu is not None:
                out[sess] = [cpu[i] if self.preempted[i] else self.wall_ms[i] for i in mine]
            else:
                out[sess] = [self.wall_ms[i] for i in mine]
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


def combine(values: Sequence[float]) -> float:
    """The median over sessions (the mean of two): robust to one outlier session of three or more."""
    return float(np.median(values))


def value(groups: Groups) -> float:
    """A round's value: the median over sessions of each session's median (each session
    counts equally, whatever its run count)."""
    return combine([float(np.median(v)) for v in groups.values()])


def session_round_medians(rounds: Sequence[Groups]) -> dict[int, dict[int, float]]:
    """session -> {round index: the session's median in that round}."""
    out: dict[int, dict[int, float]] = {}
    for i, groups in enumerate(rounds):
        for sess, samples in groups.items():
            out.setdefault(sess, {})[i] = float(np.median(samples))
    return out


def round_factors(rounds: Sequence[Groups]) -> list[float]:
    """Per round, how much slower it ran than the sessions' fastest rounds: the median over
    the round's sessions of (median in the round / the session's fastest round median).
    Sessions seen in a single round only (just added) count only where no other is there."""
    meds = session_round_medians(rounds)
    best = {s: min(m.values()) for s, m in meds.items()}
    out = []
    for i, groups in enumerate(rounds):
        ratios = {s: meds[s][i] / best[s] for s in groups if best[s] > 0}
        seasoned = [r for s, r in ratios.items() if len(meds[s]) > 1] or list(ratios.values())
        out.append(float(np.median(seasoned)) if seasoned else float("inf"))
    return out


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
    """Contention check: the two fastest rounds (by :func:`round_factors`) agree within
    ``settle_tolerance`` and the fastest round's own spread (mean over its sessions) is
    below ``max_spread``."""
    if len(rounds) < 2:
        return False
    factors = round_factors(rounds)
    order = np.argsort(factors)
    first, second = factors[order[0]], factors[order[1]]
    agree = (second - first) <= settle_tolerance * first
    width = float(np.mean([spread(v) for v in rounds[order[0]].values()]))
    return bool(agree and width <= max_spread)


def session_values(rounds: Sequence[Groups], accept_tolerance: float) -> tuple[dict[int, float], Groups, list[int]]:
    """Per session: its value (median of the samples of its accepted rounds) and those
    samples; plus the rounds accepted for any session."""
    meds = session_round_medians(rounds)
    kept: Groups = {}
    accepted: set[int] = set()
    for sess in sorted(meds):
        best = min(meds[sess].values())
        mine = [i for i, m in meds[sess].items() if m <= best * (1.0 + accept_tolerance)]
        accepted.update(mine)
        kept[sess] = [x for i in sorted(mine) for x in rounds[i][sess]]
    values = {sess: float(np.median(samples)) for sess, samples in kept.items()}
    return values, kept, sorted(accepted)


def sessions_agree(values: Sequence[float], tolerance: float) -> bool:
    """Whether the median over sessions is backed by a strict majority of them: at least
    ``n // 2 + 1`` session values lie within ``tolerance`` (relative) of the median (two
    sessions: both; three: two of them; five: three)."""
    if len(values) < 2:
        return True
    mid = combine(values)
    close = sum(abs(v - mid) <= tolerance * mid for v in values)
    return close >= len(values) // 2 + 1


def session_spread(values: Sequence[float]) -> float:
    """(max - min) / median of the session values."""
    mid = combine(values)
    return (max(values) - min(values)) / mid if mid > 0 else 0.0


def low_quantile(rounds: Sequence[Round], q: float) -> float:
    """Median over sessions of the ``q``-quantile of each session's corrected samples (all
    rounds). Contention only adds time, so a low quantile is the most stable estimate
    on a busy machine; on an idle one it sits within about a percent of the median."""
    pooled: Groups = {}
    for groups in corrected_rounds(rounds):
        for sess, samples in groups.items():
            pooled.setdefault(sess, []).extend(samples)
    return combine([float(np.quantile(v, q)) for v in pooled.values()])


def rounds_from_result(result: dict) -> list[Round]:
    """Rebuild the rounds of a protocol result from its raw arrays (for re-analysis)."""
    out, start = [], 0
    cpu, blocked, cold = result.get("cpu_ms"), result.get("blocked"), result.get("cold")
    for size in result["round_sizes"]:
        end = start + size
        out.append(Round(wall_ms=list(result["samples_ms"][start:end]),
                         cpu_ms=None if cpu is None else list(cpu[start:end]),
                         preempted=list(result["preempted"][start:end]),
                         session=list(result["sessions_of_samples"][start:end]),
                         blocked=[] if blocked is None else list(blocked[start:end]),
                         cold=[] if cold is None else list(cold[start:end])))
        start = end
    return out


def summarize(rounds: Sequence[Round], accept_tolerance: float, start: int = 0) -> dict[str, object]:
    """Statistics of a measurement: accepted-round quantiles from ``rounds[start:]`` (the
    rounds that timed every session) plus the raw material of all rounds."""
    corrected = corrected_rounds(rounds)
    values = [value(g) for g in corrected]
    sessions, per_session, keep = session_values(corrected[start:], accept_tolerance)
    keep = [start + i for i in keep]
    kept = [s for samples in per_session.values() for s in samples]
    flat = [s for r in rounds for s in r.wall_ms]
    preempted = [p for r in rounds for p in r.preempted]
    out: dict[str, object] = dict(quantiles(kept))
    out["median_ms"] = combine(list(sessions.values()))
    out["session_medians_ms"] = [sessions[k] for k in sorted(sessions)]
    out["session_spread"] = session_spread(list(sessions.values()))
    out.update(
        {
            "median_all_ms": float(np.median(flat)),
            "spread": spread(kept),
            "spread_all": spread(flat),
            "samples_ms": flat,
            "cpu_ms": [c for r in rounds for c in (r.cpu_ms or [])] or None,
            "preempted": preempted,
            "blocked": [b for r in rounds for b in r.blocked],
            "cold": [c for r in rounds for c in r.cold],
            "preempted_fraction": sum(preempted) / max(1, len(flat)),
            "cpu_corrected": cpu_tracks_wall(rounds),
            "round_sizes": [len(r.wall_ms) for r in rounds],
            "round_medians_ms": values,
            "round_factors": round_factors(corrected),
            "sessions_of_samples": [s for r in rounds for s in r.session],
            "accepted_rounds": keep,
            "estimate_from_round": start,
            "runs": len(flat),
        }
    )
    return out
