"""``edgeperf agent run`` and ``edgeperf agent bench``."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from agent.backends.base import REGISTRY

log = logging.getLogger(__name__)


def _shape(text: str) -> tuple[str, list[int]]:
    name, sep, dims = text.rpartition("=")
    try:
        shape = [int(d) for d in dims.split(",")]
    except ValueError:
        shape = []
    if not sep or not name or not shape or any(d <= 0 for d in shape):
        raise argparse.ArgumentTypeError(f"expected NAME=D1,D2,... with positive dims, got {text!r}")
    return name, shape


def _protocol_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=1, help="runtime threads (default 1)")
    parser.add_argument("--cpu", type=int, default=None, help="pin the measuring process to this CPU")
    parser.add_argument("--rounds", type=int, default=None, help="maximum rounds before re-measuring")
    parser.add_argument("--runs-per-round", type=int, default=None)
    parser.add_argument("--warmup-s", type=float, default=None)
    parser.add_argument("--sessions", type=int, default=None, help="sessions per model (default 2)")
    parser.add_argument("--max-sessions", type=int, default=None,
                        help="load more sessions, up to this many, while they disagree (default 5)")
    parser.add_argument("--realtime", action="store_true",
                        help="timed rounds under SCHED_FIFO (needs CAP_SYS_NICE; holds a core: dedicated devices)")


def _config(args: argparse.Namespace) -> Any:
    from agent.protocol import ProtocolConfig

    overrides: dict[str, Any] = {}
    if args.rounds is not None:
        overrides.update(max_rounds=args.rounds, min_rounds=min(3, args.rounds))
    if args.runs_per_round is not None:
        overrides["runs_per_round"] = args.runs_per_round
    if args.warmup_s is not None:
        overrides["warmup_s"] = args.warmup_s
    if args.sessions is not None:
        overrides["sessions"] = args.sessions
        overrides["max_sessions"] = max(args.sessions, ProtocolConfig.max_sessions)
    if args.max_sessions is not None:
        overrides["max_sessions"] = args.max_sessions
    try:
        return ProtocolConfig(realtime=args.realtime, **overrides)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc


def register(subparsers: argparse._SubParsersAction, name: str) -> None:
    agent = subparsers.add_parser(name, help="device agent: measure models locally or for a server")
    sub = agent.add_subparsers(dest="agent_command", metavar="ACTION")
    run = sub.add_parser("run", help="lease measurement jobs from a server until stopped")
    run.add_argument("--server", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    run.add_argument("--token", required=True, help="this device's agent token")
    run.add_argument("--outbox", type=Path, default=Path("agent-outbox"), help="queue of unsent results")
    run.add_argument("--runtime", choices=sorted(REGISTRY), default=None,
                     help="force a runtime (default: from the job, else from the model format)")
    run.add_argument("--poll-s", type=float, default=5.0, help="wait between empty leases")
    run.add_argument("--max-jobs", type=int, default=None, help="stop after this many jobs")
    _protocol_args(run)
    run.set_defaults(func=_run)
    bench = sub.add_parser("bench", help="measure one model file here and print the statistics")
    bench.add_argument("model", type=Path)
    bench.add_argument("--runtime", choices=sorted(REGISTRY), default=None,
                       help="default: litert for .tflite, else onnxruntime")
    bench.add_argument("--input-shape", type=_shape, action="append", default=[], metavar="NAME=1,3,224,224")
    bench.add_argument("--no-memory", action="store_true", help="skip the peak-memory child")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    _protocol_args(bench)
    bench.set_defaults(func=_bench)
    agent.set_defaults(func=lambda _args: agent.print_help() or 2)


def _bench(args: argparse.Namespace) -> int:
    from agent.environment import describe
    from agent.protocol import MeasureError, measure

    if not args.model.is_file():
        print(f"error: no such file: {args.model}", file=sys.stderr)
        return 2
    runtime = args.runtime or ("litert" if args.model.suffix == ".tflite" else "onnxruntime")
    try:
        result = measure(args.model, runtime, args.threads, dict(args.input_shape) or None, _config(args),
                         memory=not args.no_memory, cpu=args.cpu)
    except MeasureError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    result["environment"] = describe(runtime, args.threads)
    if args.json:
        print(json.dumps(result))
    else:
        _print_table(result)
    return 0


def _print_table(r: dict[str, Any]) -> None:
    mem = "n/a" if r["peak_memory_mb"] is None else f"{r['peak_memory_mb']:.1f} MB"
    energy = "n/a (no sensor)" if r["energy_mj"] is None else f"{r['energy_mj']:.3f} mJ"
    rows = [
        ("device", r["environment"]["device_key"]),
        ("runtime", f"{r['runtime']} {r['runtime_version']} ({r['delegate']}, {r['threads']} thread(s))"),
        ("load", f"{r['load_ms']:.2f} ms"), ("first inference", f"{r['first_ms']:.3f} ms"),
        ("latency (median)", f"{r['median_ms']:.4f} ms"), ("p25 corrected", f"{r['low_quantile_ms']:.4f} ms"), ("p10 / p90", f"{r['p10_ms']:.4f} / {r['p90_ms']:.4f} ms"),
        ("MAD", f"{r['mad_ms']:.4f} ms"),
        ("sessions", f"{r['sessions']} ({' '.join(f'{m:.4f}' for m in r['session_medians_ms'])} ms"
                     f"{'' if r['sessions_agree'] else '; they disagree'})"),
        ("runs / rounds", f"{r['runs']} / {r['rounds']} (remeasured {r['remeasured']}, "
                          f"contended {r['contended']}, preempted {100 * r['preempted_fraction']:.0f}%)"),
        ("peak memory", mem), ("energy / inference", energy),
    ]
    for key, value in rows:
        print(f"{key:20s} {value}")


def _run(args: argparse.Namespace) -> int:
    from agent.runner import Agent, AgentConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    cfg = AgentConfig(server=args.server, token=args.token, outbox_dir=args.outbox, threads=args.threads,
                      runtime=args.runtime, poll_s=args.poll_s, max_jobs=args.max_jobs, cpu=args.cpu,
                      protocol=_config(args))
    agent = Agent(cfg)
    signal.signal(signal.SIGTERM, lambda *_: agent.stop.set())
    try:
        return agent.run()
    except KeyboardInterrupt:
        return 130
    finally:
        agent.client.close()
