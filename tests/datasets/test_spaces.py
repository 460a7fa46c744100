import json

import pytest

from datasets import spaces
from datasets.netlist import NetlistError
from datasets.spaces import fbnet, nb201
from tests.datasets import tiny

N = 30


@pytest.mark.parametrize("space", spaces.CORPUS_SPACES + ("fbnet",))
def test_sampler_is_deterministic_per_seed_and_index(space):
    a = spaces.sample_spec(space, 7, 3)
    assert a == spaces.sample_spec(space, 7, 3)
    assert a["space"] == space
    assert json.loads(json.dumps(a)) == a  # JSON-able
    others = [spaces.sample_spec(space, 7, i) for i in range(4, 10)] + [spaces.sample_spec(space, 8, 3)]
    assert any(o != a for o in others)


@pytest.mark.parametrize("space", spaces.CORPUS_SPACES)
def test_samples_stay_within_the_macs_budget(space):
    lo, hi = spaces.get(space).MACS_RANGE
    for i in range(N):
        macs = spaces.netlist(spaces.sample_spec(space, 0, i)).macs()
        assert lo <= macs <= hi


def _collect(space, fn):
    return {v for i in range(N * 2) for v in fn(spaces.sample_spec(space, 1, i))}


def test_mobilenet_covers_kernels_expansions_families_resolutions():
    blocks = lambda s: [(b["k"], b["e"]) for st in s["stages"][1:] for b in st["blocks"]]  # noqa: E731
    assert {k for k, _ in _collect("mobilenet", blocks)} == {3, 5, 7}
    assert {e for _, e in _collect("mobilenet", blocks)} == {3, 4, 6}
    assert _collect("mobilenet", lambda s: [s["family"]]) == {"v2", "v3", "ofa"}
    res = _collect("mobilenet", lambda s: [s["resolution"]])
    assert min(res) >= 128 and max(res) <= 256 and len(res) >= 5
    assert _collect("mobilenet", lambda s: [st["se"] for st in s["stages"]]) == {True, False}
    assert "hswish" in _collect("mobilenet", lambda s: [st["act"] for st in s["stages"]])


def test_mbsmall_samples_the_small_end_that_mobilenet_leaves_thin():
    macs = [spaces.netlist(spaces.sample_spec("mbsmall", 1, i)).macs() for i in range(N * 2)]
    big = [spaces.netlist(spaces.sample_spec("mobilenet", 1, i)).macs() for i in range(N * 2)]
    assert sorted(macs)[N] < 0.25 * sorted(big)[N]  # medians: a different range, not a copy
    assert _collect("mbsmall", lambda s: [s["family"]]) == {"v2", "v3"}
    res = _collect("mbsmall", lambda s: [s["resolution"]])
    assert min(res) < 128 and max(res) <= 224
    v3 = [s for s in (spaces.sample_spec("mbsmall", 1, i) for i in range(N * 2)) if s["family"] == "v3"]
    assert {st["se"] for s in v3 for st in s["stages"]} == {True, False}
    assert {len(st["blocks"]) for s in v3 for st in s["stages"]} == {1, 2, 3}
    # its specs are mobilenet specs: the same layers (a v3 spec read as either space is one network)
    spec = v3[0]
    assert spaces.netlist(spec).macs() == spaces.netlist({**spec, "space": "mobilenet"}).macs()


def test_resnet_covers_block_kinds_and_groups():
    fams = _collect("resnet", lambda s: [s["family"]])
    assert fams == set(spaces.resnet.FAMILIES)
    assert max(_collect("resnet", lambda s: [st["g"] for st in s["stages"]])) > 1
    assert _collect("resnet", lambda s: [st["block"] for st in s["stages"]]) == {"basic", "bottleneck"}


def test_nb201_zero_ops_run_every_none_edge_as_its_reference_implementation_does():
    arch = "|none~0|+|none~0|skip_connect~1|+|nor_conv_3x3~0|none~1|none~2|"
    spec = {"space": "nb201", "arch": arch, "C": 8, "N": 2, "resolution": 16, "classes": 10}

    def count(s, op):
        return sum(layer["op"] == op for layer in nb201.netlist(s).layers)

    # 4 none edges per cell, 6 cells; without zero_ops none (node 1's zero map feeds only node 2,
    # which the cell's output does not use: pruned)
    assert count(spec | {"zero_ops": True}, "zero") == 4 * 6
    assert count(spec, "zero") == 0
    assert count(spec | {"zero_ops": True}, "conv") == count(spec, "conv")


def test_nb201_samples_all_ops_and_parse_back():
    ops = _collect("nb201", lambda s: [op for node in nb201.parse_arch(s["arch"]) for op, _ in node])
    assert ops == set(nb201.OPS)
    ops6 = ["nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none"]
    assert [op for node in nb201.parse_arch(nb201.arch_string(ops6)) for op, _ in node] == ops6


def test_vit_sequence_length_and_heads_vary():
    seq = _collect("vit", lambda s: [(s["image"] // s["patch"]) ** 2])
    assert len(seq) >= 5
    assert len(_collect("vit", lambda s: [s["heads"]])) >= 3
    for i in range(N):
        s = spaces.sample_spec("vit", 2, i)
        assert s["image"] % s["patch"] == 0 and s["dim"] % s["heads"] == 0


def test_dethead_covers_all_heads_and_backbones():
    assert _collect("dethead", lambda s: [s["head"]["type"]]) == {"ssdlite", "fpn_det", "fpn_seg", "lraspp"}
    assert _collect("dethead", lambda s: [s["backbone"]["kind"]]) == {"mbv3", "resnet"}


def test_fbnet_has_22_blocks_from_the_help_vocabulary():
    s = spaces.sample_spec("fbnet", 0, 0)
    assert len(s["blocks"]) == 22 and set(s["blocks"]) <= set(fbnet.BLOCKS)
    assert spaces.netlist(tiny.FBNET).output_shape == ("vec", 100)


@pytest.mark.parametrize("bad", [
    {"space": "nb201", "arch": "|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|"},
    {"space": "nb201", "arch": "garbage"},
    {"space": "fbnet", "blocks": ["k9_e9"] * 22},
    {"space": "fbnet", "blocks": ["skip"] * 3},
    {"space": "vit", "image": 30, "patch": 8, "dim": 32, "depth": 1, "heads": 2, "mlp_ratio": 2, "classes": 10},
    {"space": "vit", "image": 32, "patch": 8, "dim": 30, "depth": 1, "heads": 4, "mlp_ratio": 2, "classes": 10},
    {"space": "nope"},
    {"space": "mobilenet"},
    "not a dict",
])
def test_bad_specs_raise_one_typed_error(bad):
    with pytest.raises(NetlistError):
        spaces.netlist(bad)


def test_mixed_covers_every_family():
    assert _collect("mixed", lambda s: [s["family"]]) == set(spaces.mixed.FAMILIES)


def test_dwsep_is_depthwise_then_pointwise_with_no_residual_at_every_width_and_kernel():
    assert _collect("dwsep", lambda s: [st["k"] for st in s["stages"]]) == {3, 5}
    assert _collect("dwsep", lambda s: [s["act"]]) == {"relu", "relu6", "hswish"}
    assert len(_collect("dwsep", lambda s: [s["width"]])) >= 5
    assert _collect("dwsep", lambda s: [s["head"] is None]) == {True, False}
    spec = spaces.sample_spec("dwsep", 1, 0)
    layers = spaces.netlist(spec).layers
    convs = [la for la in layers if la["op"] == "conv"]
    blocks = sum(st["depth"] for st in spec["stages"])
    depthwise = [la for la in convs if la["g"] > 1]
    assert len(depthwise) == blocks  # one depthwise conv per block, each followed by its 1x1 pointwise conv
    assert all(la["g"] == la["cout"] for la in depthwise)
    assert not any(la["op"] == "add" for la in layers)


def test_convnext_runs_layernorm_and_dense_layers_on_whole_feature_maps():
    assert _collect("convnext", lambda s: [s["kernel"]]) == {3, 5, 7}
    assert _collect("convnext", lambda s: [len(s["stages"])]) == {3, 4}
    assert _collect("convnext", lambda s: [s["layer_scale"]]) == {True, False}
    spec = {**spaces.sample_spec("convnext", 1, 0), "layer_scale": True}
    net = spaces.netlist(spec)
    blocks = sum(st["depth"] for st in spec["stages"])
    on_maps = [(la["op"], net.shapes[i]) for i, la in enumerate(net.layers) if net.shapes[i][0] == "chw"]
    assert sum(op == "linear" for op, _ in on_maps) == 2 * blocks  # the MLP's two dense layers, per position
    assert sum(op == "layernorm" for op, _ in on_maps) == 1 + blocks + len(spec["stages"]) - 1  # stem, blocks, downs
    assert sum(op == "layerscale" for op, _ in on_maps) == blocks
    assert sum(la["op"] == "add" for la in net.layers) == blocks  # one residual per block
    first = next(i for i, la in enumerate(net.layers) if la["op"] == "linear")
    _, c, h, w = net.shapes[net.layers[first]["in"][0]]
    assert net.layers[first]["cout"] == c * spec["ratio"]
    from datasets.netlist import layer_macs

    assert layer_macs(net.layers[first], net.shapes, first) == h * w * c * c * spec["ratio"]
