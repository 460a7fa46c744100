"""``featurize`` (numpy over IR documents) against the schema-v1 per-node reference.

Same columns, same values to float32 precision, on real exported graphs (NAS-Bench-201
cells, MobileNetV2, a dynamic-shape ONNX model, TFLite float/fp16/int8) and on hand-built
and randomly drawn documents full of edge cases; and the same documents rejected."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import numpy as np
import pytest

from predictor.features import N_OP_COLS, NODE_DIM, NUMERIC_FEATURES, featurize, featurize_many
from predictor.frontends import load_model
from predictor.graph.ir import Graph, IRError, Node, TensorInfo
from tests.predictor import model_builders as mb
from tests.predictor.features_v1_reference import V1_NUMERIC, reference_features

V1_COLS = N_OP_COLS + len(V1_NUMERIC)


def assert_same(data: Any, graph: Graph) -> None:
    x, edge_index, graph_attr, names = reference_features(graph)
    assert data.x.shape == (len(graph.nodes), NODE_DIM) and data.num_nodes == len(graph.nodes)
    np.testing.assert_array_max_ulp(data.x.numpy()[:, :V1_COLS], x, maxulp=1)
    np.testing.assert_array_max_ulp(data.graph_attr.numpy()[0], graph_attr, maxulp=1)
    np.testing.assert_array_equal(data.edge_index.numpy(), edge_index)
    assert data.node_names == names


def check_graph(graph: Graph) -> None:
    """The Graph, its IR document and the document after a JSON round trip all give v1's features."""
    assert_same(featurize(graph), graph)
    doc = graph.to_dict()
    assert_same(featurize(doc), Graph.from_dict(doc))
    wire = json.loads(json.dumps(doc))
    assert_same(featurize(wire), Graph.from_dict(wire))


def test_v1_columns_are_pinned() -> None:
    assert NUMERIC_FEATURES[: len(V1_NUMERIC)] == V1_NUMERIC


# -- real exported graphs --------------------------------------------------------------
def test_nas_bench_201_graphs() -> None:
    from datasets.build_torch import to_onnx
    from datasets.spaces import nb201

    rng = random.Random(7)
    graphs = []
    for ops in (["nor_conv_3x3"] * 6, ["none", "skip_connect", "avg_pool_3x3"] * 2,
                [rng.choice(nb201.OPS) for _ in range(6)]):
        spec = {"space": "nb201", "arch": nb201.arch_string(ops), **nb201.STANDARD}
        graphs.append(load_model(to_onnx(spec)))
    for g in graphs:
        check_graph(g)
    batch = featurize_many([g.to_dict() for g in graphs])  # one numpy pass over all three
    for data, g in zip(batch, graphs, strict=True):
        assert_same(data, g)


def test_mobilenet_v2(onnx_mobilenet_v2: bytes) -> None:
    g = load_model(onnx_mobilenet_v2, filename="mobilenet_v2.onnx")
    assert any(n.op == "dwconv" for n in g.nodes)
    check_graph(g)


def test_dynamic_shapes_onnx() -> None:
    g = load_model(mb.onnx_token_mixer(opset=17, dynamic=True), filename="mixer.onnx")
    assert g.summary()["unresolved_tensors"] > 0
    check_graph(g)


def test_tflite_nhwc_fp16_and_int8(tflite_small: dict[str, bytes]) -> None:
    for mode, data in tflite_small.items():
        g = load_model(data, filename=f"small_{mode}.tflite")
        assert any(n.attrs.get("layout") == "NHWC" for n in g.nodes)
        check_graph(g)
    int8 = featurize(load_model(tflite_small["int8"]))
    assert int8.x[:, N_OP_COLS + NUMERIC_FEATURES.index("quantized")].any()


# -- hand-built edge cases -------------------------------------------------------------
def t(name: str, shape: list[int] | None, dtype: str = "float32", quantized: bool = False) -> TensorInfo:
    return TensorInfo(name, shape, dtype, quantized)


EDGE_NODES = [
    Node("conv", "conv", attrs={"kernel_shape": [3, 3], "strides": [2, 2], "group": 1, "dilations": [1, 1]},
         inputs=[t("a", [1, 3, 8, 8])], weights=[t("w", [8, 3, 3, 3])], outputs=[t("b", [1, 8, 4, 4])],
         flops=2000, macs=1000, params=224, bytes_read=700, bytes_written=512),
    Node("dw_nhwc", "dwconv", attrs={"layout": "NHWC", "groups": 24, "kernel_shape": [5, 5]},
         inputs=[t("c", [1, 8, 8, 24], "int8", True)], outputs=[t("d", [1, 8, 8, 24], "int8", True)]),
    Node("grouped_as_depthwise", "conv", attrs={"group": 16, "kernel_size": 3},
         inputs=[t("e", [1, 16, 4, 4])], outputs=[t("f", [1, 16, 4, 4])]),
    Node("alias", "depthwise_conv", attrs={"groups": 4, "stride": 2, "dilation_h_factor": 3},
         inputs=[t("g", [1, 8, 4, 4])], outputs=[t("h", [1, 8, 2, 2], "float16")]),
    Node("unknown", "unknown:MyOp", source_op="MyOp", inputs=[t("i", None)], outputs=[t("j", [1, -1])]),
    Node("unlisted", "some_future_op", inputs=[t("k", [])], outputs=[t("l", [0, 3, 4, 4], "bfloat16")]),
    Node("spelled", " Conv2D ", attrs={"kernel": [0]}, weights=[t("w2", [4, 4, 7, 1])],
         outputs=[t("m", [2, 3, 4, 5, 6], "uint8")]),
    Node("const_weight", "add", weights=[t("w3", [1, 8, 2, 2])], inputs=[t("n", [8]), t("o", [1, 8], quantized=True)],
         outputs=[t("p", [1, 8], "int32")]),
    Node("bare", "relu"),
    Node("odd_attrs", "maxpool", attrs={"kernel_shape": [3, 3.9, True], "strides": 2, "dilations": [],
                                          "dilation": [2, "x", None], "group": True, "groups": 2.5}),
    Node("huge", "matmul", inputs=[t("q", [10**6, 10**6])], outputs=[t("r", [10**10] * 3)],
         flops=10**20, macs=-5, params=2**60),
]


def test_hand_built_edge_cases() -> None:
    g = Graph(nodes=EDGE_NODES, edges=[(0, 1), (1, 2), (1, 3), (2, 4), (0, 4), (4, 5), (4, 5), (6, 7)])
    check_graph(g)
    x = featurize(g).x
    depthwise = x[:, N_OP_COLS + NUMERIC_FEATURES.index("depthwise")].tolist()
    assert depthwise[:4] == [0.0, 1.0, 1.0, 0.0]  # op dwconv; groups == input channels; neither (the alias is not "dwconv")


def test_single_node_graph_without_edges() -> None:
    check_graph(Graph(nodes=[Node("only", "relu", inputs=[t("a", [1, 2])], outputs=[t("b", [1, 2])])]))


def test_document_values_are_read_as_graph_from_dict_reads_them() -> None:
    """Numbers as strings or floats, NaN in attributes, attrs as pairs, non-string names and ops."""
    doc = {
        "nodes": [
            {"name": 5, "op": "conv", "flops": "12", "macs": 7.9, "params": True, "bytes_read": -3,
             "attrs": [["kernel_shape", [3, 3]], ["strides", [float("nan"), 2]], ["layout", "NCHW"]],
             "inputs": [{"shape": ["1", 4, 8.0, 8], "dtype": None}], "outputs": [{"shape": "1488"}]},
            {"op": 7, "attrs": {"kernel_shape": float("inf"), "kernel_size": [float("nan"), 5]},
             "inputs": [{"name": "x", "shape": [1, 8]}], "outputs": [{"shape": [1, 8], "quantized": "yes"}]},
        ],
        "edges": [[0.0, 1.9]],
    }
    assert_same(featurize(doc), Graph.from_dict(doc))


MALFORMED = [
    None, [1, 2], {}, {"nodes": []}, {"nodes": "x"}, {"nodes": [{"name": "x"}]}, {"nodes": [3]},
    {"nodes": [{"op": "relu"}], "edges": [[0, 5]]},
    {"nodes": [{"op": "relu"}, {"op": "relu"}], "edges": [[1, 1]]},
    {"nodes": [{"op": "relu"}, {"op": "relu"}], "edges": [[0]]},
    {"nodes": [{"op": "relu"}, {"op": "relu"}], "edges": [[0, "a"]]},
    {"nodes": [{"op": "conv", "inputs": [{"shape": ["a"]}]}]},
    {"nodes": [{"op": "conv", "outputs": [{"shape": 4}]}]},
    {"nodes": [{"op": "conv", "inputs": ["not a tensor"]}]},
    {"nodes": [{"op": "conv", "flops": None}]},
    {"nodes": [{"op": "conv", "macs": "lots"}]},
    {"nodes": [{"op": "conv", "attrs": "kernel"}]},
    {"nodes": [{"op": "conv", "attrs": {"kernel_shape": [0]}, "weights": [{"shape": [1, 1, "x", 1]}]}]},
    {"nodes": [{"op": "relu"}], "inputs": [{"shape": ["?"]}]},
    {"nodes": [{"op": "relu"}], "meta": 5},
]


@pytest.mark.parametrize("doc", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_documents_are_rejected_like_graph_from_dict(doc: Any) -> None:
    with pytest.raises(IRError) as err:
        featurize(doc)
    assert err.value.code == "invalid_ir"


def test_limits_and_overflow() -> None:
    doc = {"nodes": [{"op": "relu"}] * 3}
    with pytest.raises(IRError) as err:
        featurize(doc, max_nodes=2)
    assert err.value.code == "too_large"
    # a float cannot count these elements; Graph-based v1 raised OverflowError here
    with pytest.raises(IRError):
        featurize({"nodes": [{"op": "relu", "outputs": [{"shape": [10**10] * 31}]}]})
    with pytest.raises(IRError):
        featurize({"nodes": [{"op": "relu", "flops": 10**400}]})


def test_a_graph_of_huge_tensors_does_not_shift_the_next_graphs_features() -> None:
    """Peak live bytes are a running sum over a batch's nodes: a graph whose tensors add up past
    2^53 bytes used to leave a rounding residue in the next graph's peak (found by the columns
    form's random documents, compared batch against single)."""
    huge = {"nodes": [{"op": "relu", "outputs": [{"name": "t", "shape": [10**10, 10**10, 3]}]},
                      {"op": "relu", "outputs": [{"name": "u", "shape": [7]}]}], "edges": [[0, 1]]}
    small = Graph(nodes=EDGE_NODES[:3], edges=[(0, 1), (1, 2)]).to_dict()
    batch = featurize_many([huge, small, huge, small])
    for got, doc in zip(batch, [huge, small, huge, small], strict=True):
        alone = featurize(doc)
        np.testing.assert_array_equal(got.x.numpy(), alone.x.numpy())
        np.testing.assert_array_equal(got.graph_attr.numpy(), alone.graph_attr.numpy())


def test_featurize_many_reports_errors_per_item() -> None:
    good = Graph(nodes=EDGE_NODES[:3], edges=[(0, 1), (1, 2)])
    items: list[Any] = [good.to_dict(), {"nodes": []}, good, {"nodes": [{"op": "x", "flops": "nope"}]}, good]
    out = featurize_many(items)
    assert [type(o).__name__ for o in out] == ["Data", "IRError", "Data", "IRError", "Data"]
    for d in (out[0], out[2], out[4]):
        assert_same(d, good)


# -- randomly drawn documents -----------------------------------------------------------
OPS = ["conv", "dwconv", "Conv2D", "depthwise_conv", "relu", "unknown:Foo", "some_future_op", "", " ADD ", 5]
COSTS = [0, 5, -3, 10**12, 10**20, 2.7, "12", True, 0.0]
SHAPES = [None, [], [1], [1, 8], [1, 16, 8, 8], [1, 8, 8, 16], [1, -1, 8, 8], [0, 3, 4, 4], [2, 3, 4, 5, 6],
          [10**10] * 3, ["2", 3], [1.9, 4, 4, 4]]
DTYPES = ["float32", "float16", "bfloat16", "int8", "uint8", "int32", None, 3]
ATTRS = [
    {}, None, {"layout": "NHWC"}, {"layout": "NCHW"},
    {"kernel_shape": [3, 3], "strides": [2, 2], "group": 4, "dilations": [1, 1]},
    {"kernel_shape": [3, 3], "strides": [1, 1], "groups": 16, "dilations": [2, 2], "layout": "NHWC"},
    {"kernel_size": 5}, {"kernel": [0]}, {"kernel_shape": [3, 3.0], "strides": 2, "groups": True, "dilation": [2, "x"]},
    {"kernel_shape": [float("nan"), 3]}, {"stride_h": 2.5, "dilation_h_factor": 3}, {"groups": 16, "layout": "NHWC"},
    [["layout", "NHWC"], ["group", 8]], {"kernel_shape": [], "kernel_size": [7]}, {"kernel_shape": "33"},
    {"filter_size": [1, 2, 3], "strides": [4, 1], "group": [2, 3], "dilations": [1, 3]},
    {"kernel_shape": [3, 3], "strides": [2, 2]}, {"kernel_shape": [3, 3], "strides": [1, 1], "dilation": [2, 2]},
    {"kernel_shape": [2, 2], "strides": [2, 2], "dilation_h_factor": 3, "groups": None},
    {"kernel_shape": [3, 3], "strides": [1, 1], "dilations": None, "group": None, "groups": 8},
]


def random_tensor(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {"name": rng.choice(["a", "b", "c"]), "shape": rng.choice(SHAPES)}
    if rng.random() < 0.7:
        out["dtype"] = rng.choice(DTYPES)
    if rng.random() < 0.2:
        out["quantized"] = rng.choice([True, 0, "yes"])
    return out


def random_doc(rng: random.Random) -> dict[str, Any]:
    n = rng.randint(1, 8)
    nodes = []
    for i in range(n):
        node: dict[str, Any] = {"op": rng.choice(OPS)}
        if rng.random() < 0.8:
            node["name"] = f"n{i}"
        for key in ("flops", "macs", "params", "bytes_read", "bytes_written"):
            if rng.random() < 0.7:
                node[key] = rng.choice(COSTS)
        if rng.random() < 0.8:
            node["attrs"] = rng.choice(ATTRS)
        for key, most in (("inputs", 3), ("outputs", 2)):
            node[key] = [random_tensor(rng) for _ in range(rng.randint(0, most))]
        node["weights"] = rng.choice([[], [{"shape": [8, 4, 3, 3]}], [{"shape": [8, 4]}], [{"shape": None}]])
        nodes.append(node)
    pairs = [[a, b] for a in range(n) for b in range(n) if a != b]
    edges = rng.sample(pairs, min(len(pairs), rng.randint(0, 2 * n)))
    if edges and rng.random() < 0.2:
        edges.append(list(edges[0]))  # a duplicate
    if edges and rng.random() < 0.1:
        edges[0] = [float(edges[0][0]), edges[0][1]]
    return {"nodes": nodes, "edges": edges}


def test_random_documents_match_the_reference() -> None:
    rng = random.Random(20240611)
    docs = [random_doc(rng) for _ in range(400)]
    batch = featurize_many(docs)
    compared = 0
    for doc, got in zip(docs, batch, strict=True):
        try:
            graph = Graph.from_dict(doc)
            ref = reference_features(graph)
            finite = bool(np.isfinite(ref[0]).all() and np.isfinite(ref[2]).all())
        except (IRError, OverflowError):
            finite = False
        if not finite:  # v1 rejected it, or gave inf where a float32 cannot hold the value
            assert isinstance(got, IRError), doc
            continue
        assert not isinstance(got, IRError), (got, doc)
        assert_same(got, graph)
        assert_same(featurize(doc), graph)  # alone as in a batch
        compared += 1
    assert compared > 300


def test_log_scale_matches_math_log1p() -> None:
    values = [0, 1, 2, 3, 7, 1000, 12345, 2**31, 10**12, 10**15 + 7, 2**53 + 1, 10**20]
    doc = {"nodes": [{"op": "relu", "flops": v} for v in values]}
    got = featurize(doc).x[:, N_OP_COLS].numpy()
    np.testing.assert_array_max_ulp(got, np.asarray([math.log1p(v) * 0.1 for v in values], dtype=np.float32), 1)
