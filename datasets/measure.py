"""Build, parse and measure sampled architectures into the corpus (resumable).

Architectures are visited round-robin over the spaces (index 0 of every space, then index 1,
...) so each space grows evenly; ids already in the corpus (or its pending journals) are
skipped. Model files live in the ignored cache directory and are deleted once measured
unless ``keep_models`` is set.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import corpus, spaces

log = logging.getLogger(__name__)

VARIANTS = {"onnxruntime": ("fp32",), "litert": ("fp32", "int8")}
FORMATS = {"onnxruntime": "onnx", "litert": "tflite"}

#: The drift reference: fixed architectures measured in every group, in the same interleaved
#: rounds as the group's models. A shared cloud host's speed drifts by tens of percent over
#: hours (on the Intel VM the corpus's hourly factor went 0.90 -> 1.11 in a day, alike in all
#: spaces, and the zoo re-measured 5 h later was ~30% slower: bench/drift.py), which no statistic
#: within a group can see; each record keeps the
#: reference's labels of its group (``measurement["drift_reference"]``) so labels taken at
#: different times can be put on one scale.
REFERENCE_SEED = 7_700_001
REFERENCE_SET = f"s{REFERENCE_SEED}-v1"
REFERENCES = {"onnxruntime": (("nb201", 4), ("mobilenet", 2), ("resnet", 3)),
              "litert": (("mobilenet", 2), ("resnet", 3))}


class MeasureRunError(RuntimeError):
    """The run cannot start (unknown runtime, space, or variant)."""


def build_model(spec: dict[str, Any], fmt: str, variant: str, seed: int = 0) -> bytes:
    """Model bytes of a spec: ONNX (fp32) or TFLite (fp32 / int8). A zoo spec (``{"space": "zoo",
    "name", "resolution"}``, a real network) is ``datasets.zoo``'s torch definition to ONNX fp32, or
    with ``"source": "keras"`` ``datasets.zoo_keras``'s Keras one to TFLite fp32 or int8."""
    if spec.get("space") == "zoo":
        from datasets import zoo, zoo_keras

        keras_spec = spec.get("source") == zoo_keras.SOURCE
        want = "tflite" if keras_spec else "onnx"
        if fmt != want or variant not in (("fp32", "int8") if keras_spec else ("fp32",)):
            built = "of keras.applications is built as TFLite fp32 or int8" if keras_spec else "is built as ONNX fp32 only"
            raise MeasureRunError(f"{spec.get('name')}: a zoo network {built}, not {fmt} {variant}")
        res = int(spec["resolution"])
        if keras_spec:
            return zoo_keras.export_tflite(spec["name"], res, int8=variant == "int8")
        return zoo.export_onnx(spec["name"], (1, 3, res, res))
    if fmt == "onnx":
        if variant != "fp32":
            raise MeasureRunError("ONNX models are built in fp32 only")
        from datasets import build_torch

        return build_torch.to_onnx(spec, seed)
    from datasets import build_keras

    return build_keras.to_tflite(spec, int8=variant == "int8", seed=seed)


def plan(space_names: list[str], seed: int, count: int, worker: tuple[int, int] = (0, 1)) -> Iterator[tuple[str, int]]:
    """(space, index) round-robin: index 0 of every space, then index 1, ...; worker slot
    ``(k, n)`` takes the indices ``i`` with ``i % n == k``."""
    k, n = worker
    for index in range(k, count, n):
        for sp in space_names:
            yield sp, index


def parse_worker(text: str) -> tuple[int, int]:
    """``"K/N"`` (worker K of N, counted from 0) -> (K, N)."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise MeasureRunError(f"--worker {text!r}: expected K/N, e.g. 0/2 and 1/2 for two workers") from None
    return check_worker((k, n))


def check_worker(worker: tuple[int, int]) -> tuple[int, int]:
    """``worker`` if it is a valid slot ``(k, n)``, else MeasureRunError."""
    k, n = worker
    if not (n >= 1 and 0 <= k < n):
        raise MeasureRunError(f"worker {k}/{n}: need N >= 1 and 0 <= K < N")
    return k, n


@dataclass
class Prepared:
    space: str
    index: int
    variant: str
    spec: dict[str, Any]
    path: Path
    summary: dict[str, Any]
    ir: dict[str, Any]


@dataclass
class Progress:
    target: int
    done_before: int
    started: float = field(default_factory=time.monotonic)
    new: int = 0
    failed: int = 0

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.new / elapsed if elapsed > 0 else 0.0
        left = max(0, self.target - self.done_before - self.new)
        eta = left / rate if rate > 0 else float("inf")
        eta_s = f"{eta / 3600:.1f} h" if eta != float("inf") else "?"
        return (f"[measure] {self.done_before + self.new}/{self.target} done ({self.new} new, {self.failed} failed) "
                f"{rate * 60:.1f} models/min, ETA {eta_s}")


def prepare(space: str, index: int, seed: int, variant: str, fmt: str, model_dir: Path) -> Prepared:
    from predictor.frontends import load_model

    spec = spaces.sample_spec(space, seed, index)
    data = build_model(spec, fmt, variant)
    aid = spaces.arch_id(space, seed, index)
    path = model_dir / space / f"{aid}.{variant}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    graph = load_model(data, filename=path.name)
    return Prepared(space, index, variant, spec, path, graph.summary(), corpus.compact_ir(graph.to_dict()))


def _rounded(v: Any) -> Any:
    """Timings to 0.1 microsecond (far below timer noise) to keep shards small."""
    if isinstance(v, float):
        return round(v, 4)
    if isinstance(v, list):
        return [_rounded(x) for x in v]
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    return v


def make_record(p: Prepared, seed: int, fmt: str, device_key: str, result: dict[str, Any]) -> dict[str, Any]:
    measurement = {k: _rounded(v) for k, v in result.items() if k not in ("path", "protocol")}
    return {"arch_id": spaces.arch_id(p.space, seed, p.index), "space": p.space, "seed": seed, "index": p.index,
            "variant": p.variant, "format": fmt, "device_key": device_key, "spec": p.spec,
            "summary": p.summary, "ir": p.ir, "measurement": measurement}


def run(
    runtime: str = "onnxruntime",
    threads: int = 1,
    space_names: list[str] | None = None,
    seed: int = 0,
    count: int = 2000,
    limit: int | None = None,
    variants: tuple[str, ...] | None = None,
    group_size: int = 32,
    memory: bool = True,
    root: Path = corpus.CORPUS_DIR,
    cache: Path = corpus.CACHE_DIR,
    keep_models: bool = False,
    progress_stream: Any = sys.stderr,
    worker: tuple[int, int] = (0, 1),
) -> dict[str, int]:
    """Measure up to ``count`` architectures per space (``limit`` new ones in this call).

    ``worker=(k, n)`` with n > 1 measures only every n-th index (from k) with journals of its
    own, so n processes, each pinned to its own core, share one device's corpus. A plain run
    (n = 1) excludes all worker runs of the device and first seals journals they left."""
    from agent import environment, protocol

    if runtime not in FORMATS:
        raise MeasureRunError(f"unknown runtime {runtime!r}; use one of {', '.join(FORMATS)}")
    names = list(space_names or spaces.CORPUS_SPACES)
    for sp in names:
        spaces.get(sp)
    variants = tuple(variants or VARIANTS[runtime])
    if runtime == "onnxruntime" and variants != ("fp32",):
        raise MeasureRunError("onnxruntime measures fp32 ONNX models only")
    fmt = FORMATS[runtime]
    device = environment.describe(runtime, threads)
    k, n = check_worker(worker)
    pending = cache / "pending"
    key = device["device_key"]
    with contextlib.ExitStack() as locks:
        locks.enter_context(corpus.run_lock(pending / f"{key}.lock", shared=n > 1))
        if n > 1:
            locks.enter_context(corpus.run_lock(pending / f"{key}.w{k}of{n}.lock"))
        else:
            _seal_orphan_journals(root, pending / key)
        return _run_locked(device, names, seed, count, limit, variants, group_size, memory, root, cache,
                           keep_models, progress_stream, fmt, runtime, threads, protocol, worker)


def journal_name(space: str, worker: tuple[int, int]) -> str:
    k, n = worker
    return f"{space}.jsonl" if n == 1 else f"{space}.w{k}of{n}.jsonl"


def _seal_orphan_journals(root: Path, pending_dir: Path) -> None:
    """Seal the journals that worker runs of this device left (killed without closing)."""
    for path in sorted(pending_dir.glob("*.w*of*.jsonl")):
        corpus.ShardWriter(root / pending_dir.name / corpus.journal_space(path), path).close()


def reference_models(runtime: str, variants: tuple[str, ...], model_dir: Path) -> list[tuple[str, Path]]:
    """(name, path) of the drift reference models of ``runtime``, built once into ``model_dir``."""
    fmt = FORMATS[runtime]
    out = []
    for space, index in REFERENCES[runtime]:
        spec = spaces.sample_spec(space, REFERENCE_SEED, index)
        for variant in variants:
            name = f"{space}-{index}-{variant}"
            path = model_dir / "reference" / REFERENCE_SET / f"{name}.{fmt}"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                # a name of its own: worker runs (--worker K/N) start together and build the same models
                # (session 24: a shared ".tmp" renamed by one worker crashed the other)
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
                with os.fdopen(fd, "wb") as f:
                    f.write(build_model(spec, fmt, variant))
                os.replace(tmp, path)
            out.append((name, path))
    return out


def reference_label(result: dict[str, Any]) -> float | None:
    """A drift reference model's label in one protocol result (None if it failed)."""
    return None if "error" in result else corpus.latency_label_ms(result)


def _run_locked(device, names, seed, count, limit, variants, group_size, memory, root, cache, keep_models,
                progress_stream, fmt, runtime, threads, protocol, worker=(0, 1)) -> dict[str, int]:
    key = device["device_key"]
    refs = reference_models(runtime, variants, cache / "models")
    corpus.write_device(root, device)
    writers = {sp: corpus.ShardWriter(root / key / sp, cache / "pending" / key / journal_name(sp, worker))
               for sp in names}
    done = corpus.done_keys(r for sp in names for r in corpus.iter_records(key, sp, root=root, include_help=False))
    done |= corpus.done_keys(r for w in writers.values() for r in w.buffer)
    mine = [(sp, i, v) for sp, i in plan(names, seed, count, worker) for v in variants]
    todo = [(sp, i, v) for sp, i, v in mine if (spaces.arch_id(sp, seed, i), v) not in done]
    prog = Progress(target=len(mine), done_before=len(mine) - len(todo))
    if limit is not None:
        todo = todo[:limit]
    stop = corpus.StopFlag()
    try:
        for start in range(0, len(todo), group_size):
            if stop.requested:
                break
            _measure_group(todo[start:start + group_size], seed, fmt, runtime, threads, key, memory,
                           cache / "models", keep_models, writers, prog, protocol, refs)
            if progress_stream is not None:
                print(prog.line(), file=progress_stream, flush=True)
    finally:
        stop.restore()
        for w in writers.values():
            w.close()
    return {"new": prog.new, "failed": prog.failed, "done": prog.done_before + prog.new}


def _measure_group(group, seed, fmt, runtime, threads, key, memory, model_dir, keep, writers, prog, protocol,
                   refs=()):
    prepared: list[Prepared] = []
    for sp, i, v in group:
        try:
            prepared.append(prepare(sp, i, seed, v, fmt, model_dir))
        except Exception as exc:  # noqa: BLE001 - any build/parse failure is logged with its arch and counted
            prog.failed += 1
            log.error("measure.prepare_failed %s/%d/%s: %s", sp, i, v, f"{type(exc).__name__}: {exc}"[:500],
                      extra={"space": sp, "index": i, "variant": v})
    if not prepared:
        return
    paths = [str(p.path) for p in prepared] + [str(path) for _, path in refs]
    results = protocol.measure_many(paths, runtime, threads, group_size=len(paths),
                                    memory=[memory] * len(prepared) + [False] * len(refs))
    results, ref_results = results[:len(prepared)], results[len(prepared):]
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())  # when the group ended (UTC; see datasets.drift)
    reference = None
    if refs:
        reference = {"set": REFERENCE_SET, "labels_ms": {
            name: reference_label(r) for (name, _), r in zip(refs, ref_results, strict=True)}}
    for p, res in zip(prepared, results, strict=True):
        if not keep:
            p.path.unlink(missing_ok=True)
        if "error" in res:
            prog.failed += 1
            log.error("measure.run_failed %s: %s", p.path.name, str(res["error"])[:500], extra={"path": str(p.path)})
            continue
        res["measured_at"] = stamp
        if reference is not None:
            res["drift_reference"] = reference
        writers[p.space].add(make_record(p, seed, fmt, key, res))
        prog.new += 1
