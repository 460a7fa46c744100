"""Does the graph-level memory correction (``PerfSAGE.graph_head``) carry over to a search space
the model never saw, and would switching it off for graphs with unseen node kinds help?

For each search space of one device's corpus: train one member on the other spaces (at most
``--max-train`` graphs), then score peak memory on the held-out space (at most ``--max-test``)
three ways: with the graph head (what the service does), the memory floor alone (every member's
``graph_head`` switched off: weights + peak live bytes times the per-node factors), and gated
(floor alone only for the graphs the ``novel_nodes`` warning would name: nodes of kinds no
training graph had). Each is also split into the held-out graphs with and without novel nodes.

    taskset -c 0 .venv/bin/python bench/memory_head.py --device cpu-amd-epyc-f26-m2-onnxruntime-t1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from predictor import evaluate  # noqa: E402
from predictor.evaluate import _limit  # noqa: E402
from predictor.train import HELD_OUT_SPACE, TrainConfig, build_table, mape, train_predictor  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", required=True, help="corpus device key")
    ap.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    ap.add_argument("--max-train", type=int, default=2500)
    ap.add_argument("--max-test", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    recs = [r for r in evaluate.load_records("corpus", [args.device], drift=True) if r.space != HELD_OUT_SPACE]
    table = build_table(recs, devices=[args.device])
    if "memory" not in table.targets:
        print(f"{args.device} has no memory measurements")
        return 1
    spaces = np.asarray(table.spaces)
    t = table.targets.index("memory")
    cfg = TrainConfig(epochs=args.epochs, ensemble=1, seed=args.seed)
    print(f"{args.device}: {len(table.keys)} graphs; one member, {args.epochs} epochs, at most {args.max_train} "
          f"training graphs; memory MAPE % on the held-out space")
    print(f"{'held out':10s} {'n':>4s} {'novel':>5s} | {'head':>5s} {'floor':>5s} {'gated':>5s} | "
          f"novel: {'head':>5s} {'floor':>5s} | familiar: {'head':>5s} {'floor':>5s}")
    for space in sorted(set(table.spaces)):
        t0 = time.monotonic()
        test = _limit(np.flatnonzero(spaces == space), args.max_test, args.seed)
        train = _limit(np.flatnonzero(spaces != space), args.max_train, args.seed)
        pred = train_predictor(table, cfg, train, name=f"memory-head-{space}")
        novel = np.array([bool(pred.unseen_kinds(table.data[i]).any()) for i in test])
        y = table.y[test, 0, t]
        head = evaluate.gnn_predict(pred, table, test)[0][:, 0, t]
        saved = [m.graph_head for m in pred.members]
        for m in pred.members:
            m.graph_head = 0
        floor = evaluate.gnn_predict(pred, table, test)[0][:, 0, t]
        for m, g in zip(pred.members, saved, strict=True):
            m.graph_head = g
        gated = np.where(novel, floor, head)
        cells = [mape(p, y) for p in (head, floor, gated)]
        cells += [mape(p[novel], y[novel]) for p in (head, floor)]
        cells += [mape(p[~novel], y[~novel]) for p in (head, floor)]
        ok = np.isfinite(y)
        print(f"{space:10s} {int(ok.sum()):4d} {int(novel[ok].sum()):5d} | {cells[0]:5.1f} {cells[1]:5.1f} "
              f"{cells[2]:5.1f} | novel: {cells[3]:5.1f} {cells[4]:5.1f} | familiar: {cells[5]:5.1f} "
              f"{cells[6]:5.1f}   ({time.monotonic() - t0:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
