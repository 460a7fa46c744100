"""Real data for the dashboard tests, built once per test session: small models exported
by the real exporters (torch.onnx, TFLiteConverter), measured on this machine by the
agent's protocol (onnxruntime and LiteRT), and a small PerfSAGE predictor trained on
those measurements (the checkpoint the service then serves)."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ORT_DEVICE = "dash-ort-t1"
LITERT_DEVICE = "dash-litert-t1"
ONNX_WIDTHS = (4, 6, 8, 10, 12, 16, 20, 24, 32, 40)
TFLITE_WIDTHS = (4, 8, 16, 24)
FAST = {
    "warmup_s": 0.05,
    "min_rounds": 2,
    "max_rounds": 3,
    "runs_per_round": 5,
    "min_round_s": 0.02,
    "max_round_s": 0.2,
    "max_remeasure": 0,
}


@dataclass
class Model:
    filename: str
    data: bytes
    device: str
    runtime: str
    measured: dict[str, Any] | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def onnx_net(width: int) -> bytes:
    import torch
    from torch import nn

    torch.manual_seed(width)
    model = nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, width * 2, 3, stride=2, padding=1),
        nn.BatchNorm2d(width * 2),
        nn.ReLU(),
        nn.Conv2d(width * 2, width * 2, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width * 2, 10),
    ).eval()
    buf = io.BytesIO()
    torch.onnx.export(
        model, (torch.randn(1, 3, 32, 32),), buf, input_names=["x"], output_names=["y"], dynamo=False
    )
    return buf.getvalue()


def tflite_net(width: int) -> bytes:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(width)
    inputs = tf.keras.Input((32, 32, 3), batch_size=1)
    x = tf.keras.layers.Conv2D(width, 3, padding="same", activation="relu")(inputs)
    x = tf.keras.layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(x)
    x = tf.keras.layers.Conv2D(width * 2, 1, activation="relu")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf.keras.layers.Dense(10)(x)
    model = tf.keras.Model(inputs, outputs)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "saved"
        model.export(str(path), verbose=False)
        return tf.lite.TFLiteConverter.from_saved_model(str(path)).convert()


def build_models() -> list[Model]:
    models = [Model(f"conv-w{w}.onnx", onnx_net(w), ORT_DEVICE, "onnxruntime") for w in ONNX_WIDTHS]
    models += [Model(f"dwconv-w{w}.tflite", tflite_net(w), LITERT_DEVICE, "litert") for w in TFLITE_WIDTHS]
    return models


def measure_models(models: list[Model], workdir: Path) -> None:
    """Measure every model on its runtime with the agent protocol (single thread)."""
    from agent.protocol import ProtocolConfig, measure

    cfg = ProtocolConfig(**FAST)
    for m in models:
        path = workdir / m.filename
        path.write_bytes(m.data)
        m.measured = measure(path, runtime=m.runtime, threads=1, config=cfg, memory=False)


def train_checkpoint(models: list[Model], directory: Path) -> Path:
    """Train a small PerfSAGE ensemble on the measured latencies; save it to ``directory``."""
    from predictor.artifacts import save_checkpoint
    from predictor.frontends import load_model
    from predictor.train import Record, TrainConfig, build_table, train_predictor

    records = [
        Record(
            key=m.sha256,
            graph=load_model(m.data, filename=m.filename),
            device=m.device,
            targets={"latency": m.measured["median_ms"]},
        )
        for m in models
    ]
    table = build_table(records, devices=[ORT_DEVICE, LITERT_DEVICE], targets=["latency"])
    cfg = TrainConfig(
        hidden_channels=16,
        embed_channels=8,
        ensemble=2,
        epochs=30,
        patience=30,
        val_fraction=0.2,
        calib_fraction=0.2,
        num_threads=1,
    )
    predictor = train_predictor(table, cfg, name="perfsage")
    return save_checkpoint(predictor, directory / "perfsage.pt")


def measurement_item(model: Model, graph_id: int, client_id: str) -> dict[str, Any]:
    """The measurement as the agent posts it."""
    r = model.measured or {}
    keys = (
        "median_ms",
        "p10_ms",
        "p90_ms",
        "mad_ms",
        "load_ms",
        "first_ms",
        "runtime",
        "runtime_version",
        "threads",
    )
    return {
        "client_id": client_id,
        "graph_id": graph_id,
        "samples_ms": r["samples_ms"],
        **{k: r[k] for k in keys if r.get(k) is not None},
        "measured_at": datetime.now(UTC).isoformat(),
    }
