"""Parse time and peak memory of the model front ends.

Builds (once, cached under --cache) a ResNet-50 ONNX file with its weights (~100 MB),
two ONNX graphs of 1,000+ nodes (a 50-block ViT of width 192 (ViT-Ti blocks), and a narrow
220-block residual CNN whose file is tiny: the worst case for memory per file byte),
and optionally the keras ResNet-50 as TFLite. Each file is measured in a fresh child
process: it first parses a one-node model (onnx builds its operator-schema registry
once per process, ~7 MB; a service pays that once), then reads the file and parses it
``--repeat`` times. Peak memory is the VmHWM growth from just before the file is read
(so the file's own bytes count once); "parse +MB" is the growth caused by parsing alone.

    .venv/bin/python bench/parse.py [--tflite] [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time
from predictor.frontends import load_model
from predictor.frontends.onnx import parse_onnx  # import everything before measuring
from predictor.frontends.tflite import parse_tflite
def rss():
    # VmHWM, reset through clear_refs: ru_maxrss is inherited across exec from the parent
    with open("/proc/self/status") as f:
        return int(f.read().split("VmHWM:")[1].split()[0]) * 1024
def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
def warm_up():
    # onnx builds its operator-schema registry (~7 MB) on the first shape inference of a
    # process; a service pays that once, so it is kept out of the per-model figures
    from onnx import helper
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "w",
                          [helper.make_tensor_value_info("x", 1, [1, 4])],
                          [helper.make_tensor_value_info("y", 1, None)])
    t = time.perf_counter()
    load_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    return time.perf_counter() - t
path, repeat = sys.argv[1], int(sys.argv[2])
warm_s = warm_up()
reset_peak()
before_read = rss()
data = open(path, "rb").read()
reset_peak()
before_parse = rss()
times, cpu = [], []
for _ in range(repeat):
    t, c = time.perf_counter(), time.process_time()
    g = load_model(data, filename=path)
    times.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)
    del g
after = rss()  # peak of the parse phase (the file bytes are resident throughout)
g = load_model(data, filename=path)
s = g.summary()
print(json.dumps({"times": times, "cpu": cpu, "warm_up": warm_s, "total_peak": after - before_read,
                  "parse_peak": after - before_parse,
                  "nodes": s["nodes"], "macs": s["macs"], "bytes": len(data)}))
"""


class DeepResidual:
    """A narrow network of ``blocks`` residual blocks (5 operators each)."""

    @staticmethod
    def build(blocks: int):
        import torch
        from torch import nn

        class Block(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.a, self.b = nn.Conv2d(16, 16, 3, padding=1), nn.Conv2d(16, 16, 1)

            def forward(self, x):
                return torch.relu(x + self.b(torch.sigmoid(self.a(x))) * 0.5)

        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), *[Block() for _ in range(blocks)]).eval()


def build_files(cache: Path, with_tflite: bool) -> list[tuple[str, Path]]:
    from datasets.zoo import export_onnx

    cache.mkdir(parents=True, exist_ok=True)
    files = [
        ("resnet50 onnx (weights)", cache / "resnet50.onnx", lambda: export_onnx("resnet50", opset=13)),
        ("vit-50 blocks onnx 1k+ nodes", cache / "vit50.onnx", _transformer),
        ("deep-residual onnx 1k+ nodes", cache / "deep_residual.onnx",
         lambda: export_onnx(DeepResidual.build(220), (1, 3, 32, 32), opset=13)),
    ]
    if with_tflite:
        files.append(("resnet50 tflite (keras v1)", cache / "resnet50.tflite", _keras_resnet50))
    out = []
    for label, path, build in files:
        if not path.exists():
            path.write_bytes(build())
        out.append((label, path))
    return out


def _transformer() -> bytes:
    from datasets.zoo import VisionTransformer, export_onnx

    return export_onnx(VisionTransformer(dim=192, depth=50, heads=3).eval(), opset=13)


def _keras_resnet50() -> bytes:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    model = tf.keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3))
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints every captured variable
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def measure(path: Path, repeat: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(repeat)], capture_output=True,
                          text=True, cwd=ROOT, timeout=600, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "edgeperf-bench-parse")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--tflite", action="store_true", help="also the keras ResNet-50 as TFLite (needs TF)")
    args = ap.parse_args()
    rows = []
    for label, path in build_files(args.cache, args.tflite):
        r = measure(path, args.repeat)
        mb = r["bytes"] / 2**20
        rows.append((label, mb, r["nodes"], r["macs"] / 1e9, min(r["times"]), sorted(r["times"])[len(r["times"]) // 2],
                     min(r["cpu"]), r["parse_peak"] / 2**20, r["total_peak"] / 2**20, r["total_peak"] / r["bytes"]))
    head = ("model", "file MB", "nodes", "GMACs", "best s", "median s", "cpu s", "parse +MB", "peak MB",
            "peak/file")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for row in rows:
        label, mb, nodes, gmacs, best, med, cpu, parse_mb, peak_mb, ratio = row
        print(f"{label} | {mb:.1f} | {nodes} | {gmacs:.3f} | {best:.3f} | {med:.3f} | {cpu:.3f} | {parse_mb:.1f} | "
              f"{peak_mb:.1f} | {ratio:.2f}x")
    load = os.getloadavg()[0]
    print(f"\ngoals: parse < 1 s, peak (file bytes included) < 3x file size; load average {load:.1f} "
          f"on {os.cpu_count()} CPUs (wall times include waiting for a CPU; 'cpu s' does not)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
