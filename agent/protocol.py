"""The measurement protocol.

For each model: load (timed, ``load_ms``), first inference (timed apart, ``first_ms``),
warm-up for ``warmup_s``, then timed rounds. Each round starts with a few untimed runs
(caches may have been evicted by other models in between) and then times at least
``runs_per_round`` usable inferences (see :class:`agent.stats.Round`: runs preempted by
another process are flagged and corrected or left out) and at least ``min_round_s``
seconds, but at most ``max_round_s`` seconds. After ``min_rounds``
rounds a model stops as soon as the contention check passes (:func:`agent.stats.settled`);
if it has not passed after ``max_rounds``, up to ``max_remeasure`` extra batches of
``remeasure_rounds`` rounds are measured and ``remeasured`` counts them. Every raw sample is
kept. Statistics come from the rounds whose median is close to the fastest round's
(see :mod:`agent.stats`): contention only ever adds time.

Each model is loaded ``sessions`` times (default 2) and every round times a block of runs
on each session: separately loaded sessions of one model differ (memory placement: a few
percent for compute-bound models; for memory-bound ones, whose weights do not fit the
caches, one session in several can be tens of percent off), so one session alone makes a
pass-to-pass difference no amount of runs removes. After ``session_check_rounds`` rounds
(default 2), if the sessions disagree (:func:`agent.stats.sessions_agree` with
``session_tolerance``), the model gets ``max_sessions`` sessions at once and its rounds
start again: the estimate comes from the rounds that timed every session (the earlier
rounds stay in the raw samples; ``estimate_from_round``), so sessions are compared on the
same stretch of time, never one measured in a quiet spell against one measured in a busy
one. The latency is the median over sessions, so an outlier session does not move it.
Only models whose sessions disagree pay for this.

``latency_ms`` (= ``median_ms``) is the headline estimate, the label to learn.
``low_quantile_ms`` (the ``latency_quantile``, default 0.25, of the corrected samples per
session, averaged over sessions) is reported beside it: in bench/repeatability.py the two
were about equally repeatable between passes, neither consistently better.

``measure_many`` interleaves rounds over a group of models (round 1 of every model, then
round 2, ...) with their sessions kept loaded, so slow drifts and other processes' bursts
spread evenly over the group instead of hitting one model. Peak memory is measured
afterwards per model in a dedicated child process (:mod:`agent.memory`).

``cpu_busy`` records how busy each CPU was while the model's group was measured (from
/proc/stat; None where unreadable), so the condition of a measurement is on record. On this
shared 2-core VM (Intel Xeon family 6 model 167, 2026-11-27, bench/results/repeatability.txt)
pass-to-pass MAPE of ``latency_ms`` was 2.3-3.3% with the corpus measurement on the other core,
and 1.4%, 3.5% and 8.7% in three runs with the guest otherwise idle (the plain 30-run median:
5.3%, 9.3%, 5.7%): what else runs on the host shifts every model of a pass alike, which no
within-pass statistic can see. Measure on an otherwise idle device.
"""

from __future__ import annotations

import gc
import logging
import os
import resource
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent import environment, hugepages, stats
from agent import memory as memory_mod
from agent.backends import BackendError, Session, get_backend
from agent.energy import find_meter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProtocolConfig:
    warmup_s: float = 0.2
    warmup_min_runs: int = 3
    round_warmup_runs: int = 2
    runs_per_round: int = 10
    min_round_s: float = 0.05
    max_round_s: float = 1.0
    max_runs_per_round: int = 2000
    min_rounds: int = 3
    max_rounds: int = 5
    settle_tolerance: float = 0.02
    max_spread: float = 0.25
    accept_tolerance: float = 0.03
    max_remeasure: int = 2
    remeasure_rounds: int = 2
    memory_runs: int = 3
    realtime: bool = False
    sessions: int = 2
    max_sessions: int = 5
    session_tolerance: float = 0.02
    session_check_rounds: int = 2
    huge_pages: bool = False
    latency_quantile: float = 0.25

    def __post_init__(self) -> None:
        if self.min_rounds < 2 or self.max_rounds < self.min_rounds or self.runs_per_round < 1:
            raise ValueError("need 2 <= min_rounds <= max_rounds and runs_per_round >= 1")
        if self.sessions < 1:
            raise ValueError("sessions must be >= 1")
        if self.max_sessions < self.sessions:
            raise ValueError("max_sessions must be >= sessions")
        if self.session_check_rounds < 1:
            raise ValueError("session_check_rounds must be >= 1")
        if not 0.0 < self.latency_quantile <= 0.5:
            raise ValueError("latency_quantile must be in (0, 0.5]")


class MeasureError(Exception):
    """A model could not be measured; ``code``/``message`` come from the runtime."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


@dataclass
class _Item:
    path: str
    input_shapes: dict[str, list[int]] | None
    sessions: list[Session] = field(default_factory=list)
    rounds: list[stats.Round] = field(default_factory=list)
    energy_mj: list[float] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    remeasured: int = 0
    budget: int = 0
    min_rounds: int = 0
    start: int = 0
    added_sessions: int = 0
    done: bool = False
    error: BackendError | None = None


@contextmanager
def _pinned(cpu: int | None) -> Iterator[None]:
    """Pin this process to one CPU for the block, when asked and supported."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextmanager
def _realtime(enabled: bool) -> Iterator[bool]:
    """Opt-in: run the timed rounds under SCHED_FIFO (Linux, needs CAP_SYS_NICE), so ordinary
    processes cannot preempt the measuring thread. It holds one core while measuring (the
    kernel's RT throttling still leaves others a share): use it on a device, not on a
    machine shared with people. Yields whether it is in effect."""
    if not enabled or not hasattr(os, "sched_setscheduler"):
        yield False
        return
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except OSError as exc:
        log.warning("measure.realtime_unavailable", extra={"error": str(exc)})
        yield False
        return
    try:
        yield True
    finally:
        os.sched_setscheduler(0, policy, param)


@contextmanager
def _no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_RUSAGE = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)


def _time_once(session: Session) -> float:
    t0 = time.perf_counter_ns()
    session.run()
    return (time.perf_counter_ns() - t0) / 1e6


def _switches() -> int:
    return resource.getrusage(_RUSAGE).ru_nivcsw


def _time_flagged(session: Session) -> tuple[float, float, int, int, bool]:
    """One timed run: wall ms, this thread's CPU ms, its count of involuntary context
    switches before and after (another process took the core) and whether it waited (a
    voluntary switch: the CPU time is not the whole inference)."""
    before = resource.getrusage(_RUSAGE)
    c0 = time.thread_time_ns()
    t0 = time.perf_counter_ns()
    session.run()
    t1 = time.perf_counter_ns()
    c1 = time.thread_time_ns()
    after = resource.getrusage(_RUSAGE)
    return ((t1 - t0) / 1e6, (c1 - c0) / 1e6, before.ru_nivcsw, after.ru_nivcsw,
            after.ru_nvcsw != before.ru_nvcsw)


def _warm(session: Session, cfg: ProtocolConfig) -> int:
    runs, start = 0, time.perf_counter()
    while runs < cfg.warmup_min_runs or time.perf_counter() - start < cfg.warmup_s / cfg.sessions:
        session.run()
        runs += 1
    return runs


def _load(item: _Item, backend: Any, threads: int, cfg: ProtocolConfig) -> None:
    t0 = time.perf_counter_ns()
    first = backend.load(item.path, threads=threads, input_shapes=item.input_shapes)
    item.result["load_ms"] = (time.perf_counter_ns() - t0) / 1e6
    item.result["first_ms"] = _time_once(first)
    item.result["input_shapes"] = first.input_shapes()
    item.sessions = [first] + [backend.load(item.path, threads=threads, input_shapes=item.input_shapes)
                               for _ in range(cfg.sessions - 1)]
    item.result["warmup_runs"] = sum(_warm(s, cfg) for s in item.sessions)
    item.budget, item.min_rounds = cfg.max_rounds, cfg.min_rounds


def _add_sessions(item: _Item, backend: Any, threads: int, cfg: ProtocolConfig) -> None:
    """The sessions disagree: load up to ``max_sessions``, warm them, and start the rounds
    again (the estimate uses only the rounds from here on, which time every session)."""
    while len(item.sessions) < cfg.max_sessions:
        session = backend.load(item.path, threads=threads, input_shapes=item.input_shapes)
        item.result["warmup_runs"] += _warm(session, cfg)
        item.sessions.append(session)
        item.added_sessions += 1
    if cfg.huge_pages:
        hugepages.collapse()
    item.start = n = len(item.rounds)
    item.min_rounds, item.budget = n + cfg.min_rounds, n + cfg.max_rounds
    log.info("measure.add_sessions", extra={"path": item.path, "sessions": len(item.sessions)})


def _round(sessions: list[Session], cfg: ProtocolConfig, meter: Any, threads: int) -> tuple[stats.Round, float | None]:
    """One round: a block of timed runs on each session in turn (each block starts with a
    few untimed runs). Each session gets its share of the round's budget for ``sessions``
    sessions (so a round with added sessions takes longer, not fewer runs per session)."""
    k = cfg.sessions
    want, min_s, max_s = -(-cfg.runs_per_round // k), cfg.min_round_s / k, cfg.max_round_s / k
    rnd = stats.Round(cpu_ms=[] if threads == 1 else None)
    if meter is not None:
        meter.start()
    for index, session in enumerate(sessions):
        mark, preempted = _switches(), False
        for _ in range(cfg.round_warmup_runs):
            session.run()
        start, runs = time.perf_counter(), 0
        while runs < cfg.max_runs_per_round // k:
            elapsed = time.perf_counter() - start
            if elapsed >= max_s or (rnd.usable(index) >= want and elapsed >= min_s):
                break
            wall, cpu, before, after, blocked = _time_flagged(session)
            # cold: another process had the core since the previous run began (its data evicted)
            cold = preempted or before != mark
            preempted, mark = after != before, after
            rnd.add(wall, cpu, preempted, session=index, blocked=blocked, cold=cold)
            runs += 1
    energy = meter.stop() if meter is not None else None
    return rnd, (energy / len(rnd.wall_ms) if energy is not None else None)


def _corrected(item: _Item) -> list[stats.Groups]:
    return stats.corrected_rounds(item.rounds)[item.start:]


def _settled(item: _Item, cfg: ProtocolConfig) -> bool:
    return stats.settled(_corrected(item), cfg.settle_tolerance, cfg.max_spread)


def _sessions_agree(item: _Item, cfg: ProtocolConfig) -> bool:
    values, _, _ = stats.session_values(_corrected(item), cfg.accept_tolerance)
    return stats.sessions_agree(list(values.values()), cfg.session_tolerance)


def _advance(item: _Item, cfg: ProtocolConfig, backend: Any, threads: int) -> None:
    """After a round: load more sessions when they disagree (once, early), go on, extend
    with a re-measurement batch, or stop."""
    n = len(item.rounds)
    if (n == cfg.session_check_rounds and len(item.sessions) < cfg.max_sessions
            and not _sessions_agree(item, cfg)):
        _add_sessions(item, backend, threads, cfg)
        return
    if n < item.min_rounds:
        return
    if not _settled(item, cfg):
        if n < item.budget:
            return
        if item.remeasured < cfg.max_remeasure:
            item.remeasured += 1
            item.budget += cfg.remeasure_rounds
            log.info("measure.remeasure", extra={"path": item.path, "rounds": n})
            return
    item.done = True


def _finish(item: _Item, base: dict[str, Any], cfg: ProtocolConfig) -> dict[str, Any]:
    out = {**base, "path": item.path, **item.result}
    if item.error is not None:
        out["error"] = item.error.to_dict()
        return out
    out.update(stats.summarize(item.rounds, cfg.accept_tolerance, item.start))
    out["latency_ms"] = out["median_ms"]
    out["low_quantile_ms"] = stats.low_quantile(item.rounds, cfg.latency_quantile)
    out["rounds"] = len(item.rounds)
    out["remeasured"] = item.remeasured
    out["sessions"] = cfg.sessions + item.added_sessions
    out["sessions_agree"] = stats.sessions_agree(out["session_medians_ms"], cfg.session_tolerance)
    out["contended"] = not _settled(item, cfg)
    energies = sorted(item.energy_mj)
    out["energy_mj"] = energies[len(energies) // 2] if energies else None
    out["peak_memory_mb"] = None
    return out


def _measure_group(items: list[_Item], backend: Any, threads: int, cfg: ProtocolConfig, meter: Any) -> None:
    for item in items:
        try:
            _load(item, backend, threads, cfg)
        except BackendError as exc:
            item.error, item.done, item.sessions = exc, True, []
    pages = hugepages.collapse() if cfg.huge_pages else None
    with _no_gc(), _realtime(cfg.realtime) as realtime:
        for item in items:
            item.result["realtime"] = realtime
            item.result["huge_pages"] = pages
        while not all(i.done for i in items):
            for item in (i for i in items if not i.done):
                try:
                    rnd, energy = _round(item.sessions, cfg, meter, threads)
                except BackendError as exc:
                    item.error, item.done = exc, True
                    continue
                item.rounds.append(rnd)
                if energy is not None:
                    item.energy_mj.append(energy)
                try:
                    _advance(item, cfg, backend, threads)
                except BackendError as exc:
                    item.error, item.done = exc, True
    for item in items:
        item.sessions = []
    gc.collect()


def _add_memory(out: dict[str, Any], runtime: str, threads: int, cfg: ProtocolConfig) -> None:
    try:
        mem = memory_mod.measure_peak(out["path"], runtime, threads, out.get("input_shapes"), cfg.memory_runs)
    except memory_mod.PeakMemoryError as exc:
        log.warning("measure.memory_failed", extra={"path": out["path"], "error": str(exc)[:500]})
        out["peak_memory_mb"], out["memory"] = None, {"error": str(exc)[:2000]}
        return
    out["peak_memory_mb"] = mem.pop("peak_memory_mb")
    out["memory"] = mem


def measure_many(
    paths: Sequence[str | Path],
    runtime: str = "onnxruntime",
    threads: int = 1,
    input_shapes: Sequence[dict[str, list[int]] | None] | dict[str, list[int]] | None = None,
    config: ProtocolConfig | None = None,
    *,
    memory: bool | Sequence[bool] = True,
    cpu: int | None = None,
    group_size: int = 32,
    max_group_mb: float = 512.0,
) -> list[dict[str, Any]]:
    """Measure several models with rounds interleaved within groups of up to ``group_size``
    models whose files hold at most ``max_group_mb`` together, times the sessions (a group's
    sessions stay loaded until it is done; a bigger model gets a group of its own).

    A bigger group spreads each model's rounds over a longer stretch of time, so a busy
    spell of another process (seconds long on a shared machine) hits a smaller share of
    them: in bench/repeatability.py on this 2-core VM with both cores busy, groups of 32-36
    repeated better than groups of 8 in three comparisons (mean pass-to-pass MAPE 4.7 vs
    5.4%, 4.1 vs 6.4%, 3.7 vs 5.3%).

    ``input_shapes`` is one mapping for all models or a list aligned with ``paths``; so is
    ``memory`` (whether to measure a model's peak memory in a child process).
    A model the runtime cannot load or run yields a result with an ``error`` entry
    (``{"code", "message"}``) instead of statistics; the others are unaffected.
    """
    cfg = config or ProtocolConfig()
    if threads < 1:
        raise ValueError("threads must be >= 1")
    shapes = list(input_shapes) if isinstance(input_shapes, list | tuple) else [input_shapes] * len(paths)
    if len(shapes) != len(paths):
        raise ValueError("input_shapes must align with paths")
    with_memory = [memory] * len(paths) if isinstance(memory, bool) else [bool(m) for m in memory]
    if len(with_memory) != len(paths):
        raise ValueError("memory must be one flag or align with paths")
    backend = get_backend(runtime)
    base = {"runtime": runtime, "runtime_version": backend.version(), "threads": threads,
            "delegate": backend.delegate, "cpu_affinity": cpu, "protocol": asdict(cfg)}
    meter = find_meter()
    base["energy_sensor"] = getattr(meter, "name", None)
    results: list[dict[str, Any]] = []
    with _pinned(cpu):
        for start, stop in _groups(paths, group_size, max_group_mb * 1024 * 1024 / cfg.sessions):
            group = [_Item(str(p), s) for p, s in zip(paths[start:stop], shapes[start:stop], strict=True)]
            t0, ticks = time.perf_counter(), environment.cpu_times()
            _measure_group(group, backend, threads, cfg, meter)
            elapsed = (time.perf_counter() - t0) / len(group)
            busy = environment.cpu_busy(ticks, environment.cpu_times())
            for item, mem in zip(group, with_memory[start:stop], strict=True):
                out = _finish(item, base, cfg)
                out["duration_s"] = elapsed
                out["loadavg"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
                out["cpu_busy"] = busy
                if mem and "error" not in out:
                    _add_memory(out, runtime, threads, cfg)
                results.append(out)
    return results


def _groups(paths: Sequence[str | Path], size: int, max_bytes: float) -> Iterator[tuple[int, int]]:
    """[start, stop) ranges of consecutive paths: at most ``size`` paths (balanced: 36 paths
    in groups of 32 make two groups of 18, not 32 + 4) and ``max_bytes`` of files (at least
    one path each)."""
    if paths:
        size = -(-len(paths) // -(-len(paths) // size))
    start, total = 0, 0
    for i, path in enumerate(paths):
        try:
            nbytes = os.path.getsize(path)
        except OSError:
            nbytes = 0  # the backend reports the missing file
        if i > start and (i - start >= size or total + nbytes > max_bytes):
            yield start, i
            start, total = i, 0
        total += nbytes
    if start < len(paths):
        yield start, len(paths)


def measure(
    model_path: str | Path,
    runtime: str = "onnxruntime",
    threads: int = 1,
    input_shapes: dict[str, list[int]] | None = None,
    config: ProtocolConfig | None = None,
    *,
    memory: bool | Sequence[bool] = True,
    cpu: int | None = None,
) -> dict[str, Any]:
    """Measure one model; raises MeasureError when the runtime cannot load or run it."""
    out = measure_many([model_path], runtime, threads, [input_shapes], config, memory=memory, cpu=cpu)[0]
    if "error" in out:
        raise MeasureError(out["error"]["code"], out["error"]["message"])
    return out
