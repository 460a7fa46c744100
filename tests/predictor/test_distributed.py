"""DDP training: two real processes under torchrun (gloo, loopback) on a tiny dataset."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from predictor.artifacts import load_checkpoint
from predictor.frontends import load_model
from tests.service.perf_data import SHAPES, analytic_latency, conv_net


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, Path]:
    records = tmp_path / "records.jsonl"
    with records.open("w") as f:
        for i, shape in enumerate(SHAPES):
            g = load_model(conv_net(*shape))
            for dev, (a, b) in {"a": (40.0, 0.01), "b": (15.0, 0.03)}.items():
                lat = analytic_latency(g.summary(), a, b)
                f.write(
                    json.dumps(
                        {"key": f"g{i}", "device": dev, "targets": {"latency": lat}, "ir": g.to_dict()}
                    )
                    + "\n"
                )
    out = tmp_path / "ddp.pt"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        "-m",
        "predictor.distributed",
        "--records",
        str(records),
        "--out",
        str(out),
        "--epochs",
        "4",
        "--ensemble",
        "1",
        "--hidden-channels",
        "8",
        "--batch-size",
        "8",
        *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    done = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done, out


def test_torchrun_two_processes_train_one_model(tmp_path: Path):
    _, out = _run(tmp_path)
    sums = [json.loads(Path(f"{out}.rank{r}.json").read_text()) for r in (0, 1)]
    assert sums[0]["checksum"] == sums[1]["checksum"]  # gradients were averaged: identical weights
    pred = load_checkpoint(out)
    assert pred.devices == ["a", "b"] and pred.meta["training_data"]["ddp_world_size"] == 2
    res = pred.predict([load_model(conv_net(*SHAPES[0]))], ["a"])
    assert res[0]["predictions"]["a"]["latency"]["value"] > 0


def test_a_time_budget_shrinks_the_schedule_alike_on_every_rank(tmp_path: Path):
    """--max-minutes far below what 400 epochs take: the ranks agree on the shrunken schedule
    (the slowest clock decides) and still end with identical weights."""
    done, out = _run(tmp_path, "--epochs", "400", "--max-minutes", "0.01")
    assert "ddp.budget" in done.stderr
    epochs = done.stderr.count("ddp.epoch")
    assert 0 < epochs < 2 * 400  # both ranks log every epoch
    sums = [json.loads(Path(f"{out}.rank{r}.json").read_text()) for r in (0, 1)]
    assert sums[0]["checksum"] == sums[1]["checksum"]
