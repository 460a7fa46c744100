"""Plain depthwise-separable stacks (MobileNetV1 style): no expansion, no residual.

Every block is a kxk depthwise conv + BN + activation, then a 1x1 pointwise conv + BN +
activation, one after the other. The other spaces have this block only as the first block of a
MobileNetV2 (``mobilenet``) or inside ghost modules (``mixed``); here it is the whole network, at
every resolution and width. Session 19 added the space because ``cpu-litert.pt`` read the
pointwise convs of the zoo's int8 MobileNet V1 networks (full-integer TFLite) as 1.3-2.3x slower
than they run (bench/results/accuracy-zoo-cpu-litert-s18.txt): the sampled spaces' int8 1x1 convs
are almost all expansions and projections of inverted residuals. Widths, depths, kernels,
strides, activations and resolutions are sampled (the zoo's MobileNet V1 configurations are
points of the space, as the zoo's MobileNetV2/V3 are of ``mobilenet``; the zoo stays the test set).
Its first test did not bear that out: 150 + 150 records measured on another CPU (Intel family 6
model 207) made the family-25 model-17 CPU's int8 MobileNet V1 predictions worse, not better
(bench/results/accuracy-dwsep-s19.txt); records of the same CPU are untested.

Spec::

    {"space": "dwsep", "resolution": 128..256, "width": float, "act": "relu"|"relu6"|"hswish",
     "stem": {"c": int},
     "stages": [{"c": int, "s": 1|2, "k": 3|5, "depth": int}],
     "head": int | None, "classes": int}
"""

from __future__ import annotations

import random
from typing import Any

from datasets.netlist import NetBuilder, Netlist
from datasets.spaces.blocks import classifier, make_divisible

NAME = "dwsep"
MACS_RANGE = (5e6, 1.2e9)
RESOLUTIONS = list(range(128, 257, 16))

# MobileNet V1's stages (channels, first stride, depth) at width 1.0; depth and kernel sampled around it
_V1 = [(64, 1, 1), (128, 2, 2), (256, 2, 2), (512, 2, 6), (1024, 2, 2)]


def _draw(rng: random.Random) -> dict[str, Any]:
    w = rng.choice([0.25, 0.35, 0.5, 0.75, 1.0, 1.25])
    act = rng.choice(["relu", "relu6", "relu6", "hswish"])
    stages = []
    for c, s, d in _V1:
        depth = rng.choice([2, 3, 4, 5, 6]) if d == 6 else max(1, d + rng.choice([-1, 0, 0, 1]))
        stages.append({"c": make_divisible(c * w), "s": s, "k": rng.choice([3, 3, 3, 5]), "depth": depth})
    head = make_divisible(1280 * w) if rng.random() < 0.25 else None  # a 1x1 conv before pooling
    return {"space": NAME, "resolution": rng.choice(RESOLUTIONS), "width": w, "act": act,
            "stem": {"c": make_divisible(32 * w)}, "stages": stages, "head": head, "classes": 1000}


def sample(rng: random.Random) -> dict[str, Any]:
    from datasets.spaces import sample_within

    return sample_within(rng, _draw, netlist, MACS_RANGE)


def netlist(spec: dict[str, Any]) -> Netlist:
    r, act = spec["resolution"], spec["act"]
    nb = NetBuilder(3, r, r)
    x = nb.conv_bn(0, spec["stem"]["c"], 3, s=2, act=act)
    for st in spec["stages"]:
        for i in range(st["depth"]):
            cin = nb.shape(x)[1]
            x = nb.conv_bn(x, cin, st["k"], s=st["s"] if i == 0 else 1, g=cin, act=act)
            x = nb.conv_bn(x, st["c"], 1, act=act)
    if spec.get("head"):
        x = nb.conv_bn(x, spec["head"], 1, act=act)
    return nb.finish(classifier(nb, x, spec["classes"]))
