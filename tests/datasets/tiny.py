"""Tiny hand-written specs, one per space (and per detection head): real networks, fast to build."""

from __future__ import annotations

from typing import Any

MOBILENET = {
    "space": "mobilenet", "family": "v3", "resolution": 64, "width": 0.5, "stem": {"c": 8, "act": "hswish"},
    "stages": [{"c": 8, "s": 1, "act": "relu", "se": False, "blocks": [{"k": 3, "e": 1}]},
               {"c": 16, "s": 2, "act": "hswish", "se": True, "blocks": [{"k": 5, "e": 3}, {"k": 7, "e": 4}]}],
    "head": {"pre": 32, "post": 64, "act": "hswish"}, "classes": 10,
}
RESNET = {
    "space": "resnet", "family": "regnety", "resolution": 64, "stem": {"c": 16, "k": 7, "pool": True},
    "stages": [{"block": "basic", "c": 16, "mid": 16, "g": 1, "depth": 1, "s": 1, "se": False},
               {"block": "bottleneck", "c": 32, "mid": 32, "g": 4, "depth": 2, "s": 2, "se": True}],
    "classes": 10,
}
NB201 = {"space": "nb201", "arch": "|nor_conv_3x3~0|+|avg_pool_3x3~0|skip_connect~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|",
         "C": 8, "N": 1, "resolution": 16, "classes": 10}
VIT = {"space": "vit", "image": 32, "patch": 8, "dim": 32, "depth": 1, "heads": 2, "mlp_ratio": 2, "classes": 10}
FBNET = {"space": "fbnet", "resolution": 32, "classes": 100,
         "blocks": ["k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip"] * 2
         + ["skip", "k3_e3", "k5_e1_g2", "k3_e6"]}


def dethead(head_type: str) -> dict[str, Any]:
    stages = [{"block": "basic", "c": 8 * 2**i, "mid": 8 * 2**i, "g": 1, "depth": 1, "s": 1 if i == 0 else 2,
               "se": False} for i in range(4)]
    return {"space": "dethead", "resolution": 64, "backbone": {"kind": "resnet", "stem": 8, "stages": stages},
            "head": {"type": head_type, "classes": 5, "anchors": 2, "width": 16, "extra": 1, "convs": 1,
                     "mode": "bilinear"}}


def mixed(family: str) -> dict[str, Any]:
    """A tiny network of one ``mixed`` family (32x32 input)."""
    stages: dict[str, list[dict[str, Any]]] = {
        "shuffle": [{"c": 16, "depth": 1, "k": 3}, {"c": 32, "depth": 1, "k": 5}],
        "dense": [{"layers": 2, "growth": 4, "bottleneck": 2, "reduction": 0.5},
                  {"layers": 3, "growth": 4, "bottleneck": 4, "reduction": 1.0}],
        "fire": [{"modules": 2, "squeeze": 8, "e1": 16, "e3": 16, "bypass": True},
                 {"modules": 1, "squeeze": 8, "e1": 16, "e3": 32, "bypass": False}],
        "inception": [{"modules": 1, "b1": 8, "r3": 8, "b3": 16, "r5": 4, "b5": 8, "k5": 5, "pp": 8}],
        "ghost": [{"c": 12, "s": 2, "k": 3, "se": True, "blocks": [2, 3]},
                  {"c": 20, "s": 1, "k": 5, "se": False, "blocks": [2]}],
        "effnet": [{"c": 8, "s": 1, "se": True, "blocks": [{"k": 3, "e": 1}]},
                   {"c": 16, "s": 2, "se": True, "blocks": [{"k": 5, "e": 4}, {"k": 3, "e": 6}]}],
    }
    return {"space": "mixed", "family": family, "resolution": 32,
            "stem": {"c": 8, "k": 3, "pool": family in ("shuffle", "fire", "inception", "dense")},
            "stages": stages[family], "head": {"shuffle": 64, "ghost": 48, "effnet": 64}.get(family),
            "classes": 10}


CONVNEXT = {"space": "convnext", "resolution": 32, "patch": 4, "kernel": 7, "ratio": 4, "layer_scale": True,
            "stages": [{"c": 8, "depth": 2}, {"c": 16, "depth": 1}], "classes": 10}
MIXED_FAMILIES = ("shuffle", "dense", "fire", "inception", "ghost", "effnet")
DETHEAD = dethead("ssdlite")
PER_SPACE = {"mobilenet": MOBILENET, "resnet": RESNET, "nb201": NB201, "vit": VIT, "dethead": DETHEAD, "fbnet": FBNET,
             "mixed": mixed("shuffle"), "convnext": CONVNEXT}
