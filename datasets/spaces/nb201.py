"""NAS-Bench-201 cells inside the standard macro skeleton.

The spec's ``arch`` is the NAS-Bench-201 architecture string, exactly as in
``/work/shared/datasets/nb201_archs`` (e.g. ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|``),
so the same builder serves our sampled corpus and the HELP import::

    {"space": "nb201", "arch": str, "C": 16, "N": 5, "resolution": 32, "classes": 10}

``"zero_ops": true`` builds the ``none`` edges as NAS-Bench-201's reference implementation runs
them, ``x * 0`` summed into the node like any other edge (a kernel of its own on every device
HELP measured); without it (our sampled corpus) they are left out, as a deployment would.

Macro: stem Conv3x3(3->C)+BN; N cells at C; residual reduction (C->2C, stride 2); N cells; reduction
(2C->4C); N cells; BN+ReLU; global average pool; Linear(4C -> classes).
"""

from __future__ import annotations

import random
from typing import Any

from datasets.netlist import NetBuilder, Netlist, NetlistError

NAME = "nb201"
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
MACS_RANGE = (1e6, 1e9)
STANDARD = {"C": 16, "N": 5, "resolution": 32, "classes": 10}


def parse_arch(arch: str) -> list[list[tuple[str, int]]]:
    """``|A~0|+|B~0|C~1|+|...|`` -> [[(A,0)], [(B,0),(C,1)], [(D,0),(E,1),(F,2)]]."""
    try:
        nodes = []
        for i, part in enumerate(arch.split("+")):
            edges = [tok.split("~") for tok in part.strip("|").split("|")]
            nodes.append([(op, int(src)) for op, src in edges])
            if len(nodes[-1]) != i + 1 or any(op not in OPS or src > i for op, src in nodes[-1]):
                raise ValueError(part)
    except ValueError as exc:
        raise NetlistError(f"not a NAS-Bench-201 architecture string: {arch!r}") from exc
    if len(nodes) != 3:
        raise NetlistError(f"NAS-Bench-201 cells have 3 intermediate nodes: {arch!r}")
    return nodes


def arch_string(ops: list[str]) -> str:
    """Six edge ops in order (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2) -> architecture string."""
    return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)


def _draw(rng: random.Random) -> dict[str, Any]:
    arch = arch_string([rng.choice(OPS) for _ in range(6)])
    if rng.random() < 0.5:
        return {"space": NAME, "arch": arch, **STANDARD}
    return {"space": NAME, "arch": arch, "C": rng.choice([8, 16, 24, 32]), "N": rng.choice([1, 2, 3, 4, 5]),
            "resolution": rng.choice([16, 32, 48, 64]), "classes": rng.choice([10, 100, 120])}


def sample(rng: random.Random) -> dict[str, Any]:
    from datasets.spaces import sample_within

    return sample_within(rng, _draw, netlist, MACS_RANGE)


def _edge(nb: NetBuilder, x: int, op: str, c: int) -> int:
    if op == "skip_connect":
        return x
    if op == "avg_pool_3x3":
        return nb.pool(x, "avg", 3, 1)
    k = 1 if op == "nor_conv_1x1" else 3
    return nb.bn(nb.conv(nb.act(x, "relu"), c, k))


def _cell(nb: NetBuilder, x: int, nodes: list[list[tuple[str, int]]], c: int, zero_ops: bool = False) -> int:
    states = [x]
    for edges in nodes:
        terms = [nb.zero(states[src]) if op == "none" else _edge(nb, states[src], op, c)
                 for op, src in edges if zero_ops or op != "none"]
        if not terms:
            states.append(nb.zero(x))
            continue
        acc = terms[0]
        for t in terms[1:]:
            acc = nb.add(acc, t)
        states.append(acc)
    return states[-1]


def _reduction(nb: NetBuilder, x: int, c: int) -> int:
    y = nb.bn(nb.conv(nb.act(x, "relu"), c, 3, s=2))
    y = nb.bn(nb.conv(nb.act(y, "relu"), c, 3))
    short = nb.conv(nb.pool(x, "avg", 2, 2), c, 1)
    return nb.add(short, y)


def netlist(spec: dict[str, Any]) -> Netlist:
    nodes = parse_arch(spec["arch"])
    c, n, r = int(spec.get("C", 16)), int(spec.get("N", 5)), int(spec.get("resolution", 32))
    nb = NetBuilder(3, r, r)
    x = nb.bn(nb.conv(0, c, 3))
    for stage in range(3):
        if stage:
            x = _reduction(nb, x, c * 2**stage)
        for _ in range(n):
            x = _cell(nb, x, nodes, c * 2**stage, bool(spec.get("zero_ops")))
    x = nb.act(nb.bn(x), "relu")
    return nb.finish(nb.linear(nb.flatten(nb.gap(x)), int(spec.get("classes", 10))))
