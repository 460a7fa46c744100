"""GNN-only sweep of training settings on one device's random split: MAPE per target for each
variant (a JSON object of ``TrainConfig`` overrides), same split and seed for all.

    taskset -c 0 .venv/bin/python bench/sweep.py --device cpu-amd-epyc-f26-m2-onnxruntime-t1 \\
        --max-train 2500 '{"epochs": 40}' '{"epochs": 80}' '{"epochs": 160}'

The split is ``bench/accuracy.py --scenarios random``'s (20% test, drawn with seed + 1000, then at
most ``--max-train`` / ``--max-test`` of each); one ensemble member unless a variant says otherwise.
No baselines: ``bench/accuracy.py`` compares against them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from predictor import evaluate  # noqa: E402
from predictor.evaluate import _limit  # noqa: E402
from predictor.train import HELD_OUT_SPACE, TrainConfig, build_table, mape, split_indices, train_predictor  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", required=True, help="corpus device key")
    ap.add_argument("--max-train", type=int, default=None)
    ap.add_argument("--max-test", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("variants", nargs="+", help='JSON TrainConfig overrides, e.g. \'{"epochs": 80}\'')
    args = ap.parse_args(argv)
    try:
        variants = [json.loads(v) for v in args.variants]
        cfgs = [replace(TrainConfig(ensemble=1, seed=args.seed), **v) for v in variants]
    except (ValueError, TypeError) as exc:
        ap.error(f"a variant is not a JSON object of TrainConfig fields: {exc}")

    recs = [r for r in evaluate.load_records("corpus", [args.device], drift=True) if r.space != HELD_OUT_SPACE]
    table = build_table(recs, devices=[args.device])
    test, train = split_indices(len(table.keys), [0.2], args.seed + 1000)
    train, test = _limit(train, args.max_train, args.seed), _limit(test, args.max_test, args.seed)
    print(f"{args.device}: {len(train)} training graphs, {len(test)} test graphs; MAPE % per target")
    for v, cfg in zip(variants, cfgs, strict=True):
        t0 = time.monotonic()
        pred = train_predictor(table, cfg, train, name="sweep")
        value = evaluate.gnn_predict(pred, table, test)[0]
        cells = [f"{name} {mape(value[:, 0, t], table.y[test, 0, t]):5.2f}" for t, name in enumerate(table.targets)]
        best = [m["best_epoch"] for m in pred.meta["members"]]
        print(f"{json.dumps(v):40s} {' | '.join(cells)} | best epoch {best} | {time.monotonic() - t0:.0f}s",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
