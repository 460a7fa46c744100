"""Corpus storage: compact JSONL.gz shards, written once and never rewritten.

Layout under ``datasets/corpus/``::

    <device_key>/device.json                 the agent's description of the machine
    <device_key>/<space>/part-<utc>-<pid>-<n>.jsonl.gz   up to SHARD_SIZE records each
    help/...                                 the HELP import (see :mod:`datasets.help`)

A record::

    {"arch_id", "space", "seed", "index", "variant" ("fp32"|"int8"), "format" ("onnx"|"tflite"),
     "device_key", "spec", "summary" (Graph.summary()), "ir" (compact Graph.to_dict()),
     "measurement" (agent.protocol result with every raw sample)}

Records reach a shard through a pending journal in the ignored cache directory (one line per
record, flushed at once), so a killed run loses nothing: the next run seals what it finds.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import logging
import os
import signal
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
CACHE_DIR = Path(__file__).resolve().parent / "cache"
SHARD_SIZE = 200
HELP_DIR_NAME = "help"


class CorpusError(ValueError):
    """A corpus file is unreadable or a record is malformed."""


def compact_ir(doc: dict[str, Any]) -> dict[str, Any]:
    """Shorten an IR document: tensor names become ``t<n>``, node and weight names are dropped.

    Everything the GNN reads (ops, attrs, shapes, dtypes, costs, edges) is kept; the result is
    still a valid ``Graph.from_dict`` document."""
    ids: dict[str, str] = {}

    def tensor(t: dict[str, Any], keep_name: bool = True) -> dict[str, Any]:
        out = dict(t)
        if keep_name:
            out["name"] = ids.setdefault(t.get("name", ""), f"t{len(ids)}")
        else:
            out.pop("name", None)
        return out

    nodes = []
    for n in doc["nodes"]:
        m = {k: v for k, v in n.items() if k not in ("name", "inputs", "weights", "outputs")}
        if not m.get("subgraph"):
            m.pop("subgraph", None)
        m["inputs"] = [tensor(t) for t in n.get("inputs", [])]
        m["weights"] = [tensor(t, keep_name=False) for t in n.get("weights", [])]
        m["outputs"] = [tensor(t) for t in n.get("outputs", [])]
        nodes.append(m)
    return {**doc, "name": "", "nodes": nodes,
            "inputs": [tensor(t) for t in doc.get("inputs", [])],
            "outputs": [tensor(t) for t in doc.get("outputs", [])]}


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), sort_keys=False)


def write_shard(directory: Path, records: list[dict[str, Any]]) -> Path:
    """Write ``records`` to a new shard (tmp file + rename; never overwrites)."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    for n in range(10_000):
        path = directory / f"part-{stamp}-{os.getpid()}-{n:04d}.jsonl.gz"
        if not path.exists():
            break
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=9) as f:
        for r in records:
            f.write(_dumps(r) + "\n")
    os.replace(tmp, path)
    log.info("corpus.shard_written", extra={"path": str(path), "records": len(records)})
    return path


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    if not path.name.endswith(".gz"):  # a journal's last line may be cut short
                        log.warning("corpus.journal_line_skipped", extra={"path": str(path), "line": line_no})
                        continue
                    raise CorpusError(f"{path}:{line_no}: not JSON: {exc}") from exc
    except (OSError, EOFError) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from exc


@contextmanager
def run_lock(path: Path, shared: bool = False) -> Iterator[None]:
    """Hold a lock for a run; a second run on the same journals fails at once. ``shared``
    locks are held together (the worker slots of one device), never with an exclusive one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CorpusError(f"another run holds {path}; wait for it or stop it first") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class RunStopped(Exception):
    """A run ended early on SIGTERM/SIGINT after sealing what it had."""


class StopFlag:
    """Turns SIGTERM/SIGINT into a flag so the run ends after the current group."""

    def __init__(self) -> None:
        self.requested = False
        self.previous: dict[int, Any] = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self.previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: no signal handling
                pass

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        log.warning("corpus.stop_requested", extra={"signal": signum})
        self.requested = True


class ShardWriter:
    """Collects records of one (device, space) and seals them into shards of ``shard_size``."""

    def __init__(self, directory: Path, journal: Path, shard_size: int = SHARD_SIZE) -> None:
        self.directory, self.journal, self.shard_size = directory, journal, shard_size
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        self.buffer: list[dict[str, Any]] = list(read_jsonl(journal)) if journal.exists() else []
        self._fh = open(journal, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def add(self, record: dict[str, Any]) -> None:
        self._fh.write(_dumps(record) + "\n")
        self._fh.flush()
        self.buffer.append(record)
        if len(self.buffer) >= self.shard_size:
            self.seal()

    def seal(self) -> Path | None:
        """Write the buffered records to a shard and empty the journal."""
        if not self.buffer:
            return None
        path = write_shard(self.directory, self.buffer)
        self.buffer = []
        self._fh.close()
        self._fh = open(self.journal, "w", encoding="utf-8")  # noqa: SIM115
        return path

    def close(self) -> None:
        self.seal()
        self._fh.close()
        self.journal.unlink(missing_ok=True)


def shard_paths(root: Path = CORPUS_DIR, device_key: str | None = None, space: str | None = None) -> list[Path]:
    if not root.exists():
        return []
    out = []
    for dev in sorted(p for p in root.iterdir() if p.is_dir() and p.name != HELP_DIR_NAME):
        if device_key is not None and dev.name != device_key:
            continue
        for sp in sorted(p for p in dev.iterdir() if p.is_dir()):
            if space is None or sp.name == space:
                out.extend(sorted(sp.glob("part-*.jsonl.gz")))
    return out


def measured_devices(root: Path = CORPUS_DIR) -> dict[str, dict[str, Any]]:
    """device_key -> device.json for every measured device folder."""
    out = {}
    for dev in sorted(root.glob("*/device.json")):
        out[dev.parent.name] = json.loads(dev.read_text())
    return out


def write_device(root: Path, description: dict[str, Any]) -> Path:
    path = root / description["device_key"] / "device.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(description, indent=1, sort_keys=True) + "\n")
    return path


def iter_records(
    device_key: str | None = None,
    space: str | None = None,
    *,
    root: Path = CORPUS_DIR,
    include_help: bool = True,
    include_pending: bool = False,
    cache: Path = CACHE_DIR,
) -> Iterator[dict[str, Any]]:
    """Every record of the corpus, filtered by device key and/or space.

    HELP records (device keys ``help-<device>``) come after the measured ones unless
    ``include_help`` is False. ``include_pending`` adds records still in run journals: a
    snapshot of them is read first, then the shard listing; records sealed into a shard
    while the snapshot was taken are yielded once (from the shard), none are missed."""
    if include_pending:
        before = set(shard_paths(root, device_key, space))
        pending = _pending_snapshot(cache, device_key, space)
        shards = shard_paths(root, device_key, space)
        sealed_meanwhile = {_dumps(r) for path in shards if path not in before for r in read_jsonl(path)}
        for path in shards:
            yield from _sealed(path)
        yield from (r for r in pending if _dumps(r) not in sealed_meanwhile)
    else:
        for path in shard_paths(root, device_key, space):
            yield from _sealed(path)
    if include_help and (device_key is None or device_key.startswith("help-")):
        from datasets import help as help_mod

        yield from help_mod.iter_help_records(root / HELP_DIR_NAME, device_key=device_key, space=space)


def _sealed(path: Path) -> Iterator[dict[str, Any]]:
    """A shard's records, each with ``_sealed_at``: the UTC time its shard was written
    (``YYYYmmddTHHMMSS`` from the file name; records still in a journal have none)."""
    stamp = path.name.split("-")[1] if path.name.startswith("part-") else None
    for r in read_jsonl(path):
        r["_sealed_at"] = stamp
        yield r


def _pending_snapshot(cache: Path, device_key: str | None, space: str | None) -> list[dict[str, Any]]:
    """The records in the run journals right now (a running measurement appends to them and
    empties one whenever it seals a shard)."""
    out: list[dict[str, Any]] = []
    for path in sorted((cache / "pending").glob("*/*.jsonl")):
        dev, sp = path.parent.name, journal_space(path)
        if (device_key in (None, dev)) and (space in (None, sp)):
            try:
                out.extend(read_jsonl(path))
            except CorpusError:
                if path.exists():
                    raise  # unreadable journal, not one removed by a run that just closed
    return out


def journal_space(path: Path) -> str:
    """The space of a run journal: ``<space>.jsonl``, or ``<space>.w<k>of<n>.jsonl`` of a worker slot."""
    return path.name.split(".")[0]


def done_keys(records: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """(arch id, variant) of the records that are done: measured with a usable latency label
    (a record without one is measured again, and the newer record is the one read)."""
    return {(r["arch_id"], r.get("variant", "fp32")) for r in records
            if latency_label_ms(r.get("measurement") or {}) is not None}


#: Delegates whose single-threaded inference runs on the calling thread (CPU only).
CALLER_THREAD_DELEGATES = frozenset({"CPUExecutionProvider", "xnnpack", "cpu", None})


def latency_label_ms(measurement: dict[str, Any], quantile: float = 0.25) -> float | None:
    """The latency label of a corpus record, re-derived from its raw samples.

    A single-threaded CPU inference runs on the measuring thread, so that thread's CPU time
    per run (``cpu_ms``) is the run's duration without the time other processes took the core
    (on this shared 2-core machine every run of a model could be preempted, and a wall-time
    estimate then came out 2-3x too high; see docs/ARCHITECTURE.md, corpus records). The label
    is the mean over sessions of each session's ``quantile`` of ``cpu_ms`` (contention only
    adds time, through evicted caches). Records measured with several threads or an
    accelerator delegate keep the protocol's ``median_ms``.

    A single-threaded CPU record *without* CPU times (the first session's first 240
    records, before the protocol kept them) has no label (None): its wall time cannot be
    told apart from preemption (against the same architectures on another CPU, the log
    ratio of those labels had a standard deviation of 0.83, against 0.13 for the rest).
    Such records are measured again by ``edgeperf dataset measure``."""
    cpu = measurement.get("cpu_ms")
    if measurement.get("threads") != 1 or measurement.get("delegate") not in CALLER_THREAD_DELEGATES:
        return measurement.get("median_ms")
    if not cpu:
        return None
    sessions = measurement.get("sessions_of_samples") or [0] * len(cpu)
    per: dict[int, list[float]] = {}
    for value, sess in zip(cpu, sessions, strict=False):
        per.setdefault(sess, []).append(value)
    return float(np.mean([np.quantile(v, quantile) for v in per.values()]))
