"""Calibrate a predictor to this machine from K measured architectures.

1. A base predictor is trained on other devices only (the HELP NAS-Bench-201 / FBNet
   latency tables and the corpora of the other CPUs; this machine's data and the zoo are
   never used). Latencies are the corpus label (``datasets.corpus.latency_label_ms``).
2. This machine is the new device: active selection (ensemble uncertainty x diversity,
   ``service.calibration.selection``) picks 50 architectures from the corpus search
   spaces; they are built to ONNX and measured here with ``agent.protocol`` (onnxruntime,
   1 thread). K = 10, 25, 50 are prefixes of the selection order.
3. Test set: real architectures never seen in training (``datasets/zoo.py``: ResNet-18/50,
   MobileNetV2, MobileNetV3-L/S at 224 and 160; with ``--runtime litert`` ``datasets/zoo_keras.py``'s
   ResNet-50, MobileNetV2, MobileNetV3-L/S at 224 and 160 as TFLite), measured twice the same way; the second
   pass against the first gives the device's own run-to-run noise. The first pass is
   interleaved with the calibration models (one ``measure_many`` call), so that a slow or
   fast spell of a shared host shifts both sets alike instead of biasing one against the other.
4. For each K: MAPE on the test set of (a) the base predictor adapted to the device with
   the K measurements (device embedding only) and (b) a PerfSAGE trained from scratch on
   the same K measurements. The verdict (K = 50 within 1.2x the noise) is that of the method the
   service would serve, the one with the lower cross-validated MAPE on the K measurements
   (``service.calibration.service.best_fit``), not the better of the two on the test set.

``--base CHECKPOINT`` skips step 1 and starts from a trained predictor instead (e.g. the shipped
``predictor/checkpoints/cpu-reference.pt``, which is what the service adapts when a device
registers), refused if it already knows this machine; its other targets are left unused.

``--real-in-pool`` adds a second pool: the corpus candidates plus the zoo's real networks of every
family but the test set's (``datasets.zoo.family``: no ResNet, ResNeXt, wide ResNet, MobileNetV2 or V3
variant is ever a pick; EfficientNet, MNASNet, RegNet, ShuffleNet, ... may be, up to the size the
service's graph store takes, ``service.calibration.service.real_network_mparams``). Both pools' picks are
measured in one session, interleaved with the test models, and each pool gets its own table against the
same test passes and noise. With ``--from-corpus`` the same networks join the pool of the device's records,
and a column gives the MAPE on the test families' zoo networks alone.

``--from-corpus DEVICE_KEY`` (with ``--base``, which must not know that device) measures nothing: the
device's own corpus records stand in for its agent. A pool of ``--pool`` of its architectures is drawn
at random, active selection orders it, and K = 10, 25, 50 are prefixes of that order (and, for
comparison, K random ones); the test set is every other architecture of the device, zoo included.
It reports MAPE, within-10% and Spearman rho per K, so a new device's calibration is judged on
hundreds of architectures instead of ten. ``--measured FROM..TO`` keeps the records of one session
(a host that ran 25-35% faster one week than another, as the family-25 model-1 VM did, is two devices to
a calibration that mixes them; a new device is calibrated and used in one).

With a LiteRT device key it reads the device's fp32 TFLite records (int8 ones are left out).

``--runtime litert`` makes this machine's LiteRT device the new one: the picks are built to TFLite
(the search spaces through ``datasets.build_keras``, the real networks from ``datasets.zoo_keras``).

``--per-network`` adds, per pool, each test network's prediction / measurement at K = 50 for the two fits and
for every known device times its median ratio on the K (which networks a fit gets wrong, and whether a sibling
CPU would have done better).

Run: ``.venv/bin/python -m bench.calibration [--runtime onnxruntime|litert] [--pool 80] [--base-graphs N]
[--base CHECKPOINT] [--real-in-pool] [--per-network] [--from-corpus DEVICE_KEY [--measured FROM..TO]]``
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from agent.environment import describe
from agent.protocol import measure_many
from datasets import zoo, zoo_measure
from datasets.corpus import latency_label_ms
from datasets.measure import build_model
from predictor.evaluate import parse_window
from predictor.features import featurize
from predictor.frontends import load_model
from predictor.graph.ir import Graph
from predictor.train import HELD_OUT_SPACE, Record, TrainConfig, build_table, train_predictor
from service.calibration import adaptation, selection
from service.calibration.service import best_fit, real_network_mparams
from service.config import CoreSettings

log = logging.getLogger("bench.calibration")
ZOO = [
    (n, r)
    for n in ("resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")
    for r in (224, 160)
]
#: the LiteRT test set: the same families in keras.applications' definitions (it has no ResNet-18)
KERAS_ZOO = [(n, r) for n in ("resnet50", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")
             for r in (224, 160)]
KS = (10, 25, 50)
#: no network of these families is ever a calibration pick: the test set's families
TEST_FAMILIES = frozenset(zoo.family(n) for n, _ in ZOO + KERAS_ZOO)
FORMATS = zoo_measure.FORMATS
#: the largest real network a pool takes: what the service's graph store accepts at its default upload limit
REAL_MPARAMS = real_network_mparams(CoreSettings.model_fields["max_upload_bytes"].default)


def base_records(device_key: str, limit: int | None) -> list[Record]:
    """Every other device's measurements (the HELP tables and the other CPUs' corpora) with the
    zoo left out; ``device_key`` (this machine) is never used."""
    from predictor.evaluate import corpus_records

    recs = corpus_records(include_help=True, include_pending=True, limit=limit)
    return [r for r in recs if r.device != device_key and r.space != HELD_OUT_SPACE]


def test_set(runtime: str) -> list[tuple[str, int]]:
    return KERAS_ZOO if runtime == "litert" else ZOO


def test_model(runtime: str, name: str, res: int) -> bytes:
    return zoo_measure.build(zoo_measure.catalog(runtime).spec_of(name, res), FORMATS[runtime])


def measure_paths(paths: list[Path], runtime: str = "onnxruntime") -> np.ndarray:
    res = measure_many([str(p) for p in paths], runtime, 1, memory=False)
    return np.asarray([np.nan if "error" in r else latency_label_ms(r) for r in res], dtype=float)


def mape(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - y) / y) * 100)


def interleave(n_cal: int, n_test: int) -> list[int]:
    """Indices into ``cal + test`` with the test models spread evenly among the calibration
    models (each measurement group then holds both kinds)."""
    if not n_test:
        return list(range(n_cal))
    out, step = [], n_cal / n_test
    for t in range(n_test):
        out += range(round(t * step), round((t + 1) * step))
        out.append(n_cal + t)
    return out


def measure_all(picks: list[selection.Candidate], t0: float, runtime: str = "onnxruntime") -> dict:
    """Build and measure the calibration picks once and the zoo test models twice."""
    fmt = FORMATS[runtime]
    with tempfile.TemporaryDirectory() as tmp:
        cal_paths, test_paths = [], []
        for c in picks:
            cal_paths.append(Path(tmp) / f"{c.key}.{fmt}")
            cal_paths[-1].write_bytes(build_model(c.spec, fmt, "fp32"))
        for name, res in test_set(runtime):
            test_paths.append(Path(tmp) / f"{name}-{res}.{fmt}")
            test_paths[-1].write_bytes(test_model(runtime, name, res))
        test_ir = [load_model(p.read_bytes()).to_dict() for p in test_paths]
        print(f"built {len(cal_paths)} calibration + {len(test_paths)} test models ({time.time() - t0:.0f}s)")
        # pass 1 measures the calibration and test models together, interleaved, so that both
        # see the same stretch of host time (a shared host's speed drifts by tens of percent over
        # minutes: measured one after the other, the two sets disagree before any model does)
        order = interleave(len(cal_paths), len(test_paths))
        first = measure_paths([(cal_paths + test_paths)[i] for i in order], runtime)
        both = np.empty(len(order))
        both[order] = first
        cal_y, pass1 = both[: len(cal_paths)], both[len(cal_paths):]
        pass2 = measure_paths(test_paths, runtime)
    print(f"measured ({time.time() - t0:.0f}s)")
    return {
        "picks": [c.key for c in picks],
        "cal_y": cal_y.tolist(),
        "pass1": pass1.tolist(),
        "pass2": pass2.tolist(),
        "test_ir": test_ir,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pool", type=int, default=80)
    ap.add_argument("--runtime", choices=sorted(FORMATS), default="onnxruntime",
                    help="the runtime whose device on this machine is the new one (not with --from-corpus)")
    ap.add_argument("--base-graphs", type=int, default=None, help="at most this many base graphs (default all)")
    ap.add_argument("--cache", type=Path, default=None, help="JSON file keeping the measurements for re-runs")
    ap.add_argument("--base", type=Path, default=None,
                    help="start from this checkpoint instead of training a base predictor (must not know this machine)")
    ap.add_argument("--from-corpus", default=None, metavar="DEVICE_KEY",
                    help="calibrate to this device from its corpus records instead of measuring (needs --base)")
    ap.add_argument("--seed", type=int, default=0, help="--from-corpus: the pool and random draws")
    ap.add_argument("--measured", default=None, metavar="FROM..TO", type=parse_window,
                    help="--from-corpus: only records measured in this UTC window (YYYYmmddTHHMMSS or a prefix, "
                         "either side may be empty): one session of the device, as a new device is calibrated "
                         "and then used, instead of sessions whose host ran at different speeds")
    ap.add_argument("--real-in-pool", action="store_true",
                    help="the zoo's real networks of families other than the test set's join the pool")
    ap.add_argument("--per-network", action="store_true",
                    help="also, per pool, each test network's prediction / measurement at K = 50: the embedding "
                         "fit, the embedding + head fit, and every known device times its median ratio on the K")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.from_corpus:
        if args.base is None:
            raise SystemExit("--from-corpus needs --base CHECKPOINT (one trained without that device)")
        return from_corpus(args.base, args.from_corpus, args.pool, args.seed, args.measured, args.real_in_pool)
    t0 = time.time()
    here = describe(args.runtime, 1)["device_key"]
    fmt = FORMATS[args.runtime]
    if args.base is not None:
        from predictor.artifacts import load_checkpoint

        base = load_checkpoint(args.base)
        if here in base.devices:
            raise SystemExit(f"{args.base} already knows {here}: pass a checkpoint trained without this machine")
        print(f"base predictor: {args.base} ({base.version}; {len(base.devices)} other devices, "
              f"targets {base.targets}), never {here}")
    else:
        recs = base_records(here, args.base_graphs)
        base = train_predictor(build_table(recs, targets=["latency"]), TrainConfig(epochs=30, ensemble=3),
                               name="base")
        print(
            f"base predictor: {len({r.key for r in recs})} graphs x {len(base.devices)} other devices, "
            f"never {here} ({time.time() - t0:.0f}s)"
        )
    spaces = selection.base_spaces(base)  # as the service: the spaces the base was trained on
    cands = selection.corpus_candidates(args.pool, spaces)
    if len(cands) < args.pool:
        cands += selection.sampled_candidates(args.pool - len(cands), spaces)
    pools = {"corpus": [c for c, _ in selection.select(cands, max(KS), base)]}
    if args.real_in_pool:
        real = selection.zoo_candidates(TEST_FAMILIES, REAL_MPARAMS, fmt)
        pools["corpus+real"] = [c for c, _ in selection.select(cands + real, max(KS), base)]
        print(f"pool corpus+real: {len(cands)} corpus + {len(real)} real networks of families "
              f"{sorted({zoo.family(c.spec['name']) for c in real})}; picked "
              f"{sum(c.space == HELD_OUT_SPACE for c in pools['corpus+real'])} real of {max(KS)}")
    # every pool's picks are measured in one session, interleaved with the test models
    picks = list({c.key: c for pool in pools.values() for c in pool}.values())
    cached = json.loads(args.cache.read_text()) if args.cache and args.cache.exists() else None
    if cached is None or cached["picks"] != [c.key for c in picks]:
        cached = measure_all(picks, t0, args.runtime)
        if args.cache:
            args.cache.write_text(json.dumps(cached))
    else:
        print(f"measurements from {args.cache}")
    pass1, pass2 = (np.asarray(cached[k], dtype=float) for k in ("pass1", "pass2"))
    y_of = dict(zip(cached["picks"], np.asarray(cached["cal_y"], dtype=float), strict=True))
    test_data = [featurize(Graph.from_dict(doc)) for doc in cached["test_ir"]]
    noise = mape(pass2, pass1)
    print(
        f"\ntest set: {len(pass1)} zoo models (never in training, {fmt}); run-to-run noise MAPE {noise:.2f}% "
        f"(median {np.median(np.abs(pass2 - pass1) / pass1) * 100:.2f}%)"
    )
    for pool_name, pool in pools.items():
        fits: dict = {}
        rows = calibration_rows(base, pool, np.array([y_of[c.key] for c in pool]), test_data, pass1, fits)
        print(f"\npool {pool_name}:")
        print(f"{'K':>3} | {'embedding %':>11} | {'emb+head %':>10} | {'scratch %':>9} | "
              f"{'service picks (by CV)':>21} | picked / noise")
        print("----+-------------+------------+-----------+-----------------------+---------------")
        for k, a, h, s, method, picked in rows:
            print(f"{k:>3} | {a:>11.2f} | {h:>10.2f} | {s:>9.2f} | {method:>14} {picked:>6.2f} "
                  f"| {picked / max(noise, 1e-9):>6.2f}x")
        k, *_, method, k50 = rows[-1]
        print(
            f"K={k} (the service's pick, {method}) within 1.2x noise: {'yes' if k50 <= 1.2 * noise else 'no'} "
            f"({k50:.2f}% vs {1.2 * noise:.2f}%); {time.time() - t0:.0f}s so far"
        )
        if args.per_network:
            per_network(base, fits, test_data, pass1, test_set(args.runtime))
    for (name, res), y1, y2 in zip(test_set(args.runtime), pass1, pass2, strict=True):
        print(f"  {name}@{res}: {y1:.2f} ms / {y2:.2f} ms")
    return 0


def per_network(base, fits: dict, test_data: list, pass1: np.ndarray, names: list[tuple[str, int]]) -> None:
    """Each test network's prediction / measurement at K = max(KS): the embedding fit and the embedding +
    head fit (``fits``, as :func:`calibration_rows` kept them), and each known device's prediction times its
    median ratio to the K measurements (what ``calibrate_device``'s ``nearest`` prior starts from), with
    each column's MAPE."""
    sub, y = fits["data"], fits["latency"]
    cols = {m: adaptation.predicted_latency(fits[m], "this-machine", test_data) for m in ("emb", "emb+head")}
    t = base.targets.index("latency")
    known = base.device_indices(base.devices)
    mu_k, mu_t = base.predict_log(sub, known)[0][..., t], base.predict_log(test_data, known)[0][..., t]
    for j, dev in enumerate(base.devices):
        scale = float(np.median(y / np.exp(mu_k[:, j])))
        cols[f"d{j}"] = np.exp(mu_t[:, j]) * scale
        print(f"  d{j}: {dev} x {scale:.3f}")
    print(f"  {'K=' + str(max(KS)) + ': prediction / pass 1':28s} " + " ".join(f"{c:>8s}" for c in cols))
    for i, (name, res) in enumerate(names):
        print(f"  {name + '@' + str(res):28s} " + " ".join(f"{cols[c][i] / pass1[i]:8.3f}" for c in cols))
    print(f"  {'MAPE %':28s} " + " ".join(f"{mape(cols[c], pass1):8.2f}" for c in cols))


def calibration_rows(base, picks: list[selection.Candidate], cal_y: np.ndarray, test_data: list,
                     pass1: np.ndarray, fits: dict | None = None) -> list[tuple[int, float, float, float, str, float]]:
    """For each K: test MAPE of the embedding fit, the embedding + head fit, a model trained from
    scratch on the same K, the method the service would pick by cross-validation and its test MAPE.
    ``fits``, where given, keeps the largest K's two fits and their measurements (:func:`per_network`)."""
    cal_data = [c.features() for c in picks]
    rows = []
    for k in KS:
        ok = np.flatnonzero(np.isfinite(cal_y[:k]))
        sub = [cal_data[i] for i in ok]
        adapted = adaptation.fit(base, "this-machine", sub, cal_y[ok])
        a = mape(adaptation.predicted_latency(adapted, "this-machine", test_data), pass1)
        tuned = adaptation.fit_head(base, "this-machine", sub, cal_y[ok])
        h = mape(adaptation.predicted_latency(tuned, "this-machine", test_data), pass1)
        if fits is not None and k == max(KS):
            fits.update({"emb": adapted, "emb+head": tuned, "data": sub, "latency": cal_y[ok]})
        # what the service would serve: the method that cross-validates better on the K measurements
        # (never the one that happens to do better on the test set)
        real = np.array([picks[i].space == HELD_OUT_SPACE for i in ok], dtype=bool)
        method = best_fit(base, "this-machine", sub, cal_y[ok], real)[0]["method"]
        table = build_table(
            [Record(picks[i].key, cal_data[i], "this-machine", {"latency": float(cal_y[i])}) for i in ok]
        )
        scratch = train_predictor(
            table,
            TrainConfig(
                epochs=80, ensemble=3, hidden_channels=32, patience=20, val_fraction=0.2, calib_fraction=0.1
            ),
        )
        s = mape(adaptation.predicted_latency(scratch, "this-machine", test_data), pass1)
        rows.append((k, a, h, s, method, h if method == "embedding+head" else a))
    return rows


def from_corpus(base_path: Path, device: str, pool_size: int, seed: int,
                window: tuple[str, str] | None = None, real_in_pool: bool = False) -> int:
    """Calibrate ``base_path`` to ``device`` from the device's corpus records (see the module doc)."""
    from datasets.corpus import iter_records
    from predictor.artifacts import load_checkpoint
    from predictor.evaluate import in_window, metrics

    t0 = time.time()
    base = load_checkpoint(base_path)
    if device in base.devices:
        raise SystemExit(f"{base_path} already knows {device}: pass a checkpoint trained without it")
    recs = {}
    for rec in iter_records(device, include_help=False, include_pending=True):
        if window is not None and not in_window(rec, *window):
            continue
        y = latency_label_ms(rec.get("measurement") or {})
        # fp32 graphs of the device's runtime (ONNX for onnxruntime, TFLite for LiteRT devices)
        if y is not None and rec.get("ir") and rec.get("format", "onnx") in ("onnx", "tflite") and \
                rec.get("variant", "fp32") == "fp32":
            recs[rec["arch_id"]] = (rec.get("space", ""), rec["ir"], float(y), rec.get("format", "onnx"))
    if not recs:
        raise SystemExit(f"no fp32 records of {device} in the corpus"
                         + (f" measured in {window[0]}..{window[1]}" if window else ""))
    keys = sorted(recs)
    rng = np.random.default_rng(seed)
    sampled = [k for k in keys if recs[k][0] != HELD_OUT_SPACE]
    pool_keys = [sampled[i] for i in rng.permutation(len(sampled))[:pool_size]]
    if real_in_pool:
        pool_keys += [k for k in keys if recs[k][0] == HELD_OUT_SPACE
                      and selection.admits_real(k, TEST_FAMILIES, REAL_MPARAMS, fmt=recs[k][3])]
    pool = [selection.Candidate(k, recs[k][0], {}, recs[k][1]) for k in pool_keys]
    active = [c.key for c, _ in selection.select(pool, max(KS), base)]
    random_pick = list(pool_keys[: max(KS)])
    in_pool = set(pool_keys)
    test_keys = [k for k in keys if k not in in_pool]
    data = {k: featurize(Graph.from_dict(recs[k][1])) for k in pool_keys + test_keys}
    y = {k: recs[k][2] for k in keys}
    test_y = np.array([y[k] for k in test_keys])
    zoo_mask = np.array([recs[k][0] == HELD_OUT_SPACE for k in test_keys])
    fam_mask = zoo_mask & np.array([recs[k][0] == HELD_OUT_SPACE and zoo.family(k) in TEST_FAMILIES
                                    for k in test_keys])
    when = f" measured in {window[0]}..{window[1]}" if window else ""
    print(f"base {base_path} ({base.version}; {len(base.devices)} devices, never {device}); {len(keys)} records "
          f"of {device}{when}: pool {len(pool)}, test {len(test_keys)} ({int(zoo_mask.sum())} zoo) "
          f"({time.time() - t0:.0f}s)\n")
    print(f"{'K':>3} | {'picks':>6} | {'method':>11} | {'MAPE %':>6} | {'+-10 %':>6} | {'rho':>5} | "
          f"{'zoo MAPE %':>10} | {'test families %':>15}")
    for k in KS:
        for name, picks in (("active", active[:k]), ("random", random_pick[:k])):
            cal, cal_y = [data[p] for p in picks], np.array([y[p] for p in picks])
            fits = {"embedding": adaptation.fit(base, "new", cal, cal_y),
                    "emb+head": adaptation.fit_head(base, "new", cal, cal_y)}
            # the method the service would serve (CV on the K, judged on their real networks from 5 on)
            real = np.array([recs[p][0] == HELD_OUT_SPACE for p in picks], dtype=bool)
            served = best_fit(base, "new", cal, cal_y, real)[0]["method"].replace("embedding+head", "emb+head")
            for method, model in fits.items():
                pred = adaptation.predicted_latency(model, "new", [data[t] for t in test_keys])
                m = metrics(pred, test_y)
                zoo_err = mape(pred[zoo_mask], test_y[zoo_mask]) if zoo_mask.any() else float("nan")
                fam = mape(pred[fam_mask], test_y[fam_mask]) if fam_mask.any() else float("nan")
                print(f"{k:>3} | {name:>6} | {method:>10}{'*' if method == served else ' '} | {m['mape']:>6.2f} | "
                      f"{m['acc10']:>6.1f} | {m['rho']:>5.3f} | {zoo_err:>10.2f} | {fam:>15.2f}")
    print(f"\n* the method the service would serve (service.calibration.service.best_fit); total {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
