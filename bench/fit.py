"""How well a checkpoint fits each device's own corpus, per search space and variant.

For every device of the checkpoint: latency MAPE, the median prediction / label (bias) and the
median ensemble spread (sd of the members' log predictions) over that device's corpus records,
split by space and variant (``ALL``: every record of the device, the zoo's included). The sampled spaces are mostly training graphs (an in-sample fit:
a cell far above its neighbours points at labels that disagree with each other, e.g. measured
on a contended host); ``zoo`` rows are real networks, never trained on, so a bias there that
the sampled spaces do not show is the device's real networks departing from what the spaces
taught (bench/results/accuracy-zoo-cpu-litert-s22.txt). Labels are drift-normalised if the
checkpoint's were.

    .venv/bin/python bench/fit.py --checkpoint predictor/checkpoints/cpu-litert.pt [--devices KEY ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from predictor import evaluate  # noqa: E402
from predictor.artifacts import load_checkpoint  # noqa: E402
from predictor.train import build_table, ensemble_log  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--devices", nargs="*", default=None, help="only these of the checkpoint's devices")
    args = ap.parse_args(argv)
    pred = load_checkpoint(args.checkpoint)
    devices = args.devices or pred.devices
    unknown = sorted(set(devices) - set(pred.devices))
    if unknown:
        sys.exit(f"{args.checkpoint} does not serve {unknown}; it serves {pred.devices}")
    data = pred.meta.get("training_data") or {}
    records = evaluate.load_records(data.get("source", "corpus"), devices, drift=bool(data.get("drift_normalised")))
    # the table's device axis is the checkpoint's (predictions come for all of them, in its order)
    table = build_table(records, devices=pred.devices, targets=pred.targets)
    mu, sd = ensemble_log(pred.members, table, np.arange(len(table.keys)))
    t = pred.targets.index("latency")
    variant = np.array([evaluate.variant_of(k) for k in table.keys])
    space = np.array(table.spaces)
    print(f"{args.checkpoint} ({pred.version}): {len(table.keys)} graphs")
    print(f"{'device':44} {'space':10} {'variant':7} {'n':>5} {'mape':>6} {'bias':>6} {'spread':>6}")
    for d, dev in enumerate(pred.devices):
        if dev not in devices:
            continue
        y = table.y[:, d, t]
        ok = np.isfinite(y)
        m_all = mu[:, d, t]
        err = np.abs(np.exp(m_all - np.log(np.where(ok, y, 1.0))) - 1)
        rows = [("ALL", "", ok)] + [(s, v, ok & (space == s) & (variant == v))
                                    for s in sorted(set(space[ok])) for v in sorted(set(variant[ok]))]
        for s, v, m in rows:
            if not m.any():
                continue
            bias = float(np.exp(np.median(m_all[m] - np.log(y[m]))))
            print(f"{dev:44} {s:10} {v:7} {int(m.sum()):>5} {100 * err[m].mean():>6.1f} {bias:>6.3f} "
                  f"{float(np.median(sd[m, d, t])):>6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
