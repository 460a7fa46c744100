"""Accuracy evaluation of the GNN and every baseline, side by side.

Scenarios (each returns rows ``{scenario, model, device, target, n, mape, rmspe,
acc5, acc10, rho, cov90}``; ``cov90`` is None for models without intervals):

* :func:`random_split`: random held-out graphs;
* :func:`leave_one_space_out`: train on every search space but one, test on it;
* :func:`new_devices`: devices held out of training entirely; the GNN gets K of
  their measurements and fits only the new device embedding, the baselines are
  fitted on the same K; tested on the remaining graphs.

Test graphs are never seen in training (the GNN's validation and calibration
splits are drawn from the training graphs).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from predictor.artifacts import Predictor
from predictor.baselines import BASELINES
from predictor.train import (
    HELD_OUT_SPACE,
    Table,
    TrainConfig,
    calibrate_device,
    split_indices,
    train_predictor,
)

log = logging.getLogger(__name__)


def metrics(pred: np.ndarray, y: np.ndarray, lo: np.ndarray | None = None, hi: np.ndarray | None = None) -> dict:
    """MAPE, RMSPE (%), share within ±5% / ±10%, Spearman rho and 90%-interval
    coverage over the entries where ``y`` is measured."""
    m = np.isfinite(y) & np.isfinite(pred)
    if not m.any():
        return {"n": 0}
    rel = (pred[m] - y[m]) / y[m]
    rho = float(spearmanr(pred[m], y[m]).statistic) if m.sum() > 2 else float("nan")
    out = {
        "n": int(m.sum()),
        "mape": float(np.mean(np.abs(rel)) * 100),
        "rmspe": float(np.sqrt(np.mean(rel**2)) * 100),
        "acc5": float(np.mean(np.abs(rel) <= 0.05) * 100),
        "acc10": float(np.mean(np.abs(rel) <= 0.10) * 100),
        "rho": rho,
        "cov90": None,
    }
    if lo is not None and hi is not None:
        out["cov90"] = float(np.mean((y[m] >= lo[m]) & (y[m] <= hi[m])) * 100)
    return out


def gnn_predict(predictor: Predictor, table: Table, idx: np.ndarray, batch_size: int = 512):
    """(value, lower, upper) ``[len(idx), D, T]`` for the table's devices."""
    dev = predictor.device_indices(table.devices)
    mus, sigmas = [], []
    for s in range(0, len(idx), batch_size):
        mu, sigma = predictor.predict_log([table.data[i] for i in idx[s : s + batch_size]], dev)
        mus.append(mu)
        sigmas.append(sigma)
    mu, sigma = np.concatenate(mus), np.concatenate(sigmas)
    lo, hi = predictor.interval(mu, sigma, dev)
    return np.exp(mu), lo, hi


def _rows(scenario: str, model: str, table: Table, y: np.ndarray, pred, lo=None, hi=None) -> list[dict]:
    rows = []
    for d, dev in enumerate(table.devices):
        for t, tgt in enumerate(table.targets):
            r = metrics(pred[:, d, t], y[:, d, t], None if lo is None else lo[:, d, t],
                        None if hi is None else hi[:, d, t])
            if r["n"]:
                rows.append({"scenario": scenario, "model": model, "device": dev, "target": tgt, **r})
    return rows


def compare(
    scenario: str, table: Table, train_idx: np.ndarray, test_idx: np.ndarray, cfg: TrainConfig,
    baselines: Sequence[str] = tuple(BASELINES), per_group: bool = False,
) -> tuple[list[dict], Predictor]:
    """Train the GNN and each baseline on ``train_idx``; rows on ``test_idx`` (with ``per_group``
    also rows per :func:`group_labels` group, as scenario ``<scenario>/<group>``)."""
    y = table.y[test_idx]
    labels = group_labels(table, test_idx) if per_group else None
    started = time.monotonic()
    log.info("%s: training on %d graphs, testing on %d", scenario, len(train_idx), len(test_idx))
    predictor = train_predictor(table, cfg, train_idx, name=f"eval-{scenario}")
    rows = _scored(scenario, "perfsage", table, y, labels, *gnn_predict(predictor, table, test_idx))
    train_data = [table.data[i] for i in train_idx]
    test_data = [table.data[i] for i in test_idx]
    for name in baselines:
        model = BASELINES[name]().fit(train_data, table.y[train_idx])
        rows += _scored(scenario, name, table, y, labels, model.predict(test_data))
    log.info("%s: done in %.0f s", scenario, time.monotonic() - started)
    return rows, predictor


def variant_of(key: str) -> str:
    """The variant of a table's graph key (``<arch>:<variant>:<format>``, :func:`corpus_records`);
    fp32 for a key without one."""
    parts = key.split(":")
    return parts[1] if len(parts) > 1 else "fp32"


def group_labels(table: Table, idx: np.ndarray) -> np.ndarray:
    """Each graph's search space; a zoo network's family instead (``zoo-resnet50-224`` -> ``zoo:resnet``);
    a graph of another variant than fp32 has it appended (``mobilenet int8``, ``zoo:resnet int8``)."""
    out = []
    for i in idx:
        space = table.spaces[i]
        variant = variant_of(table.keys[i])
        if space == HELD_OUT_SPACE:
            name = table.keys[i].split(":")[0].removeprefix("zoo-").rsplit("-", 1)[0]
            space = f"zoo:{name.split('_')[0].rstrip('0123456789')}"
        out.append(space if variant == "fp32" else f"{space} {variant}")
    return np.asarray(out)


def _scored(scenario: str, model: str, table: Table, y: np.ndarray, labels: np.ndarray | None,
            pred, lo=None, hi=None) -> list[dict]:
    rows = _rows(scenario, model, table, y, pred, lo, hi)
    for g in sorted(set(labels.tolist())) if labels is not None else ():
        m = labels == g
        rows += _rows(f"{scenario}/{g}", model, table, y[m], pred[m], None if lo is None else lo[m],
                      None if hi is None else hi[m])
    return rows


def random_split(table: Table, cfg: TrainConfig, test_fraction: float = 0.2,
                 max_train: int | None = None, max_test: int | None = None, per_group: bool = False) -> list[dict]:
    test_idx, train_idx = split_indices(len(table.keys), [test_fraction], cfg.seed + 1000)
    train_idx, test_idx = _limit(train_idx, max_train, cfg.seed), _limit(test_idx, max_test, cfg.seed)
    return compare("random", table, train_idx, test_idx, cfg, per_group=per_group)[0]


def leave_one_space_out(table: Table, cfg: TrainConfig, max_train: int | None = None,
                        max_test: int | None = None, held_out: Sequence[str] | None = None) -> list[dict]:
    """A fold per search space (``held_out``: only these spaces' folds; each still trains on every
    other space), tested on that space alone."""
    spaces = np.asarray(table.spaces)
    rows = []
    for space in sorted(set(table.spaces)):
        if held_out is not None and space not in held_out:
            continue
        test_idx = _limit(np.flatnonzero(spaces == space), max_test, cfg.seed)
        train_idx = _limit(np.flatnonzero(spaces != space), max_train, cfg.seed)
        if len(train_idx) and len(test_idx):
            rows += compare(f"loso:{space}", table, train_idx, test_idx, cfg)[0]
    return rows


def new_devices(
    table: Table, cfg: TrainConfig, held_out: Sequence[str], ks: Sequence[int] = (10, 50),
    max_train: int | None = None, max_test: int | None = None, repeats: int = 3,
) -> list[dict]:
    """Hold ``held_out`` devices out of training; adapt with K samples each."""
    seen = [d for d in table.devices if d not in held_out]
    train_idx = _limit(np.arange(len(table.keys)), max_train, cfg.seed)
    predictor = train_predictor(table.subset_devices(seen), cfg, train_idx, name="eval-new-devices")
    rows: list[dict] = []
    for dev in held_out:
        sub = table.subset_devices([dev])
        measured = np.flatnonzero(np.isfinite(sub.y[:, 0]).any(1))
        for k in ks:
            for rep in range(repeats):
                rng = np.random.default_rng(cfg.seed + 7919 * rep + k)
                shots = rng.choice(measured, size=min(k, len(measured) - 1), replace=False)
                rest = _limit(np.setdiff1d(measured, shots), max_test, cfg.seed + rep)
                rows += _few_shot(predictor, sub, dev, shots, rest, f"new_device:K={k}", rep)
    return _mean_over_repeats(rows)


def _few_shot(predictor, sub: Table, dev: str, shots, rest, scenario: str, rep: int) -> list[dict]:
    adapted = calibrate_device(predictor, dev, [sub.data[i] for i in shots], sub.y[shots, 0], seed=rep)
    y = sub.y[rest]
    rows = _rows(scenario, "perfsage", sub, y, *gnn_predict(adapted, sub, rest))
    for name, cls in BASELINES.items():
        model = cls().fit([sub.data[i] for i in shots], sub.y[shots])
        rows += _rows(scenario, name, sub, y, model.predict([sub.data[i] for i in rest]))
    return rows


def _mean_over_repeats(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["model"], r["device"], r["target"]), []).append(r)
    out = []
    for (sc, model, dev, tgt), rs in groups.items():
        agg: dict[str, Any] = {"scenario": sc, "model": model, "device": dev, "target": tgt, "n": rs[0]["n"]}
        for key in ("mape", "rmspe", "acc5", "acc10", "rho", "cov90"):
            vals = [r[key] for r in rs if r[key] is not None]
            agg[key] = float(np.mean(vals)) if vals else None
        out.append(agg)
    return out


def _limit(idx: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or len(idx) <= limit:
        return np.asarray(idx)
    return np.sort(np.random.default_rng(seed).choice(idx, size=limit, replace=False))


def summarise(rows: list[dict]) -> list[dict]:
    """Mean over devices per (scenario, model, target)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["model"], r["target"]), []).append(r)
    out = []
    for (sc, model, tgt), rs in groups.items():
        agg: dict[str, Any] = {"scenario": sc, "model": model, "device": "MEAN", "target": tgt,
                               "n": sum(r["n"] for r in rs)}
        for key in ("mape", "rmspe", "acc5", "acc10", "rho", "cov90"):
            vals = [r[key] for r in rs if r[key] is not None]
            agg[key] = float(np.mean(vals)) if vals else None
        out.append(agg)
    return out


# -- public HELP data (IR built through the real exporter + ONNX front end) --------
HELP_DIR = "/work/shared/datasets/help/data"
NB201_ARCHS = "/work/shared/datasets/nb201_archs/nb201_arch_str.json"
HELP_SPACES = {"nb201": "nasbench201", "fbnet": "fbnet"}


def help_spec(space: str, index: int) -> dict[str, Any]:
    """The datasets/ spec of HELP architecture ``index`` of ``space``."""
    import json

    import torch

    if space == "nb201":
        archs = _cached(NB201_ARCHS, lambda p: json.load(open(p))["arch_str"])
        return {"space": "nb201", "arch": archs[index], "C": 16, "N": 5, "resolution": 32, "classes": 10,
                "zero_ops": True}  # as datasets.help.arch_specs: HELP ran the `none` edges as x * 0
    meta = _cached(f"{HELP_DIR}/fbnet/metainfo.pt", lambda p: torch.load(p, weights_only=False))
    return {"space": "fbnet", "blocks": list(meta["arch"][index]["arch_str"]), "resolution": 32, "classes": 100}


_CACHE: dict[str, Any] = {}


def _cached(path: str, loader):
    if path not in _CACHE:
        _CACHE[path] = loader(path)
    return _CACHE[path]


def help_latencies(space: str) -> dict[str, np.ndarray]:
    """device -> latency (ms) array indexed by architecture."""
    import os

    import torch

    folder = f"{HELP_DIR}/{HELP_SPACES[space]}/latency"
    return {f[:-3]: np.asarray(torch.load(f"{folder}/{f}"), dtype=np.float64)
            for f in sorted(os.listdir(folder)) if f.endswith(".pt")}


def build_help_cache(path: str, spaces: Sequence[str] = ("nb201", "fbnet"), per_space: int = 15625,
                     seed: int = 0) -> None:
    """Append IR documents of HELP architectures (seeded random order, round-robin
    over ``spaces``) to a JSONL.gz cache; resumable (skips what is there)."""
    import gzip
    import json

    from datasets.build_torch import to_onnx
    from predictor.frontends import load_model

    done = {(r["space"], r["index"]) for r in _read_cache(path)}
    orders = {s: np.random.default_rng(seed).permutation(len(next(iter(help_latencies(s).values()))))[:per_space]
              for s in spaces}
    for pos in range(per_space):
        for s in spaces:
            if pos >= len(orders[s]) or (s, int(orders[s][pos])) in done:
                continue
            i = int(orders[s][pos])
            graph = load_model(to_onnx(help_spec(s, i)), filename=f"{s}_{i}.onnx")
            with gzip.open(path, "at") as fh:
                fh.write(json.dumps({"space": s, "index": i, "ir": graph.to_dict()}) + "\n")
            log.info("help_cache.added", extra={"space": s, "index": i})


def _read_cache(path: str) -> list[dict]:
    import gzip
    import json
    import os

    if not os.path.exists(path):
        return []
    out = []
    with gzip.open(path, "rt") as fh:
        try:
            for line in fh:
                out.append(json.loads(line))
        except (EOFError, json.JSONDecodeError, OSError):  # a write cut short: keep what is complete
            log.warning("help_cache.truncated", extra={"path": path, "complete": len(out)})
    return out


def load_help_records(cache: str, spaces: Sequence[str] = ("nb201",), devices: Sequence[str] | None = None,
                      limit: int | None = None) -> list:
    """Records (graph key, IR, device ``help-<name>``, latency) for the cached HELP architectures."""
    from predictor.features import featurize
    from predictor.graph.ir import Graph
    from predictor.train import Record

    lat = {s: help_latencies(s) for s in spaces}
    records = []
    per_space: dict[str, int] = {}
    for row in _read_cache(cache):
        s = row["space"]
        if s not in lat or (limit is not None and per_space.get(s, 0) >= limit):
            continue
        per_space[s] = per_space.get(s, 0) + 1
        data = featurize(Graph.from_dict(row["ir"]))
        for dev, values in lat[s].items():
            key = f"help-{dev}"  # the device keys the HELP import (datasets.help) registers
            if devices is None or key in devices:
                records.append(Record(f"{s}:{row['index']}", data, key, {"latency": float(values[row["index"]])}, s))
    return records


def parse_window(text: str) -> tuple[str, str]:
    """``FROM..TO`` (the benches' ``--measured``) as the ``(start, end)`` of :func:`in_window`; an
    ``argparse`` type, so a malformed value is a usage error naming the expected form."""
    if ".." not in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not FROM..TO, e.g. 20261128T04..20261128T07")
    start, end = text.split("..", 1)
    return start, end


def in_window(record: Mapping[str, Any], start: str, end: str) -> bool:
    """Whether a corpus record was measured in ``[start, end)`` (UTC ``YYYYmmddTHHMMSS`` or a prefix of
    one; an empty bound is open)."""
    stamp = str((record.get("measurement") or {}).get("measured_at") or "")
    return bool(stamp) and (not start or stamp >= start) and (not end or stamp < end)


def corpus_records(device_key: str | None = None, space: str | None = None, include_help: bool = False,
                   include_pending: bool = False, limit: int | None = None, drift: bool = False,
                   devices: Sequence[str] | None = None, measured: tuple[str, str] | None = None,
                   **where: Any) -> list:
    """Records from the measured corpus (``datasets.corpus.iter_records``; ``devices``: only
    these device keys, read device by device): graph key = arch id + variant + format; targets
    latency (ms, :func:`datasets.corpus.latency_label_ms`), memory (peak MB), energy (mJ) where
    measured. ``drift``: latency labels divided by the device's speed drift factor of the time
    they were measured in (:mod:`datasets.drift`). ``measured = (start, end)``: only the records
    measured in that UTC window (``measurement.measured_at``, ``YYYYmmddTHHMMSS``; a prefix such as
    ``20261128T04`` compares as the start of that hour), e.g. one session of a cloud VM, whose host
    state differs from other sessions' (``bench/label_noise.py``); HELP records carry no time and
    are dropped by it. ``where``: ``root`` / ``cache`` of another corpus.

    Each graph is featurised once as its records stream in; a record's IR document is dropped
    once read (a 30,000-record corpus held with its IR took over 12 GB)."""
    from datasets import drift as drift_mod
    from datasets.corpus import iter_records, latency_label_ms
    from predictor.features import featurize
    from predictor.graph.ir import Graph
    from predictor.train import Record

    def stream():
        if devices is None:
            yield from iter_records(device_key, space, include_help=include_help, include_pending=include_pending,
                                    **where)
            return
        for dev in dict.fromkeys(devices):
            if device_key is None or dev == device_key:
                yield from iter_records(dev, space, include_help=include_help, include_pending=include_pending,
                                        **where)

    cache: dict[str, Any] = {}
    kept: list[tuple[str, dict[str, Any]]] = []
    for rec in stream():
        if measured is not None and not in_window(rec, *measured):
            continue
        key = f"{rec['arch_id']}:{rec.get('variant', 'fp32')}:{rec.get('format', 'onnx')}"
        if key not in cache:
            if limit is not None and len(cache) >= limit:
                continue
            cache[key] = featurize(Graph.from_dict(rec["ir"]))
        kept.append((key, {k: v for k, v in rec.items() if k not in ("ir", "spec")}))
    factors = drift_mod.factors([r for _, r in kept]) if drift else {}
    out = []
    for key, rec in kept:
        m = rec.get("measurement") or {}
        latency = latency_label_ms(m)
        if latency is not None and factors:
            latency /= drift_mod.factor(factors, rec)
        targets = {"latency": latency, "memory": m.get("peak_memory_mb"), "energy": m.get("energy_mj")}
        out.append(Record(key, cache[key], rec["device_key"],
                          {k: float(v) for k, v in targets.items() if v is not None}, rec.get("space", "")))
    return out


def load_records(source: str, devices: Sequence[str] | None = None, limit: int | None = None,
                 drift: bool = False, measured: tuple[str, str] | None = None) -> list:
    """Records of a named source: ``help-cache:<path>[:spaces]`` (IR cache written by
    :func:`build_help_cache`), ``corpus`` (our measured corpus, sealed shards plus
    the records still in run journals), ``corpus+help`` or ``corpus-root:<dir>`` (the sealed
    records of another corpus root). ``measured``: corpus records measured
    in this UTC window only (see :func:`corpus_records`)."""
    if source.startswith("help-cache:"):
        _, path, *rest = source.split(":")
        spaces = rest[0].split(",") if rest else ("nb201",)
        return load_help_records(path, spaces, devices, limit)
    if source in ("corpus", "corpus+help"):
        return corpus_records(include_help=source == "corpus+help", include_pending=True, limit=limit, drift=drift,
                              devices=devices, measured=measured)
    if source.startswith("corpus-root:"):  # a scratch corpus, e.g. a re-measurement (--root of dataset measure)
        return corpus_records(include_help=False, limit=limit, drift=drift, devices=devices, measured=measured,
                              root=Path(source.split(":", 1)[1]))
    raise ValueError(f"unknown data source {source!r}: use help-cache:<path>[:nb201,fbnet], corpus, corpus+help, "
                     "corpus-root:<dir>")
