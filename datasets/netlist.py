"""A framework-neutral layer list: the one description both builders read.

Each search space turns its spec into a :class:`Netlist` (a DAG of primitive
layers with known shapes) through :class:`NetBuilder`; ``build_torch`` and
``build_keras`` interpret the same netlist, so the PyTorch/ONNX and the
Keras/TFLite networks are the same architecture by construction.

Shapes are framework-neutral: ``("chw", C, H, W)`` for feature maps,
``("seq", T, D)`` for token sequences, ``("vec", D)`` for vectors and
``("rows", R, K)`` for detection rows. The batch dimension is implicit (1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ACTIVATIONS = ("relu", "relu6", "hswish", "hsigmoid", "sigmoid", "silu", "gelu")
Shape = tuple


class NetlistError(ValueError):
    """A spec describes a network that cannot be built (bad channels, sizes, ops)."""


@dataclass
class Netlist:
    """``layers[i]`` is a dict ``{"op", "in": [indices], ...params}``; layer 0 is the input."""

    layers: list[dict[str, Any]] = field(default_factory=list)
    shapes: list[Shape] = field(default_factory=list)
    output: int = -1

    @property
    def input_shape(self) -> Shape:
        return self.shapes[0]

    @property
    def output_shape(self) -> Shape:
        return self.shapes[self.output]

    def macs(self) -> int:
        """Multiply-accumulates of convolutions, linear layers and attention matmuls."""
        return sum(layer_macs(layer, self.shapes, i) for i, layer in enumerate(self.layers))


def layer_macs(layer: dict[str, Any], shapes: list[Shape], i: int) -> int:
    op, out = layer["op"], shapes[i]
    if op == "conv":
        cin = shapes[layer["in"][0]][1]
        return out[1] * out[2] * out[3] * (cin // layer["g"]) * layer["k"] * layer["k"]
    if op == "linear":
        src = shapes[layer["in"][0]]
        if src[0] == "chw":  # per position of a feature map
            return src[2] * src[3] * src[1] * layer["cout"]
        rows = src[1] if src[0] == "seq" else 1
        return rows * src[-1] * layer["cout"]
    if op == "mha":
        t, d = out[1], out[2]
        return 4 * t * d * d + 2 * t * t * d
    return 0


def _check_window(k: int, s: int, h: int, w: int) -> None:
    """Odd windows pad symmetrically ("same"); even windows must tile the map exactly."""
    if k % 2 == 0 and (k != s or h % s or w % s):
        raise NetlistError(f"even window {k} with stride {s} does not tile a {h}x{w} map")


def padding(k: int) -> int:
    """Symmetric padding of a window of size ``k`` (0 for even, tiling windows)."""
    return (k - 1) // 2 if k % 2 else 0


class NetBuilder:
    """Append layers with shape checking; every method returns the new layer index."""

    def __init__(self, c: int, h: int, w: int) -> None:
        self.net = Netlist(layers=[{"op": "input", "in": []}], shapes=[("chw", c, h, w)])

    # -- core -----------------------------------------------------------------
    def _add(self, op: str, inputs: list[int], shape: Shape, **params: Any) -> int:
        for j in inputs:
            if not 0 <= j < len(self.net.layers):
                raise NetlistError(f"{op}: input {j} does not exist")
        self.net.layers.append({"op": op, "in": list(inputs), **params})
        self.net.shapes.append(tuple(shape))
        return len(self.net.layers) - 1

    def shape(self, x: int) -> Shape:
        return self.net.shapes[x]

    def _chw(self, x: int, op: str) -> Shape:
        s = self.net.shapes[x]
        if s[0] != "chw":
            raise NetlistError(f"{op} needs a feature map, got {s}")
        return s

    # -- feature-map layers ---------------------------------------------------------
    def conv(self, x: int, cout: int, k: int, s: int = 1, g: int = 1, bias: bool = False) -> int:
        _, cin, h, w = self._chw(x, "conv")
        if cin % g or cout % g or k < 1 or s < 1:
            raise NetlistError(f"conv {cin}->{cout} k{k} s{s} g{g} is invalid")
        _check_window(k, s, h, w)
        return self._add("conv", [x], ("chw", cout, -(-h // s), -(-w // s)), cout=cout, k=k, s=s, g=g, bias=bias)

    def bn(self, x: int) -> int:
        return self._add("bn", [x], self._chw(x, "bn"))

    def act(self, x: int, fn: str) -> int:
        if fn not in ACTIVATIONS:
            raise NetlistError(f"unknown activation {fn!r}")
        return self._add("act", [x], self.shape(x), fn=fn)

    def conv_bn(self, x: int, cout: int, k: int, s: int = 1, g: int = 1, act: str | None = None) -> int:
        y = self.bn(self.conv(x, cout, k, s, g))
        return self.act(y, act) if act else y

    def add(self, a: int, b: int) -> int:
        if self.shape(a) != self.shape(b):
            raise NetlistError(f"add of {self.shape(a)} and {self.shape(b)}")
        return self._add("add", [a, b], self.shape(a))

    def scale(self, x: int, gate: int) -> int:
        """x * gate where gate is a (C,1,1) map (squeeze-excite, LR-ASPP)."""
        sx, sg = self._chw(x, "scale"), self._chw(gate, "scale")
        if sg[1] != sx[1] or sg[2:] != (1, 1):
            raise NetlistError(f"scale gate {sg} does not fit {sx}")
        return self._add("mul", [x, gate], sx)

    def zero(self, x: int) -> int:
        return self._add("zero", [x], self.shape(x))

    def concat(self, xs: list[int]) -> int:
        shapes = [self._chw(x, "concat") for x in xs]
        if len({s[2:] for s in shapes}) != 1:
            raise NetlistError(f"concat of maps with different sizes: {shapes}")
        return self._add("concat", xs, ("chw", sum(s[1] for s in shapes), *shapes[0][2:]))

    def slice(self, x: int, start: int, size: int) -> int:
        """Channels ``start .. start + size`` of a feature map (ShuffleNetV2's channel split)."""
        _, c, h, w = self._chw(x, "slice")
        if start < 0 or size < 1 or start + size > c:
            raise NetlistError(f"slice {start}:{start + size} of {c} channels")
        return self._add("slice", [x], ("chw", size, h, w), start=start, size=size)

    def shuffle(self, x: int, groups: int) -> int:
        """Channel shuffle: (g, C/g) channels transposed to (C/g, g) (reshape, transpose, reshape)."""
        _, c, h, w = self._chw(x, "shuffle")
        if groups < 2 or c % groups:
            raise NetlistError(f"shuffle of {c} channels in {groups} groups")
        return self._add("shuffle", [x], ("chw", c, h, w), groups=groups)

    def pool(self, x: int, kind: str, k: int, s: int) -> int:
        _, c, h, w = self._chw(x, "pool")
        _check_window(k, s, h, w)
        return self._add(kind + "pool", [x], ("chw", c, -(-h // s), -(-w // s)), k=k, s=s)

    def gap(self, x: int) -> int:
        _, c, _, _ = self._chw(x, "gap")
        return self._add("gap", [x], ("chw", c, 1, 1))

    def resize(self, x: int, h: int, w: int, mode: str = "nearest") -> int:
        _, c, _, _ = self._chw(x, "resize")
        return self._add("resize", [x], ("chw", c, h, w), h=h, w=w, mode=mode)

    # -- vectors, sequences, rows ---------------------------------------------------
    def flatten(self, x: int) -> int:
        s = self._chw(x, "flatten")
        if s[2:] != (1, 1):
            raise NetlistError("flatten expects a pooled (C,1,1) map")
        return self._add("flatten", [x], ("vec", s[1]))

    def linear(self, x: int, cout: int, bias: bool = True) -> int:
        """A dense layer over the last axis; on a feature map, over its channels at every position
        (ConvNeXt's pointwise layers: Keras Dense on NHWC, a Linear between permutes in PyTorch)."""
        s = self.shape(x)
        if s[0] == "chw":
            return self._add("linear", [x], ("chw", cout, s[2], s[3]), cout=cout, bias=bias)
        if s[0] not in ("vec", "seq"):
            raise NetlistError(f"linear needs a vector, sequence or feature map, got {s}")
        return self._add("linear", [x], (*s[:-1], cout), cout=cout, bias=bias)

    def tokens(self, x: int) -> int:
        _, c, h, w = self._chw(x, "tokens")
        return self._add("tokens", [x], ("seq", h * w, c))

    def posembed(self, x: int) -> int:
        return self._add("posembed", [x], self.shape(x))

    def layernorm(self, x: int) -> int:
        """Normalise over the last axis; on a feature map, over its channels at every position."""
        return self._add("layernorm", [x], self.shape(x))

    def layerscale(self, x: int) -> int:
        """x times a learned per-channel vector (ConvNeXt's layer scale)."""
        return self._add("layerscale", [x], self._chw(x, "layerscale"))

    def mha(self, x: int, heads: int) -> int:
        _, t, d = self.shape(x)
        if d % heads:
            raise NetlistError(f"embed dim {d} not divisible by {heads} heads")
        return self._add("mha", [x], ("seq", t, d), heads=heads)

    def seq_act(self, x: int, fn: str) -> int:
        return self.act(x, fn)

    def seq_add(self, a: int, b: int) -> int:
        return self.add(a, b)

    def seqmean(self, x: int) -> int:
        return self._add("seqmean", [x], ("vec", self.shape(x)[2]))

    def rows(self, x: int, per: int) -> int:
        """(C,H,W) -> (H*W*C/per, per) in channels-last order (SSD box/class layout)."""
        _, c, h, w = self._chw(x, "rows")
        if c % per:
            raise NetlistError(f"{c} channels do not split into rows of {per}")
        return self._add("rows", [x], ("rows", h * w * c // per, per), per=per)

    def cat_rows(self, xs: list[int], axis: str) -> int:
        shapes = [self.shape(x) for x in xs]
        if axis == "rows":
            if len({s[2] for s in shapes}) != 1:
                raise NetlistError(f"row widths differ: {shapes}")
            return self._add("catrows", xs, ("rows", sum(s[1] for s in shapes), shapes[0][2]), axis=1)
        if len({s[1] for s in shapes}) != 1:
            raise NetlistError(f"row counts differ: {shapes}")
        return self._add("catrows", xs, ("rows", shapes[0][1], sum(s[2] for s in shapes)), axis=2)

    # -- finish ---------------------------------------------------------------------
    def finish(self, out: int) -> Netlist:
        """Drop layers that do not feed ``out`` and renumber."""
        live: set[int] = set()
        stack = [out]
        while stack:
            i = stack.pop()
            if i not in live:
                live.add(i)
                stack.extend(self.net.layers[i]["in"])
        live.add(0)
        order = sorted(live)
        remap = {old: new for new, old in enumerate(order)}
        layers = [{**self.net.layers[i], "in": [remap[j] for j in self.net.layers[i]["in"]]} for i in order]
        return Netlist(layers=layers, shapes=[self.net.shapes[i] for i in order], output=remap[out])
