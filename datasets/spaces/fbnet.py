"""FBNet search space as used by HW-NAS-Bench and HELP: 22 searchable blocks, CIFAR-100 input.

Spec: ``{"space": "fbnet", "blocks": [22 names such as "k5_e6", "k3_e1_g2", "skip"],
"resolution": 32, "classes": 100}``. Macro (FBNet table 1 with CIFAR strides): stem Conv3x3
(3->16, stride 1); stages (channels, blocks, stride) below; Conv1x1 1504; global pool; Linear.
Each ``kK_eE[_gG]`` block is 1x1 (grouped) expand -> KxK depthwise -> 1x1 (grouped) project, with a
residual when the shape allows; ``skip`` is identity, or Conv1x1+BN+ReLU where the shape changes.
The channel shuffle after grouped 1x1 convolutions is not modelled.
"""

from __future__ import annotations

import random
import re
from typing import Any

from datasets.netlist import NetBuilder, Netlist, NetlistError
from datasets.spaces.blocks import mbconv

NAME = "fbnet"
BLOCKS = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")
STAGES = [(16, 1, 1), (24, 4, 1), (32, 4, 2), (64, 4, 2), (112, 4, 1), (184, 4, 2), (352, 1, 1)]
_BLOCK_RE = re.compile(r"^k(\d)_e(\d)(?:_g(\d))?$")


def sample(rng: random.Random) -> dict[str, Any]:
    return {"space": NAME, "blocks": [rng.choice(BLOCKS) for _ in range(22)], "resolution": 32, "classes": 100}


def _block(nb: NetBuilder, x: int, name: str, cout: int, s: int) -> int:
    if name == "skip":
        if s == 1 and nb.shape(x)[1] == cout:
            return x
        return nb.conv_bn(x, cout, 1, s=s, act="relu")
    m = _BLOCK_RE.match(name)
    if name not in BLOCKS or not m:
        raise NetlistError(f"unknown FBNet block {name!r}; known: {', '.join(BLOCKS)}")
    k, e, g = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
    return mbconv(nb, x, cout, k, e, s, "relu", g=g, always_expand=True)


def netlist(spec: dict[str, Any]) -> Netlist:
    blocks = list(spec["blocks"])
    if len(blocks) != 22:
        raise NetlistError(f"FBNet has 22 blocks, got {len(blocks)}")
    r = int(spec.get("resolution", 32))
    nb = NetBuilder(3, r, r)
    x = nb.conv_bn(0, 16, 3, act="relu")
    it = iter(blocks)
    for c, n, s in STAGES:
        for i in range(n):
            x = _block(nb, x, next(it), c, s if i == 0 else 1)
    x = nb.conv_bn(x, 1504, 1, act="relu")
    return nb.finish(nb.linear(nb.flatten(nb.gap(x)), int(spec.get("classes", 100))))
