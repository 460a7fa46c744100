"""Repeatability of latency measurements: two independent passes over the same models.

Builds a varied set of small ONNX models (conv nets, MLPs, mobile-style inverted-residual
blocks; ~0.1 ms to ~30 ms on one thread) into a temporary directory, measures each model
in two independent passes (fresh sessions each pass) with

  (a) a plain protocol: load, 5 warm-up runs, median of 30 timed runs;
  (b) the agent protocol (agent.protocol.measure_many, rounds interleaved over the set),

and prints the mean absolute percentage error (MAPE) between the passes, plus the same
figure for other estimators computed from the protocol's raw samples.

With ``--reference`` (the default) each protocol pass also measures the corpus's drift
reference models (``datasets.measure.REFERENCES``, never among the compared models) in the same
interleaved rounds, and the "/ reference" rows divide a pass's labels by that pass's reference
factor (geometric mean over the reference models of this pass's label over their mean label
across passes): the host's speed drifts between passes (a shared cloud VM; bench/drift.py),
and that shift is common to every model measured at the time.

    .venv/bin/python bench/repeatability.py [--models 36] [--runtime onnxruntime] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent import stats  # noqa: E402
from agent.backends import get_backend  # noqa: E402
from agent.protocol import ProtocolConfig, measure_many  # noqa: E402
from datasets import corpus  # noqa: E402
from datasets import measure as corpus_measure  # noqa: E402


def _inverted_residual(cin: int, cout: int, expand: int, stride: int) -> nn.Module:
    hidden = cin * expand
    return nn.Sequential(
        nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
        nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
        nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout),
    )


def build(kind: str, size: int, rng: np.random.Generator) -> tuple[nn.Module, tuple[int, ...]]:
    """One model of ``kind`` scaled by ``size`` (0..5)."""
    if kind == "mlp":
        width = (256, 512, 768, 1024, 1536, 2048)[size]
        depth = int(rng.integers(2, 5))
        layers: list[nn.Module] = [nn.Linear(256, width), nn.ReLU()]
        for _ in range(depth):
            layers += [nn.Linear(width, width), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(width, 10)), (1, 256)
    res = int(64 + 40 * size)
    if kind == "conv":
        width = int(rng.choice([16, 24, 32, 48]))
        layers = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU()]
        for i in range(int(rng.integers(2, 5))):
            w2 = width * (2 if i % 2 else 1)
            layers += [nn.Conv2d(width, w2, 3, stride=1 + i % 2, padding=1), nn.BatchNorm2d(w2), nn.ReLU()]
            width = w2
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10)), (1, 3, res, res)
    width = int(rng.choice([16, 24, 32]))
    blocks: list[nn.Module] = [nn.Conv2d(3, width, 3, stride=2, padding=1), nn.ReLU6()]
    for i in range(int(rng.integers(2, 6))):
        cout = width + 8 * (i % 2)
        blocks.append(_inverted_residual(width, cout, int(rng.choice([3, 4, 6])), 1 + (i % 3 == 1)))
        width = cout
    return nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10)), (1, 3, res, res)


def make_models(n: int, folder: Path, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    paths = []
    for i in range(n):
        kind = ("conv", "mlp", "mobile")[i % 3]
        model, shape = build(kind, i % 6, rng)
        path = folder / f"m{i:02d}_{kind}.onnx"
        torch.onnx.export(model.eval(), torch.randn(*shape), str(path), dynamo=False, input_names=["x"])
        paths.append(path)
    return paths


def plain_pass(paths: list[Path], runtime: str, threads: int, runs: int = 30) -> list[float]:
    backend = get_backend(runtime)
    out = []
    for path in paths:
        session = backend.load(str(path), threads=threads, input_shapes=None)
        for _ in range(5):
            session.run()
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            session.run()
            samples.append((time.perf_counter_ns() - t0) / 1e6)
        out.append(statistics.median(samples))
    return out


def estimators(result: dict) -> dict[str, float]:
    """Alternative estimators from one protocol result's raw samples."""
    samples = result["samples_ms"]
    meds = sorted(result["round_medians_ms"])
    rounds = stats.rounds_from_result(result)
    return {
        "protocol median_ms (= latency_ms)": result["median_ms"],
        "corpus label (datasets.corpus.latency_label_ms)": corpus.latency_label_ms(result) or float("nan"),
        "protocol low_quantile_ms (p25 corrected)": result["low_quantile_ms"],
        "p10 of corrected samples (per session)": stats.low_quantile(rounds, 0.10),
        "median of all samples": result["median_all_ms"],
        "p10 of all samples": float(np.percentile(samples, 10)),
        "min of round medians": meds[0],
        "mean of 2 fastest round medians": float(np.mean(meds[:2])),
        "median of thread CPU time (all runs)": float(np.median(result["cpu_ms"])) if result.get("cpu_ms") else float("nan"),
        "p25 of thread CPU time (all runs)": float(np.percentile(result["cpu_ms"], 25)) if result.get("cpu_ms") else float("nan"),
        "min of thread CPU time": float(np.min(result["cpu_ms"])) if result.get("cpu_ms") else float("nan"),
        "min of wall time": float(np.min(samples)),
    }


def print_models(paths: list[Path], plain: list[list[float]], proto: list[list[dict]]) -> None:
    print(f"{'model':16s} {'plain1':>8s} {'plain2':>8s} {'proto1':>8s} {'proto2':>8s} {'diff%':>6s}  "
          "rounds/remeasured/sessions")
    for i, path in enumerate(paths):
        a, b = proto[0][i], proto[1][i]
        diff = 100 * abs(a["median_ms"] - b["median_ms"]) / a["median_ms"]
        runs = " ".join(f"{r['rounds']}/{r['remeasured']}/{r.get('sessions', '-')}" for r in (a, b))
        print(f"{path.stem:16s} {plain[0][i]:8.3f} {plain[1][i]:8.3f} {a['median_ms']:8.3f} {b['median_ms']:8.3f} "
              f"{diff:6.2f}  {runs}")
    print()


def config(args: argparse.Namespace, sessions: int) -> ProtocolConfig:
    fields: dict[str, object] = {"realtime": args.realtime, "sessions": sessions}
    fields["max_sessions"] = max(sessions, ProtocolConfig.max_sessions)
    if args.huge_pages is not None:
        fields["huge_pages"] = args.huge_pages
    for item in args.set:
        key, _, text = item.partition("=")
        kind = type(getattr(ProtocolConfig, key))
        fields[key] = text.lower() in ("1", "true", "yes") if kind is bool else kind(text)
    return ProtocolConfig(**fields)


def kind_of(path: Path, index: int) -> str:
    """conv / mobile / mlp, MLPs split at width 1536 (9 MB weight matrices, 20-40 MB a model: memory-bound)."""
    kind = path.stem.split("_", 1)[1]
    if kind == "mlp":
        return "mlp-wide" if index % 6 >= 4 else "mlp-narrow"
    return kind


def busy_summary(results: list[dict]) -> str:
    """Mean busy fraction of each CPU over a pass's results (agent.protocol's ``cpu_busy``)."""
    per: dict[str, list[float]] = {}
    for r in results:
        for cpu, frac in (r.get("cpu_busy") or {}).items():
            per.setdefault(cpu, []).append(frac)
    return ", ".join(f"cpu{c} {np.mean(v):.2f}" for c, v in sorted(per.items())) or "unknown"


REFERENCED = ("protocol median_ms (= latency_ms)", "corpus label (datasets.corpus.latency_label_ms)")


def reference_factors(refs: list[list[dict]]) -> list[float]:
    """Per pass: geometric mean over the reference models of the pass's corpus label over the
    model's geometric-mean label across passes."""
    labels = np.log([[corpus.latency_label_ms(r) for r in p] for p in refs])  # [passes, models]
    return [float(np.exp(np.mean(row - labels.mean(0)))) for row in labels]


def mape(a: list[float], b: list[float]) -> float:
    return 100.0 * float(np.mean([abs(x - y) / ((x + y) / 2) for x, y in zip(a, b, strict=True)]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=36)
    parser.add_argument("--runtime", default="onnxruntime")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--group-size", type=int, default=None, help="default: measure_many's")
    parser.add_argument("--verbose", action="store_true", help="print one row per model")
    parser.add_argument("--realtime", action="store_true", help="protocol rounds under SCHED_FIFO (root)")
    parser.add_argument("--sessions", default="2", help="comma-separated session counts to compare, e.g. 1,2")
    parser.add_argument("--huge-pages", action=argparse.BooleanOptionalAction, default=None,
                        help="ProtocolConfig.huge_pages (default: the protocol's default)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a ProtocolConfig field, e.g. --set max_sessions=3")
    parser.add_argument("--save", type=Path, default=None, help="write every pass's raw results to this JSON file")
    parser.add_argument("--reference", action=argparse.BooleanOptionalAction, default=True,
                        help="measure the drift reference models in every protocol pass (default: on)")
    args = parser.parse_args()
    counts = [int(c) for c in args.sessions.split(",")]
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_models(args.models, Path(tmp))
        refs = ([p for _, p in corpus_measure.reference_models(args.runtime, ("fp32",), Path(tmp) / "ref")]
                if args.reference else [])
        plain: list[list[float]] = []
        proto: dict[int, list[list[dict]]] = {c: [] for c in counts}
        ref_results: dict[int, list[list[dict]]] = {c: [] for c in counts}
        times: dict[int, list[float]] = {c: [] for c in counts}
        for _ in range(2):
            plain.append(plain_pass(paths, args.runtime, args.threads))
            for count in counts:
                cfg = config(args, count)
                t0 = time.perf_counter()
                group = args.group_size or len(paths) + len(refs)  # refs in every group, as in dataset measure
                out = []
                for s in range(0, len(paths), group - len(refs)):
                    part = paths[s:s + group - len(refs)]
                    res = measure_many(part + refs, args.runtime, args.threads, config=cfg, memory=False,
                                       group_size=len(part) + len(refs), max_group_mb=1e9)
                    out += res[:len(part)]
                    ref_results[count].append(res[len(part):])
                proto[count].append(out)
                times[count].append(time.perf_counter() - t0)
    if args.save is not None:
        args.save.write_text(json.dumps({"paths": [p.name for p in paths], "plain": plain,
                                         "protocol": {str(c): proto[c] for c in counts}}))
    lat = proto[counts[0]][0]
    print(f"models: {len(paths)}  runtime: {args.runtime}  threads: {args.threads}  "
          f"realtime: {lat[0].get('realtime')}  huge pages: {lat[0]['protocol']['huge_pages']}  "
          f"overrides: {' '.join(args.set) or '-'}  "
          f"load average (1 min) at start {load_start:.1f}, now {os.getloadavg()[0]:.1f}")
    for count in counts:
        print(f"CPU busy while sessions={count} measured (mean per CPU; this process may use "
              f"{sorted(os.sched_getaffinity(0))}): " + "; ".join(
                  f"pass {i + 1} {busy_summary(p)}" for i, p in enumerate(proto[count])))
    print(f"latency range (protocol median): {min(r['median_ms'] for r in lat):.3f} .. "
          f"{max(r['median_ms'] for r in lat):.3f} ms")
    print()
    print(f"{'estimator':56s} {'MAPE pass1 vs pass2 (%)':>24s}")
    print(f"{'plain: median of 30 runs':56s} {mape(*plain):24.2f}")
    for count in counts:
        passes = proto[count]
        if args.verbose:
            print_models(paths, plain, passes)
        est = [[estimators(r) for r in p] for p in passes]
        for name in est[0][0]:
            label = f"sessions={count}: {name}"
            print(f"{label:56s} {mape([e[name] for e in est[0]], [e[name] for e in est[1]]):24.2f}")
        if refs and len(ref_results[count]) == 2:  # one group per pass: one factor per pass
            f = reference_factors(ref_results[count])
            for name in REFERENCED:
                label = f"sessions={count}: {name.split(' (')[0]} / reference"
                print(f"{label:56s} {mape([e[name] / f[0] for e in est[0]], [e[name] / f[1] for e in est[1]]):24.2f}")
            print(f"  sessions={count}: reference factor per pass " + ", ".join(f"{x:.3f}" for x in f)
                  + f" ({len(refs)} models: {', '.join(p.stem for p in refs)})")
        print(f"  sessions={count}: time per pass {times[count][0]:.1f} s, {times[count][1]:.1f} s "
              f"({times[count][0] / len(paths):.2f} s/model); remeasured "
              f"{sum(r['remeasured'] > 0 for p in passes for r in p)}, still contended "
              f"{sum(r['contended'] for p in passes for r in p)}, more than {count} sessions "
              f"{sum(r.get('sessions', count) > count for p in passes for r in p)} of {2 * len(paths)}")
        by_kind = {}
        for i, path in enumerate(paths):
            by_kind.setdefault(kind_of(path, i), []).append(i)
        print("  latency_ms MAPE by kind: " + ", ".join(
            f"{k} ({len(ix)}) {mape([passes[0][i]['median_ms'] for i in ix], [passes[1][i]['median_ms'] for i in ix]):.2f}"
            for k, ix in sorted(by_kind.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
