"""Import of HELP's public latency data (Lee et al., NeurIPS 2021, MIT licence).

Source: ``/work/shared/datasets`` (see its README.md): all 15,625 NAS-Bench-201 and 5,000 FBNet
architectures measured on 21 device settings each. Each architecture is rebuilt once through
our own ``nb201`` / ``fbnet`` builders (spec -> torch -> ONNX -> ``load_model``) and its IR is
stored in shards under ``datasets/corpus/help/<space>/ir/``; the latency tables are copied to
``datasets/corpus/help/<space>/latency.json.gz``. :func:`iter_help_records` joins the two into
corpus records with device keys ``help-<device>`` (e.g. ``help-pixel3``).
"""

from __future__ import annotations

import gzip
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from datasets import corpus

log = logging.getLogger(__name__)

SPACES = ("nb201", "fbnet")
_FOLDER = {"nb201": "nasbench201", "fbnet": "fbnet"}
_INPUT = {"nb201": {"resolution": 32, "classes": 10}, "fbnet": {"resolution": 32, "classes": 100}}
_CPUS = {"gold_6240": "Intel Xeon Gold 6240", "silver_4114": "Intel Xeon Silver 4114",
         "silver_4210r": "Intel Xeon Silver 4210R"}
_PHONES = {"pixel3": "Google Pixel 3", "samsung_a50": "Samsung Galaxy A50", "samsung_s7": "Samsung Galaxy S7",
           "essential_ph_1": "Essential PH-1"}


class HelpImportError(RuntimeError):
    """The HELP source folder is missing or malformed."""


def _torch_load(path: Path, full: bool = False) -> Any:
    import torch

    if not path.exists():
        raise HelpImportError(f"missing HELP file {path}")
    return torch.load(path, weights_only=not full)


def arch_specs(space: str, source: Path) -> list[dict[str, Any]]:
    """Specs of every HELP architecture of ``space``, position = HELP index."""
    data = source / "help" / "data"
    if space == "nb201":
        s2i = _torch_load(data / "nasbench201" / "str_arch2idx.pt")
        archs = [""] * len(s2i)
        for s, i in s2i.items():
            archs[int(i)] = s
        # zero_ops: HELP measured NAS-Bench-201's reference implementation, whose `none` edges
        # run as x * 0 kernels (datasets.spaces.nb201); left out, the in-sample fit was off by
        # 0 -> +3% from 0 to 3 such edges on every device, and a random split's mean Spearman
        # rho over the 25 HELP devices went 0.917 -> 0.960 with them (session 6)
        return [{"space": "nb201", "arch": a, "C": 16, "N": 5, **_INPUT["nb201"], "zero_ops": True} for a in archs]
    if space == "fbnet":
        meta = _torch_load(data / "fbnet" / "metainfo.pt", full=True)
        return [{"space": "fbnet", "blocks": list(a["arch_str"]), **_INPUT["fbnet"]} for a in meta["arch"]]
    raise HelpImportError(f"HELP has no space {space!r}; use one of {SPACES}")


def arch_id(space: str, index: int) -> str:
    return f"help-{space}-{index:05d}"


def describe_device(name: str) -> dict[str, Any]:
    """A description of one HELP device setting (kind, model, batch size)."""
    if name in _CPUS:
        return {"device_key": f"help-{name}", "kind": "cpu", "model": _CPUS[name], "batch_size": 1}
    if name in _PHONES:
        return {"device_key": f"help-{name}", "kind": "phone", "model": _PHONES[name], "batch_size": 1}
    gpu, _, batch = name.rpartition("_")
    return {"device_key": f"help-{name}", "kind": "gpu", "model": gpu, "batch_size": int(batch)}


def build_ir(space: str, source: Path, help_dir: Path, limit: int | None = None,
             progress_every: int = 200, cache: Path = corpus.CACHE_DIR) -> int:
    """Build and parse every HELP architecture of ``space`` not yet stored; returns how many new."""

    with corpus.run_lock(cache / "pending-help" / f"{space}.lock"):
        return _build_ir_locked(space, source, help_dir, limit, progress_every, cache)


def _build_ir_locked(space: str, source: Path, help_dir: Path, limit: int | None, progress_every: int,
                     cache: Path) -> int:
    from datasets.build_torch import to_onnx
    from predictor.frontends import load_model

    specs = arch_specs(space, source)
    writer = corpus.ShardWriter(help_dir / space / "ir", cache / "pending-help" / f"{space}.jsonl")
    stored = {r["index"] for r in _iter_ir(help_dir, space)} | {r["index"] for r in writer.buffer}
    todo = [i for i in range(len(specs)) if i not in stored][:limit]
    started, new = time.monotonic(), 0
    stop = corpus.StopFlag()
    try:
        for i in todo:
            if stop.requested:
                break
            graph = load_model(to_onnx(specs[i]), filename=f"{arch_id(space, i)}.onnx")
            writer.add({"arch_id": arch_id(space, i), "space": space, "index": i, "spec": specs[i],
                        "format": "onnx", "summary": graph.summary(),
                        "ir": corpus.compact_ir(graph.to_dict())})
            new += 1
            if new % progress_every == 0:
                rate = new / (time.monotonic() - started)
                left = (len(todo) - new) / rate
                print(f"[help-ir] {space} {len(stored) + new}/{len(specs)} {rate * 60:.0f}/min "
                      f"ETA {left / 3600:.1f} h", file=sys.stderr, flush=True)
    finally:
        stop.restore()
        writer.close()
    if stop.requested:
        raise corpus.RunStopped(f"stopped after {new} new {space} IR documents")
    return new


def import_latencies(source: Path, help_dir: Path) -> None:
    """Copy HELP's latency tables (ms per architecture and device) into the corpus, once."""
    for space in SPACES:
        out = help_dir / space / "latency.json.gz"
        if out.exists():
            continue
        folder = source / "help" / "data" / _FOLDER[space] / "latency"
        if not folder.is_dir():
            raise HelpImportError(f"missing HELP latency folder {folder}")
        tables = {p.stem: [round(float(v), 6) for v in _torch_load(p)] for p in sorted(folder.glob("*.pt"))}
        doc = {"source": "HELP (Lee et al., NeurIPS 2021), github.com/HayeonLee/HELP data/, MIT licence",
               "unit": "ms", "devices": {d: describe_device(d) for d in tables}, "latency_ms": tables}
        out.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(out, "wt", encoding="utf-8") as f:
            json.dump(doc, f, separators=(",", ":"))


def _iter_ir(help_dir: Path, space: str) -> Iterator[dict[str, Any]]:
    for path in sorted((help_dir / space / "ir").glob("part-*.jsonl.gz")):
        yield from corpus.read_jsonl(path)


def load_latencies(help_dir: Path, space: str) -> dict[str, Any]:
    path = help_dir / space / "latency.json.gz"
    if not path.exists():
        return {"devices": {}, "latency_ms": {}}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


#: A HELP value this many times off what the other devices say about the architecture is dropped.
INCONSISTENT_FACTOR = 5.0


def inconsistent(latency_ms: dict[str, list[float]], factor: float = INCONSISTENT_FACTOR) -> dict[str, set[int]]:
    """Indices of each device's values that contradict every other device.

    An architecture's expected log latency on device d is d's median log latency plus the
    architecture's median offset from the median on the other devices; a value more than
    ``factor`` times off (or not positive) is a recording error, not a measurement. HELP's
    pixel3 table holds 464 NAS-Bench-201 values of 0.003-2.6 ms (median 0.38 ms) for networks
    that take 6-36 ms on the Samsung A50; two A50 values (183 and 117 ms, 30 and 21 ms on the
    S7) are dropped too, nothing else in HELP (FBNet: none)."""
    import numpy as np

    names = list(latency_ms)
    if len(names) < 3:
        return {d: set() for d in names}
    raw = np.asarray([latency_ms[d] for d in names], dtype=np.float64)
    logs = np.log(np.where(raw > 0, raw, np.nan))
    centred = logs - np.nanmedian(logs, axis=1, keepdims=True)
    out = {}
    for i, d in enumerate(names):
        with np.errstate(all="ignore"):
            others = np.nanmedian(np.delete(centred, i, axis=0), axis=0)
        own = np.isfinite(centred[i])
        bad = ~own | (np.abs(centred[i] - np.nan_to_num(others)) > np.log(factor))
        out[d] = set(np.flatnonzero(bad).tolist())
    return out


def iter_help_records(help_dir: Path, device_key: str | None = None, space: str | None = None
                      ) -> Iterator[dict[str, Any]]:
    """Corpus records (one per architecture and device) of the imported HELP data, without
    the values :func:`inconsistent` rejects."""
    for sp in SPACES:
        if space is not None and sp != space:
            continue
        lat = load_latencies(help_dir, sp)
        devices = [d for d in lat["latency_ms"] if device_key in (None, f"help-{d}")]
        if not devices:
            continue
        dropped = inconsistent(lat["latency_ms"])
        for d in devices:
            if dropped[d]:
                log.info("help.inconsistent_dropped", extra={"space": sp, "device": d, "count": len(dropped[d])})
        for rec in _iter_ir(help_dir, sp):
            for d in devices:
                if rec["index"] in dropped[d]:
                    continue
                info = lat["devices"][d]
                yield {**rec, "variant": "fp32", "device_key": info["device_key"],
                       "measurement": {"latency_ms": lat["latency_ms"][d][rec["index"]],
                                       "median_ms": lat["latency_ms"][d][rec["index"]], "samples_ms": None,
                                       "batch_size": info["batch_size"], "source": "HELP"}}
