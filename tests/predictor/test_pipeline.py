"""Pipelined batch prediction: featurising the next batch in a thread during this batch's forward."""

from __future__ import annotations

import threading

import pytest

from predictor.artifacts import load_default_predictors
from predictor.pipeline import pipelined
from tests.predictor.test_features import chain_graph


def test_pipelined_keeps_order_and_runs_ahead_in_another_thread():
    names: list[str] = []
    started = {i: threading.Event() for i in range(5)}

    def work(i: int) -> int:
        names.append(threading.current_thread().name)
        started[i].set()
        return i * i

    out = []
    for r in pipelined(work, range(5)):
        out.append(r)
        if r < 16:  # while the caller holds this result, the next item is being prepared
            assert started[len(out)].wait(10), "the next item did not start while this one was in use"
    assert out == [0, 1, 4, 9, 16]
    assert names and all(name.startswith("edgeperf-prepare") for name in names)
    assert list(pipelined(lambda i: i * i, [7])) == [49]
    assert list(pipelined(lambda i: i * i, [])) == []


def test_pipelined_raises_where_the_failing_result_would_be():
    def work(i: int) -> int:
        if i == 2:
            raise ValueError("bad item 2")
        return i

    got = []
    with pytest.raises(ValueError, match="bad item 2"):
        for r in pipelined(work, range(4)):
            got.append(r)
    assert got == [0, 1]


def test_documents_in_many_forward_batches_match_featurised_data():
    """IR documents split over several forward batches (featurised one batch ahead) give exactly
    what the same graphs, featurised first, give; a malformed document is an IRError."""
    from predictor.features import featurize_many
    from predictor.graph.ir import IRError

    p = next(iter(load_default_predictors().values()))
    docs = [chain_graph(n, 8 + n).to_dict() for n in range(2, 30)]
    dev = p.devices[:1]
    piped = p.predict(docs, dev, batch_size=4)
    assert piped == p.predict(featurize_many(docs), dev, batch_size=4) == p.predict(docs, dev)
    bad = [*docs[:10], {"nodes": "not a list"}, *docs[10:]]
    with pytest.raises(IRError):
        p.predict(bad, dev, batch_size=4)
