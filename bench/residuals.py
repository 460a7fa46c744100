"""Where a checkpoint's latency predictions lean: the median prediction / label ratio and the MAPE per
search space, variant (fp32 / int8) and latency band, for one device's corpus records (or a scratch
root's). A predictor that fits its training records within 1% everywhere but leans 10% in one band
of new graphs lacks training data there; the zoo's per-graph rows (``bench/accuracy.py --per-graph``)
name single networks, this names the region. Records the checkpoint trained on are fitted ones, so
read a band's lean on graphs it never saw (a new space or a scratch root) as the finding.

Session 26 found this way the LiteRT predictors leaning +10% (MAPE 12.7%) on fp32 networks under
2 ms of the new ``mbsmall`` space on the family-25 model-17 CPU, while int8 ones were 3.5% off, and
the ``mobilenet`` space held only 7 fp32 graphs under 2 ms of that CPU.

Run: ``.venv/bin/python -m bench.residuals --checkpoint predictor/checkpoints/cpu-litert.pt
[--device KEY] [--root DIR] [--space S ...] [--bands 2 5 15]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    from agent import environment
    from predictor.artifacts import load_checkpoint
    from predictor.evaluate import corpus_records

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--device", default=None, help="device key (default: this machine's LiteRT device)")
    ap.add_argument("--root", type=Path, default=None, help="a scratch corpus root (edgeperf dataset measure --root)")
    ap.add_argument("--space", nargs="+", default=None, help="only these spaces")
    ap.add_argument("--bands", nargs="+", type=float, default=[2.0, 5.0, 15.0], help="latency band edges, ms")
    ap.add_argument("--min-count", type=int, default=5, help="rows of fewer records are left out")
    args = ap.parse_args(argv)

    device = args.device or environment.device_key("litert", 1)
    pred = load_checkpoint(args.checkpoint)
    if device not in pred.devices:
        print(f"error: {args.checkpoint} does not know {device}; it knows {', '.join(pred.devices)}")
        return 2
    where = {"root": args.root} if args.root else {}
    recs = [r for r in corpus_records(devices=[device], drift=args.root is None, include_pending=args.root is None,
                                      **where)
            if "latency" in r.targets and (args.space is None or r.space in args.space)]
    if not recs:
        print(f"error: no latency records of {device}{' under ' + str(args.root) if args.root else ''}")
        return 2
    mu, _ = pred.predict_log([r.graph for r in recs], pred.device_indices([device]))
    label = np.array([r.targets["latency"] for r in recs])
    ratio = np.exp(mu[:, 0, pred.targets.index("latency")]) / label
    variant = np.array([r.key.split(":")[1] for r in recs])
    space = np.array([r.space for r in recs])
    edges = [0.0, *sorted(args.bands), np.inf]
    print(f"{pred.name}: {len(recs)} latency records of {device}"
          f"{' under ' + str(args.root) if args.root else ' (corpus, drift-normalised labels)'}")
    print(f"{'space':<10} {'variant':<7} {'band ms':<10} {'n':>5} {'median pred/label':>18} {'mape':>6} {'acc10':>6}")
    for s in sorted(set(space)):
        for v in sorted(set(variant)):
            for lo, hi in zip(edges[:-1], edges[1:], strict=True):
                m = (space == s) & (variant == v) & (label >= lo) & (label < hi)
                if m.sum() < args.min_count:
                    continue
                err = np.abs(ratio[m] - 1)
                band = f"{lo:g}-{hi:g}" if np.isfinite(hi) else f">={lo:g}"
                print(f"{s:<10} {v:<7} {band:<10} {int(m.sum()):>5} {np.median(ratio[m]):>18.3f} "
                      f"{100 * err.mean():>6.1f} {100 * (err <= 0.1).mean():>6.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
