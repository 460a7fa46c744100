"""Two-stage pipelining for batch prediction on a small CPU.

Featurising IR documents is Python work (it holds the GIL); the GNN's forward pass is torch
work (it releases the GIL inside its kernels). Preparing chunk ``k + 1`` in one background
thread while the caller runs the forward pass of chunk ``k`` keeps two cores busy with one
process, and ends in the time of the slower stage instead of the sum of both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def pipelined(fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """``fn(item)`` for every item, in order, each computed in a background thread while the
    caller consumes the previous result. An exception from ``fn`` is raised where its result
    would have been yielded; one item (or none) runs ``fn`` in the caller's thread."""
    items = list(items)
    if len(items) <= 1:
        yield from (fn(i) for i in items)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="edgeperf-prepare") as pool:
        pending = pool.submit(fn, items[0])
        for nxt in items[1:]:
            ready = pending.result()
            pending = pool.submit(fn, nxt)
            yield ready
        yield pending.result()
