"""``edgeperf predict MODEL --server URL --device NAME``: parse the model here, send its
structure, print the server's prediction (a table, or JSON with ``--json``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

TARGETS = ("latency", "energy", "memory")


def register(subparsers: argparse._SubParsersAction, name: str) -> None:
    p = subparsers.add_parser(name, help="ask a server for a prediction of a model (sends structure only)")
    p.add_argument("model", help="an .onnx or .tflite file")
    p.add_argument(
        "--server",
        default=os.environ.get("EDGEPERF_SERVER", "http://127.0.0.1:8000"),
        help="server URL (default $EDGEPERF_SERVER or http://127.0.0.1:8000)",
    )
    p.add_argument("--device", required=True, help="device name")
    p.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=1,3,224,224",
        help="fix the shape of a dynamic input (repeatable)",
    )
    p.add_argument(
        "--target", action="append", choices=TARGETS, default=None, help="limit targets (repeatable)"
    )
    p.add_argument(
        "--token", default=os.environ.get("EDGEPERF_TOKEN"), help="bearer token, if the server needs one"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_run)


def parse_input_shapes(items: list[str]) -> dict[str, list[int]] | None:
    shapes: dict[str, list[int]] = {}
    for item in items:
        name, sep, dims = item.rpartition("=")
        try:
            values = [int(d) for d in dims.split(",")]
        except ValueError:
            values = []
        if not sep or not name or not values or any(v <= 0 for v in values):
            raise ValueError(f"--input-shape {item!r}: expected NAME=D1,D2,... with positive integers")
        shapes[name] = values
    return shapes or None


def summarise(answer: dict[str, Any], device: str) -> dict[str, Any]:
    """The flat ``--json`` record (null for unavailable targets)."""
    preds = answer["predictions"][device]

    def value(t: str) -> float | None:
        p = preds.get(t)
        return p["value"] if p and p["available"] else None

    latency = preds.get("latency")
    return {
        "device": device,
        "latency_ms": value("latency"),
        "latency_interval_ms": latency["interval_90"] if latency and latency["available"] else None,
        "energy_mj": value("energy"),
        "energy_interval_mj": preds["energy"]["interval_90"] if value("energy") is not None else None,
        "peak_memory_mb": value("memory"),
        "peak_memory_interval_mb": preds["memory"]["interval_90"] if value("memory") is not None else None,
        "unavailable": {t: p["reason"] for t, p in preds.items() if not p["available"]},
        "predictor_version": answer["predictor_version"],
        "warnings": [w["message"] for w in answer["warnings"]],
    }


def _table(answer: dict[str, Any], device: str) -> str:
    lines = [f"{'target':<10} {'value':>12} {'90% interval':>28}  unit"]
    for target, p in answer["predictions"][device].items():
        if p["available"]:
            lo, hi = p["interval_90"]
            lines.append(f"{target:<10} {p['value']:>12.4g} {f'[{lo:.4g}, {hi:.4g}]':>28}  {p['unit']}")
        else:
            lines.append(f"{target:<10} {'n/a':>12} {'':>28}  ({p['reason']})")
    lines.append(f"predictor {answer['predictor_version']} on {device}")
    lines += [f"warning: {w['message']}" for w in answer["warnings"]]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    from edgeperf.client import EdgePerfClient, EdgePerfError
    from predictor.graph.ir import IRError

    try:
        shapes = parse_input_shapes(args.input_shape)
        with EdgePerfClient(args.server, token=args.token) as api:
            answer = api.predict(args.model, device=args.device, input_shapes=shapes, targets=args.target)
    except (ValueError, OSError, EdgePerfError) as exc:  # IRError is a ValueError
        code = (
            exc.error
            if isinstance(exc, EdgePerfError)
            else (exc.code if isinstance(exc, IRError) else "error")
        )
        if args.json:
            print(json.dumps({"error": code, "detail": getattr(exc, "detail", None) or str(exc)}))
        else:
            print(f"edgeperf predict: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summarise(answer, args.device)) if args.json else _table(answer, args.device))
    return 0
