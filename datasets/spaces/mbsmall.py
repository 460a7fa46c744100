"""Small inverted-residual networks: MobileNetV2 / V3 skeletons at the low end of a mobile budget
(3-200 MMACs, 96-224 px), the range NAS for microcontroller-class and always-on models searches.

``mobilenet`` draws MobileNetV3-Large / OFA channel plans (24-160 channels, 2-4 blocks per stage)
at width 0.5 and up and 128 px and up, so few of its networks run under 2 ms: 7 of the family-25
model-17 CPU's 253 LiteRT fp32 mobilenet-space graphs. Session 26 found every LiteRT predictor
over-predicting such networks' fp32 latency, 11-37% on all five CPUs for the zoo's MobileNetV3-Small
(bench/results/accuracy-zoo-cpu-litert-s25.txt), and the same 13% for that network rebuilt in the
``mobilenet`` space's own layers, so the gap is of the training data's coverage, not of the Keras
graph. This space samples MobileNetV3-Small-like plans (16-96 channels, one to three blocks per
stage, SE and hard-swish per stage) and narrow MobileNetV2 ones (width 0.25-0.5, shallower), with
the ``mobilenet`` spec and layers (:func:`datasets.spaces.mobilenet.netlist`). The zoo's
MobileNetV3-Small and MobileNetV2-0.35 configurations are points of it, as the zoo's larger
MobileNets are of ``mobilenet``; the zoo stays the test set.

Spec: as ``mobilenet`` (``{"space": "mbsmall", "family": "v2"|"v3", ...}``).
"""

from __future__ import annotations

import random
from typing import Any

from datasets.netlist import Netlist
from datasets.spaces import mobilenet
from datasets.spaces.blocks import make_divisible

NAME = "mbsmall"
MACS_RANGE = (3e6, 2e8)
RESOLUTIONS = list(range(96, 225, 16))

# MobileNetV3-Small's stages: channels, first stride, activation, (min, max) depth
_V3S = [(16, 2, "relu", (1, 1)), (24, 2, "relu", (1, 2)), (40, 2, "hswish", (1, 3)), (48, 1, "hswish", (1, 2)),
        (96, 2, "hswish", (1, 3))]
# MobileNetV2's stages: channels, first stride, depth
_V2 = [(24, 2, 2), (32, 2, 3), (64, 2, 4), (96, 1, 3), (160, 2, 3), (320, 1, 1)]


def _draw_v3(rng: random.Random) -> dict[str, Any]:
    w = rng.choice([0.5, 0.75, 1.0, 1.0, 1.25])
    stages = []
    for i, (c, s, act, (lo, hi)) in enumerate(_V3S):
        kernels = [3, 3, 5] if i < 2 else [3, 5, 5, 7]
        expansions = [1, 3, 4, 4.5] if i < 2 else [3, 4, 6]
        blocks = [{"k": rng.choice(kernels), "e": rng.choice(expansions)} for _ in range(rng.randint(lo, hi))]
        stages.append({"c": make_divisible(c * w), "s": s, "act": act, "se": rng.random() < 0.6, "blocks": blocks})
    return {"stem": {"c": make_divisible(16 * w), "act": "hswish"}, "stages": stages, "width": w,
            "head": {"pre": make_divisible(576 * w), "post": rng.choice([make_divisible(1024 * w), 1024]),
                     "act": "hswish"}}


def _draw_v2(rng: random.Random) -> dict[str, Any]:
    w = rng.choice([0.25, 0.35, 0.5])
    stages = [{"c": make_divisible(16 * w), "s": 1, "act": "relu6", "se": False, "blocks": [{"k": 3, "e": 1}]}]
    for c, s, d in _V2:
        depth = max(1, d - rng.choice([0, 1, 1, 2]))
        blocks = [{"k": rng.choice([3, 3, 5]), "e": rng.choice([2, 3, 4, 6, 6])} for _ in range(depth)]
        stages.append({"c": make_divisible(c * w), "s": s, "act": "relu6", "se": False, "blocks": blocks})
    return {"stem": {"c": make_divisible(32 * w), "act": "relu6"}, "stages": stages, "width": w,
            "head": {"pre": rng.choice([1280, make_divisible(1280 * w)]), "post": None, "act": "relu6"}}


def _draw(rng: random.Random) -> dict[str, Any]:
    family = rng.choice(["v2", "v3", "v3"])
    res = rng.choice(RESOLUTIONS)
    body = _draw_v3(rng) if family == "v3" else _draw_v2(rng)
    return {"space": NAME, "family": family, "resolution": res, "width": body["width"], "stem": body["stem"],
            "stages": body["stages"], "head": body["head"], "classes": 1000}


def sample(rng: random.Random) -> dict[str, Any]:
    from datasets.spaces import sample_within

    return sample_within(rng, _draw, netlist, MACS_RANGE)


def netlist(spec: dict[str, Any]) -> Netlist:
    return mobilenet.netlist(spec)
