"""Active selection of the architectures a new device measures first.

A candidate pool is drawn from the corpus search spaces (records of the measured corpus
that carry a spec and an IR document, topped up with freshly sampled specs built
through the torch -> ONNX builder), and the zoo's real networks (:func:`zoo_candidates`:
torchvision's definitions for an ONNX device, ``keras.applications``' for a TFLite one).
Each candidate is described by its graph-level features plus its operator histogram
(standardised), and weighted by the current
predictor's uncertainty about it (the ensemble spread of log latency, averaged over
the devices it knows). Greedy farthest-point selection then picks, at each step, the
candidate with the largest ``weight * distance to the nearest already chosen``: the
picks spread over the feature space and lean towards what the model knows least.
The order is nested: the first K of a K' > K selection are the K selection.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch_geometric.data import Data

from predictor.artifacts import Predictor
from predictor.features import featurize, op_histogram_vector
from predictor.graph.ir import Graph as IRGraph

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    key: str
    space: str
    spec: dict[str, Any]
    ir: dict[str, Any]
    data: Data | None = field(default=None, repr=False)

    def features(self) -> Data:
        if self.data is None:
            self.data = featurize(IRGraph.from_dict(self.ir))
        return self.data


def base_spaces(predictor: Predictor | None) -> list[str]:
    """The sampled spaces a calibration pool draws from: those of ``CORPUS_SPACES`` the base
    predictor was trained on (``meta["training_data"]["spaces"]``), all of them when it records none
    or shares none. A new device's K measurements fit its row of the base; an architecture of a
    space the base never saw would teach that row the base's error on the space instead of the
    device's speed, and its uncertainty (high there) would draw the selection to it (session 19
    added the space dwsep, which no shipped checkpoint knows)."""
    from datasets.spaces import CORPUS_SPACES

    known = set(((predictor.meta if predictor is not None else {}).get("training_data") or {}).get("spaces") or ())
    return [s for s in CORPUS_SPACES if s in known] or list(CORPUS_SPACES)


def corpus_candidates(limit: int, spaces: Iterable[str] | None = None) -> list[Candidate]:
    """Up to ``limit`` records of the measured corpus with a spec and an IR document
    (deduplicated), spread evenly over the search spaces. The zoo's real networks are not among
    them (:func:`zoo_candidates` gives those)."""
    from datasets import corpus
    from datasets.spaces import CORPUS_SPACES

    per_space: dict[str, dict[str, Candidate]] = {}
    for space in sorted(set(spaces if spaces is not None else CORPUS_SPACES) - {"zoo"}):
        # no space gives more than `limit` of the round-robin: reading stops there (the corpus
        # holds tens of thousands of records; a selection asks for a few hundred)
        bucket = per_space.setdefault(space, {})
        for rec in corpus.iter_records(space=space, include_help=False, include_pending=True):
            if len(bucket) >= limit:
                break
            if rec.get("spec") and rec.get("ir"):
                bucket.setdefault(rec["arch_id"], Candidate(rec["arch_id"], space, rec["spec"], rec["ir"]))
    buckets = [list(b.values()) for _, b in sorted(per_space.items())]
    out: list[Candidate] = []
    for i in range(max((len(b) for b in buckets), default=0)):
        out += [b[i] for b in buckets if i < len(b)]
    return out[:limit]


def admits_real(name: str, exclude_families: Iterable[str] = (), max_mparams: float | None = None,
                fmt: str = "onnx") -> bool:
    """Whether the zoo network ``name`` (a catalog name or a zoo arch_id) of the ``fmt`` zoo may be a
    candidate: not of an excluded family (``datasets.zoo.family``), at most ``max_mparams`` million weights."""
    from datasets import zoo

    if name.startswith("zoo-"):
        name = zoo.parse_arch_id(name)[0]
    return zoo.family(name) not in set(exclude_families) and (
        max_mparams is None or zoo.catalog(fmt).CATALOG[name].mparams <= max_mparams)


def zoo_candidates(exclude_families: Iterable[str] = (), max_mparams: float | None = None,
                   fmt: str = "onnx") -> list[Candidate]:
    """The zoo's real networks of a model format (every entry, resolutions included: ``datasets.zoo``
    for ONNX, ``datasets.zoo_keras`` for TFLite) as candidates, leaving out whole families
    (``datasets.zoo.family``) and networks of more than ``max_mparams`` million parameters (an fp32
    file of 4 bytes per weight that the graph store would refuse, or a device would take long to
    download). Their IR is read from any fp32 record of that format in the measured zoo corpus (the
    graph is the same on every device), or exported where none is."""
    from datasets import corpus, measure, zoo
    from predictor.frontends import load_model

    cat = zoo.catalog(fmt)
    irs: dict[str, dict[str, Any]] = {}
    for rec in corpus.iter_records(space="zoo", include_help=False, include_pending=True):
        if rec.get("ir") and rec.get("format", "onnx") == fmt and rec.get("variant", "fp32") == "fp32":
            irs.setdefault(rec["arch_id"], rec["ir"])
    out = []
    for name, res in cat.ENTRIES:
        if not admits_real(name, exclude_families, max_mparams, fmt):
            continue
        key = zoo.arch_id(name, res)
        spec = cat.spec_of(name, res)
        ir = irs.get(key) or load_model(measure.build_model(spec, fmt, "fp32"), filename=f"{key}.{fmt}").to_dict()
        out.append(Candidate(key, "zoo", spec, ir))
    return out


def sampled_candidates(count: int, spaces: Iterable[str], seed: int = 7) -> list[Candidate]:
    """``count`` freshly sampled specs, round-robin over ``spaces``, built to IR via ONNX."""
    from datasets import spaces as space_mod
    from datasets.measure import build_model
    from predictor.frontends import load_model

    names, out = list(spaces), []
    for i in range(count):
        space = names[i % len(names)]
        spec = space_mod.sample_spec(space, seed, i // len(names))
        graph = load_model(build_model(spec, "onnx", "fp32"), filename="candidate.onnx")
        out.append(Candidate(space_mod.arch_id(space, seed, i // len(names)), space, spec, graph.to_dict()))
    return out


def feature_matrix(cands: list[Candidate]) -> np.ndarray:
    rows = []
    for c in cands:
        d = c.features()
        hist = op_histogram_vector(IRGraph.from_dict(c.ir))
        hist = hist / max(float(hist.sum()), 1.0)
        rows.append(np.concatenate([d.graph_attr.numpy().ravel(), hist]))
    x = np.asarray(rows, dtype=np.float64)
    std = x.std(0)
    return (x - x.mean(0)) / np.where(std > 1e-9, std, 1.0)


def uncertainty(predictor: Predictor | None, cands: list[Candidate]) -> np.ndarray:
    """Ensemble spread of log latency per candidate (ones without a predictor)."""
    if predictor is None or "latency" not in predictor.targets or not predictor.devices:
        return np.ones(len(cands))
    idx = np.arange(len(predictor.devices))
    _, sigma = predictor.predict_log([c.features() for c in cands], idx)
    return sigma[:, :, predictor.targets.index("latency")].mean(1)


def farthest_point(x: np.ndarray, weight: np.ndarray, k: int) -> list[int]:
    """Greedy weighted farthest-point order of ``k`` distinct rows of ``x``."""
    k = min(k, len(x))
    w = weight / max(float(np.mean(weight)), 1e-12)
    w = 0.5 + 0.5 * w  # uncertainty tilts the choice; diversity still dominates
    nearest = np.linalg.norm(x - x.mean(0), axis=1)
    chosen: list[int] = []
    for _ in range(k):
        score = np.where(np.isin(np.arange(len(x)), chosen), -np.inf, w * nearest)
        pick = int(np.argmax(score))
        chosen.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(x - x[pick], axis=1))
    return chosen


def select(
    cands: list[Candidate], k: int, predictor: Predictor | None = None
) -> list[tuple[Candidate, float]]:
    """K distinct candidates in selection order, each with its uncertainty."""
    if not cands:
        return []
    unc = uncertainty(predictor, cands)
    order = farthest_point(feature_matrix(cands), unc, k)
    log.info("calibration.selected", extra={"k": len(order), "pool": len(cands)})
    return [(cands[i], float(unc[i])) for i in order]
