"""``edgeperf dataset build|measure|measure-zoo|stats|import-help``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from datasets import corpus, spaces


def _space_list(value: str) -> list[str]:
    names = list(spaces.CORPUS_SPACES) if value == "all" else [v.strip() for v in value.split(",") if v.strip()]
    for n in names:
        if n not in spaces.SPACES:
            raise argparse.ArgumentTypeError(f"unknown space {n!r}; known: all, {', '.join(spaces.SPACES)}")
    return names


def register(subparsers: Any, name: str) -> None:
    p = subparsers.add_parser(name, help="build, measure and import measured corpora")
    sub = p.add_subparsers(dest="dataset_command", metavar="ACTION")

    b = sub.add_parser("build", help="sample specs and build ONNX/TFLite files into the cache")
    b.add_argument("--space", type=_space_list, default=list(spaces.CORPUS_SPACES), help="all or a,b,c")
    b.add_argument("--count", type=int, default=10, help="architectures per space")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--formats", default="onnx", help="comma list of onnx, tflite, tflite-int8")
    b.add_argument("--out", type=Path, default=corpus.CACHE_DIR / "build")
    b.set_defaults(func=_cmd_build)

    m = sub.add_parser("measure", help="measure sampled architectures into the corpus (resumable)")
    m.add_argument("--runtime", choices=["onnxruntime", "litert"], default="onnxruntime")
    m.add_argument("--threads", type=int, default=1)
    m.add_argument("--space", type=_space_list, default=list(spaces.CORPUS_SPACES))
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--count", type=int, default=2000, help="target architectures per space")
    m.add_argument("--limit", type=int, default=None, help="stop after this many new measurements")
    m.add_argument("--variants", default=None, help="litert: fp32,int8 (default both)")
    m.add_argument("--group-size", type=int, default=32, help="models built, then measured with interleaved rounds")
    m.add_argument("--no-memory", action="store_true", help="skip the peak-memory child process")
    m.add_argument("--keep-models", action="store_true")
    m.add_argument("--worker", default="0/1", metavar="K/N",
                   help="worker K of N (from 0): every N-th architecture, so N runs pinned to N cores share the work")
    m.add_argument("--root", type=Path, default=corpus.CORPUS_DIR)
    m.set_defaults(func=_cmd_measure)

    z = sub.add_parser("measure-zoo", help="measure the zoo's real architectures (space zoo)")
    z.add_argument("--runtime", choices=["onnxruntime", "litert"], default="onnxruntime",
                   help="onnxruntime: datasets/zoo.py (torch definitions, ONNX); litert: datasets/zoo_keras.py "
                        "(keras.applications, TFLite)")
    z.add_argument("--threads", type=int, default=1)
    z.add_argument("--names", nargs="+", default=None, metavar="NAME[@RES]",
                   help="zoo names (every listed resolution) or name@resolution; default: all entries")
    z.add_argument("--limit", type=int, default=None, help="stop after this many new measurements")
    z.add_argument("--group-size", type=int, default=8, help="models whose rounds are interleaved")
    z.add_argument("--passes", type=int, default=3, help="measure each group this often, keep the fastest pass")
    z.add_argument("--variants", nargs="+", default=None, choices=["fp32", "int8"],
                   help="fp32 (default) and / or int8 (LiteRT only: the Keras network full-integer quantised)")
    z.add_argument("--no-memory", action="store_true", help="skip the peak-memory child process")
    z.add_argument("--keep-models", action="store_true")
    z.add_argument("--again", action="store_true",
                   help="measure entries already in the corpus again (the newer record is the one read)")
    z.add_argument("--root", type=Path, default=corpus.CORPUS_DIR)
    z.set_defaults(func=_cmd_measure_zoo)

    s = sub.add_parser("stats", help="counts per space and runtime, latency and MACs ranges")
    s.add_argument("--json", action="store_true")
    s.add_argument("--root", type=Path, default=corpus.CORPUS_DIR)
    s.add_argument("--pending", action="store_true", help="include records not yet sealed into shards")
    s.set_defaults(func=_cmd_stats)

    h = sub.add_parser("import-help", help="build IR for the HELP architectures and import their latencies")
    h.add_argument("--source", type=Path, default=Path("/work/shared/datasets"))
    h.add_argument("--space", choices=["nb201", "fbnet", "all"], default="all")
    h.add_argument("--limit", type=int, default=None, help="stop after this many new IR documents")
    h.add_argument("--root", type=Path, default=corpus.CORPUS_DIR)
    h.set_defaults(func=_cmd_import_help)


def _logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def _cmd_build(args: argparse.Namespace) -> int:
    from datasets import measure

    _logging()
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    plan = {"onnx": ("onnx", "fp32"), "tflite": ("tflite", "fp32"), "tflite-int8": ("tflite", "int8")}
    bad = [f for f in formats if f not in plan]
    if bad:
        print(f"unknown format(s): {', '.join(bad)}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / f"specs-s{args.seed}.jsonl", "w", encoding="utf-8") as specs:
        for sp, i in measure.plan(args.space, args.seed, args.count):
            spec = spaces.sample_spec(sp, args.seed, i)
            aid = spaces.arch_id(sp, args.seed, i)
            specs.write(json.dumps({"arch_id": aid, "spec": spec}) + "\n")
            for f in formats:
                fmt, variant = plan[f]
                (args.out / f"{aid}.{variant}.{fmt}").write_bytes(measure.build_model(spec, fmt, variant))
    print(f"wrote {args.count * len(args.space)} specs and their {', '.join(formats)} files to {args.out}")
    return 0


def _cmd_measure(args: argparse.Namespace) -> int:
    from datasets import measure

    _logging()
    variants = tuple(v.strip() for v in args.variants.split(",")) if args.variants else None
    try:
        out = measure.run(args.runtime, args.threads, args.space, args.seed, args.count, args.limit, variants,
                          args.group_size, not args.no_memory, args.root, keep_models=args.keep_models,
                          worker=measure.parse_worker(args.worker))
    except (measure.MeasureRunError, corpus.CorpusError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


def _cmd_measure_zoo(args: argparse.Namespace) -> int:
    from datasets import zoo_measure

    _logging()
    names = [n.strip() for v in args.names for n in v.split(",") if n.strip()] if args.names else None
    try:
        out = zoo_measure.run(args.runtime, args.threads, names, args.group_size, not args.no_memory, args.root,
                              keep_models=args.keep_models, limit=args.limit, passes=args.passes,
                              again=args.again, variants=args.variants)
    except (zoo_measure.ZooRunError, corpus.CorpusError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from datasets import stats

    table = stats.compute(corpus.iter_records(root=args.root, include_help=False, include_pending=args.pending))
    if args.json:
        print(json.dumps(table, indent=1))
    else:
        print(stats.format_table(table))
    return 0


def _cmd_import_help(args: argparse.Namespace) -> int:
    from datasets import help as help_mod

    _logging()
    names = ["nb201", "fbnet"] if args.space == "all" else [args.space]
    try:
        help_mod.import_latencies(args.source, args.root / corpus.HELP_DIR_NAME)
        for sp in names:
            n = help_mod.build_ir(sp, args.source, args.root / corpus.HELP_DIR_NAME, limit=args.limit)
            print(f"{sp}: {n} new IR documents")
    except corpus.RunStopped as exc:
        print(str(exc), file=sys.stderr)
        return 130
    except (help_mod.HelpImportError, corpus.CorpusError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
