"""Run a train job data-parallel: export the records, launch ``torchrun`` with
:mod:`predictor.distributed` (gloo, loopback), load the checkpoint it writes."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from predictor.artifacts import Predictor, load_checkpoint
from predictor.graph.ir import Graph as IRGraph
from predictor.train import Record, TrainConfig
from service.errors import ServiceError

log = logging.getLogger(__name__)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def export(records: list[Record], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for r in records:
            ir = r.graph.to_dict() if isinstance(r.graph, IRGraph) else None
            if ir is None:
                raise ValueError(f"record {r.key} carries no IR graph")
            f.write(json.dumps({"key": r.key, "device": r.device, "targets": r.targets, "ir": ir}) + "\n")
    return path


def train(records: list[Record], cfg: TrainConfig, name: str, procs: int, workdir: Path) -> Predictor:
    """Train with ``procs`` processes under torchrun on this machine."""
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        recs, out = export(records, workdir / "records.jsonl.gz"), workdir / f"{name}.pt"
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={procs}",
            "--master_addr=127.0.0.1",
            f"--master_port={_free_port()}",
            "-m",
            "predictor.distributed",
            "--records",
            str(recs),
            "--out",
            str(out),
            "--epochs",
            str(cfg.epochs),
            "--ensemble",
            str(cfg.ensemble),
            "--hidden-channels",
            str(cfg.hidden_channels),
            "--batch-size",
            str(cfg.batch_size),
            "--seed",
            str(cfg.seed),
            "--contribution",
            cfg.contribution,
            *(["--max-minutes", str(cfg.max_minutes)] if cfg.max_minutes else []),
        ]
        limit = (cfg.max_minutes or 10.0) * cfg.ensemble * 60 + 300
        log.info("training.ddp_start", extra={"procs": procs, "records": len(records)})
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=limit, cwd=Path(__file__).parents[2]
        )
        if done.returncode != 0:
            raise ServiceError(
                f"torchrun failed ({done.returncode}): {done.stderr[-2000:]}", 500, "ddp_failed"
            )
        return load_checkpoint(out)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
