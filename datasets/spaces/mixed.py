"""Block families the other spaces lack: channel split and shuffle, dense concatenation,
fire and inception branches, ghost modules, SiLU/SE inverted residuals.

Six families, sampled with random widths, depths, kernels and resolutions (none is a
published configuration; the real networks these blocks come from are the zoo's test set):

* ``shuffle``: ShuffleNetV2 units (channel split, branch, concat, channel shuffle);
* ``dense``: DenseNet blocks (pre-activation BN-ReLU-conv on the concatenation of every
  earlier layer's output) with transitions;
* ``fire``: SqueezeNet fire modules (1x1 squeeze, 1x1 and 3x3 expand, concat), optional bypass;
* ``inception``: GoogLeNet-style modules (1x1; 1x1-3x3; 1x1-3x3/5x5; pool-1x1; concat);
* ``ghost``: GhostNet bottlenecks (a primary 1x1 conv plus a cheap depthwise half, concatenated);
* ``effnet``: EfficientNet/MnasNet-style inverted residuals with SiLU and SE (SiLU inside,
  sigmoid gate).

Spec::

    {"space": "mixed", "family": str, "resolution": int, "stem": {"c": int, "k": int, "pool": bool},
     "stages": [{...family-specific...}], "head": int | None, "classes": int}
"""

from __future__ import annotations

import random
from typing import Any

from datasets.netlist import NetBuilder, Netlist, NetlistError
from datasets.spaces.blocks import classifier, make_divisible, mbconv, squeeze_excite

NAME = "mixed"
MACS_RANGE = (10e6, 2e9)
FAMILIES = ("shuffle", "dense", "fire", "inception", "ghost", "effnet")
RESOLUTIONS = (128, 160, 192, 224, 256)


# -- drawing specs ------------------------------------------------------------------------
def _shuffle(rng: random.Random) -> list[dict[str, Any]]:
    c = rng.choice([48, 64, 96, 116, 128, 176, 192, 244])
    return [{"c": make_divisible(c * 2**i * rng.choice([0.75, 1.0, 1.0, 1.25]), 4),
             "depth": rng.choice([2, 3, 4, 6, 8]) if i == 1 else rng.choice([1, 2, 3, 4]),
             "k": rng.choice([3, 3, 5])} for i in range(3)]


def _dense(rng: random.Random) -> list[dict[str, Any]]:
    growth = rng.choice([8, 12, 16, 24, 32])
    return [{"layers": rng.choice([2, 3, 4, 6, 8, 12]), "growth": growth, "bottleneck": rng.choice([2, 4]),
             "reduction": rng.choice([0.5, 0.5, 1.0])} for _ in range(rng.choice([3, 4]))]


def _fire(rng: random.Random) -> list[dict[str, Any]]:
    stages = []
    sq = rng.choice([8, 16, 24])
    for _ in range(rng.choice([2, 3, 4])):
        stages.append({"modules": rng.choice([1, 2, 3]), "squeeze": sq, "e1": 4 * sq * rng.choice([1, 1, 2]) // 2,
                       "e3": 4 * sq * rng.choice([1, 1, 2]) // 2, "bypass": rng.random() < 0.4})
        sq = min(96, sq * 2)
    return stages


def _inception(rng: random.Random) -> list[dict[str, Any]]:
    stages = []
    base = rng.choice([16, 24, 32, 48])
    for i in range(rng.choice([2, 3])):
        w = base * 2**i
        stages.append({"modules": rng.choice([1, 2, 2, 3]), "b1": w * rng.choice([2, 4]), "r3": w * 2,
                       "b3": w * rng.choice([2, 4]), "r5": w // 2, "b5": w * rng.choice([1, 2]),
                       "k5": rng.choice([3, 5]), "pp": w * rng.choice([1, 2])})
    return stages


def _ghost(rng: random.Random) -> list[dict[str, Any]]:
    w = rng.choice([0.5, 0.75, 1.0, 1.3])
    chans, strides = [24, 40, 80, 112, 160], [2, 2, 2, 1, 2]
    return [{"c": make_divisible(c * w, 4), "s": s, "k": rng.choice([3, 5]), "se": rng.random() < 0.5,
             "blocks": [rng.choice([2, 3, 4, 6]) for _ in range(rng.choice([1, 2, 3]))]}
            for c, s in zip(chans, strides, strict=True)]


def _effnet(rng: random.Random) -> list[dict[str, Any]]:
    w = rng.choice([0.5, 0.75, 1.0, 1.1, 1.2])
    chans, strides = [16, 24, 40, 80, 112, 192, 320], [1, 2, 2, 2, 1, 2, 1]
    stages = []
    for i, (c, s) in enumerate(zip(chans, strides, strict=True)):
        depth = 1 if i in (0, 6) else rng.choice([1, 2, 3, 4])
        stages.append({"c": make_divisible(c * w), "s": s, "se": rng.random() < 0.8,
                       "blocks": [{"k": rng.choice([3, 5]), "e": 1 if i == 0 else rng.choice([3, 4, 6])}
                                  for _ in range(depth)]})
    return stages


_DRAW = {"shuffle": _shuffle, "dense": _dense, "fire": _fire, "inception": _inception, "ghost": _ghost,
         "effnet": _effnet}


def _draw(rng: random.Random) -> dict[str, Any]:
    family = rng.choice(FAMILIES)
    stages = _DRAW[family](rng)
    stem = {"c": rng.choice([16, 24, 32]), "k": 3, "pool": family in ("shuffle", "fire", "inception", "dense")}
    if family == "dense":
        stem.update(c=2 * stages[0]["growth"], k=rng.choice([3, 7]))
    if family == "inception":
        stem.update(c=rng.choice([32, 48, 64]), k=rng.choice([3, 7]))
    head = {"shuffle": rng.choice([512, 768, 1024]), "ghost": rng.choice([640, 960, 1280]),
            "effnet": rng.choice([960, 1280])}.get(family)
    return {"space": NAME, "family": family, "resolution": rng.choice(RESOLUTIONS), "stem": stem,
            "stages": stages, "head": head, "classes": 1000}


def sample(rng: random.Random) -> dict[str, Any]:
    from datasets.spaces import sample_within

    return sample_within(rng, _draw, netlist, MACS_RANGE)


# -- building -------------------------------------------------------------------------------
def shuffle_unit(nb: NetBuilder, x: int, cout: int, k: int, stride: int) -> int:
    """ShuffleNetV2 unit: stride 1 splits the channels and transforms one half; stride 2
    transforms two copies (one with a depthwise shortcut); both end in concat + shuffle."""
    cin = nb.shape(x)[1]
    half = cout // 2
    if stride == 1:
        if cin != cout:
            raise NetlistError(f"shuffle unit with stride 1 needs cin == cout, got {cin} -> {cout}")
        keep, y = nb.slice(x, 0, half), nb.slice(x, half, cout - half)
    else:
        keep = nb.conv_bn(nb.conv_bn(x, cin, k, s=2, g=cin), half, 1, act="relu")
        y = x
    y = nb.conv_bn(y, half, 1, act="relu")
    y = nb.conv_bn(y, half, k, s=stride, g=half)
    y = nb.conv_bn(y, cout - half, 1, act="relu")
    return nb.shuffle(nb.concat([keep, y]), 2)


def dense_block(nb: NetBuilder, x: int, st: dict[str, Any]) -> int:
    feats = [x]
    for _ in range(st["layers"]):
        inp = feats[0] if len(feats) == 1 else nb.concat(feats)
        y = nb.act(nb.bn(inp), "relu")
        y = nb.act(nb.bn(nb.conv(y, st["bottleneck"] * st["growth"], 1)), "relu")
        feats.append(nb.conv(y, st["growth"], 3))
    return nb.concat(feats)


def fire(nb: NetBuilder, x: int, st: dict[str, Any]) -> int:
    s = nb.act(nb.conv(x, st["squeeze"], 1, bias=True), "relu")
    e1 = nb.act(nb.conv(s, st["e1"], 1, bias=True), "relu")
    e3 = nb.act(nb.conv(s, st["e3"], 3, bias=True), "relu")
    y = nb.concat([e1, e3])
    return nb.add(x, y) if st["bypass"] and nb.shape(x) == nb.shape(y) else y


def inception(nb: NetBuilder, x: int, st: dict[str, Any]) -> int:
    b1 = nb.conv_bn(x, st["b1"], 1, act="relu")
    b3 = nb.conv_bn(nb.conv_bn(x, st["r3"], 1, act="relu"), st["b3"], 3, act="relu")
    b5 = nb.conv_bn(nb.conv_bn(x, st["r5"], 1, act="relu"), st["b5"], st["k5"], act="relu")
    bp = nb.conv_bn(nb.pool(x, "max", 3, 1), st["pp"], 1, act="relu")
    return nb.concat([b1, b3, b5, bp])


def ghost_module(nb: NetBuilder, x: int, cout: int, act: bool) -> int:
    primary = -(-cout // 2)
    a = nb.conv_bn(x, primary, 1, act="relu" if act else None)
    b = nb.conv_bn(a, primary, 3, g=primary, act="relu" if act else None)
    y = nb.concat([a, b])
    return nb.slice(y, 0, cout) if 2 * primary != cout else y


def ghost_bottleneck(nb: NetBuilder, x: int, mid: int, cout: int, k: int, s: int, se: bool) -> int:
    cin = nb.shape(x)[1]
    y = ghost_module(nb, x, mid, act=True)
    if s == 2:
        y = nb.conv_bn(y, mid, k, s=2, g=mid)
    if se:
        y = squeeze_excite(nb, y, gate="hsigmoid")
    y = ghost_module(nb, y, cout, act=False)
    if s == 1 and cin == cout:
        short = x
    else:
        short = nb.conv_bn(nb.conv_bn(x, cin, k, s=s, g=cin), cout, 1)
    return nb.add(short, y)


def netlist(spec: dict[str, Any]) -> Netlist:
    r, family, stem = spec["resolution"], spec["family"], spec["stem"]
    nb = NetBuilder(3, r, r)
    x = nb.conv_bn(0, stem["c"], stem["k"], s=2, act="silu" if family == "effnet" else "relu")
    if stem["pool"]:
        x = nb.pool(x, "max", 3, 2)
    for i, st in enumerate(spec["stages"]):
        if family == "shuffle":
            for j in range(st["depth"] + 1):
                x = shuffle_unit(nb, x, st["c"], st["k"], 2 if j == 0 else 1)
        elif family == "dense":
            x = dense_block(nb, x, st)
            if i < len(spec["stages"]) - 1:
                c = max(8, int(nb.shape(x)[1] * st["reduction"]))
                x = nb.pool(nb.conv(nb.act(nb.bn(x), "relu"), c, 1), "avg", 2, 2)
            else:
                x = nb.act(nb.bn(x), "relu")
        elif family == "fire":
            if i:
                x = nb.pool(x, "max", 3, 2)
            for _ in range(st["modules"]):
                x = fire(nb, x, st)
        elif family == "inception":
            if i:
                x = nb.pool(x, "max", 3, 2)
            for _ in range(st["modules"]):
                x = inception(nb, x, st)
        elif family == "ghost":
            for j, e in enumerate(st["blocks"]):
                cin = nb.shape(x)[1]
                x = ghost_bottleneck(nb, x, make_divisible(cin * e, 4), st["c"], st["k"],
                                     st["s"] if j == 0 else 1, st["se"])
        elif family == "effnet":
            for j, blk in enumerate(st["blocks"]):
                cin = nb.shape(x)[1]
                mid = make_divisible(cin * blk["e"]) if blk["e"] != 1 else cin
                x = mbconv(nb, x, st["c"], blk["k"], blk["e"], st["s"] if j == 0 else 1, "silu", st["se"],
                           se_gate="sigmoid", se_inner="silu", se_ratio=0.25 * cin / mid)
        else:
            raise NetlistError(f"unknown mixed family {family!r}")
    if spec.get("head"):
        x = nb.conv_bn(x, spec["head"], 1, act="silu" if family == "effnet" else "relu")
    if family == "fire":  # SqueezeNet's classifier: 1x1 conv to the classes, ReLU, global pool
        return nb.finish(nb.flatten(nb.gap(nb.act(nb.conv(x, spec["classes"], 1, bias=True), "relu"))))
    return nb.finish(classifier(nb, x, spec["classes"]))
