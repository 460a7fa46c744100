"""Speed drift of each measured device over time, from its corpus (``datasets.drift``).

For every device (not the HELP ones) and every hour in which shards were sealed: the number
of sampled records and the drift factor estimated from them (exp of the mean residual of a
per-space log-linear roofline fit: > 1 means the device was slower then than on average), the
same per search space (a drift of the host, not of the architectures, moves every space alike),
and, where the records carry the measured drift reference (``datasets.measure.REFERENCES``),
the factor the reference models show, relative to their first window. Last, for the records
measured with their group's own reference: the residual sd of log label of the per-space fit
with raw labels, labels divided by their hour's factor, and by their group's factor (lower is
less noise left in the labels).

    .venv/bin/python bench/drift.py [--devices KEY ...]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets import corpus, drift  # noqa: E402


def residual_sd(recs: list[dict], fs: dict | None) -> tuple[float, int]:
    """Pooled sd of the per-space log-linear fit's residuals (log label on 1, log MACs, log bytes)
    over the sampled records that carry their group's drift reference, labels divided by the
    factors ``fs`` (None: raw); and how many records. The lower, the less label noise is left."""
    rows: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for r in recs:
        m = r.get("measurement") or {}
        label = corpus.latency_label_ms(m)
        if r["space"] in drift.TEST_SPACES or not m.get("drift_reference") or not label:
            continue
        s = r.get("summary") or {}
        y = math.log(label / (drift.factor(fs, r) if fs is not None else 1.0))
        rows[r["space"]].append((y, math.log1p(float(s.get("macs", 0))),
                                 math.log1p(float(s.get("bytes_read", 0)) + float(s.get("bytes_written", 0)))))
    resid: list[float] = []
    for sub in rows.values():
        if len(sub) < 10:
            continue
        a = np.array(sub)
        x = np.c_[np.ones(len(a)), a[:, 1:]]
        w, *_ = np.linalg.lstsq(x, a[:, 0], rcond=None)
        resid += list(a[:, 0] - x @ w)
    return (float(np.std(resid)) if resid else float("nan")), len(resid)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", nargs="*", default=None)
    ap.add_argument("--min-records", type=int, default=60)
    args = ap.parse_args(argv)
    devices = args.devices or [d for d in corpus.measured_devices() if not d.startswith("help")]
    for dev in devices:
        recs = list(corpus.iter_records(dev, include_help=False, include_pending=True))
        est = drift.estimate(recs, args.min_records)
        ref = drift.reference_factors(recs)
        spaces = sorted({r["space"] for r in recs} - drift.TEST_SPACES)
        per_space = {sp: drift.estimate([r for r in recs if r["space"] == sp], 10) for sp in spaces}
        tests = defaultdict(int)
        for r in recs:
            if r["space"] in drift.TEST_SPACES:
                tests[drift.window_of(r)] += 1
        windows = sorted({w for _, w in est} | set(tests) | {w for _, w in ref})
        print(f"\n== {dev}: {len(recs)} records")
        print(f"{'window':<13} {'n':>5} {'factor':>7} {'ref':>7}  " + " ".join(f"{s:>9}" for s in spaces) + "  test records")
        ref_first = next((ref[(dev, w)]["factor"] for w in windows if (dev, w) in ref), None)
        for w in windows:
            e = est.get((dev, w))
            rf = ref.get((dev, w))
            cols = []
            for sp in spaces:
                f = per_space[sp].get((dev, w))
                cols.append(f"{f['factor']:9.3f}" if f else f"{'-':>9}")
            print(f"{w:<13} {e['n'] if e else 0:>5} {e['factor'] if e else float('nan'):7.3f} "
                  f"{rf['factor'] / ref_first if rf else float('nan'):7.3f}  " + " ".join(cols)
                  + (f"  zoo {tests[w]}" if tests.get(w) else ""))
        if est:
            fs = np.array([v["factor"] for (d, _), v in est.items() if d == dev])
            print(f"factor range {fs.min():.3f}..{fs.max():.3f} (max/min {fs.max() / fs.min():.2f})")
        groups = drift.group_factors(recs)
        if groups:
            gs = np.array([v["factor"] for v in groups.values()])
            sds = [residual_sd(recs, f) for f in (None, drift.factors(recs, args.min_records, per_group=False),
                                                  drift.factors(recs, args.min_records, per_group=True))]
            print(f"{len(gs)} groups with their own reference: factor {gs.min():.3f}..{gs.max():.3f}, "
                  f"sd of log {np.std(np.log(gs)):.3f}; residual sd of log label (per-space fit, {sds[0][1]} "
                  f"records): raw {sds[0][0]:.4f}, hourly factor {sds[1][0]:.4f}, group factor {sds[2][0]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
