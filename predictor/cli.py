"""``edgeperf inspect MODEL``: parse an ONNX/TFLite file and print its IR summary."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from predictor.frontends import load_model
from predictor.graph.ir import IRError


def parse_input_shape(text: str) -> tuple[str, list[int]]:
    """``NAME=1,3,224,224`` -> ("NAME", [1, 3, 224, 224])."""
    name, sep, dims = text.rpartition("=")
    try:
        shape = [int(d) for d in dims.replace("x", ",").split(",") if d.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad --input-shape {text!r}: dims must be integers") from exc
    if not sep or not name or not shape:
        raise argparse.ArgumentTypeError(f"bad --input-shape {text!r}: expected NAME=D1,D2,...")
    return name, shape


def register(subparsers: argparse._SubParsersAction, name: str) -> None:
    p = subparsers.add_parser(name, help="parse an ONNX/TFLite model and print its IR summary")
    p.add_argument("model", type=Path, help="path of a .onnx or .tflite file")
    p.add_argument("--input-shape", action="append", type=parse_input_shape, default=[],
                   metavar="NAME=D1,D2,...", help="fix a model input's shape (repeatable)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--nodes", action="store_true", help="also list every node (op, output shape, MACs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        data = args.model.read_bytes()
    except OSError as exc:
        print(f"error: cannot read {args.model}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        graph = load_model(data, filename=args.model.name, input_shapes=dict(args.input_shape) or None)
    except IRError as exc:
        if args.json:
            print(json.dumps({"error": exc.code, "detail": exc.message}))
        print(f"error ({exc.code}): {exc.message}", file=sys.stderr)
        return 1
    summary = graph.summary()
    if args.nodes:
        summary["node_list"] = [_node_row(n) for n in graph.nodes]
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print(format_summary(summary, args.model.name))
    return 0


def _node_row(n: Any) -> dict[str, Any]:
    return {"name": n.name, "op": n.op, "out": [t.shape for t in n.outputs], "macs": n.macs}


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3f}{unit}"
    return str(int(n))


def format_summary(s: dict[str, Any], title: str) -> str:
    lines = [
        f"{title} ({s['format']})",
        "  inputs:   " + ", ".join(f"{k} {v} {s['input_dtypes'].get(k, '')}" for k, v in s["inputs"].items()),
        "  outputs:  " + ", ".join(f"{k} {v}" for k, v in s["outputs"].items()),
        f"  nodes:    {s['nodes']}   edges: {s['edges']}   folded shape nodes: {s['folded_nodes']}",
        f"  MACs:     {_human(s['macs'])}   FLOPs: {_human(s['flops'])}   params: {_human(s['params'])}",
        f"  memory:   read {_human(s['bytes_read'])}B  written {_human(s['bytes_written'])}B",
        f"  quantized: {s['quantized']}   unresolved tensors: {s['unresolved_tensors']}",
        f"  unknown ops: {s['unknown_ops']}"
        + (" (" + ", ".join(f"{k} x{v}" for k, v in s["unknown_op_types"].items()) + ")" if s["unknown_ops"] else ""),
        "  ops:",
    ]
    width = max((len(k) for k in s["op_histogram"]), default=0)
    for op, count in sorted(s["op_histogram"].items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"    {op:<{width}}  {count}")
    for row in s.get("node_list", []):
        lines.append(f"    {row['name']}: {row['op']} -> {row['out']} macs={row['macs']}")
    return "\n".join(lines)
