"""ResNet (basic / bottleneck), ResNeXt (grouped bottleneck) and RegNetX/Y style networks.

Spec::

    {"space": "resnet", "family": str, "resolution": int, "stem": {"c": int, "k": 3|7, "pool": bool},
     "stages": [{"block": "basic"|"bottleneck", "c": int, "mid": int, "g": int, "depth": int,
                 "s": 1|2, "se": bool}], "classes": int}
"""

from __future__ import annotations

import random
from typing import Any

from datasets.netlist import NetBuilder, Netlist
from datasets.spaces.blocks import classifier, res_stages

NAME = "resnet"
MACS_RANGE = (10e6, 2e9)
FAMILIES = ("resnet_basic", "resnet_bottleneck", "resnext", "regnetx", "regnety")


def _resnet(rng: random.Random, family: str) -> list[dict[str, Any]]:
    n = rng.choice([3, 4, 4])
    scale = rng.choice([0.25, 0.375, 0.5, 0.75, 1.0])
    stages = []
    for i in range(n):
        base = int(64 * scale) * 2**i
        if family == "resnet_basic":
            st = {"block": "basic", "c": base, "mid": base, "g": 1}
        elif family == "resnet_bottleneck":
            st = {"block": "bottleneck", "c": 4 * base, "mid": base, "g": 1}
        else:
            g = rng.choice([4, 8, 16, 32])
            bw = rng.choice([2, 4])
            mid = g * bw * 2**i
            st = {"block": "bottleneck", "c": 2 * mid, "mid": mid, "g": g}
        st.update(depth=rng.choice([1, 2, 2, 3, 4]), s=1 if i == 0 else 2, se=False)
        stages.append(st)
    return stages


def _regnet(rng: random.Random, se: bool) -> list[dict[str, Any]]:
    gw = rng.choice([8, 16, 24])
    w = rng.choice([24, 32, 48, 64])
    stages = []
    for i in range(4):
        c = max(gw, round(w / gw) * gw)
        stages.append({"block": "bottleneck", "c": c, "mid": c, "g": c // gw,
                       "depth": rng.choice([1, 1, 2, 3, 4]) if i != 2 else rng.choice([2, 3, 4, 6]),
                       "s": 2, "se": se})
        w *= rng.choice([1.5, 2.0, 2.5])
    return stages


def _draw(rng: random.Random) -> dict[str, Any]:
    family = rng.choice(FAMILIES)
    res = rng.choice([128, 160, 192, 224])
    if family.startswith("regnet"):
        stages = _regnet(rng, se=family == "regnety")
        stem = {"c": 32, "k": 3, "pool": False}
    else:
        stages = _resnet(rng, family)
        stem = {"c": rng.choice([16, 24, 32, 64]), "k": rng.choice([3, 7]), "pool": True}
    return {"space": NAME, "family": family, "resolution": res, "stem": stem, "stages": stages, "classes": 1000}


def sample(rng: random.Random) -> dict[str, Any]:
    from datasets.spaces import sample_within

    return sample_within(rng, _draw, netlist, MACS_RANGE)


def netlist(spec: dict[str, Any]) -> Netlist:
    r = spec["resolution"]
    nb = NetBuilder(3, r, r)
    stem = spec["stem"]
    x = nb.conv_bn(0, stem["c"], stem["k"], s=2, act="relu")
    if stem["pool"]:
        x = nb.pool(x, "max", 3, 2)
    x = res_stages(nb, x, spec["stages"])[-1]
    return nb.finish(classifier(nb, x, spec["classes"]))
