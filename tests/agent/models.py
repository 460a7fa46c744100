"""Real model files for agent tests, written by the real exporters into a directory."""

from __future__ import annotations

import os
from pathlib import Path


def onnx_convnet(path: Path, channels: int = 8, res: int = 32) -> Path:
    """A small conv net via ``torch.onnx.export`` (input ``x``: batch is dynamic)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(),
        nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 10),
    ).eval()
    torch.onnx.export(model, (torch.randn(1, 3, res, res),), str(path), input_names=["x"], output_names=["y"],
                      dynamo=False, dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return path


def onnx_mlp(path: Path, width: int) -> Path:
    """An MLP whose weights take about ``3 * width**2 * 4`` bytes."""
    import torch
    from torch import nn

    model = nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                          nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10)).eval()
    torch.onnx.export(model, (torch.randn(1, 64),), str(path), input_names=["x"], dynamo=False)
    return path


def onnx_unsupported(path: Path) -> Path:
    """A valid ONNX graph using an operator onnxruntime has no kernel for."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("FancyOp", ["x"], ["y"], domain="com.example")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 1)])
    onnx.save(model, str(path))
    return path


def _convert(fn, signature) -> bytes:  # type: ignore[no-untyped-def]
    import tensorflow as tf

    f = tf.function(fn, input_signature=signature)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    converter.allow_custom_ops = True
    return converter.convert()


def tflite_convnet(path: Path) -> Path:
    """A small Keras conv net converted with ``tf.lite.TFLiteConverter``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((32, 32, 3), batch_size=1)
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(10)(x))
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


def tflite_custom_op(path: Path) -> Path:
    """A TFLite model holding a custom op (Digamma) the interpreter cannot resolve."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    path.write_bytes(_convert(lambda x: tf.math.digamma(x), [tf.TensorSpec([1, 8], tf.float32)]))
    return path
