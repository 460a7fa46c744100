"""Featurisation: hand-built graphs and real exported ONNX models."""

from __future__ import annotations

import io
import time
import warnings

import numpy as np
import pytest
import torch

from predictor.features import (
    GRAPH_DIM,
    N_OP_COLS,
    NODE_DIM,
    NUMERIC_FEATURES,
    OP_VOCAB,
    featurize,
    featurize_many,
    op_column,
)
from predictor.graph.ir import Graph, IRError, Node, TensorInfo

COL = {name: N_OP_COLS + i for i, name in enumerate(NUMERIC_FEATURES)}
OPS = ("conv", "relu", "add", "dwconv", "avgpool")


def chain_graph(n: int, channels: int, ops: tuple[str, ...] = OPS, size: int = 8) -> Graph:
    """A chain of ``n`` ops cycling over ``ops`` with conv-like MACs."""
    nodes = []
    for i in range(n):
        op = ops[i % len(ops)]
        shape = [1, channels, size, size]
        macs = channels * channels * 9 * size * size if op == "conv" else (9 * channels * size * size if op == "dwconv" else 0)
        attrs = {"kernel_shape": [3, 3], "strides": [1, 1], "group": channels if op == "dwconv" else 1} if "conv" in op else {}
        nodes.append(Node(
            f"n{i}", op, source_op=op, attrs=attrs,
            inputs=[TensorInfo(f"t{i}", shape)], outputs=[TensorInfo(f"t{i + 1}", shape)],
            macs=macs, flops=2 * macs or channels * size * size, params=macs // (size * size),
            bytes_read=4 * channels * size * size, bytes_written=4 * channels * size * size,
        ))
    g = Graph(nodes=nodes, name=f"chain{n}x{channels}")
    g.connect_by_tensor_names()
    return g


def op_cost(op: str) -> float:
    return {"conv": 1.0, "dwconv": 0.3, "relu": 0.05, "add": 0.08, "avgpool": 0.1}.get(op, 0.1)


def synthetic_latency(g: Graph, speed: float, overhead: float) -> float:
    """A device model: per-node overhead + op-dependent cost per MAC/element."""
    return sum(overhead + op_cost(n.op) * (n.macs + n.flops) * speed for n in g.nodes)


def test_one_hot_columns_and_numeric_features():
    g = chain_graph(5, 8)
    d = featurize(g)
    assert d.x.shape == (5, NODE_DIM) and d.graph_attr.shape == (1, GRAPH_DIM)
    cols = d.x[:, :N_OP_COLS].argmax(1).tolist()
    assert cols == [OP_VOCAB.index(op) for op in OPS]
    assert torch.all(d.x[:, :N_OP_COLS].sum(1) == 1)
    conv, dw = d.x[0], d.x[3]
    assert conv[COL["kernel_h"]] == pytest.approx(3 / 7) and conv[COL["depthwise"]] == 0
    assert dw[COL["depthwise"]] == 1
    assert conv[COL["log_macs"]] == pytest.approx(np.log1p(g.nodes[0].macs) / 10, rel=1e-5)
    assert d.graph_attr[0, 0] == pytest.approx(np.log1p(sum(n.macs for n in g.nodes)) / 10, rel=1e-5)
    assert d.node_names == [n.name for n in g.nodes]


def test_edges_follow_data_flow_not_node_order():
    g = chain_graph(4, 4)
    g.nodes.reverse()
    g.connect_by_tensor_names()
    d = featurize(g)
    assert sorted(map(tuple, d.edge_index.t().tolist())) == sorted(g.edges)
    assert (3, 2) in g.edges  # reversed order: producer index > consumer index


def test_unknown_and_unlisted_ops_are_kept_in_distinct_buckets():
    unknown = op_column("unknown:MyCustomOp")
    unlisted = op_column("some_future_op")
    assert unknown == N_OP_COLS - 1
    assert len(OP_VOCAB) <= unlisted < unknown
    assert op_column("Conv2D") == op_column("conv") == OP_VOCAB.index("conv")
    assert op_column("depthwise_conv") == OP_VOCAB.index("dwconv")
    g = chain_graph(3, 4, ops=("conv", "unknown:Foo", "some_future_op"))
    assert featurize(g).x[:, :N_OP_COLS].argmax(1).tolist() == [OP_VOCAB.index("conv"), unknown, unlisted]


def test_nhwc_channels_and_quantized_flags():
    t_in = TensorInfo("a", [1, 8, 8, 24], dtype="int8", quantized=True)
    t_out = TensorInfo("b", [1, 8, 8, 24], dtype="int8", quantized=True)
    node = Node("dw", "dwconv", attrs={"layout": "NHWC", "groups": 24}, inputs=[t_in], outputs=[t_out])
    x = featurize(Graph(nodes=[node])).x[0]
    assert x[COL["out_log_channels"]] == pytest.approx(np.log1p(24) / 10, rel=1e-5)
    assert x[COL["out_log_spatial"]] == pytest.approx(np.log1p(64) / 10, rel=1e-5)
    assert x[COL["dtype_int8"]] == 1 and x[COL["quantized"]] == 1 and x[COL["dtype_f32"]] == 0


def test_unresolved_shapes_do_not_crash():
    node = Node("r", "reshape", inputs=[TensorInfo("a", None)], outputs=[TensorInfo("b", [1, -1])])
    x = featurize(Graph(nodes=[node])).x
    assert torch.isfinite(x).all()


def test_bad_graphs_raise_irerror():
    with pytest.raises(IRError) as e:
        featurize(Graph(nodes=[]))
    assert e.value.code == "invalid_ir"
    g = chain_graph(2, 4)
    g.edges = [(0, 5)]
    with pytest.raises(IRError):
        featurize(g)


def test_real_exported_onnx_model():
    from predictor.frontends import load_model

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 16, 3, padding=1)
            self.dw = torch.nn.Conv2d(16, 16, 3, padding=1, groups=16)
            self.fc = torch.nn.Linear(16, 10)

        def forward(self, x):
            y = torch.relu(self.conv(x))
            y = y + self.dw(y)
            return self.fc(y.mean((2, 3)))

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Net().eval(), torch.randn(1, 3, 16, 16), buf, dynamo=False)
    g = load_model(buf.getvalue(), filename="net.onnx")
    d = featurize(g)
    assert d.num_nodes == len(g.nodes) and d.edge_index.shape[1] == len(g.edges)
    ops = [OP_VOCAB[c] if c < len(OP_VOCAB) else "?" for c in d.x[:, :N_OP_COLS].argmax(1).tolist()]
    assert ops[:4] == ["conv", "relu", "dwconv", "add"]
    assert d.x[ops.index("dwconv"), COL["depthwise"]] == 1
    assert torch.isfinite(d.x).all()


def test_featurisation_is_fast():
    g = chain_graph(300, 32)
    start = time.process_time()  # CPU time: the shared test machine's load must not matter
    for _ in range(5):
        featurize(g)
    per_node = (time.process_time() - start) / (5 * 300)
    assert per_node < 2e-4  # well below the 1 ms/node budget (measured ~20 us)


DEVICES = {"fast": (1e-7, 0.002), "slow": (5e-7, 0.01)}


def synthetic_records(n: int, seed: int = 0, with_energy: tuple[str, ...] = ()):
    """Records of ``n`` random chain graphs on the two synthetic DEVICES; energy
    is measured only on the devices named in ``with_energy``."""
    from predictor.train import Record

    rng = np.random.default_rng(seed)
    records = []
    for k in range(n):
        g = chain_graph(int(rng.integers(3, 25)), int(rng.choice([8, 16, 32, 48])), size=int(rng.choice([4, 8, 16])))
        data = featurize(g)
        for dev, (speed, overhead) in DEVICES.items():
            lat = synthetic_latency(g, speed, overhead)
            targets = {"latency": lat}
            if dev in with_energy:
                targets["energy"] = 3.0 * lat
            records.append(Record(f"g{k}", data, dev, targets, space="even" if k % 2 == 0 else "odd"))
    return records


def _raw(d, name: str) -> np.ndarray:
    return np.expm1(d.x[:, COL[name]].double().numpy() * 10)


def test_weight_bytes_and_the_peak_of_live_activations():
    # a -> b -> c -> add(a, c): a's output stays live until the add, so at c the live set is
    # a's output (held for the add), b's (c's input) and c's: the peak
    shape = lambda c: [1, c, 4, 4]  # noqa: E731
    nodes = [
        Node("a", "conv", inputs=[TensorInfo("x", shape(3))], outputs=[TensorInfo("ta", shape(8))], params=216),
        Node("b", "conv", inputs=[TensorInfo("ta", shape(8))], outputs=[TensorInfo("tb", shape(32))], params=256),
        Node("c", "conv", inputs=[TensorInfo("tb", shape(32))], outputs=[TensorInfo("tc", shape(8))], params=256),
        Node("d", "add", inputs=[TensorInfo("ta", shape(8)), TensorInfo("tc", shape(8))],
             outputs=[TensorInfo("td", shape(8))]),
    ]
    g = Graph(nodes=nodes)
    g.connect_by_tensor_names()
    d = featurize(g)
    assert _raw(d, "log_param_bytes") == pytest.approx([864, 1024, 1024, 0], rel=1e-5)  # float32: 4 bytes
    live = 4 * 16 * np.array([8, 8 + 32, 8 + 32 + 8, 8 + 8 + 8])  # live bytes at each node
    peak = _raw(d, "log_peak_live")
    assert peak[2] == pytest.approx(live.max(), rel=1e-5) and peak.sum() == pytest.approx(live.max(), rel=1e-5)
    # the same graph twice in one batch: each graph gets its own peak
    both = featurize_many([g.to_dict(), chain_graph(3, 4).to_dict(), g.to_dict()])
    assert [float(_raw(x, "log_peak_live").sum()) for x in (both[0], both[2])] == pytest.approx([live.max()] * 2)
    assert float(_raw(both[1], "log_peak_live").sum()) == pytest.approx(4 * 4 * 64 * 2, rel=1e-5)


def test_a_constant_operand_is_not_read_as_a_kernel():
    """A TFLite batch norm that cannot fold into a conv (pre-activation, as in DenseNet) stays a MUL
    by a [1, 1, 1, C] constant: its kernel features are 0, not "1 x C" (which once made DenseNet-121's
    MULs and 1x1 convs look like nothing trained on); a conv's OIHW weights still give its kernel."""
    from predictor.features import describe_kind, node_kinds
    from predictor.frontends import load_model
    from tests.predictor.model_builders import _tf, tflite_from_keras

    tf = _tf()
    inp = tf.keras.Input((16, 16, 24), batch_size=1)
    x = tf.keras.layers.BatchNormalization()(inp)
    x = tf.keras.layers.ReLU()(x)
    x = tf.keras.layers.Conv2D(32, 1)(x)
    g = load_model(tflite_from_keras(tf.keras.Model(inp, x)), filename="preact.tflite")
    muls = [i for i, n in enumerate(g.nodes) if n.op == "mul"]
    assert muls and any(len(w.shape) >= 1 and w.shape[-1] == 24 for i in muls for w in g.nodes[i].weights)
    d = featurize(g)
    assert all(d.x[i, COL["kernel_h"]] == 0 and d.x[i, COL["kernel_w"]] == 0 for i in muls)
    kinds = node_kinds(d)
    assert all(describe_kind(int(kinds[i]), "mul") == "mul" for i in muls)  # no kernel geometry
    conv = next(i for i, n in enumerate(g.nodes) if n.op == "conv")
    assert d.x[conv, COL["kernel_h"]] == pytest.approx(1 / 7) and d.x[conv, COL["kernel_w"]] == pytest.approx(1 / 7)
    # ONNX: a conv whose kernel only its weights give
    doc = {"nodes": [{"op": "conv", "weights": [{"name": "w", "shape": [8, 4, 5, 3]}],
                      "inputs": [{"name": "x", "shape": [1, 4, 8, 8]}], "outputs": [{"name": "y", "shape": [1, 8, 8, 8]}]},
                     {"op": "mul", "weights": [{"name": "s", "shape": [1, 8, 1, 1]}],
                      "inputs": [{"name": "y", "shape": [1, 8, 8, 8]}], "outputs": [{"name": "z", "shape": [1, 8, 8, 8]}]}],
           "edges": [[0, 1]]}
    d = featurize(doc)
    assert d.x[0, COL["kernel_h"]] == pytest.approx(5 / 7) and d.x[0, COL["kernel_w"]] == pytest.approx(3 / 7)
    assert d.x[1, COL["kernel_h"]] == 0 and d.x[1, COL["kernel_w"]] == 0
