"""MobileNetV2 / MobileNetV3 / Once-for-All (MobileNetV3 supernet) style networks.

Spec::

    {"space": "mobilenet", "family": "v2"|"v3"|"ofa", "resolution": 128..256, "width": float,
     "stem": {"c": int, "act": str},
     "stages": [{"c": int, "s": 1|2, "act": str, "se": bool, "blocks": [{"k": 3|5|7, "e": 1|3|4|6}]}],
     "head": {"pre": int, "post": int|None, "act": str}, "classes": int}
"""

from __future__ import annotations

import random
from typing import Any

from datasets.netlist import NetBuilder, Netlist
from datasets.spaces.blocks import classifier, make_divisible, mb_stages

NAME = "mobilenet"
MACS_RANGE = (5e6, 1.2e9)
RESOLUTIONS = list(range(128, 257, 16))

_V2 = {"c": [24, 32, 64, 96, 160, 320], "s": [2, 2, 2, 1, 2, 1], "d": [2, 3, 4, 3, 3, 1]}
_V3 = {
    "c": [24, 40, 80, 112, 160],
    "s": [2, 2, 2, 1, 2],
    "act": ["relu", "relu", "hswish", "hswish", "hswish"],
    "se": [False, True, False, True, True],
}


def _stages_v2(rng: random.Random, w: float) -> list[dict[str, Any]]:
    stages = [{"c": make_divisible(16 * w), "s": 1, "act": "relu6", "se": False, "blocks": [{"k": 3, "e": 1}]}]
    for c, s, d in zip(_V2["c"], _V2["s"], _V2["d"], strict=True):
        depth = max(1, d + rng.choice([-1, 0, 0, 1]))
        blocks = [{"k": rng.choice([3, 3, 5, 7]), "e": rng.choice([3, 4, 6, 6])} for _ in range(depth)]
        stages.append({"c": make_divisible(c * w), "s": s, "act": "relu6", "se": False, "blocks": blocks})
    return stages


def _stages_v3(rng: random.Random, w: float, ofa: bool) -> list[dict[str, Any]]:
    stages = [{"c": make_divisible(16 * w), "s": 1, "act": "relu", "se": False, "blocks": [{"k": 3, "e": 1}]}]
    for c, s, act, se in zip(_V3["c"], _V3["s"], _V3["act"], _V3["se"], strict=True):
        depth = rng.choice([2, 3, 4])
        blocks = [{"k": rng.choice([3, 5, 7]), "e": rng.choice([3, 4, 6])} for _ in range(depth)]
        stage_se = se if ofa else rng.random() < 0.6
        stages.append({"c": make_divisible(c * w), "s": s, "act": act, "se": stage_se, "blocks": blocks})
    return stages


def _draw(rng: random.Random) -> dict[str, Any]:
    family = rng.choice(["v2", "v3", "ofa"])
    res = rng.choice(RESOLUTIONS)
    if family == "v2":
        w = rng.choice([0.35, 0.5, 0.75, 1.0, 1.25, 1.4])
        stages = _stages_v2(rng, w)
        stem = {"c": make_divisible(32 * w), "act": "relu6"}
        head = {"pre": make_divisible(1280 * max(1.0, w)), "post": None, "act": "relu6"}
    else:
        w = rng.choice([1.0, 1.2]) if family == "ofa" else rng.choice([0.5, 0.75, 1.0, 1.25])
        stages = _stages_v3(rng, w, family == "ofa")
        stem = {"c": make_divisible(16 * w), "act": "hswish"}
        head = {"pre": make_divisible(960 * w), "post": make_divisible(1280 * w), "act": "hswish"}
    return {"space": NAME, "family": family, "resolution": res, "width": w, "stem": stem,
            "stages": stages, "head": head, "classes": 1000}


def sample(rng: random.Random) -> dict[str, Any]:
    from datasets.spaces import sample_within

    return sample_within(rng, _draw, netlist, MACS_RANGE)


def netlist(spec: dict[str, Any]) -> Netlist:
    r = spec["resolution"]
    nb = NetBuilder(3, r, r)
    x = nb.conv_bn(0, spec["stem"]["c"], 3, s=2, act=spec["stem"]["act"])
    x = mb_stages(nb, x, spec["stages"])[-1]
    head = spec["head"]
    x = nb.conv_bn(x, head["pre"], 1, act=head["act"])
    if head.get("post"):
        x = nb.gap(x)
        x = nb.act(nb.conv(x, head["post"], 1, bias=True), head["act"])
    return nb.finish(classifier(nb, x, spec["classes"]))
