"""Data-parallel training of a PerfSAGE ensemble with ``torchrun`` (DDP, gloo backend).

Launch (any number of processes, on one machine or several)::

    torchrun --nproc_per_node=2 -m predictor.distributed --records recs.jsonl.gz --out model.pt

``--records`` is JSONL (optionally gzipped), one line per graph measured on a device:
``{"key", "device", "targets": {"latency": ms, ...}, "ir": <IR document>}`` (the service's
train job can export its database rows this way). Every rank featurises all graphs, draws the
same splits and the same per-epoch permutation (same seed), and takes every ``world``-th
sample of it; DistributedDataParallel averages the gradients, so all ranks hold the same
weights. Validation (early stopping) is computed on the full validation split on every rank,
so they stop together. Rank 0 calibrates the intervals and writes the checkpoint; every rank
writes ``<out>.rank<r>.json`` with a checksum of its final weights.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from predictor.artifacts import Predictor, save_checkpoint
from predictor.graph.ir import Graph
from predictor.models.perf_sage import CONTRIBUTIONS, PerfSAGE
from predictor.train import (
    Record,
    Table,
    TrainConfig,
    _set_determinism,
    build_model,
    build_table,
    calibrate,
    drop_aux_targets,
    ensemble_log,
    init_scales,
    make_optimizer,
    mape,
    run_schedule,
    run_steps,
    silence_unseen_ops,
    split_indices,
    validation_mape,
    with_aux_target,
)

log = logging.getLogger(__name__)


def read_records(path: Path) -> list[Record]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [
        Record(r["key"], Graph.from_dict(r["ir"]), r["device"], r["targets"], r.get("space", ""))
        for r in rows
    ]


def _shard(perm: np.ndarray, rank: int, world: int) -> np.ndarray:
    """Every ``world``-th element from ``rank``, padded by wrapping so all shards are equally long."""
    per = math.ceil(len(perm) / world)
    return np.resize(perm[rank::world], per) if len(perm) else perm


def train_member(table: Table, fit: np.ndarray, val: np.ndarray, cfg: TrainConfig, seed: int) -> PerfSAGE:
    rank, world = dist.get_rank(), dist.get_world_size()
    _set_determinism(seed, cfg.num_threads)
    model = build_model(cfg, len(table.devices), len(table.targets), table.targets)
    init_scales(model, table, fit)
    if cfg.silence_unseen:
        silence_unseen_ops(model, [table.data[i] for i in fit])
    ddp = DistributedDataParallel(model)
    opt = make_optimizer(ddp, cfg)
    rng = np.random.default_rng(seed)

    def slowest_clock() -> float:
        # the budget's decisions use the slowest rank's clock, so every rank shrinks the schedule
        # and stops alike
        elapsed = torch.tensor([time.monotonic() - t0], dtype=torch.float64)
        dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
        return float(elapsed)

    t0 = time.monotonic()
    run_schedule(  # predictor.train's epoch loop: schedule, patience, budget
        model, opt, cfg.epochs, cfg,
        lambda _: run_steps(ddp, opt, table, _shard(rng.permutation(fit), rank, world), cfg.batch_size),
        validate=lambda: validation_mape(model, table, val),
        clock=slowest_clock, event="ddp", extra={"rank": rank},
    )
    model.op_dropout = 0.0
    return model


def train(records: list[Record], cfg: TrainConfig, name: str = "perfsage") -> Predictor:
    table = build_table(records)
    val_pos, cal_pos, fit_pos = split_indices(
        len(table.keys), [cfg.val_fraction, cfg.calib_fraction], cfg.seed
    )
    trained = with_aux_target(table, cfg)
    members = [train_member(trained, fit_pos, val_pos, cfg, cfg.seed + k) for k in range(cfg.ensemble)]
    drop_aux_targets(members, trained, table)
    q, cal_info = calibrate(members, table, cal_pos)
    mu, _ = ensemble_log(members, table, val_pos)
    meta: dict[str, Any] = {
        "train_config": asdict(cfg),
        "metrics": {"val_mape_ensemble": mape(np.exp(mu), table.y[val_pos]), **cal_info},
        "training_data": {"graphs": len(table.keys), "ddp_world_size": dist.get_world_size()},
    }
    return Predictor(members, list(table.devices), list(table.targets), table.available(), q, meta, name)


def checksum(pred: Predictor) -> str:
    h = hashlib.sha256()
    for m in pred.members:
        for k, v in sorted(m.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().numpy().tobytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="data-parallel PerfSAGE training (launch with torchrun)")
    ap.add_argument("--records", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    for f in ("epochs", "ensemble", "hidden_channels", "batch_size", "seed"):
        ap.add_argument(f"--{f.replace('_', '-')}", dest=f, type=int, default=getattr(TrainConfig, f))
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="per member: the learning-rate schedule shrinks to the epochs this affords")
    ap.add_argument("--contribution", default=TrainConfig.contribution, choices=sorted(CONTRIBUTIONS))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    dist.init_process_group("gloo")
    try:
        cfg = TrainConfig(
            epochs=args.epochs,
            ensemble=args.ensemble,
            hidden_channels=args.hidden_channels,
            batch_size=args.batch_size,
            seed=args.seed,
            num_threads=1,
            contribution=args.contribution,
            max_minutes=args.max_minutes,
        )
        pred = train(read_records(args.records), cfg, name=args.out.stem)
        rank = dist.get_rank()
        if rank == 0:
            save_checkpoint(pred, args.out)
        Path(f"{args.out}.rank{rank}.json").write_text(json.dumps({"rank": rank, "checksum": checksum(pred)}))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
