"""Export the zoo's real architectures, measure them with the agent protocol and write corpus
records of space ``"zoo"`` (resumable): for onnxruntime :mod:`datasets.zoo`'s torch definitions
exported to ONNX, for LiteRT :mod:`datasets.zoo_keras`'s ``keras.applications`` converted to TFLite.

Records go to ``<root>/<device_key>/zoo/`` through the same journal + shard writer as the
sampled spaces, in the same format: ``arch_id`` = ``zoo-<name>-<resolution>``, ``spec`` =
``{"space": "zoo", "name", "resolution"}`` (plus ``"source": "keras"`` for LiteRT), ``index`` = the
entry's position in the runtime's ``ENTRIES``. They are the test set of the "real architectures"
accuracy scenario (``bench/accuracy.py --scenarios zoo``) and never part of a search space.

The run takes its own lock (``<device_key>.zoo.lock``), so it may run beside a corpus run of
the same device.

Passes: these few models are the test labels, so each group is measured ``passes`` times
(default 3), each pass a separate ``measure_many`` call with freshly loaded sessions, and the
record keeps the pass with the lowest latency label (:func:`datasets.corpus.latency_label_ms`,
what training and evaluation read; contention only ever adds time: on a shared core one pass
of a small model was seen 40% slow while the protocol flagged it ``contended``).
``passes_label_ms`` and ``passes_median_ms`` list every pass; ``peak_memory_mb`` is the median
of the passes' peaks (``passes_peak_memory_mb``), which vary both ways between runs.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import corpus, zoo
from datasets.measure import _rounded

log = logging.getLogger(__name__)

SPACE = "zoo"
FORMATS = {"onnxruntime": "onnx", "litert": "tflite"}
RUNTIMES = tuple(FORMATS)


class ZooRunError(RuntimeError):
    """The run cannot start (unsupported runtime, unknown name)."""


def catalog(runtime: str) -> Any:
    """The zoo a runtime's networks come from (:func:`datasets.zoo.catalog` of its model format)."""
    if runtime not in RUNTIMES:
        raise ZooRunError(f"no zoo for runtime {runtime!r}; known: {', '.join(RUNTIMES)}")
    return zoo.catalog(FORMATS[runtime])


def select(names: list[str] | None, runtime: str = "onnxruntime") -> list[tuple[int, str, int]]:
    """(index in the runtime's ``ENTRIES``, name, resolution) of the chosen entries, in ENTRIES order.

    A plain name picks every listed resolution of that model, ``name@res`` one of them."""
    cat = catalog(runtime)
    entries = list(enumerate(cat.ENTRIES))
    if not names:
        return [(i, n, r) for i, (n, r) in entries]
    chosen: set[int] = set()
    for token in names:
        name, _, res = token.partition("@")
        hits = [i for i, (n, r) in entries if n == name and (not res or str(r) == res)]
        if not hits:
            listed = ", ".join(f"{n}@{r}" for n, r in cat.ENTRIES if n == name)
            hint = f"; listed: {listed}" if listed else f"; known names: {', '.join(cat.CATALOG)}"
            raise ZooRunError(f"no zoo entry {token!r}{hint}")
        chosen.update(hits)
    return [(i, n, r) for i, (n, r) in entries if i in chosen]


def build(spec: dict[str, Any], fmt: str, variant: str = "fp32") -> bytes:
    """Model bytes of a zoo spec as the corpus builds them (``datasets.measure.build_model``): ONNX
    (TorchScript exporter, opset 17, batch 1), or TFLite (fp32 / int8) of a ``keras.applications`` spec."""
    from datasets import measure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return measure.build_model(spec, fmt, variant)


def check_variants(runtime: str, variants: tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """The variants to measure (default fp32): those the runtime's zoo is built in
    (``datasets.measure.VARIANTS``: onnxruntime fp32; LiteRT fp32 and int8)."""
    from datasets import measure

    catalog(runtime)
    variants = tuple(dict.fromkeys(variants or ("fp32",)))
    bad = [v for v in variants if v not in measure.VARIANTS[runtime]]
    if bad:
        raise ZooRunError(f"the {runtime} zoo is built as {' / '.join(measure.VARIANTS[runtime])}, "
                          f"not {', '.join(bad)}")
    return variants


@dataclass
class Prepared:
    index: int
    spec: dict[str, Any]
    path: Path
    summary: dict[str, Any]
    ir: dict[str, Any]
    variant: str = "fp32"

    @property
    def arch_id(self) -> str:
        return zoo.arch_id(self.spec["name"], self.spec["resolution"])

    @property
    def format(self) -> str:
        return self.path.suffix.removeprefix(".")


def prepare(index: int, name: str, resolution: int, model_dir: Path, runtime: str = "onnxruntime",
            variant: str = "fp32") -> Prepared:
    from predictor.frontends import load_model

    fmt = FORMATS[runtime]
    spec = catalog(runtime).spec_of(name, resolution)
    data = build(spec, fmt, variant)
    path = model_dir / SPACE / f"{zoo.arch_id(name, resolution)}.{variant}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    graph = load_model(data, filename=path.name)
    return Prepared(index, spec, path, graph.summary(), corpus.compact_ir(graph.to_dict()), variant)


def combine(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One measurement from the successful passes of a model: the pass with the lowest latency
    label, with every pass's label and median and the median of the passes' peak memory."""
    labels = [corpus.latency_label_ms(r) or r["median_ms"] for r in results]
    best = results[labels.index(min(labels))]
    out = {k: v for k, v in best.items() if k not in ("path", "protocol")}
    out["passes_label_ms"] = labels
    out["passes_median_ms"] = [r["median_ms"] for r in results]
    peaks = [r["peak_memory_mb"] for r in results if r.get("peak_memory_mb") is not None]
    out["passes_peak_memory_mb"] = peaks
    out["peak_memory_mb"] = statistics.median(peaks) if peaks else None
    return out


def make_record(p: Prepared, device_key: str, result: dict[str, Any]) -> dict[str, Any]:
    measurement = {k: _rounded(v) for k, v in result.items() if k not in ("path", "protocol")}
    return {"arch_id": p.arch_id, "space": SPACE, "seed": 0, "index": p.index, "variant": p.variant,
            "format": p.format, "device_key": device_key, "spec": p.spec, "summary": p.summary, "ir": p.ir,
            "measurement": measurement}


def row(record: dict[str, Any]) -> str:
    """One progress / table line of a record: name, resolution, MMACs, params, latency, memory."""
    s, m = record["summary"], record["measurement"]
    mem = m.get("peak_memory_mb")
    name = record["spec"]["name"] + ("" if record.get("variant", "fp32") == "fp32" else f" {record['variant']}")
    return (f"{name:<20} {record['spec']['resolution']:>4} {s['macs'] / 1e6:>9.1f} "
            f"{s['params'] / 1e6:>7.2f} {m['median_ms']:>10.2f} {'-' if mem is None else f'{mem:.1f}':>8}")


HEADER = f"{'name':<20} {'res':>4} {'MMACs':>9} {'Mparams':>7} {'latency_ms':>10} {'peak_MB':>8}"


def run(
    runtime: str = "onnxruntime",
    threads: int = 1,
    names: list[str] | None = None,
    group_size: int = 8,
    memory: bool = True,
    root: Path = corpus.CORPUS_DIR,
    cache: Path = corpus.CACHE_DIR,
    keep_models: bool = False,
    limit: int | None = None,
    config: Any = None,
    passes: int = 3,
    progress_stream: Any = sys.stderr,
    again: bool = False,
    variants: tuple[str, ...] | list[str] | None = None,
) -> dict[str, Any]:
    """Measure the chosen zoo entries not yet in the corpus of this device (``limit`` new ones
    at most), ``passes`` times each; ``config`` is an ``agent.protocol.ProtocolConfig``
    (default: the protocol's). ``again``: measure them even if measured before (the newer
    record is the one read: for a device whose speed drifted since, see ``datasets.drift``).
    Every group's passes include the drift reference (``datasets.measure.REFERENCES``).
    ``variants``: fp32 (default) and / or, for LiteRT, int8 (each entry once per variant)."""
    from agent import environment

    if passes < 1:
        raise ZooRunError("passes must be >= 1")
    variants = check_variants(runtime, variants)
    entries = [(*e, v) for e in select(names, runtime) for v in variants]
    device = environment.describe(runtime, threads)
    key = device["device_key"]
    with corpus.run_lock(cache / "pending" / f"{key}.{SPACE}.lock"):
        corpus.write_device(root, device)
        writer = corpus.ShardWriter(root / key / SPACE, cache / "pending" / key / f"{SPACE}.jsonl")
        try:
            return _run_locked(entries, writer, key, runtime, threads, group_size, memory, root, cache,
                               keep_models, limit, config, passes, progress_stream, again)
        finally:
            writer.close()


def _run_locked(entries, writer, key, runtime, threads, group_size, memory, root, cache, keep_models, limit,
                config, passes, out, again=False) -> dict[str, Any]:
    from datasets import measure

    done = set() if again else corpus.done_keys(corpus.iter_records(key, SPACE, root=root, include_help=False))
    done |= corpus.done_keys(writer.buffer)
    refs = measure.reference_models(runtime, ("fp32",), cache / "models")
    todo = [e for e in entries if (zoo.arch_id(e[1], e[2]), e[3]) not in done]
    stats = {"device_key": key, "selected": len(entries), "already": len(entries) - len(todo), "new": 0,
             "failed": 0}
    if limit is not None:
        todo = todo[:limit]
    if out is not None:
        print(f"[zoo] {key}: {len(entries)} entries ({', '.join(sorted({e[3] for e in entries}))}), "
              f"{stats['already']} already measured, {len(todo)} to go",
              file=out, flush=True)
        print(f"[zoo] {HEADER}", file=out, flush=True)
    stop, started = corpus.StopFlag(), time.monotonic()
    try:
        for start in range(0, len(todo), group_size):
            if stop.requested:
                break
            for rec in _measure_group(todo[start:start + group_size], key, runtime, threads, memory,
                                      cache / "models", keep_models, config, passes, stats, refs):
                writer.add(rec)
                stats["new"] += 1
                if out is not None:
                    print(f"[zoo] {row(rec)}", file=out, flush=True)
            if out is not None:
                left = len(todo) - start - group_size
                print(f"[zoo] {stats['new']}/{len(todo)} new, {stats['failed']} failed, "
                      f"{max(left, 0)} left, {time.monotonic() - started:.0f}s", file=out, flush=True)
    finally:
        stop.restore()
    stats["stopped"] = stop.requested
    return stats


def _measure_group(group, key, runtime, threads, memory, model_dir, keep, config, passes,
                   stats, refs=()) -> list[dict[str, Any]]:
    from agent import protocol
    from datasets import measure

    prepared: list[Prepared] = []
    for index, name, res, variant in group:
        try:
            prepared.append(prepare(index, name, res, model_dir, runtime, variant))
        except Exception as exc:  # noqa: BLE001 - any export/parse failure is logged with its entry and counted
            stats["failed"] += 1
            log.error("zoo.prepare_failed %s@%d %s: %s", name, res, variant, f"{type(exc).__name__}: {exc}"[:500],
                      extra={"name": name, "resolution": res, "variant": variant})
    if not prepared:
        return []
    paths = [str(p.path) for p in prepared] + [str(path) for _, path in refs]
    flags = [memory] * len(prepared) + [False] * len(refs)
    runs = [protocol.measure_many(paths, runtime, threads, config=config, memory=flags, group_size=len(paths))
            for _ in range(passes)]
    reference = None
    if refs:  # every pass's reference labels, in the order of the passes
        reference = {"set": measure.REFERENCE_SET, "labels_ms": {
            name: [measure.reference_label(run[len(prepared) + j]) for run in runs]
            for j, (name, _) in enumerate(refs)}}
    records = []
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())  # when the passes ended (UTC; see datasets.drift)
    for i, p in enumerate(prepared):
        if not keep:
            p.path.unlink(missing_ok=True)
        ok = [run[i] for run in runs if "error" not in run[i]]
        for run in runs:
            if "error" in run[i]:
                log.error("zoo.run_failed %s: %s", p.arch_id, str(run[i]["error"])[:500], extra={"arch_id": p.arch_id})
        if not ok:
            stats["failed"] += 1
            continue
        result = combine(ok)
        result["measured_at"] = stamp
        if reference is not None:
            result["drift_reference"] = reference
        records.append(make_record(p, key, result))
    return records
