"""Speed drift of a measured device over time, estimated from its corpus, and the labels put on
one scale.

A cloud VM's CPU is shared with other tenants: on the Intel family-6 model-167 VM the same
architectures' labels rose by ~30% between two sessions of one day, alike in every search
space (``bench/drift.py``). Within one measurement group the protocol cannot see that; across
a corpus measured over hours it is the largest label error.

Estimate: per device, search space and variant (fp32 / int8), ``log(label)`` is regressed on
``[1, log MACs, log bytes moved]`` jointly with one effect per time window (the sampled
architectures are drawn i.i.d. in round-robin order, so the mix of a time window is the mix of
the whole run); a window's factor is ``exp`` of its effect, the mean residual of its records
over all spaces: > 1 when the device was slower then than on average. Windows are the hours in
which records were measured (``measured_at``; else the hours their shards were sealed, ``_sealed_at``;
records still in journals form the window ``pending``). A window with fewer than ``min_records``
sampled records gets no factor (1.0). Only spaces measured in more than one window tell windows
apart, and only windows linked to the device's main body of records through such spaces are
estimated (session 23: a new space measured in hours of its own read as factor 1.0 on a host
~14% slower); :func:`factors` fills the others from the drift reference. The zoo (test networks)
is never used to estimate, only given a factor: the drift reference's fastest passes in its window
(its own label is its fastest pass) where it carries the reference, else its window's.

Per group (:func:`group_factors`, session 6; ``factors(per_group=True)``, off by default):
records that carry the drift reference measured in their own group (``measurement.drift_reference``,
one group = ~32 models and ~2 min) can take the factor of that group instead of their hour's, put
on the estimate's scale by the device's anchor. On the AMD family-25 model-1 VM the reference
moved by 0.89-1.21 from one 2-minute group to the next, its three models agreeing within ~5-10%;
yet dividing by it left *more* noise in the labels (``bench/drift.py``: residual sd of log label
0.179 against 0.160 with the hourly factor; Intel 0.204 against 0.200). The three reference models
are measured one after the other in each round, so they share moments the group's other models
do not: the host's speed changes within seconds, faster than any per-group reference can follow.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from datasets.corpus import latency_label_ms

TEST_SPACES = frozenset({"zoo"})
PENDING = "pending"
GROUP = "group:"  # window keys of per-group factors: "group:<measured_at>"
PASSES = "passes:"  # window keys of the reference read as the zoo reads it: "passes:<window>"


def window_of(record: Mapping[str, Any]) -> str:
    """The time window of a record (``YYYYmmddTHH``): the hour it was measured (``measured_at``,
    records since session 5), else the hour its shard was sealed, else ``pending``."""
    stamp = (record.get("measurement") or {}).get("measured_at") or record.get("_sealed_at")
    return stamp[:11] if stamp else PENDING


def estimate(records: Iterable[Mapping[str, Any]], min_records: int = 60) -> dict[tuple[str, str], dict[str, Any]]:
    """``(device_key, window) -> {"factor", "n"}`` for the measured devices (not ``help-*``)."""
    rows: dict[str, list[tuple[str, str, float, float, float]]] = defaultdict(list)
    for r in records:
        dev = r.get("device_key", "")
        if dev.startswith("help-") or r.get("space") in TEST_SPACES:
            continue
        label = latency_label_ms(r.get("measurement") or {})
        s = r.get("summary") or {}
        if not label or label <= 0:
            continue
        moved = float(s.get("bytes_read", 0)) + float(s.get("bytes_written", 0))
        # one regression per space and variant: an int8 TFLite graph runs at another speed per MAC than
        # its fp32 twin, so a window of mostly int8 records would otherwise read as a faster device
        group = r.get("space", "") + ("" if r.get("variant", "fp32") == "fp32" else f" {r['variant']}")
        rows[dev].append((group, window_of(r), math.log(label), math.log1p(float(s.get("macs", 0))),
                          math.log1p(moved)))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for dev, rs in rows.items():
        rs = _fitted(rs)
        spans: dict[str, set[str]] = defaultdict(set)
        for r in rs:
            spans[r[0]].add(r[1])
        # a group measured in one window only says nothing of that window's speed: it neither
        # counts toward a factor nor links windows
        informative = {g for g, ws in spans.items() if len(ws) > 1}
        linked = connected_windows([(r[0], r[1]) for r in rs if r[0] in informative])
        sub = [r for r in rs if r[0] in informative and r[1] in linked]
        if not sub:
            continue
        for window, (b, n) in _window_effects(sub).items():
            if n >= min_records:
                out[(dev, window)] = {"factor": math.exp(b), "n": n}
    return out


def _window_effects(rows: list[tuple], iterations: int = 200) -> dict[str, tuple[float, int]]:
    """``window -> (log factor, records)``: the joint fit ``log label = [1, log MACs, log bytes] . w_group
    + b_window`` by alternating least squares (each group's regression on the labels less their
    windows' effects, then each window's effect as the mean residual of its records), the effects
    centred on the records' mean. One step is the per-group regression alone; the joint fit also
    carries a speed change through a group measured in two windows to a third that shares
    another group with one of them."""
    groups = sorted({r[0] for r in rows})
    windows = sorted({r[1] for r in rows})
    gi = np.array([groups.index(r[0]) for r in rows])
    wi = np.array([windows.index(r[1]) for r in rows])
    x = np.array([[1.0, r[3], r[4]] for r in rows])
    y = np.array([r[2] for r in rows])
    counts = np.bincount(wi, minlength=len(windows)).astype(float)
    masks = [gi == g for g in range(len(groups))]
    fits = [(x[m], np.linalg.pinv(x[m])) for m in masks]  # each group's least squares: w = pinv(x) @ target
    b = np.zeros(len(windows))
    for _ in range(iterations):
        resid = np.empty(len(y))
        for m, (xg, pinv) in zip(masks, fits, strict=True):
            resid[m] = y[m] - xg @ (pinv @ (y[m] - b[wi[m]]))
        nb = np.bincount(wi, weights=resid, minlength=len(windows)) / counts
        nb -= float(np.average(nb, weights=counts))
        done = float(np.max(np.abs(nb - b))) < 1e-7
        b = nb
        if done:
            break
    return {w: (float(b[k]), int(counts[k])) for k, w in enumerate(windows)}


def _fitted(rs: list[tuple]) -> list[tuple]:
    """The rows of the space/variant groups with at least 10 records (those :func:`estimate` fits)."""
    counts: dict[str, int] = defaultdict(int)
    for r in rs:
        counts[r[0]] += 1
    return [r for r in rs if counts[r[0]] >= 10]


def connected_windows(pairs: Iterable[tuple[str, str]]) -> set[str]:
    """The windows of the largest (by records) connected part of the (group, window) pairs, windows
    linked through a space/variant group measured in both. A window whose groups were all measured
    in it alone (a new search space's first run, with no older space beside it) is compared with
    nothing but itself: each group's regression makes its mean residual ~0 whatever the host's
    speed was (session 23: the family-26 model-2 CPU's onnxruntime dwsep/convnext, measured on a host
    ~14% slower than its other spaces, estimated 0.99-1.00). Such windows get no estimate, so
    :func:`factors` fills them from the drift reference where there is one."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    pairs = list(pairs)
    for group, window in pairs:
        a, b = find("g:" + group), find("w:" + window)
        if a != b:
            parent[a] = b
    size: dict[str, int] = defaultdict(int)
    for group, _ in pairs:
        size[find("g:" + group)] += 1
    if not size:
        return set()
    main = max(size, key=lambda k: (size[k], k))
    return {w for _, w in pairs if find("w:" + w) == main}


def _per_pass(record: Mapping[str, Any]) -> bool:
    """Whether a record keeps one drift-reference label per pass (the zoo: its own label is the
    fastest of its passes)."""
    ref = (record.get("measurement") or {}).get("drift_reference") or {}
    return any(isinstance(v, list) for v in (ref.get("labels_ms") or {}).values())


def factor(factors: Mapping[tuple[str, str], Mapping[str, Any]], record: Mapping[str, Any]) -> float:
    """The drift factor of a record: its group's (:func:`group_factors`) where there is one; for a
    record labelled by its fastest pass (the zoo), the reference's fastest passes in its window
    (:func:`reference_factors`' ``passes:`` keys) where there are some; else its device and
    window's (1.0 where none was estimated)."""
    dev = record.get("device_key", "")
    stamp = (record.get("measurement") or {}).get("measured_at")
    f = factors.get((dev, GROUP + stamp)) if stamp else None
    if f is None and _per_pass(record):
        f = factors.get((dev, PASSES + window_of(record)))
    if f is None:
        f = factors.get((dev, window_of(record)))
    return float(f["factor"]) if f else 1.0


def reference_factors(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The same windows' factors from the measured drift reference (records that carry
    ``measurement.drift_reference``): geometric mean over the reference models of the window's
    median label over the device's median label. Records with one reference label per pass (the
    zoo) count apart, under ``passes:<window>``: their reference is read as their own label is,
    by its fastest pass, which sits below a pass's median on a contended host (session 23: the
    family-26 model-2 CPU's sampled records read 1.08 in the hour its zoo's reference read 1.03-1.04;
    the hour's factor would have over-corrected the zoo measured in it)."""
    by_model: dict[tuple[str, str, str], list[float]] = defaultdict(list)  # (device, set, name)
    by_window: dict[tuple[str, str], dict[tuple[str, str], list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        ref = (r.get("measurement") or {}).get("drift_reference")
        if not ref:
            continue
        dev, model_set = r.get("device_key", ""), ref.get("set", "")
        for name, v in (ref.get("labels_ms") or {}).items():
            labels = [x for x in (v if isinstance(v, list) else [v]) if x]
            # the zoo keeps one reference label per pass, and as its own label the fastest pass
            # (contention only adds time): the reference is read the same way, its fastest pass
            labels = [min(labels)] if isinstance(v, list) and labels else labels
            by_model[(dev, model_set, name)] += labels
            key = (PASSES if isinstance(v, list) else "") + window_of(r)
            by_window[(dev, key)][(model_set, name)] += labels
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for (dev, window), models in by_window.items():
        logs = [math.log(float(np.median(vals)) / float(np.median(by_model[(dev, *model)])))
                for model, vals in models.items() if vals]
        if logs:
            out[(dev, window)] = {"factor": math.exp(float(np.mean(logs))), "n": len(logs)}
    return out


def group_factors(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """``(device_key, "group:<measured_at>") -> {"factor", "n"}`` from each group's own drift
    reference: geometric mean over the reference models of the group's label over the model's
    median label on the device (the same baseline as :func:`reference_factors`). Records with one
    label per pass (the zoo) are left to their window."""
    by_model: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    groups: dict[tuple[str, str], dict[tuple[str, str], float]] = {}
    for r in records:
        m = r.get("measurement") or {}
        ref, stamp = m.get("drift_reference"), m.get("measured_at")
        if not ref or not stamp:
            continue
        if _per_pass(r):
            continue
        labels = ref.get("labels_ms") or {}
        dev, model_set = r.get("device_key", ""), ref.get("set", "")
        for name, v in labels.items():
            if v:
                by_model[(dev, model_set, name)].append(float(v))
        groups[(dev, stamp)] = {(model_set, name): float(v) for name, v in labels.items() if v}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for (dev, stamp), labels in groups.items():
        logs = [math.log(v / float(np.median(by_model[(dev, *model)]))) for model, v in labels.items()]
        if logs:
            out[(dev, GROUP + stamp)] = {"factor": math.exp(float(np.mean(logs))), "n": len(logs)}
    return out


def factors(records: Iterable[Mapping[str, Any]], min_records: int = 60,
            per_group: bool = False) -> dict[tuple[str, str], dict[str, Any]]:
    """:func:`estimate`, with the windows it cannot estimate (too few sampled records, e.g. a
    zoo run on its own) filled from the measured drift reference where the records carry it:
    the reference factor times the device's anchor, the mean log ratio of estimate to reference
    over the windows that have both (no anchor, no fill). ``per_group``: also each group's own
    factor (:func:`group_factors`) times the anchor, which :func:`factor` prefers."""
    recs = list(records)
    est, ref = estimate(recs, min_records), reference_factors(recs)
    groups = group_factors(recs) if per_group else {}
    out = dict(est)
    for dev in {d for d, _ in ref}:
        both = [math.log(est[k]["factor"] / ref[k]["factor"]) for k in ref if k[0] == dev and k in est]
        if not both:
            continue
        anchor = float(np.mean(both))
        for k, v in ref.items():
            if k[0] == dev and k not in out:
                out[k] = {"factor": v["factor"] * math.exp(anchor), "n": 0, "from": "reference"}
        for k, v in groups.items():
            if k[0] == dev:
                out[k] = {"factor": v["factor"] * math.exp(anchor), "n": v["n"], "from": "group"}
    return out
