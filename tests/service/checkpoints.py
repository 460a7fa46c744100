"""A tiny but real predictor checkpoint for API tests: real NAS-Bench-201 networks exported
with torch.onnx and parsed by the ONNX front end, a real PerfSAGE ensemble trained with
``predictor.train`` and saved with ``save_checkpoint``.

The labels are derived from each graph's own costs (MACs, bytes moved), not measured:
these tests check the API (units, intervals, availability, breakdown, errors), not
accuracy. ``dev-a`` has latency, energy and memory; ``dev-b`` has latency only."""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path

DEVICES = ("dev-a", "dev-b")


@cache
def nb201_graphs(count: int = 10, seed: int = 0) -> list:
    """Small NAS-Bench-201 networks (C=8, N=1, 16x16) through the real exporter + front end."""
    from datasets.build_torch import to_onnx
    from datasets.spaces import nb201
    from predictor.frontends import load_model

    rng = random.Random(seed)
    graphs = []
    for i in range(count):
        arch = nb201.arch_string([rng.choice(nb201.OPS[1:]) for _ in range(6)])
        spec = {
            "space": "nb201",
            "arch": arch,
            "C": rng.choice([8, 16]),
            "N": 1,
            "resolution": 16,
            "classes": 10,
        }
        graphs.append(load_model(to_onnx(spec), filename=f"nb201-{i}.onnx"))
    return graphs


def _records(graphs: list) -> list:
    from predictor.train import Record

    out = []
    for i, g in enumerate(graphs):
        s = g.summary()
        latency = 0.02 + s["macs"] / 5e8 + s["nodes"] * 0.003
        moved = (s["bytes_read"] + s["bytes_written"]) / 1e6
        out.append(
            Record(
                f"g{i}",
                g,
                "dev-a",
                {"latency": latency, "energy": 3.0 * latency + 0.1 * moved, "memory": 20.0 + moved},
            )
        )
        out.append(Record(f"g{i}", g, "dev-b", {"latency": 0.5 * latency + 0.01}))
    return out


def build_checkpoint(directory: Path, name: str = "tiny") -> Path:
    from predictor.artifacts import save_checkpoint
    from predictor.train import TrainConfig, build_table, train_predictor

    table = build_table(_records(nb201_graphs()), devices=list(DEVICES))
    cfg = TrainConfig(
        hidden_channels=8,
        num_layers=1,
        embed_channels=4,
        ensemble=2,
        epochs=3,
        batch_size=4,
        val_fraction=0.2,
        calib_fraction=0.2,
        num_threads=1,
    )
    predictor = train_predictor(table, cfg, name=name, description={"source": "tests/service/checkpoints.py"})
    return save_checkpoint(predictor, directory / f"{name}.pt")
