"""Do a checkpoint's 90% intervals cover real networks, and what would make them?

A checkpoint's conformal scale ``q[d, t]`` (``predictor.train.calibrate``) is the 90% quantile of
``|log y - mu| / max(sigma, floor)`` on a random calibration split of its sampled-space training
graphs, so it covers graphs like those. This bench rebuilds that split (same records, seed and
fractions as the training; the graph count is checked) and compares, per device and target:

* ``cal``: coverage on the calibration split, overall and in its worst group (space x variant,
  groups of at least ``--min-group`` graphs), with the median half-width (log);
* ``zoo``: coverage of the zoo (real networks, never trained on) under (1) the shipped scale,
  (2) the largest per-group scale of the calibration split (a Mondrian rule: at least 90% on
  every sampled group), (3) a scale from real networks, cross-fitted by family: ``q_real``
  from the zoo networks of half the families, max(shipped, q_real) scored on the other half,
  ``--splits`` random halvings (mean and worst coverage: one family's bias decides a lot).

No training. Zoo labels are drift-normalised like the training labels.

    .venv/bin/python bench/intervals.py --checkpoint predictor/checkpoints/cpu-litert.pt
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets.zoo import family as zoo_family  # noqa: E402
from predictor import evaluate  # noqa: E402
from predictor.artifacts import SIGMA_FLOOR, conformal_q, load_checkpoint  # noqa: E402
from predictor.train import HELD_OUT_SPACE, _checkpoint_table, build_table, ensemble_log, split_indices  # noqa: E402


def family(key: str) -> str:
    """``zoo-mobilenet_v3_large-224:int8:tflite`` -> ``mobilenet_v3`` (:func:`datasets.zoo.family`:
    depths, widths, resolutions and variants of one design together, so a cross-fitted half never
    holds a sibling of a network it scores)."""
    return zoo_family(key.split(":")[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--min-group", type=int, default=20, help="smallest calibration group with a scale of its own")
    ap.add_argument("--splits", type=int, default=20, help="random halvings of the zoo families")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    pred = load_checkpoint(args.checkpoint)
    table = _checkpoint_table(pred)
    data, cfg = pred.meta.get("training_data") or {}, pred.meta.get("train_config") or {}
    if data.get("graphs") != len(table.keys):
        print(f"error: {len(table.keys)} graphs found, {args.checkpoint} was trained on {data.get('graphs')}: "
              "its calibration split cannot be rebuilt", file=sys.stderr)
        return 1
    _, cal, _ = split_indices(len(table.keys), [cfg.get("val_fraction", 0.1), cfg.get("calib_fraction", 0.1)],
                              cfg.get("seed", 0))
    mu, sigma = ensemble_log(pred.members, table, cal)
    score = np.abs(np.log(table.y[cal]) - mu) / np.maximum(sigma, SIGMA_FLOOR)
    group = np.array([f"{table.spaces[i]}:{evaluate.variant_of(table.keys[i])}" for i in cal])
    zoo_recs = [r for r in evaluate.load_records(data.get("source", "corpus"), pred.devices,
                                                 drift=bool(data.get("drift_normalised")))
                if r.space == HELD_OUT_SPACE]
    zoo = build_table(zoo_recs, targets=pred.targets) if zoo_recs else None
    if zoo is not None:
        zmu, zsigma = pred.predict_log(zoo.data, pred.device_indices(zoo.devices))
        zscore = np.abs(np.log(zoo.y) - zmu) / np.maximum(zsigma, SIGMA_FLOOR)
        fams = np.array([family(k) for k in zoo.keys])
    print(f"{args.checkpoint} ({pred.version}): calibration split {len(cal)} of {len(table.keys)} graphs; "
          f"zoo {0 if zoo is None else len(zoo.keys)} graphs (loaded in {time.monotonic() - t0:.0f}s)")
    print(f"{'target':8} {'device':44} {'q':>6} {'cal cov':>7} {'worst group':>24} {'hw':>6} | "
          f"{'zoo n':>5} {'shipped':>7} {'hw':>6} {'q grp':>6} {'cov':>5} {'hw':>6} | "
          f"{'q real':>6} {'mean':>5} {'worst':>5} {'hw':>6}")
    rng = np.random.default_rng(0)
    for t, tgt in enumerate(pred.targets):
        for d, dev in enumerate(pred.devices):
            s, ok = score[:, d, t], np.isfinite(score[:, d, t])
            if not ok.any():
                continue
            q = float(pred.q[d, t])
            groups = {g: s[ok & (group == g)] for g in sorted(set(group[ok]))}
            groups = {g: v for g, v in groups.items() if len(v) >= args.min_group}
            cov = {g: float(np.mean(v <= q)) for g, v in groups.items()}
            worst = min(cov, key=cov.get) if cov else None
            q_grp = max([conformal_q(v) for v in groups.values()], default=q)
            hw = np.median(q * np.maximum(sigma[ok, d, t], SIGMA_FLOOR))
            line = (f"{tgt:8} {dev:44} {q:6.2f} {np.mean(s[ok] <= q):7.3f} "
                    f"{(f'{worst} {cov[worst]:.2f}' if worst else '-'):>24} {hw:6.3f} |")
            zd = zoo.devices.index(dev) if zoo is not None and dev in zoo.devices else None
            zs = zscore[:, zd, t] if zd is not None else np.array([])
            zok = np.isfinite(zs)
            if zok.sum() >= 4:
                zs, zsig, zf = zs[zok], np.maximum(zsigma[zok, zd, t], SIGMA_FLOOR), fams[zok]
                names = sorted(set(zf))
                covs, worsts, hws = [], [], []
                for _ in range(args.splits):
                    half = set(rng.permutation(names)[: len(names) // 2])
                    a = np.array([f in half for f in zf])
                    for fit, test in ((a, ~a), (~a, a)):
                        qr = max(q, conformal_q(zs[fit]))
                        covs.append(np.mean(zs[test] <= qr))
                        hws.append(np.median(qr * zsig[test]))
                    worsts.append(min(covs[-2:]))
                line += (f" {len(zs):5d} {np.mean(zs <= q):7.3f} {np.median(q * zsig):6.3f} {q_grp:6.2f} "
                         f"{np.mean(zs <= q_grp):5.3f} {np.median(q_grp * zsig):6.3f} | {conformal_q(zs):6.2f} "
                         f"{np.mean(covs):5.3f} {np.min(worsts):5.3f} {np.mean(hws):6.3f}")
            print(line)
    print("\nq: shipped scale; cal cov: its coverage of the calibration split; hw: median half-width of the interval "
          "in log units (0.1 = about +-10%); q grp: the largest per-group scale of the calibration split; q real: "
          "the scale the whole zoo would need; mean / worst: cross-fitted coverage of the held-out families")
    print(f"total {time.monotonic() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
