import gzip
import json

import pytest

from datasets import build_torch, corpus, measure, spaces
from predictor.frontends import load_model
from predictor.graph.ir import Graph
from tests.datasets import tiny


def _rec(i, space="nb201", variant="fp32"):
    return {"arch_id": f"{space}-s0-{i:06d}", "space": space, "variant": variant, "device_key": "dev",
            "summary": {"macs": 1000 * (i + 1)}, "measurement": {"median_ms": 0.5 + i, "runtime": "onnxruntime"}}


def test_writer_seals_shards_of_fixed_size_and_round_trips(tmp_path):
    w = corpus.ShardWriter(tmp_path / "corpus" / "dev" / "nb201", tmp_path / "pending.jsonl", shard_size=3)
    for i in range(7):
        w.add(_rec(i))
    assert len(list((tmp_path / "corpus" / "dev" / "nb201").glob("*.jsonl.gz"))) == 2
    w.close()
    shards = sorted((tmp_path / "corpus" / "dev" / "nb201").glob("*.jsonl.gz"))
    assert [sum(1 for _ in gzip.open(p)) for p in shards] == [3, 3, 1]
    got = list(corpus.iter_records(root=tmp_path / "corpus", include_help=False))
    assert sorted(r["arch_id"] for r in got) == [f"nb201-s0-{i:06d}" for i in range(7)]
    assert not (tmp_path / "pending.jsonl").exists()


def test_killed_writer_loses_nothing(tmp_path):
    journal = tmp_path / "pending.jsonl"
    w = corpus.ShardWriter(tmp_path / "c" / "dev" / "vit", journal, shard_size=100)
    for i in range(4):
        w.add(_rec(i, "vit"))
    w._fh.close()  # the process dies here: no close(), no shard
    with open(journal, "a") as f:
        f.write('{"arch_id": "cut sho')  # a torn last line
    assert list(corpus.iter_records(root=tmp_path / "c", include_help=False)) == []
    w2 = corpus.ShardWriter(tmp_path / "c" / "dev" / "vit", journal, shard_size=100)
    assert len(w2.buffer) == 4
    w2.close()
    assert len(list(corpus.iter_records(root=tmp_path / "c", include_help=False))) == 4


def test_iter_records_filters_by_device_and_space(tmp_path):
    for dev in ("a", "b"):
        for sp in ("nb201", "vit"):
            corpus.write_shard(tmp_path / dev / sp, [_rec(0, sp) | {"device_key": dev}])
    recs = list(corpus.iter_records("a", "vit", root=tmp_path, include_help=False))
    assert [(r["device_key"], r["space"]) for r in recs] == [("a", "vit")]
    assert len(list(corpus.iter_records(root=tmp_path, include_help=False))) == 4


@pytest.mark.parametrize("seal_at", ["before_listing", "before_snapshot", "after_snapshot", "after_listing", "close"])
def test_reading_pending_records_while_a_run_seals_misses_and_repeats_nothing(tmp_path, monkeypatch, seal_at):
    """A running measurement seals its journal into a shard at any moment of a reader's pass."""
    root, cache = tmp_path / "corpus", tmp_path / "cache"
    w = corpus.ShardWriter(root / "dev" / "nb201", cache / "pending" / "dev" / "nb201.jsonl", shard_size=100)
    for i in range(3):
        w.add(_rec(i))
    w.seal()
    for i in range(3, 7):
        w.add(_rec(i))
    act = (lambda: w.close()) if seal_at == "close" else (lambda: w.seal())
    real_snapshot, real_listing = corpus._pending_snapshot, corpus.shard_paths
    calls = {"listing": 0}

    def snapshot(*a):
        if seal_at in ("before_snapshot", "close"):
            act()
        out = real_snapshot(*a)
        if seal_at == "after_snapshot":
            act()
        return out

    def listing(*a):
        calls["listing"] += 1
        if seal_at == "before_listing" and calls["listing"] == 1:
            act()
        out = real_listing(*a)
        if seal_at == "after_listing" and calls["listing"] == 2:
            act()
        return out

    monkeypatch.setattr(corpus, "_pending_snapshot", snapshot)
    monkeypatch.setattr(corpus, "shard_paths", listing)
    got = [r["arch_id"] for r in corpus.iter_records(root=root, include_help=False, include_pending=True,
                                                         cache=cache)]
    assert sorted(got) == [f"nb201-s0-{i:06d}" for i in range(7)]


def test_compact_ir_is_small_and_still_a_valid_ir_document():
    g = load_model(build_torch.to_onnx(tiny.MOBILENET), filename="m.onnx")
    full, small = g.to_dict(), corpus.compact_ir(g.to_dict())
    assert len(json.dumps(small)) < len(json.dumps(full))
    g2 = Graph.from_dict(json.loads(json.dumps(small)))
    s1, s2 = g.summary(), g2.summary()
    for key in ("nodes", "edges", "macs", "flops", "params", "op_histogram", "unresolved_tensors"):
        assert s1[key] == s2[key]


def test_measure_run_resumes_without_repeating(tmp_path):
    root, cache = tmp_path / "corpus", tmp_path / "cache"
    kw = dict(space_names=["nb201"], seed=5, count=3, memory=False, root=root, cache=cache, progress_stream=None)
    first = measure.run("onnxruntime", 1, limit=2, **(kw | {"memory": True}))
    assert first == {"new": 2, "failed": 0, "done": 2}
    second = measure.run("onnxruntime", 1, **kw)
    assert second["new"] == 1 and second["done"] == 3
    recs = list(corpus.iter_records(root=root, include_help=False))
    assert sorted(r["index"] for r in recs) == [0, 1, 2]
    r = recs[0]
    assert r["spec"] == spaces.sample_spec("nb201", 5, r["index"])
    m = r["measurement"]
    assert len(m["samples_ms"]) >= 10 and m["median_ms"] > 0 and m["runtime"] == "onnxruntime"
    assert Graph.from_dict(r["ir"]).summary()["macs"] == r["summary"]["macs"]
    assert (root / r["device_key"] / "device.json").exists()
    # the drift reference: measured with every group, its labels kept in each record of the group
    refs = measure.reference_models("onnxruntime", ("fp32",), cache / "models")
    for r in recs:
        ref = r["measurement"]["drift_reference"]
        assert ref["set"] == measure.REFERENCE_SET
        assert sorted(ref["labels_ms"]) == sorted(name for name, _ in refs)
        assert all(v > 0 for v in ref["labels_ms"].values())
        assert len(r["measurement"]["measured_at"]) == 15  # YYYYmmddTHHMMSS, UTC
    first_run = [r for r in recs if r["index"] < 2]
    assert all(r["measurement"]["peak_memory_mb"] > 0 for r in first_run)  # memory of the models, not of the refs
    assert first_run[0]["measurement"]["drift_reference"] == first_run[1]["measurement"]["drift_reference"]
    # model files are not kept; the reference models are, for the next group and run
    assert sorted((cache / "models").rglob("*.onnx")) == sorted(path for _, path in refs)


def test_a_second_run_on_the_same_journals_is_refused(tmp_path):
    from agent import environment

    key = environment.describe("onnxruntime", 1)["device_key"]
    cache = tmp_path / "cache"
    with corpus.run_lock(cache / "pending" / f"{key}.lock"):
        with pytest.raises(corpus.CorpusError):
            measure.run("onnxruntime", 1, ["nb201"], count=1, root=tmp_path / "c", cache=cache, progress_stream=None)
    assert list((tmp_path).rglob("*.jsonl.gz")) == []


def test_latency_label_uses_thread_cpu_time_of_single_threaded_cpu_runs():
    # Every run preempted (wall 2-3x the CPU time): the label follows the CPU time.
    m = {"threads": 1, "delegate": "CPUExecutionProvider", "median_ms": 15.0,
         "samples_ms": [14.0, 18.0, 20.0, 13.0, 19.0, 22.0],
         "cpu_ms": [6.0, 6.2, 6.1, 6.4, 6.3, 6.5], "sessions_of_samples": [0, 0, 0, 1, 1, 1]}
    assert corpus.latency_label_ms(m) == pytest.approx((6.05 + 6.35) / 2)
    # Several threads or an accelerator: the protocol's median stays the label.
    assert corpus.latency_label_ms({**m, "threads": 4}) == 15.0
    assert corpus.latency_label_ms({**m, "delegate": "CUDAExecutionProvider"}) == 15.0
    # One CPU thread without CPU times: wall time can't be told from preemption, no label,
    # and the architecture is not done (measured again; the newer record is read)
    assert corpus.latency_label_ms({**m, "cpu_ms": None}) is None
    rec = {"arch_id": "a1", "variant": "fp32", "measurement": m}
    old = {"arch_id": "a2", "variant": "fp32", "measurement": {**m, "cpu_ms": None}}
    assert corpus.done_keys([rec, old]) == {("a1", "fp32")}


def test_worker_slots_split_the_plan_and_lock_apart(tmp_path):
    from agent import environment

    assert [i for _, i in measure.plan(["nb201"], 0, 7, (1, 3))] == [1, 4]
    for bad in ("2/2", "x", "1/0"):
        with pytest.raises(measure.MeasureRunError):
            measure.parse_worker(bad)
    key = environment.describe("onnxruntime", 1)["device_key"]
    root, cache = tmp_path / "c", tmp_path / "cache"
    kw = dict(space_names=["nb201"], seed=5, count=4, memory=False, root=root, cache=cache, progress_stream=None)
    # worker 1/2 runs beside a running worker 0/2 (shared device lock, its own slot lock) ...
    with corpus.run_lock(cache / "pending" / f"{key}.lock", shared=True), \
            corpus.run_lock(cache / "pending" / f"{key}.w0of2.lock"):
        out = measure.run("onnxruntime", 1, worker=(1, 2), **kw)
        assert out == {"new": 2, "failed": 0, "done": 2}
        with pytest.raises(corpus.CorpusError):  # ... a second 0/2 or a plain run does not
            measure.run("onnxruntime", 1, worker=(0, 2), **kw)
        with pytest.raises(corpus.CorpusError):
            measure.run("onnxruntime", 1, **kw)
    assert sorted(r["index"] for r in corpus.iter_records(root=root, include_help=False)) == [1, 3]


def test_a_plain_run_seals_what_a_killed_worker_left_in_its_journal(tmp_path):
    from agent import environment

    key = environment.describe("onnxruntime", 1)["device_key"]
    root, cache = tmp_path / "c", tmp_path / "cache"
    journal = cache / "pending" / key / "nb201.w1of2.jsonl"
    w = corpus.ShardWriter(root / key / "nb201", journal)
    w.add(_rec(0) | {"device_key": key, "measurement": {"median_ms": 1.0}})
    w._fh.close()  # killed: the record is only in the worker's journal
    pending = list(corpus.iter_records(key, root=root, include_help=False, include_pending=True, cache=cache))
    assert [(r["space"], r["arch_id"]) for r in pending] == [("nb201", "nb201-s0-000000")]
    measure.run("onnxruntime", 1, ["nb201"], count=0, root=root, cache=cache, progress_stream=None)
    assert not journal.exists()
    assert [r["arch_id"] for r in corpus.iter_records(key, root=root, include_help=False)] == ["nb201-s0-000000"]


def test_worker_runs_starting_together_build_the_reference_models_without_a_race(tmp_path):
    """Session 24: two ``--worker K/2`` runs started at once built the same drift reference model
    through one shared ``.tmp`` name; the first rename left the second without its file, and that
    worker died. Four processes build into one empty directory at once: each gets every model (the old
    code failed about every second run of this test)."""
    import subprocess
    import sys
    from pathlib import Path

    import onnx

    code = ("import sys; from pathlib import Path; from datasets import measure; "
            "print(len(measure.reference_models('onnxruntime', ('fp32',), Path(sys.argv[1]))))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "models")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
             for _ in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-2000:] for _, err in outs]
    n = len(measure.REFERENCES["onnxruntime"])
    assert [out.strip() for out, _ in outs] == [str(n)] * 4
    built = sorted((tmp_path / "models").rglob("*"))
    models = [p for p in built if p.is_file()]
    assert len(models) == n and all(p.suffix == ".onnx" for p in models)  # no temporary file left behind
    for p in models:
        onnx.checker.check_model(onnx.load(str(p)))
