"""Prediction throughput: batch predictions per second and ResNet-50 upload + prediction time.

Graphs: NAS-Bench-201 networks in the standard macro skeleton (C=16, N=5, 32x32; random
cells from ``datasets.spaces.nb201``) and MobileNetV2 (``datasets.zoo``), exported with
torch.onnx and parsed by the ONNX front end. A batch of N items cycles over the distinct
exported graphs; every item is parsed and featurised on its own (no cache), as for N new
architectures of the same size.

Rows:
  in-process   ``featurize_many`` (IR documents, validated, straight to ``Data``) + ``Predictor.predict``,
               timed apart; wall time and this process's CPU time (the machine may be shared); then
               the NB201 batch split over one forked process per usable core (the in-process ceiling)
  HTTP ir      ``POST /v1/predictions/batch`` with IR documents, to a real uvicorn server, encoded
               as ``edgeperf.client`` encodes them (orjson) within the time; also gzip-encoded
               (level 1, what the client does for bodies of 256 KB or more), compressed within the time
  HTTP columns the same graphs in the columns form (``predictor.columns``: what the predictor reads,
               packed arrays), made from the IR documents and gzip-encoded by the client within the time
  HTTP id      the same graphs uploaded first and sent by id (features cached by graph hash)
  HTTP ir / columns, N client(s)  the NB201 batch as gzip bodies encoded before timing, posted by N
               concurrent clients to ``--server-workers`` API processes
ResNet-50: ``POST /v1/predictions/upload`` of the exported file (~100 MB with weights), cold and
repeated, and ``EdgePerfClient.predict`` (local parse, structure sent).

The predictor: the shipped ``cpu-reference.pt`` (else the first shipped checkpoint) or ``--checkpoint``;
without one, a PerfSAGE ensemble of the default architecture trained for one epoch on the bench
graphs (weights' quality does not change the cost of a forward pass).

    .venv/bin/python bench/throughput.py [--nb201 1000] [--mobilenet 200] [--threads 2]
    .venv/bin/python bench/throughput.py --parts http --server-workers 2 --threads 1   # one process per core
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeperf.client import encode_body  # noqa: E402
from predictor.artifacts import Predictor, load_checkpoint, load_default_predictors, save_checkpoint  # noqa: E402
from predictor.columns import to_columns  # noqa: E402
from predictor.features import featurize, featurize_many  # noqa: E402
from predictor.graph.ir import Graph, gc_paused  # noqa: E402

CACHE = ROOT / "datasets" / "cache" / "bench"
ADMIN_KEY = "bench-admin-key-0123456789abcdef"


# -- graphs ---------------------------------------------------------------------------
def nb201_docs(count: int) -> list[dict]:
    path = CACHE / f"nb201_ir_{count}.json"
    if path.exists():
        return json.loads(path.read_text())
    from datasets.build_torch import to_onnx
    from datasets.spaces import nb201
    from predictor.frontends import load_model

    rng = random.Random(0)
    docs = []
    for _ in range(count):
        arch = nb201.arch_string([rng.choice(nb201.OPS) for _ in range(6)])
        docs.append(load_model(to_onnx({"space": "nb201", "arch": arch, **nb201.STANDARD})).to_dict())
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(docs))
    return docs


def zoo_file(name: str) -> Path:
    path = CACHE / f"{name}.onnx"
    if not path.exists():
        from datasets.zoo import export_onnx

        CACHE.mkdir(parents=True, exist_ok=True)
        path.write_bytes(export_onnx(name, opset=13))
    return path


def zoo_doc(name: str) -> dict:
    from predictor.frontends import load_model

    path = zoo_file(name)
    return load_model(path.read_bytes(), filename=path.name).to_dict()


# -- predictor --------------------------------------------------------------------------
def bench_predictor(checkpoint: str | None, docs: list[dict]) -> Predictor:
    if checkpoint:
        return load_checkpoint(checkpoint)
    shipped = load_default_predictors()
    if shipped:  # the six-device reference when shipped (the figures of bench/results/throughput-*)
        return shipped.get("cpu-reference") or shipped[sorted(shipped)[0]]
    from predictor.train import Record, TrainConfig, build_table, train_predictor

    records = []
    for i, doc in enumerate(docs):
        g = Graph.from_dict(doc)
        s = g.summary()
        records.append(
            Record(
                f"g{i}",
                g,
                "bench-device",
                {
                    "latency": 0.05 + s["macs"] / 2e8,
                    "energy": 0.2 + s["macs"] / 5e7,
                    "memory": 10 + s["bytes_written"] / 1e6,
                },
            )
        )
    table = build_table(records)
    return train_predictor(table, TrainConfig(epochs=1, val_fraction=0.2, calib_fraction=0.2), name="bench")


# -- in process ------------------------------------------------------------------------
def in_process(predictor: Predictor, docs: list[dict], n: int, device: str) -> dict[str, float]:
    items = [docs[i % len(docs)] for i in range(n)]
    with gc_paused():  # as the service's batch endpoint does
        t0, c0 = time.perf_counter(), time.process_time()
        data = featurize_many(items)
        t1, c1 = time.perf_counter(), time.process_time()
        predictor.predict(data, [device])
        t2, c2 = time.perf_counter(), time.process_time()
    assert not any(isinstance(d, Exception) for d in data)
    return {"n": n, "featurize_s": t1 - t0, "forward_s": t2 - t1, "total_s": t2 - t0, "cpu_s": c2 - c0,
            "featurize_cpu_s": c1 - c0, "forward_cpu_s": c2 - c1}


def in_processes(predictor: Predictor, docs: list[dict], n: int, device: str, processes: int) -> float:
    """Wall seconds for ``processes`` forked copies of this process (one torch thread each) to
    featurise and predict ``n`` graphs between them, each its share: the in-process ceiling of a
    machine with that many cores, without any transport."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    start, done = ctx.Barrier(processes + 1), ctx.Queue()

    def work(k: int) -> None:
        torch.set_num_threads(1)
        share = [docs[i % len(docs)] for i in range(k, n, processes)]
        in_process(predictor, share[:8], 8, device)  # warm
        start.wait()
        done.put(in_process(predictor, share, len(share), device)["total_s"])

    procs = [ctx.Process(target=work, args=(k,)) for k in range(processes)]
    for p in procs:
        p.start()
    start.wait()
    t0 = time.perf_counter()
    for _ in procs:
        done.get(timeout=600)
    wall = time.perf_counter() - t0
    for p in procs:
        p.join(timeout=30)
    return wall


# -- HTTP --------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, checkpoints: Path, threads: int, workers: int = 1) -> tuple[subprocess.Popen, str]:
    env = {
        **os.environ,
        "EDGEPERF_DATA_DIR": str(root / "data"),
        "EDGEPERF_ADMIN_KEY": ADMIN_KEY,
        "EDGEPERF_PREDICTOR_DIR": str(checkpoints),
        "EDGEPERF_MAX_UPLOAD_BYTES": str(512 * 2**20),
        "EDGEPERF_MAX_BATCH_SIZE": "5000",
        "EDGEPERF_LOG_LEVEL": "WARNING",
        "OMP_NUM_THREADS": str(threads),
    }
    env.pop("EDGEPERF_DATABASE_URL", None)
    env.pop("EDGEPERF_DEV_MODE", None)
    port = _free_port()
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "edgeperf"), "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(root / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server not ready after 120 s")


def http_batch(http: httpx.Client, items: list[dict], device: str, chunk: int, compress: bool = False,
               columns: bool = False) -> float:
    """Seconds to post ``items`` in requests of ``chunk``, encoded as ``edgeperf.client`` does
    (``encode_body``: orjson; ``compress``: gzip level 1, which the client does for bodies of
    256 KB or more) as part of the time; ``columns``: each IR document turned into its columns
    form (``predictor.columns.to_columns``, what ``EdgePerfClient.predict_batch`` sends) within the time."""
    t0 = time.perf_counter()
    for s in range(0, len(items), chunk):
        part = items[s : s + chunk]
        if columns:
            part = [{"columns": to_columns(it["ir"])} for it in part]
        data, headers = encode_body({"items": part, "devices": device}, 0 if compress else None)
        resp = http.post("/v1/predictions/batch", content=data, headers=headers)
        resp.raise_for_status()
        assert resp.json()["failed"] == 0, resp.text[:500]
    return time.perf_counter() - t0


def http_concurrent(base: str, bodies: list[bytes], clients: int) -> float:
    """Seconds to post the pre-encoded (gzip level 1) batch ``bodies`` from ``clients`` threads,
    each with its own connection: the server's throughput without the client's JSON encoding
    (a NAS pipeline encodes on its own machine)."""
    from concurrent.futures import ThreadPoolExecutor

    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    conns = [httpx.Client(base_url=base, timeout=600) for _ in range(clients)]

    def post(c: int) -> None:  # client c sends every clients-th body on its own connection
        for body in bodies[c::clients]:
            conns[c].post("/v1/predictions/batch", content=body, headers=headers).raise_for_status()

    try:
        for c in conns:  # connect first
            c.get("/readyz")
        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(post, range(clients)))
        return time.perf_counter() - t0
    finally:
        for c in conns:
            c.close()


def upload_ids(http: httpx.Client, docs_files: list[Path]) -> list[int]:
    ids = []
    for path in docs_files:
        resp = http.post("/v1/graphs", files={"file": (path.name, path.read_bytes())})
        resp.raise_for_status()
        ids.append(resp.json()["id"])
    return ids


def resnet_upload(http: httpx.Client, path: Path, device: str) -> float:
    # the file object is streamed in chunks, as ``edgeperf.client`` does: httpx sends one 100 MB
    # bytes object about 0.3 s slower than the same bytes read from a file
    t0 = time.perf_counter()
    with path.open("rb") as fh:
        resp = http.post("/v1/predictions/upload", files={"file": (path.name, fh)}, data={"devices": device})
    resp.raise_for_status()
    return time.perf_counter() - t0


def row(name: str, n: int, seconds: float, note: str = "") -> str:
    return f"{name:<34} {n:>6} {seconds:>9.3f} {n / seconds:>11.0f}  {note}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nb201", type=int, default=1000, help="NAS-Bench-201 items per batch")
    ap.add_argument("--distinct", type=int, default=24, help="distinct NAS-Bench-201 networks exported")
    ap.add_argument("--mobilenet", type=int, default=200, help="MobileNetV2 items per batch")
    ap.add_argument("--chunk", type=int, default=250, help="items per HTTP request")
    ap.add_argument(
        "--threads", type=int, default=min(2, len(os.sched_getaffinity(0))), help="torch threads (default: CPUs usable, at most 2)"
    )
    ap.add_argument("--server-workers", type=int, default=1, help="API processes (edgeperf serve --workers)")
    ap.add_argument("--clients", type=int, default=None,
                    help="concurrent clients of the pre-encoded row (default: --server-workers)")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--parts", default="inprocess,http,resnet", help="comma-separated subset to run")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    torch.set_num_threads(args.threads)

    docs = nb201_docs(args.distinct)
    mnet = zoo_doc("mobilenet_v2")
    predictor = bench_predictor(args.checkpoint, docs)
    device = predictor.devices[0]
    nodes = sum(len(d["nodes"]) for d in docs) / len(docs)
    print(
        f"predictor {predictor.version} ({len(predictor.members)} members, {predictor.members[0]!r}); "
        f"device {device}; torch threads {args.threads}; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
        f"({len(os.sched_getaffinity(0))} usable)"
    )
    print(
        f"NAS-Bench-201: {len(docs)} distinct graphs, {nodes:.0f} nodes on average; "
        f"MobileNetV2: {len(mnet['nodes'])} nodes\n"
    )
    print(f"{'what':<34} {'graphs':>6} {'seconds':>9} {'graphs/s':>11}  split")
    predictor.predict([featurize(docs[0])], [device])  # warm-up
    for name, pool, n in (
        ("in-process NB201", docs, args.nb201),
        ("in-process MobileNetV2", [mnet], args.mobilenet),
    ):
        if "inprocess" not in parts:
            break
        r = in_process(predictor, pool, n, device)
        print(
            row(
                name,
                n,
                r["total_s"],
                f"featurise {r['featurize_s']:.2f} s, forward {r['forward_s']:.2f} s ({n / r['forward_s']:.0f}/s); "
                f"CPU {r['cpu_s']:.2f} s ({n / r['cpu_s']:.0f}/s: featurise {r['featurize_cpu_s']:.2f}, "
                f"forward {r['forward_cpu_s']:.2f})",
            )
        )

    if "inprocess" in parts and len(os.sched_getaffinity(0)) > 1:
        k = len(os.sched_getaffinity(0))
        wall = in_processes(predictor, docs, args.nb201, device, k)
        print(row(f"in-process NB201, {k} processes", args.nb201, wall, "forked, one torch thread and 1/k of the graphs each"))

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        save_checkpoint(predictor, root / "checkpoints" / f"{predictor.name}.pt")
        proc, base = start_server(root, root / "checkpoints", args.threads, args.server_workers)
        print(f"\nserver: {args.server_workers} API process(es), {args.threads} torch thread(s) each")
        try:
            with httpx.Client(base_url=base, timeout=600) as http:
                if "http" in parts:
                    http_rows(http, docs, mnet, device, args)
                    clients = args.clients or args.server_workers
                    items = [{"ir": docs[i % len(docs)]} for i in range(args.nb201)]
                    bodies = [encode_body({"items": items[s : s + args.chunk], "devices": device}, 0)[0]
                              for s in range(0, len(items), args.chunk)]
                    http_concurrent(base, bodies[: 2 * clients], clients)  # every process warm
                    print(row(f"HTTP ir NB201, {clients} client(s)", args.nb201, http_concurrent(base, bodies, clients),
                              f"{args.chunk} per request, bodies gzip-encoded before the clock starts"))
                    items = [{"columns": to_columns(docs[i % len(docs)])} for i in range(args.nb201)]
                    bodies = [encode_body({"items": items[s : s + args.chunk], "devices": device}, 0)[0]
                              for s in range(0, len(items), args.chunk)]
                    http_concurrent(base, bodies[: 2 * clients], clients)
                    print(row(f"HTTP columns NB201, {clients} client(s)", args.nb201,
                              http_concurrent(base, bodies, clients),
                              f"{args.chunk} per request, bodies made and gzip-encoded before the clock starts"))
                if "resnet" in parts:
                    resnet_rows(http, base, device)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


def http_rows(
    http: httpx.Client, docs: list[dict], mnet: dict, device: str, args: argparse.Namespace
) -> None:
    http_batch(http, [{"ir": docs[0]}], device, 1)  # warm-up
    for name, pool, n in (
        ("HTTP ir NB201", docs, args.nb201),
        ("HTTP ir MobileNetV2", [mnet], args.mobilenet),
    ):
        items = [{"ir": pool[i % len(pool)]} for i in range(n)]
        print(row(name, n, http_batch(http, items, device, args.chunk), f"{args.chunk} per request"))
    items = [{"ir": docs[i % len(docs)]} for i in range(args.nb201)]
    raw, packed = len(encode_body(items[0], None)[0]), len(encode_body(items[0], 0)[0])
    print(
        row(
            "HTTP ir NB201, gzip 1 (client)",
            args.nb201,
            http_batch(http, items, device, args.chunk, compress=True),
            f"{args.chunk} per request; {raw / 1000:.0f} KB -> {packed / 1000:.0f} KB per graph",
        )
    )
    for name, pool, n in (
        ("HTTP columns NB201", docs, args.nb201),
        ("HTTP columns MobileNetV2", [mnet], args.mobilenet),
    ):
        items = [{"ir": pool[i % len(pool)]} for i in range(n)]
        one = len(encode_body({"columns": to_columns(pool[0])}, None)[0])
        print(row(name, n, http_batch(http, items, device, args.chunk, compress=True, columns=True),
                  f"{args.chunk} per request, made and gzipped by the client in the time; {one / 1000:.0f} KB per graph"))
    ids = upload_ids(http, [zoo_file("mobilenet_v2")])
    http_batch(http, [{"graph_id": ids[0]}], device, 1)  # featurised once, then cached
    items = [{"graph_id": ids[0]}] * args.mobilenet
    print(
        row(
            "HTTP id MobileNetV2 (cached)",
            args.mobilenet,
            http_batch(http, items, device, args.chunk),
            "features cached by graph hash",
        )
    )


def resnet_rows(http: httpx.Client, base: str, device: str) -> None:
    from edgeperf.client import EdgePerfClient

    path = zoo_file("resnet50")
    size = path.stat().st_size / 2**20
    print(f"\nResNet-50 ({size:.0f} MB file) on {device}")
    print(f"  warm-up: MobileNetV2 upload + prediction {resnet_upload(http, zoo_file('mobilenet_v2'), device):7.3f} s")
    print(f"  upload + prediction, new file        {resnet_upload(http, path, device):7.3f} s")
    print(f"  upload + prediction, same file again {resnet_upload(http, path, device):7.3f} s")
    with EdgePerfClient(base) as api:
        t0 = time.perf_counter()
        api.predict(path, device=device)
        print(f"  client.predict (local parse, IR sent) {time.perf_counter() - t0:6.3f} s")


if __name__ == "__main__":
    sys.exit(main())
