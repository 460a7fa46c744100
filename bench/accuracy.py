"""Accuracy of PerfSAGE against every baseline, side by side.

Prints, per scenario, target and device: MAPE, RMSPE, ±5%/±10% accuracy,
Spearman rho and 90%-interval coverage (GNN only) for each model, then the mean
over devices. Scenarios: random (held-out graphs), loso (leave one search space
out), zoo (real architectures never trained on), new-devices (K-shot adaptation
of devices held out of training).

Examples::

    .venv/bin/python bench/accuracy.py --source corpus --scenarios random zoo
    .venv/bin/python bench/accuracy.py --source corpus --scenarios loso --ensemble 1
    .venv/bin/python bench/accuracy.py --source corpus --scenarios random zoo --per-space  # + per space / zoo family
    .venv/bin/python bench/accuracy.py --source corpus+help --devices help-pixel3 help-gold_6240 ... \
        --scenarios new-devices random    # HELP's devices; --held-out picks the new ones

The zoo (real architectures) is only ever a test set. Figures of 2026-11-27: bench/results/.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from predictor import evaluate  # noqa: E402
from predictor.models.perf_sage import CONTRIBUTIONS  # noqa: E402
from predictor.train import HELD_OUT_SPACE, ExtrasFormatter, TrainConfig, build_table, default_workers  # noqa: E402

#: HELP devices held out of training for the new-device scenario: one per kind
#: (phone, server CPU, GPU at batch 1 and at a large batch), the rest train.
DEFAULT_HELD_OUT = ("help-pixel3", "help-samsung_a50", "help-silver_4114", "help-titan_rtx_1", "help-1080ti_32")
COLS = ("n", "mape", "rmspe", "acc5", "acc10", "rho", "cov90")


def fmt(v) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    if isinstance(v, int):
        return str(v)
    return f"{v:.3f}" if abs(v) < 1.5 else f"{v:.1f}"


def print_table(rows: list[dict], per_device: bool) -> None:
    summary = evaluate.summarise(rows)
    shown = (rows if per_device else []) + summary
    keys = sorted({(r["scenario"], r["target"]) for r in shown})
    for sc, tgt in keys:
        print(f"\n== {sc} / {tgt} ==")
        print(f"{'device':<16} {'model':<16} " + " ".join(f"{c:>7}" for c in COLS))
        sel = [r for r in shown if r["scenario"] == sc and r["target"] == tgt]
        sel.sort(key=lambda r: (r["device"] == "MEAN", r["device"], r["model"] != "perfsage", r["model"]))
        for r in sel:
            print(f"{r['device']:<16} {r['model']:<16} " + " ".join(f"{fmt(r.get(c)):>7}" for c in COLS))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="corpus", help="corpus, corpus+help or help-cache:<path>[:spaces]")
    ap.add_argument("--scenarios", nargs="+", default=["random"],
                    choices=["random", "loso", "zoo", "new-devices"])
    ap.add_argument("--devices", nargs="*", default=None, help="restrict to these devices")
    ap.add_argument("--held-out", nargs="*", default=list(DEFAULT_HELD_OUT))
    ap.add_argument("--ks", nargs="*", type=int, default=[10, 50])
    ap.add_argument("--loso-spaces", nargs="+", default=None, metavar="SPACE",
                    help="loso: only these spaces' folds (each still trains on all other spaces), e.g. to run "
                         "the folds in two processes, one per core")
    ap.add_argument("--same-graphs-as", default=None, metavar="SOURCE",
                    help="keep only the graphs (architecture, variant, format) that SOURCE also has, e.g. the "
                         "corpus labels of the architectures of a re-measurement: corpus-root:<dir>")
    ap.add_argument("--max-graphs", type=int, default=None, help="at most this many graphs loaded, the first ones read (shards are read space by space)")
    ap.add_argument("--max-train", type=int, default=None)
    ap.add_argument("--max-test", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    ap.add_argument("--ensemble", type=int, default=TrainConfig.ensemble)
    ap.add_argument("--workers", type=int, default=None,
                    help="ensemble members trained at once (default: one per CPU this process may use)")
    ap.add_argument("--hidden", type=int, default=TrainConfig.hidden_channels)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--contribution", default=TrainConfig.contribution, choices=sorted(CONTRIBUTIONS),
                    help="GNN node-cost form (roofline: analytic floor x bounded learned factor)")
    ap.add_argument("--memory-basis", action=argparse.BooleanOptionalAction, default=TrainConfig.memory_basis,
                    help="roofline: the memory target's floor is weight bytes + peak live activation bytes")
    ap.add_argument("--encoder-memory", action=argparse.BooleanOptionalAction, default=TrainConfig.encoder_memory,
                    help="whether the memory target's loss trains the shared encoder")
    ap.add_argument("--aux-memory", action=argparse.BooleanOptionalAction, default=TrainConfig.aux_memory,
                    help="with the memory floor: train memory on the compute floor too, as a hidden target")
    ap.add_argument("--graph-head", type=int, default=TrainConfig.graph_head,
                    help="width of the graph-level memory correction (0: none)")
    ap.add_argument("--op-dropout", type=float, default=TrainConfig.op_dropout,
                    help="share of nodes read without their op type in each training step (TrainConfig.op_dropout)")
    ap.add_argument("--silence-unseen", action=argparse.BooleanOptionalAction, default=TrainConfig.silence_unseen,
                    help="zero the input weights of op types no training graph had (train.silence_unseen_ops)")
    ap.add_argument("--exclude-spaces", nargs="*", default=[],
                    help="leave these search spaces out of the data entirely (e.g. to measure what one adds)")
    ap.add_argument("--drift", action=argparse.BooleanOptionalAction, default=True,
                    help="corpus latency labels divided by the device's speed drift of their hour (datasets.drift)")
    ap.add_argument("--measured", default=None, metavar="FROM..TO", type=evaluate.parse_window,
                    help="corpus records measured in this UTC window only (YYYYmmddTHHMMSS or a prefix, either "
                         "side may be empty), e.g. 20261128T04..20261128T07: one session of a cloud VM")
    ap.add_argument("--per-device", action="store_true", help="print every device, not just the mean")
    ap.add_argument("--per-space", action="store_true",
                    help="random and zoo: also a table per search space (zoo: per network family)")
    ap.add_argument("--checkpoint", nargs="+", default=None,
                    help="no training: score this trained checkpoint on the zoo records of its devices "
                         "(real architectures it never saw; scenario c), e.g. predictor/checkpoints/cpu-reference.pt. "
                         "Several (the folds of edgeperf train --train-zoo K/N, same devices): each zoo graph is "
                         "scored by the first of them that did not train on its family (cross-fitted); a graph "
                         "every one of them trained on is left out")
    ap.add_argument("--by-novelty", action="store_true",
                    help="with --checkpoint: also a table for the zoo networks the service warns about (nodes of "
                         "kinds no training graph had, novel_nodes) and one for the rest")
    ap.add_argument("--per-graph", action="store_true",
                    help="with --checkpoint: also every zoo graph's label, prediction, ratio and 90%% interval")
    ap.add_argument("--per-member", action="store_true",
                    help="with --checkpoint: also each ensemble member's rows alone (how far apart the members are "
                         "on the zoo, where the ensemble's error comes from; a member alone has no spread, so its "
                         "cov90 column means nothing)")
    ap.add_argument("--session-factor", action="store_true",
                    help="with --checkpoint: also the rows after one factor per device and target (the median of "
                         "label / prediction), what a few measurements of a known device in a new session of its "
                         "host (a VM that runs faster or slower today) give at least")
    ap.add_argument("--json", default=None, help="also write every row to this JSON file")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(ExtrasFormatter("%(asctime)s %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    logging.getLogger("predictor.evaluate").setLevel(logging.INFO)  # a line per trained model, even without -v
    if not args.verbose:  # training progress: every tenth epoch of each member, its budget and early stop
        train_log = logging.getLogger("predictor.train")
        train_log.setLevel(logging.INFO)
        train_log.addFilter(every_tenth_epoch)

    t0 = time.monotonic()
    if args.checkpoint:
        return score_checkpoint(args, t0)
    records = [r for r in evaluate.load_records(args.source, args.devices, args.max_graphs, drift=args.drift,
                                                measured=args.measured)
               if r.space not in args.exclude_spaces]
    if args.same_graphs_as:
        keep = {r.key for r in evaluate.load_records(args.same_graphs_as, args.devices)}
        records = [r for r in records if r.key in keep]
    table = build_table(records, devices=args.devices)
    spaces = {s: table.spaces.count(s) for s in sorted(set(table.spaces))}
    print(f"source {args.source}: {len(table.keys)} graphs {spaces}, {len(table.devices)} devices, "
          f"targets {table.targets} (loaded in {time.monotonic() - t0:.0f}s)")
    cfg = TrainConfig(epochs=args.epochs, ensemble=args.ensemble, hidden_channels=args.hidden, seed=args.seed,
                      contribution=args.contribution, memory_basis=args.memory_basis,
                      encoder_memory=args.encoder_memory, aux_memory=args.aux_memory,
                      graph_head=args.graph_head, op_dropout=args.op_dropout,
                      silence_unseen=args.silence_unseen, workers=args.workers or default_workers())
    rows: list[dict] = []
    # The zoo (real architectures) is only ever a test set: out of every other scenario's data.
    sampled = table.subset_graphs(np.flatnonzero(np.asarray(table.spaces) != HELD_OUT_SPACE))
    for sc in args.scenarios:
        t1 = time.monotonic()
        if sc == "random":
            rows += evaluate.random_split(sampled, cfg, max_train=args.max_train, max_test=args.max_test,
                                          per_group=args.per_space)
        elif sc == "loso":
            rows += evaluate.leave_one_space_out(sampled, cfg, args.max_train, args.max_test, args.loso_spaces)
        elif sc == "zoo":
            spaces_arr = np.asarray(table.spaces)
            test = np.flatnonzero(spaces_arr == "zoo")
            train = evaluate._limit(np.flatnonzero(spaces_arr != "zoo"), args.max_train, args.seed)
            if len(test) == 0:
                print("\n(zoo: no measured zoo architectures in this source)")
                continue
            rows += evaluate.compare("zoo", table, train, test, cfg, per_group=args.per_space)[0]
        elif sc == "new-devices":
            held = [d for d in args.held_out if d in table.devices]
            rows += evaluate.new_devices(sampled, cfg, held, args.ks, args.max_train, args.max_test)
        print(f"[{sc}: {time.monotonic() - t1:.0f}s]")
    print_table(rows, args.per_device)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"\ntotal {time.monotonic() - t0:.0f}s")


def print_graphs(table, value: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
    """One line per graph, device and target with a label: predicted / measured, by device, target
    and ratio (the farthest off first within each)."""
    for j, target in enumerate(table.targets):
        for d, device in enumerate(table.devices):
            rows = [(table.keys[i], table.y[i, d, j], value[i, d, j], lo[i, d, j], hi[i, d, j])
                    for i in range(len(table.keys)) if np.isfinite(table.y[i, d, j])]
            if not rows:
                continue
            print(f"\n== {device} / {target}: each graph ==")
            print(f"{'graph':<44} {'label':>10} {'pred':>10} {'ratio':>6} {'interval90':>21}")
            for key, y, v, a, b in sorted(rows, key=lambda r: -abs(np.log(r[2] / r[1]))):
                inside = " " if a <= y <= b else "*"
                print(f"{key:<44} {y:>10.3f} {v:>10.3f} {v / y:>6.2f} {a:>10.3f}-{b:<9.3f}{inside}")
    return 0


def every_tenth_epoch(record: logging.LogRecord) -> bool:
    """A logging filter: of the per-epoch lines, only every tenth epoch's (the rest pass)."""
    return record.getMessage() != "train.epoch" or getattr(record, "epoch", 0) % 10 == 9


def zoo_scorers(preds: list, table) -> np.ndarray:
    """For each zoo graph of ``table``, the index of the first of ``preds`` that did not train on
    its family (``training_data.zoo_families``, edgeperf train --train-zoo), -1 when all did."""
    from predictor.train import zoo_family

    trained = [set((p.meta.get("training_data") or {}).get("zoo_families") or ()) for p in preds]
    out = np.full(len(table.keys), -1, dtype=np.int64)
    for i, key in enumerate(table.keys):
        fam = zoo_family(key)
        out[i] = next((k for k, t in enumerate(trained) if fam not in t), -1)
    return out


def cross_fitted(preds: list, scorer: np.ndarray, table):
    """(value, lower, upper) of every graph from the checkpoint ``scorer`` names for it."""
    out = None
    for k, p in enumerate(preds):
        idx = np.flatnonzero(scorer == k)
        if not len(idx):
            continue
        part = evaluate.gnn_predict(p, table, idx)
        if out is None:
            out = tuple(np.full((len(table.keys), *a.shape[1:]), np.nan) for a in part)
        for a, b in zip(out, part, strict=True):
            a[idx] = b
    return out


def score_checkpoint(args: argparse.Namespace, t0: float) -> int:
    """``--checkpoint``: the checkpoint's rows on the zoo records of its devices, no baselines (they
    would need training data), labels drift-normalised like its training labels unless ``--no-drift``."""
    from predictor.artifacts import load_checkpoint

    preds = [load_checkpoint(c) for c in args.checkpoint]
    pred = preds[0]
    if any(p.devices != pred.devices or p.targets != pred.targets for p in preds[1:]):
        sys.exit("error: --checkpoint: the checkpoints serve different devices or targets; cross-fitted folds "
                 "(edgeperf train --train-zoo K/N) share them")
    if args.per_member and len(preds) > 1:
        sys.exit("error: --per-member takes one checkpoint")
    devices = [d for d in pred.devices if args.devices is None or d in args.devices]
    records = evaluate.load_records(args.source, devices, drift=args.drift)
    table = build_table([r for r in records if r.space == HELD_OUT_SPACE and set(r.targets) & set(pred.targets)],
                        targets=[t for t in pred.targets])
    if not table.keys:
        print(f"(no zoo records of {devices})")
        return 0
    scorer = zoo_scorers(preds, table)
    for k, (c, p) in enumerate(zip(args.checkpoint, preds, strict=True)):
        trained = (p.meta.get("training_data") or {}).get("zoo_families") or []
        print(f"{c} ({p.version}): scores {int((scorer == k).sum())} zoo graphs"
              + (f"; trained on the zoo families {', '.join(trained)}" if trained else ""))
    if (scorer < 0).any():
        print(f"left out: {int((scorer < 0).sum())} zoo graphs of families every checkpoint trained on")
    table = table.subset_graphs(np.flatnonzero(scorer >= 0))
    scorer = scorer[scorer >= 0]
    if not table.keys:
        print("(no zoo graph left to score)")
        return 0
    print(f"{len(table.keys)} zoo graphs on {len(table.devices)} of the devices (loaded in {time.monotonic() - t0:.0f}s)")
    test = np.arange(len(table.keys))
    labels = evaluate.group_labels(table, test) if args.per_space else None
    scored = cross_fitted(preds, scorer, table)
    rows = evaluate._scored("zoo", "perfsage", table, table.y, labels, *scored)
    variants = np.array([evaluate.variant_of(k) for k in table.keys])
    if len(set(variants.tolist())) > 1:  # fp32 and int8 (TFLite zoo) networks: a row each
        rows += [r for r in evaluate._scored("zoo", "perfsage", table, table.y, variants, *scored)
                 if r["scenario"] != "zoo"]
    if args.per_member:
        for k, member in enumerate(pred.members):
            alone = evaluate.gnn_predict(dataclasses.replace(pred, members=[member]), table, test)
            rows += evaluate._scored(f"zoo member {k}", "perfsage", table, table.y, variants, *alone)
    if args.by_novelty:
        unseen = [preds[k].unseen_kinds(d) for k, d in zip(scorer, table.data, strict=True)]
        if any(u is None for u in unseen):
            print(f"{' '.join(args.checkpoint)}: no node kinds recorded (add them: edgeperf train --node-kinds)")
        else:
            novel = np.array(["novel" if u.any() else "familiar" for u in unseen])
            print(f"novel_nodes warning on {int((novel == 'novel').sum())} of {len(novel)} zoo graphs")
            rows += [r for r in evaluate._scored("zoo", "perfsage", table, table.y, novel, *scored)
                     if r["scenario"] != "zoo"]
    if args.session_factor:
        value, lo, hi = scored
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = np.nanmedian(table.y / value, axis=0)  # [D, T]
        factor = np.where(np.isfinite(factor), factor, 1.0)
        print("one factor per device and target (label / prediction): " + "; ".join(
            f"{d} {t} x{factor[i, j]:.3f}" for i, d in enumerate(table.devices) for j, t in enumerate(table.targets)
            if np.isfinite(table.y[:, i, j]).any()))
        rows += evaluate._rows("zoo x factor", "perfsage", table, table.y, value * factor, lo * factor, hi * factor)
    print_table(rows, args.per_device)
    if args.per_graph:
        print_graphs(table, *scored)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"\ntotal {time.monotonic() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
