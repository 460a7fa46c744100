"""Real model files for tests, made by the real exporters (torch.onnx, TFLiteConverter)."""

from __future__ import annotations

import io
import os
import tempfile
from functools import cache
from pathlib import Path


@cache
def onnx_bytes(channels: int = 8) -> bytes:
    """A small conv net exported with ``torch.onnx.export`` (input ``x``: 1x3x32x32)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, channels, 3, padding=1),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.Conv2d(channels, channels, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, 10),
    ).eval()
    buf = io.BytesIO()
    torch.onnx.export(
        model,
        (torch.randn(1, 3, 32, 32),),
        buf,
        input_names=["x"],
        output_names=["y"],
        dynamo=False,
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
    )
    return buf.getvalue()


@cache
def tflite_bytes() -> bytes:
    """A small Keras conv net converted with ``tf.lite.TFLiteConverter`` (float32)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((32, 32, 3), batch_size=1)
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf.keras.layers.Dense(10)(x)
    model = tf.keras.Model(inputs, outputs)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "saved"
        model.export(str(path), verbose=False)
        return tf.lite.TFLiteConverter.from_saved_model(str(path)).convert()
