"""Spec -> Keras Model (NHWC, batch 1) -> TFLite bytes, float32 or full-integer int8.

Reads the same :class:`~datasets.netlist.Netlist` as :mod:`datasets.build_torch`, so both
files describe the same architecture (feature maps are channels-last here).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers, ops  # noqa: E402

from datasets import spaces  # noqa: E402
from datasets.netlist import Netlist, NetlistError  # noqa: E402

log = logging.getLogger(__name__)
# to_tflite converts a concrete function without its Keras object on purpose (see there); the
# converter logs a deprecation warning about that on every model.
logging.getLogger("absl").addFilter(lambda r: "trackable_obj" not in r.getMessage())
REPRESENTATIVE_SAMPLES = 4

_ACTS = {"relu": "relu", "relu6": "relu6", "hswish": "hard_swish", "hsigmoid": "hard_sigmoid",
         "sigmoid": "sigmoid", "silu": "silu"}


class Attention(layers.Layer):
    """Multi-head self-attention matching :class:`datasets.build_torch.Attention`."""

    def __init__(self, dim: int, heads: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dim, self.heads = dim, heads
        self.qkv = layers.Dense(3 * dim)
        self.proj = layers.Dense(dim)

    def call(self, x: Any) -> Any:
        t, d, h = x.shape[1], self.dim, self.heads
        qkv = ops.transpose(ops.reshape(self.qkv(x), (1, t, 3, h, d // h)), (2, 0, 3, 1, 4))
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * (d // h) ** -0.5, axis=-1)
        return self.proj(ops.reshape(ops.transpose(ops.matmul(attn, v), (0, 2, 1, 3)), (1, t, d)))


class PosEmbed(layers.Layer):
    def build(self, input_shape: Any) -> None:
        self.w = self.add_weight(shape=(1, *input_shape[1:]), initializer=keras.initializers.RandomNormal(0, 0.02))

    def call(self, x: Any) -> Any:
        return x + self.w


class LayerScale(layers.Layer):
    """x times a learned per-channel vector (ConvNeXt's layer scale; a MUL by a [C] constant in TFLite)."""

    def build(self, input_shape: Any) -> None:
        self.gamma = self.add_weight(shape=(input_shape[-1],), initializer=keras.initializers.RandomUniform(0, 0.1))

    def call(self, x: Any) -> Any:
        return x * self.gamma


class Zero(layers.Layer):
    def call(self, x: Any) -> Any:
        return x * 0.0


class GlobalPool(layers.Layer):
    def call(self, x: Any) -> Any:
        return ops.mean(x, axis=(1, 2), keepdims=True)


class ChannelSlice(layers.Layer):
    """Channels ``start .. start + size`` of an NHWC map."""

    def __init__(self, start: int, size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start, self.size = start, size

    def call(self, x: Any) -> Any:
        return x[..., self.start : self.start + self.size]


class ChannelShuffle(layers.Layer):
    """Channel shuffle of an NHWC map: reshape to (g, C/g), transpose, reshape back."""

    def __init__(self, groups: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.groups = groups

    def call(self, x: Any) -> Any:
        _, h, w, c = x.shape
        g = self.groups
        y = ops.transpose(ops.reshape(x, (1, h, w, g, c // g)), (0, 1, 2, 4, 3))
        return ops.reshape(y, (1, h, w, c))


def _conv(layer: dict[str, Any], cin: int) -> layers.Layer:
    k, s, g = layer["k"], layer["s"], layer["g"]
    pad = "same" if k % 2 else "valid"
    if g == cin == layer["cout"] and g > 1:
        return layers.DepthwiseConv2D(k, s, pad, use_bias=layer["bias"])
    return layers.Conv2D(layer["cout"], k, s, pad, groups=g, use_bias=layer["bias"])


def _layer(layer: dict[str, Any], shapes: list[tuple]) -> layers.Layer | None:
    op, src = layer["op"], shapes[layer["in"][0]] if layer["in"] else None
    table: dict[str, Any] = {
        "conv": lambda: _conv(layer, src[1]),
        "bn": lambda: layers.BatchNormalization(epsilon=1e-5),
        "maxpool": lambda: layers.MaxPooling2D(layer["k"], layer["s"], "same" if layer["k"] % 2 else "valid"),
        "avgpool": lambda: layers.AveragePooling2D(layer["k"], layer["s"], "same" if layer["k"] % 2 else "valid"),
        "gap": GlobalPool,
        "linear": lambda: layers.Dense(layer["cout"], use_bias=layer["bias"]),
        "layernorm": lambda: layers.LayerNormalization(epsilon=1e-5),
        "mha": lambda: Attention(src[2], layer["heads"]),
        "posembed": PosEmbed,
        "zero": Zero,
        "layerscale": LayerScale,
        "add": layers.Add,
        "mul": layers.Multiply,
        "concat": lambda: layers.Concatenate(axis=-1),
        "flatten": layers.Flatten,
        "tokens": lambda: layers.Reshape((src[2] * src[3], src[1])),
        "seqmean": layers.GlobalAveragePooling1D,
        "catrows": lambda: layers.Concatenate(axis=layer["axis"]),
        "slice": lambda: ChannelSlice(layer["start"], layer["size"]),
        "shuffle": lambda: ChannelShuffle(layer["groups"]),
    }
    if op == "act":
        fn = layer["fn"]
        if fn == "gelu":
            return layers.Activation(lambda x: keras.activations.gelu(x, approximate=False))
        return layers.Activation(_ACTS[fn])
    if op == "resize":
        return layers.Resizing(layer["h"], layer["w"], interpolation=layer["mode"])
    if op == "rows":
        return layers.Reshape((-1, layer["per"]))
    if op not in table:
        raise NetlistError(f"keras builder has no layer {op!r}")
    return table[op]()


def build_model(spec: dict[str, Any], seed: int = 0) -> tuple[keras.Model, Netlist]:
    net = spaces.netlist(spec)
    keras.utils.set_random_seed(seed)
    _, c, h, w = net.input_shape
    inp = keras.Input(shape=(h, w, c), batch_size=1, name="input")
    vals: list[Any] = [inp]
    for layer in net.layers[1:]:
        xs = [vals[j] for j in layer["in"]]
        vals.append(_layer(layer, net.shapes)(xs if len(xs) > 1 else xs[0]))
    return keras.Model(inp, vals[net.output]), net


def input_shape(net: Netlist) -> list[int]:
    _, c, h, w = net.input_shape
    return [1, h, w, c]


def output_shape(net: Netlist) -> list[int]:
    s = net.output_shape
    return [1, s[2], s[3], s[1]] if s[0] == "chw" else [1, *s[1:]]


def to_tflite(spec: dict[str, Any], int8: bool = False, seed: int = 0) -> bytes:
    """TFLite bytes; ``int8`` = full-integer quantization (int8 input/output, int8 kernels)."""
    model, net = build_model(spec, seed)
    return convert(model, input_shape(net), int8, seed)


def convert(model: keras.Model, shape: list[int], int8: bool = False, seed: int = 0) -> bytes:
    """TFLite bytes of a Keras model with input ``shape`` (named ``input``); clears the Keras session."""
    # Convert one traced concrete function (the converter freezes the weights into constants):
    # TFLiteConverter.from_keras_model writes and reloads a SavedModel first, which took ~75% of
    # the conversion (3-4x slower, same TFLite ops, parameters, FLOPs and bytes).
    fn = tf.function(lambda x: model(x, training=False),
                     input_signature=[tf.TensorSpec(shape, tf.float32, name="input")])
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()])
    if int8:
        rng = np.random.default_rng(seed)

        def representative() -> Any:
            for _ in range(REPRESENTATIVE_SAMPLES):
                yield [rng.uniform(-1, 1, size=shape).astype(np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    data = conv.convert()
    keras.backend.clear_session()
    return bytes(data)
