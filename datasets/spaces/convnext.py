"""ConvNeXt-style networks: patchify stem, stages of depthwise kxk + LayerNorm + pointwise MLP
(dense layers over the channels) + GELU + layer scale with a residual, LayerNorm + 2x2 stride-2
convs between stages, pooled LayerNorm classifier.

The other spaces have LayerNorm, GELU and dense layers only on token sequences (``vit``): a few
hundred tokens. A ConvNeXt runs them on whole feature maps (56x56x96 in ConvNeXt-T's first stage),
and its full-integer TFLite graph keeps each LayerNorm in float between a DEQUANTIZE and a
QUANTIZE of the whole map. Session 20 added the space because ``cpu-litert.pt`` predicted the
zoo's int8 ConvNeXt-T at 0.56-0.78x its measured time in every seed
(bench/results/accuracy-dwsep-f25m17-s20.txt). Widths, depths, kernels, MLP ratios and
resolutions are sampled around ConvNeXt's (ConvNeXt-T itself, 4.5 GMACs, is above the range:
the zoo stays the test set).

Spec::

    {"space": "convnext", "resolution": 96..256, "patch": 2|4, "kernel": 3|5|7, "ratio": 2|3|4,
     "layer_scale": bool, "stages": [{"c": int, "depth": int}], "classes": int}
"""

from __future__ import annotations

import random
from typing import Any

from datasets.netlist import NetBuilder, Netlist

NAME = "convnext"
MACS_RANGE = (1e7, 1.5e9)
RESOLUTIONS = list(range(96, 257, 32))

# ConvNeXt-T: channels (96, 192, 384, 768), depths (3, 3, 9, 3)
_T = [(96, 3), (192, 3), (384, 9), (768, 3)]


def _draw(rng: random.Random) -> dict[str, Any]:
    w = rng.choice([0.25, 0.375, 0.5, 0.75, 1.0])
    n_stages = rng.choice([3, 4, 4, 4])
    stages = [{"c": max(8, int(round(c * w / 8)) * 8),
               "depth": rng.randint(1, 6) if d == 9 else rng.randint(1, d)} for c, d in _T[:n_stages]]
    return {"space": NAME, "resolution": rng.choice(RESOLUTIONS), "patch": rng.choice([2, 4, 4, 4]),
            "kernel": rng.choice([3, 5, 7, 7]), "ratio": rng.choice([2, 3, 4, 4]),
            "layer_scale": rng.random() < 0.75, "stages": stages, "classes": rng.choice([100, 1000])}


def sample(rng: random.Random) -> dict[str, Any]:
    from datasets.spaces import sample_within

    return sample_within(rng, _draw, netlist, MACS_RANGE)


def block(nb: NetBuilder, x: int, k: int, ratio: int, layer_scale: bool) -> int:
    c = nb.shape(x)[1]
    y = nb.conv(x, c, k, g=c, bias=True)
    y = nb.linear(nb.layernorm(y), c * ratio)
    y = nb.linear(nb.act(y, "gelu"), c)
    return nb.add(x, nb.layerscale(y) if layer_scale else y)


def netlist(spec: dict[str, Any]) -> Netlist:
    r, p = int(spec["resolution"]), int(spec["patch"])
    nb = NetBuilder(3, r, r)
    stages = spec["stages"]
    x = nb.layernorm(nb.conv(0, stages[0]["c"], p, s=p, bias=True))
    for i, st in enumerate(stages):
        if i:
            x = nb.conv(nb.layernorm(x), st["c"], 2, s=2, bias=True)
        for _ in range(int(st["depth"])):
            x = block(nb, x, int(spec["kernel"]), int(spec["ratio"]), bool(spec["layer_scale"]))
    x = nb.layernorm(nb.flatten(nb.gap(x)))
    return nb.finish(nb.linear(x, int(spec["classes"])))
