"""IR, op vocabulary, cost formulas and limits on small hand-built graphs."""

from __future__ import annotations

import random

import pytest

from predictor.graph.costs import apply_costs
from predictor.graph.ir import Graph, IRError, Node, TensorInfo
from predictor.graph.limits import Limits
from predictor.graph.ops import CANONICAL_OPS, CATEGORY, ONNX_OPS, TFLITE_OPS, category


def t(name: str, shape: list[int] | None, dtype: str = "float32", const: bool = False) -> TensorInfo:
    return TensorInfo(name, shape, dtype, is_const=const)


def conv_node(op: str, x: list[int], y: list[int], cin: int, cout: int, groups: int, k: int) -> Node:
    n = Node("c", op, attrs={"in_channels": cin, "out_channels": cout, "groups": groups,
                             "kernel_shape": [k, k]},
             inputs=[t("x", x)], weights=[t("w", [cout, cin // groups, k, k], const=True)],
             outputs=[t("y", y)])
    return apply_costs(n)


def test_conv_macs_standard_grouped_depthwise_and_layout_free() -> None:
    nchw = conv_node("conv", [1, 16, 8, 8], [1, 32, 8, 8], 16, 32, 1, 3)
    assert nchw.macs == 32 * 8 * 8 * 16 * 9
    assert nchw.flops == 2 * nchw.macs
    assert nchw.params == 32 * 16 * 9
    nhwc = conv_node("conv", [1, 8, 8, 16], [1, 8, 8, 32], 16, 32, 1, 3)
    assert nhwc.macs == nchw.macs
    grouped = conv_node("conv", [1, 16, 8, 8], [1, 32, 8, 8], 16, 32, 4, 3)
    assert grouped.macs == nchw.macs // 4
    dw = conv_node("dwconv", [1, 16, 8, 8], [1, 16, 8, 8], 16, 16, 16, 3)
    assert dw.macs == 16 * 8 * 8 * 9


def test_fc_matmul_pool_and_bytes() -> None:
    fc = apply_costs(Node("fc", "fc", attrs={"k": 512, "bias": True}, inputs=[t("x", [1, 512])],
                          weights=[t("w", [1000, 512], const=True), t("b", [1000], const=True)],
                          outputs=[t("y", [1, 1000])]))
    assert fc.macs == 512_000 and fc.flops == 2 * 512_000 + 1000 and fc.params == 513_000
    assert fc.bytes_read == 4 * (512 + 512_000 + 1000) and fc.bytes_written == 4000
    bmm = apply_costs(Node("mm", "matmul", inputs=[t("q", [2, 4, 16, 8]), t("k", [2, 4, 8, 16])],
                           outputs=[t("s", [2, 4, 16, 16])]))
    assert bmm.macs == 2 * 4 * 16 * 16 * 8
    pool = apply_costs(Node("p", "maxpool", attrs={"kernel_shape": [3, 3]}, inputs=[t("x", [1, 8, 8, 8])],
                            outputs=[t("y", [1, 8, 4, 4])]))
    assert pool.macs == 0 and pool.flops == 8 * 16 * 9
    int8 = apply_costs(Node("q", "relu", inputs=[t("x", [1, 100], "int8")], outputs=[t("y", [1, 100], "int8")]))
    assert int8.bytes_read == 100 and int8.flops == 100


def test_shape_constants_are_not_parameters() -> None:
    r = apply_costs(Node("r", "reshape", inputs=[t("x", [1, 8])], weights=[t("s", [2], "int64", True)],
                         outputs=[t("y", [2, 4])]))
    assert r.params == 0 and r.macs == 0


def test_edges_follow_tensors_not_node_order() -> None:
    nodes = [
        Node("a", "conv", inputs=[t("in", [1])], outputs=[t("x1", [1])]),
        Node("b", "relu", inputs=[t("x1", [1])], outputs=[t("x2", [1])]),
        Node("c", "add", inputs=[t("x1", [1]), t("x2", [1])], outputs=[t("x3", [1])]),
    ]
    rng = random.Random(0)
    for _ in range(5):
        order = nodes[:]
        rng.shuffle(order)
        g = Graph(nodes=order)
        g.connect_by_tensor_names()
        named = {(order[i].name, order[j].name) for i, j in g.edges}
        assert named == {("a", "b"), ("a", "c"), ("b", "c")}


def test_summary_counts_unknown_and_unresolved_and_round_trips() -> None:
    g = Graph(nodes=[
        Node("a", "conv", inputs=[t("in", [1, 3, 8, 8])], outputs=[t("x", [1, 8, 8, 8])], macs=10),
        Node("b", "unknown:MyOp", source_op="MyOp", inputs=[t("x", [1, 8, 8, 8])], outputs=[t("y", None)]),
        Node("c", "unknown:MyOp", source_op="MyOp", inputs=[t("y", None)], outputs=[t("z", [1, -1])]),
    ], inputs=[t("in", [1, 3, 8, 8])], meta={"folded_nodes": 3})
    g.connect_by_tensor_names()
    s = g.summary()
    assert s["unknown_ops"] == 2 and s["unknown_op_types"] == {"MyOp": 2}
    assert s["unresolved_tensors"] == 2 and s["folded_nodes"] == 3
    assert s["op_histogram"] == {"conv": 1, "unknown:MyOp": 2} and s["macs"] == 10
    back = Graph.from_dict(g.to_dict())
    assert back.summary() == s and back.edges == g.edges


@pytest.mark.parametrize("doc", [None, {}, {"nodes": []}, {"nodes": [{"name": "x"}]},
                                 {"nodes": [{"op": "relu"}], "edges": [[0, 5]]}])
def test_from_dict_rejects_malformed_documents(doc: object) -> None:
    with pytest.raises(IRError) as err:
        Graph.from_dict(doc)  # type: ignore[arg-type]
    assert err.value.code == "invalid_ir"


def test_op_tables_map_into_the_vocabulary() -> None:
    assert set(ONNX_OPS.values()) <= set(CANONICAL_OPS)
    assert set(TFLITE_OPS.values()) <= set(CANONICAL_OPS)
    shared = {"conv", "dwconv", "fc", "matmul", "add", "concat", "maxpool", "resize", "softmax",
              "relu6", "hardswish", "quantize", "dequantize", "reshape", "transpose", "pad"}
    assert shared <= set(CATEGORY)
    assert category("unknown:Foo") == "unknown" and category("conv") == "conv"


def test_limits() -> None:
    lim = Limits(max_file_bytes=10, max_nodes=2, max_tensor_elements=100, max_seconds=0)
    for call in (lambda: lim.check_file_size(11), lambda: lim.check_nodes(3),
                 lambda: lim.check_tensor("x", [10, 11])):
        with pytest.raises(IRError) as err:
            call()
        assert err.value.code == "too_large"
    lim.check_tensor("x", [10, -1])  # unresolved: nothing to check
    with pytest.raises(IRError) as err:
        lim.deadline().check("testing")
    assert err.value.code == "timeout"
    default = Limits()
    assert default.max_file_bytes == 512 * 1024 * 1024 and default.max_nodes == 200_000


def test_json_safe_fast_path_matches_generic_rules() -> None:
    import math

    from predictor.graph.ir import json_safe

    class Sub(int):
        pass

    value = {"a": [1, 2.5, math.nan, True, None, "s", {"b": (3, b"x\x00y")}], 4: Sub(7), "inf": [math.inf]}
    assert json_safe(value) == {"a": [1, 2.5, None, True, None, "s", {"b": [3, "xy"]}], "4": 7, "inf": [None]}
    deep: list = []
    cur = deep
    for _ in range(20):
        cur.append([])
        cur = cur[0]
    assert "None" in repr(json_safe(deep))  # nesting is still bounded


def test_gc_paused_nests_and_restores_the_collector() -> None:
    import gc

    from predictor.graph.ir import gc_paused

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left off when it was off before
    finally:
        gc.enable()


def test_a_pause_kept_up_by_overlapping_users_still_collects(monkeypatch) -> None:
    import gc

    from predictor.graph import ir

    runs: list[str] = []

    def seen(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2:
            runs.append(phase)

    gc.callbacks.append(seen)
    try:
        with ir.gc_paused():  # a long request still in flight
            with ir.gc_paused():
                pass
            assert runs == []  # a young pause: nothing collected
            monkeypatch.setattr(ir, "GC_PAUSE_MAX_S", 0.0)
            with ir.gc_paused():
                pass
            assert runs == ["start"] and not gc.isenabled()  # one full collection, still paused
        assert gc.isenabled()
    finally:
        gc.callbacks.remove(seen)


def test_invalid_utf8_names_become_text():
    import json

    from predictor.graph.ir import Graph, Node, TensorInfo

    g = Graph(
        nodes=[Node(name=b"conv\xee1", op="conv", source_op=b"Co\xffnv", outputs=[TensorInfo(b"y\xee")])],
        meta={"producer_version": b"\xee\x00"},
    )
    g.make_text_safe()
    doc = json.loads(json.dumps(g.to_dict()))
    assert doc["nodes"][0]["name"].startswith("conv") and isinstance(doc["nodes"][0]["source_op"], str)
    assert isinstance(doc["nodes"][0]["outputs"][0]["name"], str)
    assert isinstance(doc["meta"]["producer_version"], str)


def test_from_dict_rejects_a_tensor_that_is_no_object() -> None:
    with pytest.raises(IRError) as err:
        Graph.from_dict({"nodes": [{"op": "relu", "inputs": ["x"]}]})
    assert err.value.code == "invalid_ir"
