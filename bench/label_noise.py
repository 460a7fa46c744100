"""How far apart two measurements of the same architecture are when taken in different sessions:
the noise floor of the corpus labels, which no predictor trained and scored on them can beat.

First re-measure the first N architectures of every search space into a scratch root (same
seed, so the same architectures as the corpus; nothing is written to the corpus):

    .venv/bin/edgeperf dataset measure --runtime onnxruntime --count 50 --root data/remeasure

then compare each re-measured label with the corpus label of the same architecture:

    .venv/bin/python bench/label_noise.py --root data/remeasure [--root data/remeasure-b] [--device KEY]

``--zoo`` compares the real networks instead (``edgeperf dataset measure-zoo --root data/zoo``).

With a second ``--root`` (the same architectures measured again, e.g. minutes later), each is
compared with the corpus and the second with the first: the noise within one session.

``--coherence KEY ...`` says which of two label sets is the noisier one, without a third
measurement: per space and variant, the sd of log(label / the other device's label) of the same
architectures, for the corpus labels and for each root's. A device's speed relative to another
changes smoothly with the architecture, so per-architecture noise shows as a larger sd (a CPU's
own cost profile adds the same to both columns).

Rows: the corpus label as measured (raw) and divided by its hour's drift factor (what the
predictor trains on, ``datasets.drift``). The median ratio new/old is the host's speed now
against then (a device-wide factor, which drift normalisation and calibration remove); MAPE and
±5% / ±10% are of the old label times that ratio against the new one, and sd is the standard
deviation of log(new/old). With two passes, the part of that sd that the two passes do not
show between themselves is the session's own (the host's state then and now), per architecture.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets import corpus, drift  # noqa: E402


def compare(old: np.ndarray, new: np.ndarray) -> dict[str, float]:
    ratio = new / old
    scale = float(np.median(ratio))
    err = np.abs(old * scale - new) / new
    return {"n": len(old), "ratio": scale, "mape": 100 * float(err.mean()), "acc5": 100 * float((err <= 0.05).mean()),
            "acc10": 100 * float((err <= 0.10).mean()), "sd": float(np.std(np.log(ratio)))}


def _when(record: dict) -> str:
    """When a record was measured (``measurement.measured_at``, else its shard's seal time)."""
    stamp = str((record.get("measurement") or {}).get("measured_at") or record.get("_sealed_at") or "?")
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}" if len(stamp) >= 13 else stamp


def _labels(key: str, root: Path, zoo: bool = False) -> dict[tuple[str, str], tuple[float, str, str]]:
    """(arch id, variant) -> (label, when, space) of the sampled records under a scratch root: the
    search spaces' (``zoo``: the zoo's, ``edgeperf dataset measure-zoo --root``)."""
    out = {}
    for r in corpus.iter_records(key, root=root, include_help=False):
        label = corpus.latency_label_ms(r.get("measurement") or {})
        if label and (r["space"] in drift.TEST_SPACES) == zoo:
            out[(r["arch_id"], r.get("variant", "fp32"))] = (label, _when(r), r["space"])
    return out


def _table(rows: dict[str, list[tuple[float, ...]]], columns: tuple[tuple[str, int], ...], against: int) -> None:
    print(f"{'space':<10} {'compared':<16} {'n':>5} {'new/old':>8} {'mape':>6} {'acc5':>6} {'acc10':>6} {'sd log':>7}")
    for space in [*sorted(rows), "ALL"]:
        a = np.array([t for s in sorted(rows) for t in rows[s]] if space == "ALL" else rows[space])
        for name, col in columns:
            c = compare(a[:, col], a[:, against])
            print(f"{space:<10} {name:<16} {c['n']:>5} {c['ratio']:>8.3f} {c['mape']:>6.2f} {c['acc5']:>6.1f} "
                  f"{c['acc10']:>6.1f} {c['sd']:>7.3f}")


def coherence(key: str, records: list[dict], passes: list[dict], others: list[str]) -> None:
    """The ``--coherence`` table (see the module docstring)."""
    base = {(r["arch_id"], r.get("variant", "fp32")): (corpus.latency_label_ms(r.get("measurement") or {}), r["space"])
            for r in records if r["space"] not in drift.TEST_SPACES}
    for other in others:
        ref = {k: v[0] for k, v in _labels(other, corpus.CORPUS_DIR).items()}
        cells: dict[tuple[str, str], list[tuple[float, ...]]] = defaultdict(list)
        for k, (label, space) in base.items():
            if label and ref.get(k) and all(k in p for p in passes):
                cells[(space, k[1])].append((math.log(label / ref[k]), *(math.log(p[k][0] / ref[k]) for p in passes)))
        if not cells:
            print(f"against {other}: no architecture of {key}'s corpus and roots measured there\n")
            continue
        print(f"sd of log({key} / {other}) of the same architectures (lower: more coherent labels)")
        print(f"{'space':<10} {'variant':<7} {'n':>5} {'corpus':>7} " + " ".join(f"{'root ' + str(i + 1):>7}"
                                                                         for i in range(len(passes))))
        for (space, variant), rows in sorted(cells.items()):
            sd = np.std(np.array(rows), axis=0)
            print(f"{space:<10} {variant:<7} {len(rows):>5} " + " ".join(f"{v:>7.3f}" for v in sd))
        print()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True, type=Path, action="append",
                    help="the scratch corpus root of a re-measurement (twice: two passes, also compared)")
    ap.add_argument("--device", default=None, help="device key (default: the one device under --root)")
    ap.add_argument("--zoo", action="store_true",
                    help="compare the zoo networks (measured with `edgeperf dataset measure-zoo --root`) instead")
    ap.add_argument("--coherence", nargs="+", default=[], metavar="KEY",
                    help="also: per space and variant, the sd of log(label / KEY's label) of the corpus and each root")
    args = ap.parse_args()
    roots: list[Path] = args.root
    key = args.device or next(iter(corpus.measured_devices(roots[0])), None)
    if key is None:
        sys.exit(f"no measured device under {roots[0]}: run `edgeperf dataset measure --root {roots[0]}` first")
    records = list(corpus.iter_records(key, include_help=False))
    factors = drift.factors(records)
    passes = [_labels(key, root, args.zoo) for root in roots]
    between: list[float] = []
    for root, new in zip(roots, passes, strict=True):
        rows: dict[str, list[tuple[float, ...]]] = defaultdict(list)
        old_when = []
        for r in records:
            n = new.get((r["arch_id"], r.get("variant", "fp32")))
            old_label = corpus.latency_label_ms(r.get("measurement") or {})
            if n is not None and old_label:
                rows[r["space"]].append((old_label, old_label / drift.factor(factors, r), n[0]))
                old_when.append(_when(r))
        if not rows:
            sys.exit(f"none of the {len(new)} architectures under {root} is in the corpus of {key}")
        when = sorted(n[1] for n in new.values())
        print(f"device {key}: {sum(map(len, rows.values()))} architectures re-measured under {root} "
              f"({when[0]} .. {when[-1]} UTC), found in the corpus (measured {min(old_when)} .. {max(old_when)})")
        _table(rows, (("raw", 0), ("drift-normalised", 1)), 2)
        a = np.array([t for s in rows.values() for t in s])
        between.append(compare(a[:, 1], a[:, 2])["sd"])
        print()
    if args.coherence:
        coherence(key, records, passes, args.coherence)
    if len(passes) == 2:
        first, second = passes
        rows = defaultdict(list)
        for k, (label, _, space) in first.items():
            if k in second:
                rows[space].append((label, second[k][0]))
        print(f"second pass ({roots[1]}) against the first ({roots[0]}): {sum(map(len, rows.values()))} architectures")
        _table(rows, (("first pass", 0),), 1)
        a = np.array([t for s in rows.values() for t in s])
        within, across = compare(a[:, 0], a[:, 1])["sd"], float(np.mean(between))
        # sd between sessions^2 = the two labels' own noise (within-session sd^2) + the session effect^2
        effect = math.sqrt(max(across**2 - within**2, 0.0))
        print(f"\nsd of log ratio: {within:.3f} within this session, {across:.3f} against the corpus; what the "
              f"session adds: {effect:.3f} (about {100 * (math.exp(effect) - 1):.1f}% per architecture, "
              "beyond a device-wide factor)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
