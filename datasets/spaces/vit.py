"""Vision-transformer encoders: patch embedding, pre-norm encoder blocks, mean-pooled classifier.

Spec::

    {"space": "vit", "image": int, "patch": int, "dim": int, "depth": int, "heads": int,
     "mlp_ratio": int, "classes": int}

Sequence length = (image / patch) ** 2 tokens.
"""

from __future__ import annotations

import random
from typing import Any

from datasets.netlist import NetBuilder, Netlist, NetlistError

NAME = "vit"
MACS_RANGE = (2e6, 1e9)
DIMS = (64, 96, 128, 192, 256, 320, 384, 448, 512)


def _draw(rng: random.Random) -> dict[str, Any]:
    patch = rng.choice([4, 8, 14, 16, 32])
    side = rng.choice([n for n in range(2, 17) if 32 <= n * patch <= 256])
    dim = rng.choice(DIMS)
    heads = rng.choice([h for h in (1, 2, 3, 4, 6, 8, 12) if dim % h == 0 and dim // h >= 16])
    return {"space": NAME, "image": side * patch, "patch": patch, "dim": dim, "depth": rng.randint(1, 12),
            "heads": heads, "mlp_ratio": rng.choice([2, 3, 4]), "classes": rng.choice([100, 1000])}


def sample(rng: random.Random) -> dict[str, Any]:
    from datasets.spaces import sample_within

    return sample_within(rng, _draw, netlist, MACS_RANGE)


def encoder_block(nb: NetBuilder, x: int, heads: int, mlp_ratio: int) -> int:
    d = nb.shape(x)[2]
    x = nb.add(x, nb.mha(nb.layernorm(x), heads))
    y = nb.act(nb.linear(nb.layernorm(x), d * mlp_ratio), "gelu")
    return nb.add(x, nb.linear(y, d))


def netlist(spec: dict[str, Any]) -> Netlist:
    image, patch = int(spec["image"]), int(spec["patch"])
    if image % patch:
        raise NetlistError(f"image {image} is not a multiple of patch {patch}")
    nb = NetBuilder(3, image, image)
    x = nb.posembed(nb.tokens(nb.conv(0, spec["dim"], patch, s=patch, bias=True)))
    for _ in range(int(spec["depth"])):
        x = encoder_block(nb, x, int(spec["heads"]), int(spec["mlp_ratio"]))
    x = nb.seqmean(nb.layernorm(x))
    return nb.finish(nb.linear(x, int(spec["classes"])))
