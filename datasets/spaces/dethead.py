"""Detection and segmentation heads on small backbones.

Spec::

    {"space": "dethead", "resolution": int,
     "backbone": {"kind": "mbv3"|"resnet", "stem": int, "stages": [... as in mobilenet / resnet ...]},
     "head": {"type": "ssdlite"|"fpn_det"|"fpn_seg"|"lraspp", "classes": int, "anchors": int,
              "width": int, "extra": int, "convs": int, "mode": "nearest"|"bilinear"}}

Backbones reach strides 8, 16 and 32; heads read those taps. Detection heads emit one tensor of
rows ``(anchors, 4 + classes)``; segmentation heads one map ``(classes, H, W)`` at input size.
"""

from __future__ import annotations

import random
from typing import Any

from datasets.netlist import NetBuilder, Netlist, NetlistError
from datasets.spaces.blocks import make_divisible, mb_stages, res_stages

NAME = "dethead"
MACS_RANGE = (10e6, 1.5e9)
HEADS = ("ssdlite", "fpn_det", "fpn_seg", "lraspp")


def _mbv3_backbone(rng: random.Random) -> dict[str, Any]:
    w = rng.choice([0.5, 0.75, 1.0])
    plan = [(16, 2, "relu", False), (24, 2, "relu", False), (40, 2, "hswish", True),
            (80, 2, "hswish", rng.random() < 0.5), (112, 1, "hswish", True), (160, 2, "hswish", True)]
    stages = []
    for c, s, act, se in plan:
        blocks = [{"k": rng.choice([3, 5]), "e": rng.choice([3, 4, 6])} for _ in range(rng.choice([1, 2, 3]))]
        stages.append({"c": make_divisible(c * w), "s": s, "act": act, "se": se, "blocks": blocks})
    return {"kind": "mbv3", "stem": 16, "stages": stages}


def _resnet_backbone(rng: random.Random) -> dict[str, Any]:
    base = rng.choice([16, 24, 32])
    stages = [{"block": "basic", "c": base * 2**i, "mid": base * 2**i, "g": 1,
               "depth": rng.choice([1, 2]), "s": 1 if i == 0 else 2, "se": False} for i in range(4)]
    return {"kind": "resnet", "stem": base, "stages": stages}


def _draw(rng: random.Random) -> dict[str, Any]:
    head_type = rng.choice(HEADS)
    seg = head_type in ("fpn_seg", "lraspp")
    head = {"type": head_type, "classes": rng.choice([19, 21]) if seg else rng.choice([21, 91]),
            "anchors": rng.choice([3, 6]), "width": rng.choice([32, 64, 96, 128]),
            "extra": rng.choice([0, 1, 2, 3]), "convs": rng.choice([1, 2]),
            "mode": rng.choice(["nearest", "bilinear"])}
    backbone = _mbv3_backbone(rng) if rng.random() < 0.6 else _resnet_backbone(rng)
    return {"space": NAME, "resolution": rng.choice(range(128, 321, 32)), "backbone": backbone, "head": head}


def sample(rng: random.Random) -> dict[str, Any]:
    from datasets.spaces import sample_within

    return sample_within(rng, _draw, netlist, MACS_RANGE)


def _taps(nb: NetBuilder, bb: dict[str, Any], r: int) -> list[int]:
    """Backbone outputs at strides 8, 16, 32."""
    if bb["kind"] == "mbv3":
        x = nb.conv_bn(0, bb["stem"], 3, s=2, act="hswish")
        outs = mb_stages(nb, x, bb["stages"])
    else:
        x = nb.pool(nb.conv_bn(0, bb["stem"], 3, s=2, act="relu"), "max", 3, 2)
        outs = res_stages(nb, x, bb["stages"])
    by_size: dict[int, int] = {}
    for o in outs:
        by_size[nb.shape(o)[2]] = o
    try:
        return [by_size[-(-r // s)] for s in (8, 16, 32)]
    except KeyError as exc:
        raise NetlistError("backbone does not reach strides 8, 16 and 32") from exc


def _ssdlite(nb: NetBuilder, taps: list[int], h: dict[str, Any]) -> int:
    feats = taps[1:]
    x = taps[-1]
    for _ in range(h["extra"]):
        c = nb.shape(x)[1]
        x = nb.conv_bn(x, make_divisible(c / 2), 1, act="relu6")
        x = nb.conv_bn(x, nb.shape(x)[1], 3, s=2, g=nb.shape(x)[1], act="relu6")
        x = nb.conv_bn(x, c, 1, act="relu6")
        feats.append(x)
    boxes, scores = [], []
    for f in feats:
        c = nb.shape(f)[1]
        for out, per, acc in ((4, 4, boxes), (h["classes"], h["classes"], scores)):
            y = nb.conv_bn(f, c, 3, g=c, act="relu6")
            acc.append(nb.rows(nb.conv(y, h["anchors"] * out, 1, bias=True), per))
    return nb.cat_rows([nb.cat_rows(boxes, "rows"), nb.cat_rows(scores, "rows")], "cols")


def _fpn(nb: NetBuilder, taps: list[int], h: dict[str, Any]) -> list[int]:
    lat = [nb.conv(t, h["width"], 1, bias=True) for t in taps]
    p = [lat[-1]]
    for x in reversed(lat[:-1]):
        _, _, hh, ww = nb.shape(x)
        p.insert(0, nb.add(x, nb.resize(p[0], hh, ww, h["mode"])))
    return [nb.conv(x, h["width"], 3, bias=True) for x in p]


def _fpn_det(nb: NetBuilder, taps: list[int], h: dict[str, Any]) -> int:
    rows = []
    per = 4 + h["classes"]
    for x in _fpn(nb, taps, h):
        for _ in range(h["convs"]):
            x = nb.act(nb.conv(x, h["width"], 3, bias=True), "relu")
        rows.append(nb.rows(nb.conv(x, h["anchors"] * per, 3, bias=True), per))
    return nb.cat_rows(rows, "rows")


def _fpn_seg(nb: NetBuilder, taps: list[int], h: dict[str, Any], r: int) -> int:
    p = _fpn(nb, taps, h)
    _, _, hh, ww = nb.shape(p[0])
    x = p[0]
    for y in p[1:]:
        x = nb.add(x, nb.resize(y, hh, ww, "bilinear"))
    x = nb.conv_bn(x, h["width"], 3, act="relu")
    return nb.resize(nb.conv(x, h["classes"], 1, bias=True), r, r, "bilinear")


def _lraspp(nb: NetBuilder, taps: list[int], h: dict[str, Any], r: int) -> int:
    low, high = taps[0], taps[-1] if h["extra"] % 2 else taps[1]
    a = nb.conv_bn(high, h["width"], 1, act="relu")
    g = nb.act(nb.conv(nb.gap(high), h["width"], 1, bias=True), "sigmoid")
    _, _, hh, ww = nb.shape(low)
    x = nb.resize(nb.scale(a, g), hh, ww, "bilinear")
    x = nb.add(nb.conv(x, h["classes"], 1, bias=True), nb.conv(low, h["classes"], 1, bias=True))
    return nb.resize(x, r, r, "bilinear")


def netlist(spec: dict[str, Any]) -> Netlist:
    r = int(spec["resolution"])
    nb = NetBuilder(3, r, r)
    taps = _taps(nb, spec["backbone"], r)
    h = spec["head"]
    kind = h["type"]
    if kind == "ssdlite":
        out = _ssdlite(nb, taps, h)
    elif kind == "fpn_det":
        out = _fpn_det(nb, taps, h)
    elif kind == "fpn_seg":
        out = _fpn_seg(nb, taps, h, r)
    elif kind == "lraspp":
        out = _lraspp(nb, taps, h, r)
    else:
        raise NetlistError(f"unknown head type {kind!r}")
    return nb.finish(out)
