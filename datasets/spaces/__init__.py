"""Search spaces: each module has ``NAME``, ``sample(rng) -> spec`` and ``netlist(spec) -> Netlist``.

``CORPUS_SPACES`` are the nine sampled for the measured corpus (``mixed`` added in session 4, ``dwsep`` in
session 19, ``convnext`` in session 20, ``mbsmall`` in session 26); ``fbnet`` serves the HELP import.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from types import ModuleType
from typing import Any

from datasets.netlist import Netlist, NetlistError
from datasets.spaces import convnext, dethead, dwsep, fbnet, mbsmall, mixed, mobilenet, nb201, resnet, vit

SPACES: dict[str, ModuleType] = {m.NAME: m for m in (mobilenet, resnet, nb201, vit, dethead, mixed, dwsep, convnext,
                                                     mbsmall, fbnet)}
CORPUS_SPACES = ("mobilenet", "resnet", "nb201", "vit", "dethead", "mixed", "dwsep", "convnext", "mbsmall")
MAX_TRIES = 200


def get(space: str) -> ModuleType:
    try:
        return SPACES[space]
    except KeyError:
        raise NetlistError(f"unknown search space {space!r}; known: {', '.join(SPACES)}") from None


def netlist(spec: dict[str, Any]) -> Netlist:
    """The layer list of any spec (dispatches on ``spec["space"]``)."""
    if not isinstance(spec, dict) or "space" not in spec:
        raise NetlistError("a spec is a dict with a 'space' key")
    try:
        return get(spec["space"]).netlist(spec)
    except (KeyError, TypeError, IndexError) as exc:
        raise NetlistError(f"malformed {spec.get('space')} spec: {exc!r}") from exc


def sample_within(
    rng: random.Random,
    draw: Callable[[random.Random], dict[str, Any]],
    build: Callable[[dict[str, Any]], Netlist],
    macs_range: tuple[float, float],
) -> dict[str, Any]:
    """Draw until the network's MACs fall in ``macs_range`` (keeps models edge-sized)."""
    lo, hi = macs_range
    for _ in range(MAX_TRIES):
        spec = draw(rng)
        if lo <= build(spec).macs() <= hi:
            return spec
    raise NetlistError(f"no draw within {macs_range} MACs after {MAX_TRIES} tries")


def sample_spec(space: str, seed: int, index: int) -> dict[str, Any]:
    """The spec of architecture ``index`` of ``space`` under ``seed`` (independent of other indices)."""
    rng = random.Random(f"{space}:{seed}:{index}")
    return get(space).sample(rng)


def arch_id(space: str, seed: int, index: int) -> str:
    return f"{space}-s{seed}-{index:06d}"
