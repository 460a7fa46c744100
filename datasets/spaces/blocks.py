"""Building blocks shared by several search spaces (all expressed on a NetBuilder)."""

from __future__ import annotations

from typing import Any

from datasets.netlist import NetBuilder


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round channels the MobileNet way: to a multiple of ``divisor``, never below 90 %."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new < 0.9 * v:
        new += divisor
    return new


def squeeze_excite(nb: NetBuilder, x: int, ratio: float = 0.25, gate: str = "hsigmoid", inner: str = "relu") -> int:
    c = nb.shape(x)[1]
    s = nb.gap(x)
    s = nb.act(nb.conv(s, make_divisible(c * ratio), 1, bias=True), inner)
    s = nb.act(nb.conv(s, c, 1, bias=True), gate)
    return nb.scale(x, s)


def mbconv(
    nb: NetBuilder, x: int, cout: int, k: int, e: float, s: int, act: str, se: bool = False, g: int = 1,
    always_expand: bool = False, se_gate: str = "hsigmoid", se_inner: str = "relu", se_ratio: float = 0.25,
) -> int:
    """Inverted residual: [1x1 expand] -> kxk depthwise -> [SE] -> 1x1 project (+ residual).
    ``se_ratio`` is of the expanded width (MobileNetV3); EfficientNet's is 0.25 of the input width."""
    cin = nb.shape(x)[1]
    mid = make_divisible(cin * e) if e != 1 else cin
    y = x
    if e != 1 or always_expand:
        y = nb.conv_bn(y, mid, 1, g=g, act=act)
    y = nb.conv_bn(y, mid, k, s=s, g=mid, act=act)
    if se:
        y = squeeze_excite(nb, y, se_ratio, se_gate, se_inner)
    y = nb.conv_bn(y, cout, 1, g=g)
    if s == 1 and cin == cout:
        y = nb.add(x, y)
    return y


def mb_stages(nb: NetBuilder, x: int, stages: list[dict[str, Any]]) -> list[int]:
    """MobileNet stages; returns the output index of every stage."""
    outs = []
    for st in stages:
        for i, blk in enumerate(st["blocks"]):
            x = mbconv(nb, x, st["c"], blk["k"], blk["e"], st["s"] if i == 0 else 1, st["act"], st["se"])
        outs.append(x)
    return outs


def res_block(nb: NetBuilder, x: int, st: dict[str, Any], stride: int) -> int:
    """ResNet basic / bottleneck (ResNeXt, RegNet: grouped 3x3, optional SE) block."""
    cin, cout = nb.shape(x)[1], st["c"]
    if st["block"] == "basic":
        y = nb.conv_bn(x, cout, 3, s=stride, act="relu")
        y = nb.conv_bn(y, cout, 3)
    else:
        mid = st["mid"]
        y = nb.conv_bn(x, mid, 1, act="relu")
        y = nb.conv_bn(y, mid, 3, s=stride, g=st.get("g", 1), act="relu")
        if st.get("se"):
            y = squeeze_excite(nb, y, ratio=0.25 * cin / mid, gate="sigmoid")
        y = nb.conv_bn(y, cout, 1)
    short = x if stride == 1 and cin == cout else nb.conv_bn(x, cout, 1, s=stride)
    return nb.act(nb.add(short, y), "relu")


def res_stages(nb: NetBuilder, x: int, stages: list[dict[str, Any]]) -> list[int]:
    outs = []
    for st in stages:
        for i in range(st["depth"]):
            x = res_block(nb, x, st, st["s"] if i == 0 else 1)
        outs.append(x)
    return outs


def classifier(nb: NetBuilder, x: int, classes: int) -> int:
    return nb.linear(nb.flatten(nb.gap(x)), classes)
