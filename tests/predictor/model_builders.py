"""Builders of real model files for the front-end tests: torch.onnx exports (TorchScript
and dynamo exporters) and TFLite files from the TFLite converter. Each returns bytes."""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import torch
from torch import nn

from datasets.zoo import export_onnx

DYNAMIC_NCHW = {"input": {0: "batch", 2: "height", 3: "width"}, "output": {0: "batch"}}


class TokenMixer(nn.Module):
    """Small CNN whose export computes Reshape targets from Shape/Gather/Concat, plus
    attention parts (matmul, softmax), layernorm, gelu and an upsample."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.grouped = nn.Conv2d(16, 32, 3, padding=1, groups=4)
        self.norm = nn.LayerNorm(32)
        self.qkv = nn.Linear(32, 96)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.grouped(torch.relu(self.dw(torch.relu(self.stem(x)))))
        b, c, h, w = y.shape
        t = self.norm(y.flatten(2).transpose(1, 2))
        q, k, v = self.qkv(t).chunk(3, dim=-1)
        attn = torch.softmax(q @ k.transpose(1, 2) / 32**0.5, dim=-1)
        t = nn.functional.gelu(attn @ v)
        y = t.transpose(1, 2).reshape(b, c, h, w)
        return self.head(self.up(y))


class LoopIf(nn.Module):
    """Data-dependent control flow: exported with TorchScript scripting -> Loop and If."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(x.size(0) + 2):
            x = torch.relu(self.fc(x))
        if bool(x.sum() > 0):
            x = x * 2
        else:
            x = torch.sigmoid(x)
        return x


def onnx_token_mixer(opset: int, dynamic: bool) -> bytes:
    torch.manual_seed(0)
    return export_onnx(TokenMixer().eval(), (1, 3, 32, 32), opset=opset,
                       dynamic_axes=DYNAMIC_NCHW if dynamic else None)


def onnx_loop_if() -> bytes:
    torch.manual_seed(0)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.jit.script(LoopIf().eval()), (torch.randn(2, 8),), buf,
                          opset_version=13, input_names=["x"], dynamo=False)
    return buf.getvalue()


def onnx_dynamo(module: nn.Module, shape: tuple[int, ...]) -> bytes:
    """The dynamo-based exporter (torch.export + onnxscript): a second, independent writer."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module.eval(), (torch.randn(*shape),), dynamo=True, opset_version=18,
                                    verbose=False)
    return program.model_proto.SerializeToString()


def strip_weights(data: bytes) -> bytes:
    """The same model with every initializer's data removed (dims kept)."""
    import onnx

    model = onnx.load_from_string(data)
    for t in model.graph.initializer:
        if int(np.prod(t.dims)) > 64:
            for f in ("raw_data", "float_data", "int64_data", "int32_data", "double_data"):
                t.ClearField(f)
    return model.SerializeToString()


def with_external_data(data: bytes, directory: str) -> tuple[bytes, dict[str, bytes]]:
    """Save with weights in an external file; return (model bytes, {location: bytes})."""
    import onnx

    model = onnx.load_from_string(data)
    path = os.path.join(directory, "ext.onnx")
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="ext.weights", size_threshold=1024)
    with open(path, "rb") as f, open(os.path.join(directory, "ext.weights"), "rb") as w:
        return f.read(), {"ext.weights": w.read()}


# ------------------------------------------------------------------------- TFLite
def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    return tf


def keras_small_cnn():
    tf = _tf()
    inp = tf.keras.Input((32, 32, 3), batch_size=1)
    x = tf.keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = tf.keras.layers.ReLU(6.0)(x)
    x = tf.keras.layers.Conv2D(16, 1)(x)
    x = tf.keras.layers.MaxPooling2D(2)(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    x = tf.keras.layers.Dense(10, activation="softmax")(x)
    return tf.keras.Model(inp, x)


def tflite_from_keras(model, mode: str = "float") -> bytes:
    tf = _tf()
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif mode == "int8":
        shape = [1, *model.input_shape[1:]]
        rng = np.random.default_rng(0)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([rng.random(shape, dtype=np.float32)] for _ in range(4))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def tflite_keras_app(name: str) -> bytes:
    tf = _tf()
    app = getattr(tf.keras.applications, name)(weights=None, input_shape=(224, 224, 3))
    return tflite_from_keras(app)


def _convert_function(fn, custom: bool = False) -> bytes:
    tf = _tf()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    conv.allow_custom_ops = custom
    return conv.convert()


def tflite_custom_op() -> bytes:
    """ExtractImagePatches has no TFLite builtin: with allow_custom_ops it becomes a custom op."""
    tf = _tf()

    @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 4], tf.float32)])
    def patches(x):
        p = tf.image.extract_patches(x, sizes=[1, 2, 2, 1], strides=[1, 2, 2, 1], rates=[1, 1, 1, 1],
                                     padding="VALID")
        return tf.nn.relu(p) + 1.0

    return _convert_function(patches, custom=True)


def tflite_control_flow() -> bytes:
    """tf.while_loop and tf.cond -> WHILE and IF with their own subgraphs."""
    tf = _tf()

    @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32)])
    def fn(x):
        def body(i, y):
            return i + 1, tf.nn.relu(y * 2.0)

        _, y = tf.while_loop(lambda i, y: i < 3, body, [tf.constant(0), x])
        return tf.cond(tf.reduce_sum(y) > 0, lambda: y * 3.0, lambda: y - 1.0)

    return _convert_function(fn)


def onnx_quantized(fmt: str, directory: str) -> bytes:
    """A small CNN quantized to int8 by onnxruntime's static quantizer (QDQ or QOperator format)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.rng, self.left = np.random.default_rng(0), 4

        def get_next(self):
            self.left -= 1
            return {"input": self.rng.random((1, 3, 32, 32), dtype=np.float32)} if self.left >= 0 else None

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, groups=8),
                        nn.Flatten(), nn.Linear(8 * 32 * 32, 10)).eval()
    src, dst = os.path.join(directory, "float.onnx"), os.path.join(directory, f"{fmt}.onnx")
    with open(src, "wb") as f:
        f.write(export_onnx(net, (1, 3, 32, 32), opset=13))
    qfmt = QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator
    quantize_static(src, dst, Reader(), quant_format=qfmt, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8)
    with open(dst, "rb") as f:
        return f.read()
