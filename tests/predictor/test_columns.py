"""The columns form (``predictor.columns``): the features of a columns document are exactly
those of the IR document it was made from, on real exported graphs and on randomly drawn
documents; every malformed field is refused with an ``IRError`` naming it."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import numpy as np
import pytest
import torch

from predictor.columns import ARRAYS, from_columns, to_columns
from predictor.features import featurize, featurize_many, featurize_scanned
from predictor.frontends import load_model
from predictor.graph.ir import IRError
from tests.predictor import model_builders as mb
from tests.predictor.test_features_equivalence import random_doc


def wire(doc: dict[str, Any], names: bool = True) -> dict[str, Any]:
    """A columns document as the server receives it (through JSON)."""
    return json.loads(json.dumps(to_columns(doc, names=names)))


def assert_identical(a: Any, b: Any) -> None:
    assert torch.equal(a.x, b.x) and torch.equal(a.graph_attr, b.graph_attr)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.op_col, b.op_col)
    assert a.num_nodes == b.num_nodes


def check(doc: dict[str, Any]) -> None:
    (ir, ir_scan), (col, col_scan) = featurize_scanned([doc, from_columns(wire(doc))])
    assert_identical(ir, col)
    assert col.node_names == ir.node_names
    assert col_scan == ir_scan  # op names and unresolved tensors: the service's warnings


def nb201_docs() -> list[dict[str, Any]]:
    from datasets.build_torch import to_onnx
    from datasets.spaces import nb201

    rng = random.Random(3)
    return [load_model(to_onnx({"space": "nb201", "arch": nb201.arch_string([rng.choice(nb201.OPS) for _ in range(6)]),
                                **nb201.STANDARD})).to_dict() for _ in range(3)]


def test_real_graphs_give_the_same_features(onnx_mobilenet_v2: bytes, tflite_small: dict[str, bytes]) -> None:
    docs = nb201_docs()
    docs.append(load_model(onnx_mobilenet_v2, filename="mobilenet_v2.onnx").to_dict())
    dynamic = load_model(mb.onnx_token_mixer(opset=17, dynamic=True), filename="mixer.onnx")
    assert dynamic.summary()["unresolved_tensors"] > 0
    docs.append(dynamic.to_dict())
    docs += [load_model(data, filename=f"small_{mode}.tflite").to_dict() for mode, data in tflite_small.items()]
    for doc in docs:
        check(doc)
    # smaller than the IR document on the wire (a NAS-Bench-201 network: 90 KB of IR)
    assert len(json.dumps(to_columns(docs[0]))) * 2 < len(json.dumps(docs[0]))


def test_without_names_the_features_are_the_same_and_names_are_empty() -> None:
    doc = nb201_docs()[0]
    bare = wire(doc, names=False)
    assert "names" not in bare
    data = featurize(from_columns(bare))
    assert_identical(data, featurize(doc))
    assert data.node_names == [""] * data.num_nodes


def test_random_documents_are_read_alike() -> None:
    """Where featurisation accepts an IR document, its columns form gives the same features; where
    it refuses one, the columns path refuses it too (when the form is made, or when featurised)."""
    rng = random.Random(11)
    docs = [random_doc(rng) for _ in range(300)]
    compared = 0
    for doc, ir in zip(docs, featurize_many(docs), strict=True):
        try:
            col = featurize_many([from_columns(wire(doc))])[0]
        except IRError:
            assert isinstance(ir, IRError), doc
            continue
        if isinstance(ir, IRError):
            assert isinstance(col, IRError), doc
            continue
        assert_identical(ir, col)
        compared += 1
    assert compared > 100


def test_a_batch_mixes_columns_and_ir_documents() -> None:
    docs = nb201_docs()
    mixed = featurize_many([docs[0], from_columns(wire(docs[1])), docs[2]])
    for got, doc in zip(mixed, docs, strict=True):
        assert_identical(got, featurize(doc))


def _b64(values: Any, dtype: str) -> str:
    return base64.b64encode(np.asarray(values, dtype=dtype).tobytes()).decode()


def _bad_docs() -> list[tuple[str, Any]]:
    """(the field the error must name, a corrupted columns document) pairs."""
    good = to_columns(nb201_docs()[0], names=True)
    n = len(good["names"])

    def with_(**fields: Any) -> dict[str, Any]:
        return {**good, **fields}

    ones = np.ones(n)
    return [
        ("document", [1, 2]),
        ("document", with_(extra=1)),
        ("columns", with_(columns=2)),
        ("op", with_(op=123)),
        ("op", with_(op="not base64!")),
        ("op", with_(op=_b64([], "<i4"))),
        ("op", with_(op=_b64(np.full(n, 99), "<i4"))),
        ("op", with_(op=_b64(np.full(n, -1), "<i4"))),
        ("op_table", with_(op_table=[])),
        ("op_table", with_(op_table=[7] * len(good["op_table"]))),
        ("costs", with_(costs=_b64(np.ones(5 * n - 1), "<f8"))),
        ("costs", with_(costs=base64.b64encode(b"\x00" * 7).decode())),
        ("costs", with_(costs=_b64(np.full(5 * n, np.nan), "<f8"))),
        ("costs", with_(costs=_b64(np.full(5 * n, 2.5), "<f8"))),
        ("attrs", with_(attrs=_b64(np.full(5 * n, np.inf), "<f8"))),
        ("nhwc", with_(nhwc=_b64(np.full(n, 2), "u1"))),
        ("dims", with_(ranks=_b64(np.full(2 * n, 40), "<i4"))),  # any rank, but its dims must be there
        ("ranks", with_(ranks=_b64(np.full(2 * n, -2), "<i4"))),
        ("dims", with_(dims=_b64(ones[:3], "<f8"))),
        ("counts", with_(counts=_b64(np.tile([1, 7, 0], n), "<i4"))),
        ("counts", with_(counts=_b64(np.tile([-1, 0, 0], n), "<i4"))),
        ("counts", with_(counts=_b64(np.tile([1, 0, 2], n), "<i4"))),
        ("edges", with_(edges=_b64([0, 1, 2], "<i8"))),
        ("edges", with_(edges=_b64([0, n], "<i8"))),
        ("edges", with_(edges=_b64([3, 3], "<i8"))),
        ("names", with_(names=["a"])),
        ("names", with_(names=[1] * n)),
        ("unresolved", with_(unresolved="x")),
    ]


def test_malformed_fields_are_refused_by_name() -> None:
    for field, doc in _bad_docs():
        with pytest.raises(IRError) as err:
            from_columns(doc)
        assert err.value.code == "invalid_ir" and f"columns document: {field} " in err.value.message, (field, err.value)
    huge = {"nodes": [{"op": "conv", "outputs": [{"name": "t", "shape": [10**10] * 30}]}]}  # rank 30: read alike
    assert_identical(featurize(from_columns(wire(huge))), featurize(huge))
    with pytest.raises(IRError) as err:
        from_columns(to_columns(nb201_docs()[0]), max_nodes=10)
    assert err.value.code == "too_large" and "limit is 10" in err.value.message


def test_random_corruptions_give_features_or_an_ir_error_never_another_exception() -> None:
    """What a hostile client can send: every field replaced by random bytes, lengths or types. The
    server's path (from_columns, then featurisation) answers each with features or an IRError (a 4xx)."""
    rng = random.Random(5)
    good = to_columns(nb201_docs()[0], names=True)
    junk: list[Any] = [None, 0, -1, 2**70, 1.5, "", "=", "AAAA", [], {}, [1, "a"], True]
    outcomes = {"features": 0, "refused": 0}
    for _ in range(400):
        doc = dict(good)
        for field in rng.sample(sorted(good), rng.randint(1, 3)):
            if rng.random() < 0.6 and field not in ("columns", "op_table", "names", "unresolved"):
                same = len(base64.b64decode(good[field]))
                size = same if rng.random() < 0.6 else rng.choice([0, 1, 7, 8, 64])
                values = rng.randbytes(size)
                if rng.random() < 0.7:  # plausible numbers of the right width instead of raw bytes
                    dtype = np.dtype(ARRAYS[field][0])
                    top = 255 if dtype.kind == "u" else 2**31 - 1 if dtype.itemsize == 4 else 2**40
                    choices = [0, 1, 2, 3, 10**6 % (top + 1), top] + ([] if dtype.kind == "u" else [-2, -1])
                    values = np.asarray([rng.choice(choices) for _ in range(size // dtype.itemsize)],
                                        dtype=dtype).tobytes()
                doc[field] = base64.b64encode(values).decode()
            else:
                doc[field] = rng.choice(junk)
        try:
            out = featurize_many([from_columns(doc)])[0]
        except IRError:
            outcomes["refused"] += 1
            continue
        if isinstance(out, IRError):
            outcomes["refused"] += 1
        else:
            assert np.isfinite(out.x.numpy()).all()
            outcomes["features"] += 1
    assert outcomes["refused"] > 100 and outcomes["features"] > 5, outcomes  # both ways taken
