"""How a CPU's LiteRT runs depthwise convolutions of each kernel size, fp32 and int8, with and
without the XNNPACK delegate: one mobilenet-space architecture rebuilt with every block's kernel
set to 3, 5 and 7 (``datasets.build_keras``, the corpus's own build and int8 conversion).

Session 24 found the family-6 model-167 CPU's LiteRT int8 mobilenet-space labels 4.3x their fp32
ones (1.2-1.4x on the four other CPUs) and the predictors trained on them over-predicting its
real int8 MobileNetV3 2.4x; this shows where the time goes. Timing: 1 thread, the rounds of every
model interleaved (a slow spell of a shared host hits all alike), median over rounds of each
round's median. A diagnostic of the runtime, not a corpus measurement (``agent.protocol``).

Run: ``taskset -c 0 .venv/bin/python -m bench.dwconv_kernels [--arch mobilenet-s0-000021] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np

KERNELS = (3, 5, 7)


def spec_of(arch_id: str) -> dict:
    """The spec of a mobilenet-space architecture of the corpus's sampling (seed and index from its id)."""
    from datasets import spaces

    space, seed, index = arch_id.rsplit("-", 2)
    return spaces.sample_spec(space, int(seed.lstrip("s")), int(index))


def with_kernel(spec: dict, k: int) -> dict:
    out = copy.deepcopy(spec)
    for stage in out["stages"]:
        for block in stage["blocks"]:
            block["k"] = k
    return out


def interpreter(buf: bytes, xnnpack: bool):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kind = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = Interpreter(model_content=buf, num_threads=1, experimental_op_resolver_type=kind)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    it.set_tensor(inp["index"], np.zeros(inp["shape"], dtype=inp["dtype"]))
    it.invoke()  # warm-up
    return it


def main(argv: list[str] | None = None) -> int:
    from agent import environment
    from datasets import build_keras

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="mobilenet-s0-000021", help="a mobilenet-space arch id (space-sSEED-INDEX)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=10, help="timed runs per model per round")
    args = ap.parse_args(argv)
    spec = spec_of(args.arch)
    print(f"{args.arch}: family {spec.get('family')}, resolution {spec.get('resolution')}, width {spec.get('width')}; "
          f"{environment.device_key('litert', 1)}")
    cases = {}
    for k in KERNELS:
        s = with_kernel(spec, k)
        for variant in ("fp32", "int8"):
            buf = build_keras.to_tflite(s, int8=variant == "int8")
            for xnn in (True, False):
                cases[(k, variant, xnn)] = interpreter(buf, xnn)
    rounds: dict[tuple, list[float]] = {key: [] for key in cases}
    for r in range(args.rounds):
        for key, it in cases.items():
            ts = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                it.invoke()
                ts.append(time.perf_counter() - t0)
            rounds[key].append(1000 * float(np.median(ts)))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    med = {key: float(np.median(v)) for key, v in rounds.items()}
    print(f"\n{'kernel':>6} | {'fp32 xnnpack':>12} | {'fp32 builtin':>12} | {'int8 xnnpack':>12} | "
          f"{'int8 builtin':>12} | {'int8/fp32 (xnnpack)':>19}")
    for k in KERNELS:
        row = [med[(k, v, x)] for v in ("fp32", "int8") for x in (True, False)]
        print(f"{k:>6} | " + " | ".join(f"{v:>9.2f} ms" for v in row) + f" | {row[2] / row[0]:>19.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
