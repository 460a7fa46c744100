"""Spec -> torch.nn.Module -> ONNX bytes (random weights, eval mode, batch 1, opset 17)."""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from datasets import spaces
from datasets.netlist import Netlist, NetlistError, padding

log = logging.getLogger(__name__)
OPSET = 17

_ACTS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "hswish": nn.Hardswish, "hsigmoid": nn.Hardsigmoid,
         "sigmoid": nn.Sigmoid, "silu": nn.SiLU, "gelu": nn.GELU}


class Attention(nn.Module):
    """Multi-head self-attention: one QKV projection, scaled softmax(QK^T)V, output projection."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, t, d))


class ChannelsLast(nn.Module):
    """A last-axis layer applied to an NCHW map over its channels (torchvision's ConvNeXt:
    permute to NHWC, the layer, permute back)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    """x times a learned per-channel vector, drawn as the Keras builder's (uniform on [0, 0.1))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.rand(channels, 1, 1) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class PosEmbed(nn.Module):
    def __init__(self, tokens: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight


def _module(layer: dict[str, Any], shapes: list[tuple], i: int) -> nn.Module | None:
    op, src = layer["op"], shapes[layer["in"][0]] if layer["in"] else None
    if op == "conv":
        k = layer["k"]
        return nn.Conv2d(src[1], layer["cout"], k, layer["s"], padding(k), groups=layer["g"], bias=layer["bias"])
    if op == "bn":
        return nn.BatchNorm2d(src[1])
    if op == "act":
        return _ACTS[layer["fn"]]()
    if op == "maxpool":
        return nn.MaxPool2d(layer["k"], layer["s"], padding(layer["k"]))
    if op == "avgpool":
        return nn.AvgPool2d(layer["k"], layer["s"], padding(layer["k"]), count_include_pad=False)
    if op == "gap":
        return nn.AdaptiveAvgPool2d(1)
    if op == "linear" and src[0] == "chw":
        return ChannelsLast(nn.Linear(src[1], layer["cout"], bias=layer["bias"]))
    if op == "linear":
        return nn.Linear(src[-1], layer["cout"], bias=layer["bias"])
    if op == "layernorm" and src[0] == "chw":
        return ChannelsLast(nn.LayerNorm(src[1]))
    if op == "layernorm":
        return nn.LayerNorm(src[-1])
    if op == "layerscale":
        return LayerScale(src[1])
    if op == "mha":
        return Attention(src[2], layer["heads"])
    if op == "posembed":
        return PosEmbed(src[1], src[2])
    return None


class NetlistModule(nn.Module):
    """Executes a :class:`Netlist` layer by layer."""

    def __init__(self, net: Netlist) -> None:
        super().__init__()
        self.layers_desc = net.layers
        self.shapes = net.shapes
        self.output = net.output
        self.mods = nn.ModuleDict()
        for i, layer in enumerate(net.layers):
            m = _module(layer, net.shapes, i)
            if m is not None:
                self.mods[str(i)] = m

    def _apply(self, i: int, layer: dict[str, Any], xs: list[torch.Tensor]) -> torch.Tensor:
        op = layer["op"]
        if str(i) in self.mods:
            return self.mods[str(i)](xs[0])
        if op == "add":
            return xs[0] + xs[1]
        if op == "mul":
            return xs[0] * xs[1]
        if op == "zero":
            return xs[0] * 0.0
        if op == "concat":
            return torch.cat(xs, dim=1)
        if op == "resize":
            align = False if layer["mode"] == "bilinear" else None
            return F.interpolate(xs[0], size=(layer["h"], layer["w"]), mode=layer["mode"], align_corners=align)
        if op == "slice":
            # torch.split exports as an ONNX Split (what torchvision's ShuffleNetV2 chunk gives)
            a, n, c = layer["start"], layer["size"], xs[0].shape[1]
            parts = [p for p in (a, n, c - a - n) if p]
            return torch.split(xs[0], parts, dim=1)[1 if a else 0]
        if op == "shuffle":
            b, c, h, w = xs[0].shape
            g = layer["groups"]
            return xs[0].reshape(b, g, c // g, h, w).transpose(1, 2).reshape(b, c, h, w)
        if op == "flatten":
            return xs[0].flatten(1)
        if op == "tokens":
            return xs[0].flatten(2).transpose(1, 2)
        if op == "seqmean":
            return xs[0].mean(dim=1)
        if op == "rows":
            return xs[0].permute(0, 2, 3, 1).reshape(xs[0].shape[0], -1, layer["per"])
        if op == "catrows":
            return torch.cat(xs, dim=layer["axis"])
        raise NetlistError(f"torch builder has no layer {op!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vals: list[torch.Tensor | None] = [x] + [None] * (len(self.layers_desc) - 1)
        for i, layer in enumerate(self.layers_desc[1:], start=1):
            vals[i] = self._apply(i, layer, [vals[j] for j in layer["in"]])
        return vals[self.output]


def input_shape(net: Netlist) -> list[int]:
    _, c, h, w = net.input_shape
    return [1, c, h, w]


def output_shape(net: Netlist) -> list[int]:
    s = net.output_shape
    return [1, *s[1:]]


def build_module(spec: dict[str, Any], seed: int = 0) -> tuple[nn.Module, Netlist]:
    net = spaces.netlist(spec)
    torch.manual_seed(seed)
    return NetlistModule(net).eval(), net


def to_onnx(spec: dict[str, Any], seed: int = 0) -> bytes:
    """ONNX bytes of the spec's network (TorchScript exporter, opset 17, batch 1)."""
    model, net = build_module(spec, seed)
    x = torch.randn(*input_shape(net))
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), buf, dynamo=False, opset_version=OPSET,
                          input_names=["input"], output_names=["output"])
    return buf.getvalue()
