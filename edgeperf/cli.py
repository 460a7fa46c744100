"""The ``edgeperf`` command. Each area registers its own sub-commands.

Sub-command modules are imported lazily so that ``edgeperf agent ...`` on a small
device never imports the service or the GNN code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command name -> (module providing ``register(subparsers)``, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("predictor.cli", "parse an ONNX/TFLite model and print its IR summary"),
    "serve": ("service.cli", "apply migrations and start the API server"),
    "migrate": ("service.cli", "apply pending database migrations"),
    "worker": ("service.cli", "run the background job worker (training, calibration)"),
    "agent": ("agent.cli", "device agent: measure models locally or for a server"),
    "dataset": ("datasets.cli", "build, measure and import measured corpora"),
    "train": ("predictor.train", "train a predictor from corpus files or the database"),
    "predict": ("edgeperf.client_cli", "ask a server for a prediction of a model"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgeperf", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = argv[0] if argv and argv[0] in COMMANDS else None
    for name, (module, help_text) in COMMANDS.items():
        if wanted is None or name == wanted:
            if wanted is None:
                sub.add_parser(name, help=help_text)
                continue
            mod = importlib.import_module(module)
            mod.register(sub, name)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    rc = args.func(args)
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
