"""PerfSAGE: shapes, per-node sums, gradients, device handling."""

from __future__ import annotations

import math

import torch
from torch_geometric.data import Batch

from predictor.features import GRAPH_DIM, NODE_DIM, featurize
from predictor.models.perf_sage import PerfSAGE
from tests.predictor.test_features import chain_graph


def _batch():
    return Batch.from_data_list([featurize(chain_graph(n, 8)) for n in (3, 7, 12)], exclude_keys=["node_names"])


def _model(**kw) -> PerfSAGE:
    torch.manual_seed(0)
    return PerfSAGE(NODE_DIM, GRAPH_DIM, hidden_channels=16, num_layers=2, num_devices=4, num_targets=3,
                    embed_channels=8, **kw)


def test_forward_shapes_one_and_many_devices():
    m, b = _model(), _batch()
    pred, contrib = m(b.x, b.edge_index, b.batch, torch.tensor([0, 1, 2]), b.graph_attr)
    assert pred.shape == (3, 1, 3) and contrib.shape == (b.num_nodes, 1, 3)
    dev = torch.tensor([[0, 1, 2, 3]] * 3)
    pred, contrib = m(b.x, b.edge_index, b.batch, dev, b.graph_attr)
    assert pred.shape == (3, 4, 3) and contrib.shape == (b.num_nodes, 4, 3)
    assert (pred > 0).all() and (contrib > 0).all()


def test_node_contributions_sum_to_graph_prediction():
    m, b = _model(), _batch()
    pred, contrib = m(b.x, b.edge_index, b.batch, torch.tensor([[0, 2]] * 3), b.graph_attr)
    for g in range(3):
        torch.testing.assert_close(contrib[b.batch == g].sum(0), pred[g])


def test_device_rows_are_independent():
    m, b = _model(), _batch()
    one, _ = m(b.x, b.edge_index, b.batch, torch.tensor([1, 1, 1]), b.graph_attr)
    many, _ = m(b.x, b.edge_index, b.batch, torch.tensor([[0, 1, 3]] * 3), b.graph_attr)
    torch.testing.assert_close(one[:, 0], many[:, 1])


def test_backward_reaches_encoder_and_device_embedding():
    m, b = _model(), _batch()
    pred, _ = m(b.x, b.edge_index, b.batch, torch.tensor([0, 1, 2]), b.graph_attr)
    torch.log(pred).sum().backward()
    assert m.lin_in.weight.grad is not None and m.lin_in.weight.grad.abs().sum() > 0
    assert m.device_vec.grad[:3].abs().sum() > 0 and m.device_vec.grad[3].abs().sum() == 0


def test_add_devices_and_config_round_trip():
    m = _model()
    m.add_devices(2)
    assert m.num_devices == 6 and m.device_vec.shape[0] == 6
    torch.testing.assert_close(m.device_vec[4], m.device_vec[:4].mean(0))
    clone = PerfSAGE(**m.config())
    clone.load_state_dict(m.state_dict())
    assert "devices=6" in repr(clone) and "hidden=16" in repr(clone)


def test_reset_parameters_is_seeded():
    a = _model()
    b = _model()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb)


def test_exp_contributions_are_log_linear_in_the_device_scale():
    import pytest

    m, b = _model(contribution="exp"), _batch()
    dev = torch.tensor([0, 0, 0])
    pred, contrib = m(b.x, b.edge_index, b.batch, dev, b.graph_attr)
    assert (contrib > 0).all()
    with torch.no_grad():
        m.device_log_scale[0] += 1.0
    pred2, _ = m(b.x, b.edge_index, b.batch, dev, b.graph_attr)
    torch.testing.assert_close(pred2, pred * torch.e, rtol=1e-5, atol=0)
    assert PerfSAGE(**m.config()).contribution == "exp"
    assert m.zero_logit_value() == 1.0 and _model().zero_logit_value() == pytest.approx(0.6931, abs=1e-4)
    with pytest.raises(ValueError, match="contribution"):
        _model(contribution="relu")


def test_prebuilt_adjacency_gives_the_edge_list_result():
    """Duplicate edges, isolated nodes and both contribution forms: the CSR mean equals the scatter."""
    b = _batch()
    n = b.num_nodes
    extra = torch.tensor([[0, 1], [2, 2]]).t()  # a duplicate of an existing edge and one more
    edge_index = torch.cat([b.edge_index, b.edge_index[:, :1], extra], 1)
    x = torch.cat([b.x, b.x[:2]])  # two isolated nodes in a fourth graph
    batch = torch.cat([b.batch, torch.tensor([3, 3])])
    graph_attr = torch.cat([b.graph_attr, b.graph_attr[:1]])
    dev = torch.tensor([[0, 3]] * 4)
    adj = PerfSAGE.adjacency(edge_index, n + 2)
    for contribution in ("softplus", "exp"):
        m = _model(contribution=contribution).eval()
        with torch.no_grad():
            ref = m(x, edge_index, batch, dev, graph_attr)
            got = m(x, adj, batch, dev, graph_attr)
        for r, g in zip(ref, got, strict=True):
            torch.testing.assert_close(g, r, rtol=1e-5, atol=0)


def _roofline(**kw) -> PerfSAGE:
    from predictor.features import ROOFLINE_COLUMNS, ROOFLINE_SCALE

    return _model(contribution="roofline", basis_columns=ROOFLINE_COLUMNS, basis_scale=ROOFLINE_SCALE, **kw)


def test_roofline_contributions_stay_within_the_bound_of_the_analytic_floor():
    """Whatever the encoder says (here: huge random logits), a node costs its device-rated
    FLOPs + bytes + constant floor times at most e^{+-bound}."""
    import pytest

    m, b = _roofline(bound=2.0), _batch()
    with torch.no_grad():
        m.device_vec.mul_(1e3)  # logits far outside any trained range
        m.device_rate[:] = torch.tensor([-20.0, -18.0, -6.0])
    dev = torch.tensor([[0, 1]] * 3)
    pred, contrib = m(b.x, b.edge_index, b.batch, dev, b.graph_attr)
    basis = m.node_basis(b.x)
    floor = torch.exp(m.log_base(basis, m.device_rate[dev[b.batch]]))  # log-scale is 0
    ratio = contrib / floor
    assert (ratio <= torch.e**2 * 1.0001).all() and (ratio >= torch.e**-2 * 0.9999).all()
    assert (ratio.log().abs() > 1.0).any()  # the bound binds, it is not a constant
    # the floor is the sum a*FLOPs + b*bytes + c of the node, read back from the features
    from predictor.features import ROOFLINE_COLUMNS, ROOFLINE_SCALE

    raw = torch.expm1(b.x[:, list(ROOFLINE_COLUMNS)].double() * ROOFLINE_SCALE)
    expect = (raw[:, 0] + 1) * torch.e**-20 + (raw[:, 1] + raw[:, 2] + 2) * torch.e**-18 + torch.e**-6
    torch.testing.assert_close(floor[:, 0, 0].double(), expect, rtol=1e-4, atol=0)
    for g in range(3):
        torch.testing.assert_close(contrib[b.batch == g].sum(0), pred[g])
    with pytest.raises(ValueError, match="basis_columns"):
        _model(contribution="roofline")


def test_roofline_device_rows_round_trip_and_grow():
    m = _roofline()
    cfg = m.config()
    assert cfg["contribution"] == "roofline" and len(cfg["basis_columns"]) == 3
    clone = PerfSAGE(**cfg)
    clone.load_state_dict(m.state_dict())
    m.add_devices(1)
    assert m.device_rate.shape == (5, 3, 3)
    torch.testing.assert_close(m.device_rate[4], m.device_rate[:4].mean(0))
    assert any(p is m.device_rate for p in m.device_parameters())
    b = _batch()
    pred, _ = m(b.x, b.edge_index, b.batch, torch.tensor([4, 4, 4]), b.graph_attr)
    torch.log(pred).sum().backward()
    assert m.device_rate.grad[4].abs().sum() > 0 and m.device_rate.grad[:4].abs().sum() == 0


def test_memory_target_floor_is_weights_plus_the_peak_of_live_bytes():
    from predictor.features import MEMORY_COLUMNS, ROOFLINE_SCALE

    m = _roofline(bound=2.0, target_bases=["compute", "memory", "compute"], memory_columns=list(MEMORY_COLUMNS))
    b = _batch()
    with torch.no_grad():
        m.device_vec.zero_()  # logit 0: factor 1, the floor itself
        m.device_rate[:] = torch.tensor([-20.0, -18.0, -6.0])
    pred, _ = m(b.x, b.edge_index, b.batch, torch.tensor([0, 0, 0]), b.graph_attr)
    raw = torch.expm1(b.x[:, list(MEMORY_COLUMNS)].double() * ROOFLINE_SCALE)
    per_node = (raw[:, 0] + 1) * torch.e**-20 + (raw[:, 1] + 1) * torch.e**-18 + (raw[:, 1] > 0) * torch.e**-6
    expect = torch.zeros(3, dtype=torch.float64).index_add(0, b.batch, per_node)
    assert int((raw[:, 1] > 0).sum()) == 3  # one peak node per graph: the constant counts once a graph
    torch.testing.assert_close(pred[:, 0, 1].double(), expect, rtol=1e-4, atol=0)
    # the compute targets keep the FLOPs / bytes floor, the config round-trips
    compute = _roofline(bound=2.0)
    compute.load_state_dict(m.state_dict())
    torch.testing.assert_close(compute(b.x, b.edge_index, b.batch, torch.tensor([0, 0, 0]), b.graph_attr)[0][..., 0],
                               pred[..., 0])
    clone = PerfSAGE(**m.config())
    assert clone.target_bases == ["compute", "memory", "compute"] and clone.memory_columns == list(MEMORY_COLUMNS)


def test_a_model_of_the_first_feature_schema_reads_its_leading_columns():
    from predictor.features import N_OP_COLS, NODE_DIM_V1

    b = _batch()
    torch.manual_seed(0)
    m = PerfSAGE(NODE_DIM_V1, GRAPH_DIM, hidden_channels=16, num_layers=2, num_devices=2, embed_channels=8)
    dev = torch.tensor([0, 1, 0])
    old = m(b.x[:, :NODE_DIM_V1], b.edge_index, b.batch, dev, b.graph_attr)[0]
    torch.testing.assert_close(m(b.x, b.edge_index, b.batch, dev, b.graph_attr)[0], old)
    one_hot = (b.x[:, :N_OP_COLS].argmax(1), N_OP_COLS)
    torch.testing.assert_close(m(b.x, b.edge_index, b.batch, dev, b.graph_attr, one_hot=one_hot)[0], old)


def test_targets_outside_encoder_targets_do_not_train_the_encoder():
    m = _model(encoder_targets=[0, 2])
    b = _batch()
    m.train()
    pred, _ = m(b.x, b.edge_index, b.batch, torch.tensor([0, 1, 2]), b.graph_attr)
    pred[..., 1].log().sum().backward()  # target 1's loss alone
    assert m.lin_in.weight.grad is None or m.lin_in.weight.grad.abs().sum() == 0
    assert m.device_vec.grad[:, 1].abs().sum() > 0  # its device rows still learn
    m.zero_grad()
    pred, _ = m(b.x, b.edge_index, b.batch, torch.tensor([0, 1, 2]), b.graph_attr)
    pred[..., 0].log().sum().backward()
    assert m.lin_in.weight.grad.abs().sum() > 0
    m.eval()  # inference: the same predictions either way
    with torch.no_grad():
        plain = _model()
        plain.load_state_dict(m.state_dict())
        plain.eval()
        torch.testing.assert_close(m(b.x, b.edge_index, b.batch, torch.tensor([0, 1, 2]), b.graph_attr)[0],
                                   plain(b.x, b.edge_index, b.batch, torch.tensor([0, 1, 2]), b.graph_attr)[0])
    assert PerfSAGE(**m.config()).encoder_targets == [0, 2]


def test_keep_targets_drops_a_target_and_keeps_the_others_predictions():
    from predictor.features import MEMORY_COLUMNS

    m = _roofline(target_bases=["compute", "memory", "compute"], memory_columns=list(MEMORY_COLUMNS),
                  encoder_targets=[0, 2])
    b = _batch()
    m.eval()
    dev = torch.tensor([0, 1, 3])
    with torch.no_grad():
        before = m(b.x, b.edge_index, b.batch, dev, b.graph_attr)[0]
        m.keep_targets([0, 1])
        after = m(b.x, b.edge_index, b.batch, dev, b.graph_attr)[0]
    assert after.shape[-1] == 2 and m.device_rate.shape == (4, 2, 3)
    torch.testing.assert_close(after, before[..., :2])
    assert m.config()["target_bases"] == ["compute", "memory"] and m.encoder_targets == [0]
    clone = PerfSAGE(**m.config())
    clone.load_state_dict(m.state_dict())


def test_graph_head_scales_only_memory_targets_within_its_bound():
    from predictor.features import MEMORY_COLUMNS, N_OP_COLS

    kw = {"target_bases": ["compute", "memory", "compute"], "memory_columns": MEMORY_COLUMNS}
    plain = _roofline(**kw)
    m = _roofline(**kw, graph_head=8, hist_columns=N_OP_COLS)
    m.load_state_dict(plain.state_dict(), strict=False)
    b = _batch()
    dev = torch.tensor([[0, 3], [1, 2], [0, 0]])
    base, _ = plain(b.x, b.edge_index, b.batch, dev, b.graph_attr)
    # fresh rows are zero: no change until trained
    torch.testing.assert_close(m(b.x, b.edge_index, b.batch, dev, b.graph_attr)[0], base)
    with torch.no_grad():
        m.device_graph_vec.normal_(std=50.0)
    pred, contrib = m(b.x, b.edge_index, b.batch, dev, b.graph_attr)
    ratio = pred / base
    torch.testing.assert_close(ratio[..., [0, 2]], torch.ones_like(ratio[..., [0, 2]]))
    assert (ratio[..., 1] != 1).any() and (ratio[..., 1] >= math.exp(-1) - 1e-5).all()
    assert (ratio[..., 1] <= math.exp(1) + 1e-5).all()
    # the breakdown still sums to the prediction; the one-hot (serving) path gives the same values
    torch.testing.assert_close(torch.zeros_like(pred).index_add(0, b.batch, contrib), pred)
    one_hot = (b.x[:, :N_OP_COLS].argmax(1), N_OP_COLS)
    torch.testing.assert_close(m(b.x, b.edge_index, b.batch, dev, b.graph_attr, one_hot=one_hot)[0], pred)
    # rows belong to devices: a new device gets the mean row; config round-trips; dropping memory drops it
    m.add_devices(1)
    assert m.device_graph_vec.shape == (5, 3, 8)
    assert PerfSAGE(**m.config()).graph_head == 8
    # keeping memory and one other target: the factor follows memory to its new column
    m.keep_targets([1, 2])
    pred2, _ = m(b.x, b.edge_index, b.batch, dev, b.graph_attr)
    torch.testing.assert_close(pred2[..., 0] / base[..., 1], ratio[..., 1])
    torch.testing.assert_close(pred2[..., 1], base[..., 2])
    m.keep_targets([1])
    assert m.graph_head == 0 and m.graph_mlp is None and "graph_head" not in m.config()


def test_device_logits_match_a_per_node_product_for_mixed_device_rows():
    """contributions() multiplies the embeddings by the rows of the devices asked for once and
    gathers; the result is each node's own dot product with its (graph, device) row, also when
    graphs ask for different devices in different orders."""
    m, b = _model(contribution="exp"), _batch()
    dev = torch.tensor([[2, 0], [1, 1], [3, 2]])
    with torch.no_grad():
        z = m.encode(b.x, b.edge_index, b.batch, b.graph_attr)
        got = m.contributions(z, b.batch, dev)
        node_dev = dev[b.batch]  # [N, K]
        logits = torch.einsum("ne,nkte->nkt", z, m.device_vec[node_dev]) + m.device_bias[node_dev]
        want = m.activate(logits, m.device_log_scale[node_dev])
    torch.testing.assert_close(got, want)


def _kernel_graph(spec, channels: int = 8):
    """A chain of ``(op, kernel, group)`` nodes (kernel 0: no kernel attribute)."""
    from predictor.graph.ir import Graph, Node, TensorInfo

    nodes = []
    for i, (op, k, group) in enumerate(spec):
        attrs = {"kernel_shape": [k, k], "strides": [1, 1], "group": group} if k else {}
        shape = [1, channels, 8, 8]
        nodes.append(Node(f"n{i}", op, source_op=op, attrs=attrs, inputs=[TensorInfo(f"t{i}", shape)],
                          outputs=[TensorInfo(f"t{i + 1}", shape)], macs=100 * (k or 1), flops=200 * (k or 1),
                          params=10, bytes_read=256, bytes_written=256))
    g = Graph(nodes=nodes, name="kernels")
    g.connect_by_tensor_names()
    return g


def test_kernel_kinds_give_each_convolution_kernel_its_own_scale():
    from predictor.features import KERNEL_KIND_COLUMNS, N_OP_COLS, op_column
    from predictor.models.perf_sage import KIND_WIDTH

    # conv 1/3/7, dwconv 3/7, an ONNX-style depthwise conv (op conv, group = channels) 5x5, relu, conv 11x11
    spec = [("conv", 1, 1), ("conv", 3, 1), ("conv", 7, 1), ("dwconv", 3, 8), ("dwconv", 7, 8), ("conv", 5, 8),
            ("relu", 0, 1), ("conv", 11, 1)]
    d = featurize(_kernel_graph(spec))
    m = _model(contribution="exp", op_columns=N_OP_COLS, kernel_kinds=list(KERNEL_KIND_COLUMNS))
    assert m.scale_width == N_OP_COLS + KIND_WIDTH and m.device_op_scale.shape == (4, 3, N_OP_COLS + KIND_WIDTH)
    kinds = m.node_ops(d.x).tolist()
    # conv kinds 0..4 (k = 1, 3, 5, 7, other), depthwise 5..9; other ops keep their op column
    assert kinds == [N_OP_COLS + j for j in (0, 1, 3, 6, 8, 7)] + [op_column("relu"), N_OP_COLS + 4]
    one_hot = (d.op_col, N_OP_COLS)
    assert m.node_ops(d.x, one_hot).tolist() == kinds
    # a scale on device 1's depthwise 7x7 kind changes that node's cost on that device only
    b = Batch.from_data_list([d], exclude_keys=["node_names"])
    dev = torch.tensor([[0, 1]])
    with torch.no_grad():
        _, before = m(b.x, b.edge_index, b.batch, dev, b.graph_attr)
        m.device_op_scale[1, 0, N_OP_COLS + 8] = math.log(20.0)
        _, after = m(b.x, b.edge_index, b.batch, dev, b.graph_attr)
    ratio = after[:, :, 0] / before[:, :, 0]
    torch.testing.assert_close(ratio[:, 0], torch.ones(len(spec)))
    expect = torch.ones(len(spec))
    expect[4] = 20.0
    torch.testing.assert_close(ratio[:, 1], expect)
    # the config carries the kinds: a clone predicts alike
    clone = PerfSAGE(**m.config())
    clone.load_state_dict(m.state_dict())
    assert clone.kernel_kinds == list(KERNEL_KIND_COLUMNS)
    torch.testing.assert_close(clone(b.x, b.edge_index, b.batch, dev, b.graph_attr)[0],
                               m(b.x, b.edge_index, b.batch, dev, b.graph_attr)[0])


def test_kernel_kinds_are_checked():
    import pytest

    from predictor.features import KERNEL_KIND_COLUMNS, N_OP_COLS

    with pytest.raises(ValueError, match="kernel_kinds"):
        _model(op_columns=N_OP_COLS, kernel_kinds=[1, 2])
    m = _model(op_columns=N_OP_COLS)
    m.add_op_scales(N_OP_COLS)  # idempotent
    with pytest.raises(ValueError, match="op scales exist"):
        m.add_op_scales(N_OP_COLS, KERNEL_KIND_COLUMNS)
