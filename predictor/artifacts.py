"""Checkpoints and the :class:`Predictor` the service uses.

A checkpoint is one ``.pt`` file written with ``torch.save`` that holds only
tensors and a JSON string (so ``torch.load(..., weights_only=True)`` reads it):

* ``meta``: JSON with the constructor config, :data:`FEATURE_SCHEMA_VERSION`,
  the device list, the target list (+ units), per device/target availability,
  normalisation stats, metrics and a description of the training data;
* ``members``: one PerfSAGE ``state_dict`` per ensemble member;
* ``q``: the conformal scale ``[devices, targets]`` of the 90% interval.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Batch, Data

from predictor.features import (
    COMPATIBLE_SCHEMA_VERSIONS,
    FEATURE_SCHEMA_VERSION,
    GRAPH_FEATURES,
    N_OP_COLS,
    featurize_many,
    node_kinds,
)
from predictor.graph.ir import Graph, IRError
from predictor.models.perf_sage import PerfSAGE

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
TARGET_UNITS = {"latency": "ms", "energy": "mJ", "memory": "MB"}
CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
SIGMA_FLOOR = 0.01  # log-space floor on the ensemble spread used by the conformal score
COVERAGE = 0.9
#: nodes per forward batch in Predictor.predict (activations stay cache-sized). 1,000 NB201 graphs
#: (121 nodes) on one shared core, best of 8: batches of 8k nodes 582 ms, 16k 640 ms, 256 graphs
#: (31k nodes) 694 ms, all 1,000 at once 924 ms
BATCH_NODES = 8192
#: meta keys written by save_checkpoint (left out of the version hash so that it is
#: the same before saving and after loading)
_SAVE_KEYS = frozenset({"format", "version", "name", "model", "config", "feature_schema_version",
                        "devices", "targets", "units", "available"})
#: Metadata that changes what serving warns about, not what it predicts: not part of the version.
_UNVERSIONED = frozenset({"node_kinds"})


class CheckpointError(ValueError):
    """A checkpoint is missing, malformed or was written for other features."""


class PredictionError(ValueError):
    """A prediction request names an unknown device or target."""


@dataclass
class Predictor:
    """An ensemble of :class:`PerfSAGE` members plus everything needed to use them.

    ``available[d][t]`` says whether device ``d`` had training data for target
    ``t``; unavailable targets are answered as such, never invented.
    """

    members: list[PerfSAGE]
    devices: list[str]
    targets: list[str]
    available: np.ndarray  # bool [D, T]
    q: np.ndarray  # float [D, T] conformal scale
    meta: dict[str, Any] = field(default_factory=dict)
    name: str = "perfsage"

    def __post_init__(self) -> None:
        for m in self.members:
            m.eval()
        self._dev_index = {d: i for i, d in enumerate(self.devices)}

    @property
    def version(self) -> str:
        """``meta["version"]`` when set, else ``<name>-<hash of the metadata>`` (stable
        across save/load, different for every training run)."""
        explicit = self.meta.get("version")
        if explicit:
            return str(explicit)
        keep = {k: v for k, v in self.meta.items() if k not in _SAVE_KEYS and k not in _UNVERSIONED}
        keep["devices"] = self.devices
        digest = hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()
        return f"{self.name}-{digest[:10]}"

    # -- core batched inference --------------------------------------------------
    @torch.inference_mode()
    def predict_log(self, data: Sequence[Data], device_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ensemble mean and spread of log predictions ``[G, K, T]`` for ``device_idx [K]``
        applied to every graph: one concatenated batch and one sparse adjacency
        (:meth:`PerfSAGE.adjacency`) shared by every member."""
        x, edge_index, batch, graph_attr = collate(data)
        adj = PerfSAGE.adjacency(edge_index, x.size(0))
        dev = torch.as_tensor(device_idx, dtype=torch.long).expand(len(data), -1)
        one_hot = _one_hot(data)
        logs = []
        for m in self.members:
            pred, _ = m(x, adj, batch, dev, graph_attr, one_hot=one_hot)
            logs.append(torch.log(pred.clamp_min(1e-12)))
        stack = torch.stack(logs)
        mu, sigma = stack.mean(0).numpy(), stack.std(0, unbiased=False).numpy()
        kernels = self.meta.get("kernels") or {}
        if any(self.devices[d] in kernels for d in device_idx):
            mu = self._blend_kernels(data, device_idx, mu, kernels)
        return mu, sigma

    def _blend_kernels(self, data: Sequence[Data], device_idx: np.ndarray, mu: np.ndarray,
                       kernels: Mapping[str, Any]) -> np.ndarray:
        """``mu`` with the devices that carry a kernel-sum model (``meta["kernels"]``, fitted by
        :func:`predictor.train.calibrate_device`) answered as ``w * GNN + (1 - w) * kernel sum``
        in log space, per target."""
        from predictor.baselines import kernel_features, kernel_predict

        feats = kernel_features(data)
        mu = mu.copy()
        for k, d in enumerate(device_idx):
            for target, spec in (kernels.get(self.devices[d]) or {}).items():
                t, w = self.targets.index(target), float(spec["weight"])
                ks = np.log(kernel_predict((spec["used"], spec["coef"]), feats))
                mu[:, k, t] = w * mu[:, k, t] + (1.0 - w) * ks
        return mu

    @torch.no_grad()
    def node_contributions(self, data: Data, device_idx: np.ndarray) -> np.ndarray:
        """Mean member per-node contributions ``[N, K, T]`` for one graph."""
        batch = Batch.from_data_list([data], exclude_keys=["node_names"])
        dev = torch.as_tensor(device_idx, dtype=torch.long).unsqueeze(0)
        contribs = [m(batch.x, batch.edge_index, batch.batch, dev, batch.graph_attr)[1] for m in self.members]
        return torch.stack(contribs).mean(0).numpy()

    def unseen_kinds(self, data: Data, kinds: np.ndarray | None = None) -> np.ndarray | None:
        """``bool [N]``: the nodes of ``data`` whose kind (:func:`predictor.features.node_kinds`, or
        ``kinds`` where the caller has them) no training graph had; None when the checkpoint does not
        record its kinds (``meta["node_kinds"]``)."""
        known = self.__dict__.get("_known_kinds")
        if known is None:
            known = np.asarray(self.meta.get("node_kinds") or [], dtype=np.int64)
            self.__dict__["_known_kinds"] = known
        if not known.size:
            return None
        return ~np.isin(node_kinds(data) if kinds is None else kinds, known)

    def interval(self, mu: np.ndarray, sigma: np.ndarray, device_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        half = self.q[device_idx][None] * np.maximum(sigma, SIGMA_FLOOR)
        return np.exp(mu - half), np.exp(mu + half)

    # -- public API --------------------------------------------------------------
    def device_indices(self, devices: Sequence[str]) -> np.ndarray:
        missing = [d for d in devices if d not in self._dev_index]
        if missing:
            raise PredictionError(f"unknown device(s) {missing}; known: {self.devices}")
        return np.asarray([self._dev_index[d] for d in devices], dtype=np.int64)

    def predict(
        self,
        graphs: Sequence[Graph | Mapping[str, Any] | Data],
        devices: Sequence[str],
        targets: Sequence[str] | None = None,
        breakdown: bool = False,
        batch_size: int = 256,
        batch_nodes: int = BATCH_NODES,
    ) -> list[dict[str, Any]]:
        """Predict ``targets`` of every graph (a ``Graph``, an IR document or featurised
        ``Data``) on every device.

        Returns one dict per graph: ``{"predictions": {device: {target: {"available",
        "value", "interval90", "unit"}}}}`` plus ``"breakdown": {device: {target:
        {node_name: value}}}`` when ``breakdown`` is set (node values sum to "value").
        Targets a device has no training data for come back with ``available: False``
        and ``value: None``. A forward batch holds at most ``batch_size`` graphs and, past
        its first graph, at most ``batch_nodes`` nodes."""
        targets = list(targets or self.targets)
        unknown = [t for t in targets if t not in self.targets]
        if unknown:
            raise PredictionError(f"unknown target(s) {unknown}; known: {self.targets}")
        dev_idx = self.device_indices(devices)
        # All featurised first: featurising the next batch in a thread during this batch's forward
        # pass was tried (2026-11-27) and gained nothing measurable (featurising holds the GIL,
        # and the forward pass needs it between its many small kernels).
        data = _featurized(graphs)
        out: list[dict[str, Any]] = []
        for chunk in _batches(data, batch_size, batch_nodes):
            mu, sigma = self.predict_log(chunk, dev_idx)
            lo, hi = self.interval(mu, sigma, dev_idx)
            for i, d in enumerate(chunk):
                out.append(self._result(d, dev_idx, devices, targets, np.exp(mu[i]), lo[i], hi[i], breakdown))
        return out

    def _result(self, data: Data, dev_idx, devices, targets, value, lo, hi, breakdown) -> dict[str, Any]:
        preds: dict[str, Any] = {}
        for k, dev in enumerate(devices):
            preds[dev] = {}
            for t in targets:
                ti = self.targets.index(t)
                ok = bool(self.available[dev_idx[k], ti])
                preds[dev][t] = {
                    "available": ok,
                    "value": float(value[k, ti]) if ok else None,
                    "interval90": [float(lo[k, ti]), float(hi[k, ti])] if ok else None,
                    "unit": TARGET_UNITS.get(t, ""),
                }
        result: dict[str, Any] = {"predictions": preds}
        if breakdown:
            result["breakdown"] = self._breakdown(data, dev_idx, devices, targets, value)
        return result

    def _breakdown(self, data: Data, dev_idx, devices, targets, value) -> dict[str, Any]:
        contrib = self.node_contributions(data, dev_idx)  # [N, K, T]
        names = getattr(data, "node_names", None) or [f"node_{i}" for i in range(contrib.shape[0])]
        total = contrib.sum(0)
        out: dict[str, Any] = {}
        for k, dev in enumerate(devices):
            out[dev] = {}
            for t in targets:
                ti = self.targets.index(t)
                if not self.available[dev_idx[k], ti]:
                    continue
                scale = value[k, ti] / max(total[k, ti], 1e-12)
                out[dev][t] = {n: float(c * scale) for n, c in zip(names, contrib[:, k, ti], strict=True)}
        return out


def _featurized(graphs: Sequence[Graph | Mapping[str, Any] | Data]) -> list[Data]:
    """``Data`` as given, the rest featurised in one batch; the first bad item's IRError raised."""
    todo = [g for g in graphs if not isinstance(g, Data)]
    done = iter(featurize_many(todo))
    out = [g if isinstance(g, Data) else next(done) for g in graphs]
    for d in out:
        if isinstance(d, IRError):
            raise d
    return out  # type: ignore[return-value]


def _batches(data: list[Data], max_graphs: int, max_nodes: int) -> Iterator[list[Data]]:
    chunk: list[Data] = []
    nodes = 0
    for d in data:
        if chunk and (len(chunk) >= max_graphs or nodes + d.num_nodes > max_nodes):
            yield chunk
            chunk, nodes = [], 0
        chunk.append(d)
        nodes += d.num_nodes
    if chunk:
        yield chunk


def _one_hot(data: Sequence[Data]) -> tuple[torch.Tensor, int] | None:
    """``(op_col of every node, N_OP_COLS)`` when every graph carries ``op_col`` (featurised
    here), else None (the model then multiplies the one-hot columns as they are)."""
    cols = [getattr(d, "op_col", None) for d in data]
    if any(c is None for c in cols):
        return None
    return torch.cat(cols), N_OP_COLS


def collate(data: Sequence[Data]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x, edge_index, batch, graph_attr)`` of many graphs concatenated, edge indices
    shifted by each graph's node offset: what ``Batch.from_data_list`` builds for these
    keys, without its per-attribute Python work."""
    sizes = torch.tensor([d.num_nodes for d in data], dtype=torch.long)
    offsets = torch.cumsum(sizes, 0) - sizes
    n_edges = torch.tensor([d.edge_index.size(1) for d in data], dtype=torch.long)
    edge_index = torch.cat([d.edge_index for d in data], 1) + offsets.repeat_interleave(n_edges)
    batch = torch.arange(len(data), dtype=torch.long).repeat_interleave(sizes)
    x = torch.cat([d.x for d in data], 0)
    graph_attr = torch.cat([d.graph_attr for d in data], 0)
    return x, edge_index, batch, graph_attr


# -- checkpoints ------------------------------------------------------------------
def save_checkpoint(predictor: Predictor, path: str | Path) -> Path:
    """Write ``predictor`` to ``path`` (tensors + a JSON string only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(predictor.meta)
    meta.update(
        {
            "format": CHECKPOINT_FORMAT,
            "name": predictor.name,
            "model": "PerfSAGE",
            "config": predictor.members[0].config(),
            "feature_schema_version": FEATURE_SCHEMA_VERSION,
            "devices": predictor.devices,
            "targets": predictor.targets,
            "units": {t: TARGET_UNITS.get(t, "") for t in predictor.targets},
            "available": predictor.available.astype(bool).tolist(),
        }
    )
    blob = {
        "meta": json.dumps(meta, sort_keys=True),
        "members": [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in predictor.members],
        "q": torch.as_tensor(predictor.q, dtype=torch.float64),
    }
    torch.save(blob, path)
    log.info("checkpoint.saved", extra={"path": str(path), "devices": len(predictor.devices)})
    return path


def load_checkpoint(path: str | Path) -> Predictor:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only``).

    Raises :class:`CheckpointError` when the file is missing or malformed, or
    when it was trained on another feature schema version."""
    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for a bad file (unpickling, zip, EOF, OS)
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    try:
        meta = json.loads(blob["meta"])
        if meta.get("feature_schema_version") not in COMPATIBLE_SCHEMA_VERSIONS:
            raise CheckpointError(
                f"{path.name}: feature schema {meta.get('feature_schema_version')} is not one this version "
                f"reads ({sorted(COMPATIBLE_SCHEMA_VERSIONS)}): retrain the predictor"
            )
        members = []
        for state in blob["members"]:
            m = PerfSAGE(**meta["config"])
            m.load_state_dict(state)
            members.append(m)
        q = blob["q"].numpy().astype(np.float64)
    except CheckpointError:
        raise
    except (OSError, KeyError, TypeError, ValueError, RuntimeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot load checkpoint {path}: {exc}") from exc
    if not members:
        raise CheckpointError(f"checkpoint {path} has no ensemble members")
    return Predictor(
        members=members,
        devices=list(meta["devices"]),
        targets=list(meta["targets"]),
        available=np.asarray(meta["available"], dtype=bool),
        q=q,
        meta=meta,
        name=str(meta.get("name", path.stem)),
    )


def load_default_predictors(directory: str | Path | None = None) -> dict[str, Predictor]:
    """Every shipped checkpoint under ``predictor/checkpoints/`` (name -> Predictor).

    A checkpoint that cannot be loaded is logged and skipped; the rest still load."""
    directory = Path(directory) if directory is not None else CHECKPOINT_DIR
    out: dict[str, Predictor] = {}
    for path in sorted(directory.glob("*.pt")):
        try:
            out[path.stem] = load_checkpoint(path)
        except CheckpointError as exc:
            log.error("checkpoint.load_failed", extra={"path": str(path), "error": str(exc)})
    log.info("checkpoint.defaults_loaded", extra={"count": len(out)})
    return out


def graph_feature_stats(data: Sequence[Data]) -> dict[str, Any]:
    """Range and spread of the graph-level features (``graph_attr``) of the training
    graphs, kept in ``meta["graph_stats"]`` so that serving can warn about a graph far
    from anything seen in training."""
    attrs = torch.cat([d.graph_attr for d in data]).numpy().astype(np.float64)
    return {
        "features": list(GRAPH_FEATURES),
        "min": attrs.min(0).tolist(),
        "max": attrs.max(0).tolist(),
        "mean": attrs.mean(0).tolist(),
        "std": attrs.std(0).tolist(),
        "graphs": int(attrs.shape[0]),
    }


def node_kind_stats(data: Sequence[Data]) -> list[int]:
    """The node kinds (:func:`predictor.features.node_kinds`) of the training graphs, sorted, kept in
    ``meta["node_kinds"]`` so that serving can warn about nodes of a kind never trained on."""
    return np.unique(np.concatenate([node_kinds(d) for d in data])).tolist() if data else []


def conformal_q(scores: np.ndarray, coverage: float = COVERAGE) -> float:
    """Split-conformal quantile of nonconformity ``scores`` (finite-sample corrected)."""
    scores = np.sort(scores[np.isfinite(scores)])
    n = len(scores)
    if n == 0:
        return float("nan")
    k = min(n - 1, math.ceil((n + 1) * coverage) - 1)
    return float(scores[k])
