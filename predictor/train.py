"""Training of PerfSAGE ensembles, calibration of their intervals, few-shot
adaptation to new devices, and the ``edgeperf train`` command.

Input is a list of :class:`Record` (one graph measured on one device), from the
corpus loaders, the HELP caches or database rows. Records are grouped by graph
into a :class:`Table` (features computed once per graph by
:func:`predictor.features.featurize`, targets ``[graphs, devices, targets]``
with NaN where nothing was measured: masked in the loss, never invented).
"""

from __future__ import annotations

import argparse
import copy
import io
import logging
import math
import os
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
from torch_geometric.data import Batch, Data

from predictor.artifacts import (
    COVERAGE,
    SIGMA_FLOOR,
    Predictor,
    conformal_q,
    graph_feature_stats,
    node_kind_stats,
)
from predictor.features import (
    GRAPH_DIM,
    KERNEL_KIND_COLUMNS,
    MEMORY_COLUMNS,
    N_OP_COLS,
    NODE_DIM,
    ROOFLINE_COLUMNS,
    ROOFLINE_SCALE,
    featurize,
)
from predictor.graph.ir import Graph
from predictor.models.perf_sage import CONTRIBUTIONS, PerfSAGE

log = logging.getLogger(__name__)

DEFAULT_TARGETS = ("latency", "energy", "memory")
#: The corpus space of real, published architectures: never trained on, only evaluated.
HELD_OUT_SPACE = "zoo"
#: L2 weight of a new device's per-op-type log-scales (adapt_device), chosen on validation devices
#: disjoint from those bench/accuracy.py reports on.
OP_SCALE_L2: float | None = 0.003


@dataclass
class Record:
    """One graph measured on one device. ``targets`` maps target name -> value
    (latency ms, energy mJ, memory MB); ``key`` identifies the graph."""

    key: str
    graph: Graph | Data
    device: str
    targets: dict[str, float]
    space: str = ""


@dataclass
class Table:
    """Records grouped by graph: ``y[g, d, t]`` (NaN = not measured)."""

    keys: list[str]
    data: list[Data]
    spaces: list[str]
    devices: list[str]
    targets: list[str]
    y: np.ndarray

    def subset_devices(self, devices: Sequence[str]) -> Table:
        idx = [self.devices.index(d) for d in devices]
        return Table(self.keys, self.data, self.spaces, list(devices), self.targets, self.y[:, idx])

    def subset_graphs(self, idx: Sequence[int] | np.ndarray) -> Table:
        idx = np.asarray(idx, dtype=np.int64)
        return Table([self.keys[i] for i in idx], [self.data[i] for i in idx], [self.spaces[i] for i in idx],
                     self.devices, self.targets, self.y[idx])

    _packed: Packed | None = field(default=None, init=False, repr=False, compare=False)

    def available(self) -> np.ndarray:
        return np.isfinite(self.y).any(0)

    def packed(self) -> Packed:
        """Every graph of the table concatenated (built on first use, then kept)."""
        if self._packed is None:
            self._packed = Packed(self.data)
        return self._packed


@dataclass
class GraphBatch:
    """Graphs concatenated for one forward pass (:meth:`Packed.batch`)."""

    x: torch.Tensor
    adj: torch.Tensor  # sparse CSR (PerfSAGE.adjacency): every layer aggregates over it
    batch: torch.Tensor
    graph_attr: torch.Tensor
    one_hot: tuple[torch.Tensor, int] | None
    num_graphs: int


class Packed:
    """Node features, edges, graph features and op columns of many graphs concatenated once, so
    that a training batch is a few index operations on them instead of ``Batch.from_data_list``'s
    Python work per graph and attribute (which was a fifth of a training step)."""

    def __init__(self, data: Sequence[Data]) -> None:
        self.nodes = np.array([d.num_nodes for d in data], dtype=np.int64)
        self.edges = np.array([d.edge_index.size(1) for d in data], dtype=np.int64)
        self.node_start = np.cumsum(self.nodes) - self.nodes
        self.edge_start = np.cumsum(self.edges) - self.edges
        self.x = torch.cat([d.x for d in data]) if len(data) else torch.zeros(0, NODE_DIM)
        self.edge_index = torch.cat([d.edge_index for d in data], 1) if len(data) else torch.zeros(2, 0, dtype=torch.long)
        self.graph_attr = torch.cat([d.graph_attr for d in data]) if len(data) else torch.zeros(0, GRAPH_DIM)
        cols = [getattr(d, "op_col", None) for d in data]
        self.op_col = torch.cat(cols) if cols and all(c is not None for c in cols) else None

    def batch(self, idx: Sequence[int] | np.ndarray) -> GraphBatch:
        """Graphs ``idx`` (positions in the packed list) in that order, as ``Batch.from_data_list``
        would concatenate them."""
        idx = np.asarray(idx, dtype=np.int64)
        nodes, edges = self.nodes[idx], self.edges[idx]
        node_idx = _ranges(self.node_start[idx], nodes)
        offsets = np.cumsum(nodes) - nodes
        edge_index = self.edge_index[:, _ranges(self.edge_start[idx], edges)] + torch.from_numpy(np.repeat(offsets, edges))
        n = int(nodes.sum())
        one_hot = (self.op_col[node_idx], N_OP_COLS) if self.op_col is not None else None
        return GraphBatch(self.x[node_idx], PerfSAGE.adjacency(edge_index, n),
                          torch.from_numpy(np.repeat(np.arange(len(idx)), nodes)), self.graph_attr[idx], one_hot,
                          len(idx))


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> torch.Tensor:
    """``cat(arange(s, s + l) for s, l in zip(starts, lengths))`` without the Python loop."""
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return torch.from_numpy(np.arange(int(lengths.sum()), dtype=np.int64) + shift)


@dataclass
class TrainConfig:
    hidden_channels: int = 48
    num_layers: int = 3
    embed_channels: int = 24
    dropout: float = 0.0
    contribution: str = "roofline"
    bound: float = 3.0  # roofline: the learned per-node factor stays within e^-bound..e^bound
    memory_basis: bool = True  # roofline: the memory target's floor is weights + peak live bytes
    # whether the memory target's loss trains the shared encoder (off: with the memory floor it
    # only reads the embeddings; see with_aux_target for why)
    encoder_memory: bool = False
    # with memory_basis: also train memory on the compute floor as a hidden auxiliary target,
    # dropped after training (it shapes the shared encoder; see with_aux_target)
    aux_memory: bool = True
    # with memory_basis: width of the graph-level memory correction (PerfSAGE.graph_head; 0 = none)
    graph_head: int = 32
    # then, with the rest of the member frozen, up to this many more steps (at most 120 passes over
    # the training graphs) fit the graph head alone on the memory targets (refit_graph_head; 0 = none)
    graph_head_steps: int = 3000
    # zero the input weights of the op columns no training graph has (silence_unseen_ops), so that an
    # op type never trained on is read from its shapes and costs instead of from random initial weights
    silence_unseen: bool = True
    # op-type dropout: in each training step this share of nodes is read without its one-hot op type,
    # so that the model learns what a node of no known type costs from its shapes, FLOPs and bytes:
    # what it meets at serving time in an op type no training graph had (silence_unseen)
    op_dropout: float = 0.0
    # every device learns a log-scale per op type and per convolution kernel kind (PerfSAGE kernel_kinds),
    # unbounded and apart from the shared encoder, pulled towards 0 (no change) by AdamW's decoupled
    # weight decay kind_decay: nn-Meter's per-kernel view on top of the GNN (see PerfSAGE.add_op_scales)
    kind_scales: bool = False
    kind_decay: float = 0.1
    ensemble: int = 3
    # 80 since session 13 (was 40): longer training kept paying. One member, random split of the
    # family-26 model-2 CPU's corpus, 2,500 training graphs: latency MAPE 8.5 (40 epochs), 7.6 (80),
    # 7.1 (160); the shipped cpu-reference ensemble's validation MAPE 5.8 (40) -> 5.1 (80)
    # (bench/results/accuracy-epochs-f26m2-s13.txt). With max_minutes the schedule fits the budget.
    epochs: int = 80
    min_steps: int = 1500  # small data sets get more epochs, so every model sees enough updates
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-5
    patience: int = 10
    val_fraction: float = 0.1
    calib_fraction: float = 0.1
    seed: int = 0
    num_threads: int = 1  # more threads on a busy 2-core machine is far slower, not faster
    max_minutes: float | None = None
    # ensemble members trained at once, each in its own forked process with num_threads threads.
    # Execution only: members are seeded alike either way, so the checkpoint is the same (and the
    # field is not recorded in it: see _recorded_config)
    workers: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def build_table(
    records: Iterable[Record], devices: Sequence[str] | None = None, targets: Sequence[str] | None = None
) -> Table:
    """Group ``records`` by graph key and featurise every graph once."""
    by_key: dict[str, int] = {}
    keys: list[str] = []
    data: list[Data] = []
    spaces: list[str] = []
    rows: list[tuple[int, str, dict[str, float]]] = []
    for r in records:
        if r.key not in by_key:
            by_key[r.key] = len(keys)
            keys.append(r.key)
            data.append(r.graph if isinstance(r.graph, Data) else featurize(r.graph))
            spaces.append(r.space)
        rows.append((by_key[r.key], r.device, r.targets))
    devs = list(devices) if devices is not None else sorted({d for _, d, _ in rows})
    tgts = list(targets) if targets is not None else [t for t in DEFAULT_TARGETS if any(t in v for _, _, v in rows)]
    y = np.full((len(keys), len(devs), len(tgts)), np.nan)
    d_index = {d: i for i, d in enumerate(devs)}
    for g, d, vals in rows:
        if d not in d_index:
            continue
        for ti, t in enumerate(tgts):
            v = vals.get(t)
            if v is not None and math.isfinite(v) and v > 0:
                y[g, d_index[d], ti] = v
    return Table(keys, data, spaces, devs, tgts, y)


AUX_MEMORY = "memory@compute"


def with_aux_target(table: Table, cfg: TrainConfig) -> Table:
    """``table`` plus the auxiliary target :data:`AUX_MEMORY` (a copy of memory, fitted on the
    compute floor) when ``cfg`` asks for it, else ``table`` itself.

    Why (bench/accuracy.py --scenarios zoo, family-26 CPU, one member, 3,000 training graphs, seeds
    0/1/2; MAPE on the 55 zoo networks, latency / memory):

    * memory on the compute floor (before): 9.5/9.7/10.0 / 33.4/23.9/19.8;
    * memory on its own floor, training the encoder: 15.1/21.6/20.0 / 7.6/6.7/9.8;
    * the same with the auxiliary target: 19.6/13.4/14.2 / 7.3/8.5/8.2;
    * memory floor not training the encoder (``encoder_memory=False``), no auxiliary: 17.1 / 10.1 (seed 0);
    * memory floor not training the encoder, plus the auxiliary target (the default): 9.7/10.0/11.4 /
      9.3/9.3/11.5 (bench/results/memory-floor-zoo.txt).

    So the encoder generalises to unseen networks' latency when it also learns memory *on the
    compute floor* (per-node weight and activation structure), and the memory-floor head should
    only read its embeddings."""
    if not (cfg.contribution == "roofline" and cfg.memory_basis and cfg.aux_memory
            and "memory" in table.targets and AUX_MEMORY not in table.targets):
        return table
    t = table.targets.index("memory")
    return Table(table.keys, table.data, table.spaces, table.devices, [*table.targets, AUX_MEMORY],
                 np.concatenate([table.y, table.y[:, :, t : t + 1]], 2))


def drop_aux_targets(members: Sequence[PerfSAGE], trained: Table, table: Table) -> None:
    """Strip the targets of ``trained`` that ``table`` does not have from every member."""
    if trained.targets != table.targets:
        keep = [trained.targets.index(t) for t in table.targets]
        for m in members:
            m.keep_targets(keep)


def split_indices(n: int, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Random disjoint index sets of the given fractions; the rest goes last."""
    perm = np.random.default_rng(seed).permutation(n)
    out, start = [], 0
    for f in fractions:
        k = int(round(f * n))
        out.append(np.sort(perm[start : start + k]))
        start += k
    out.append(np.sort(perm[start:]))
    return out


def _set_determinism(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def _collate(table: Table, idx: np.ndarray) -> tuple[GraphBatch, torch.Tensor]:
    return table.packed().batch(idx), torch.as_tensor(table.y[idx], dtype=torch.float32)


def _forward_all(model: PerfSAGE, batch: GraphBatch, num_devices: int) -> torch.Tensor:
    dev = torch.arange(num_devices).expand(batch.num_graphs, -1)
    pred, _ = model(batch.x, batch.adj, batch.batch, dev, batch.graph_attr, one_hot=batch.one_hot)
    return pred


def log_loss(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Smooth-L1 on log(pred/y) over the measured entries (NaN masked)."""
    mask = torch.isfinite(y)
    if not mask.any():
        return pred.sum() * 0.0
    err = torch.log(pred.clamp_min(1e-12))[mask] - torch.log(y[mask])
    return torch.nn.functional.smooth_l1_loss(err, torch.zeros_like(err), beta=0.05)


def build_model(cfg: TrainConfig, num_devices: int, num_targets: int,
                targets: Sequence[str] | None = None) -> PerfSAGE:
    """A fresh PerfSAGE for ``cfg`` over the current feature schema; ``targets`` (names) choose
    each target's roofline basis (``memory`` its own, see :class:`PerfSAGE`)."""
    extra: dict[str, Any] = {}
    if cfg.contribution == "roofline":
        extra = {"basis_columns": list(ROOFLINE_COLUMNS), "basis_scale": ROOFLINE_SCALE, "bound": cfg.bound}
        if cfg.memory_basis and targets is not None and "memory" in targets:
            extra.update(target_bases=["memory" if t == "memory" else "compute" for t in targets],
                         memory_columns=list(MEMORY_COLUMNS))
            if not cfg.encoder_memory and len(targets) > 1:  # the memory-floor head reads the embeddings
                extra["encoder_targets"] = [i for i, t in enumerate(targets) if t != "memory"]
            if cfg.graph_head:
                extra.update(graph_head=cfg.graph_head, hist_columns=N_OP_COLS)
    if cfg.kind_scales:
        extra.update(op_columns=N_OP_COLS, kernel_kinds=list(KERNEL_KIND_COLUMNS))
    model = PerfSAGE(NODE_DIM, GRAPH_DIM, cfg.hidden_channels, cfg.num_layers, num_devices, num_targets,
                     cfg.embed_channels, cfg.dropout, cfg.contribution, **extra)
    model.op_dropout = float(cfg.op_dropout)
    if cfg.kind_scales and model.target_bases and "memory" in model.target_bases:
        # peak memory is a maximum over the run, carried by the peak node: an op or kernel kind's cost
        # says nothing of it. The memory targets' scales stay 0 (no gradient; decay keeps 0 at 0): trained,
        # they took the five LiteRT CPUs' zoo memory from 7.5% to 8.7% (session 25)
        keep = torch.tensor([b != "memory" for b in model.target_bases], dtype=torch.float32)
        model.device_op_scale.register_hook(lambda grad: grad * keep.to(grad.dtype)[None, :, None])
    return model


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW over ``model``'s parameters (a PerfSAGE or its DDP wrapper); op scales, where the model has
    them, decay towards 0 with ``cfg.kind_decay``, everything else with ``cfg.weight_decay``."""
    scales = getattr(getattr(model, "module", model), "device_op_scale", None)
    rest = [p for p in model.parameters() if p is not scales]
    groups = [{"params": rest}] + ([{"params": [scales], "weight_decay": cfg.kind_decay}] if scales is not None else [])
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def roofline_totals(graphs: Sequence[Data], model: PerfSAGE) -> np.ndarray:
    """Per graph, the sums of ``model``'s roofline basis terms (:meth:`PerfSAGE.node_basis`), exactly
    what its floor adds up with unit rates: ``[G, 3]`` (FLOPs + 1, bytes + 2, 1 per node), or
    ``[G, T, 3]`` per target when the model has per-target bases."""
    with torch.no_grad():
        return np.stack([torch.exp(model.node_basis(d.x).double()).sum(0).numpy() for d in graphs])


def fit_roofline(totals: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Log-rates ``[3]`` of ``y ~ a*FLOPs + b*bytes + c*nodes`` (a, b, c >= 0) minimising the
    squared *relative* error; a term the fit drops is kept at 0.1% of the median graph so that
    training can still move it."""
    from scipy.optimize import nnls

    ok = np.isfinite(y) & (y > 0)
    if ok.sum() < 3:
        return np.log(np.full(3, 1e-9))
    a, b = totals[ok] / y[ok, None], np.ones(int(ok.sum()))
    col = np.maximum(np.median(totals[ok], 0), 1e-12)
    coef, _ = nnls(a / col, b)  # columns normalised for conditioning
    coef = coef / col
    floor = 1e-3 * np.median(y[ok]) / col
    return np.log(np.maximum(coef, floor))


def init_scales(model: PerfSAGE, table: Table, idx: np.ndarray) -> dict[str, Any]:
    """Set each device/target log-scale so an untrained model predicts the median (roofline:
    its rates so it predicts the non-negative least-squares roofline fit); returns the
    normalisation stats stored in the checkpoint."""
    nodes = float(np.mean([table.data[i].num_nodes for i in idx]))
    with warnings.catch_warnings():  # all-NaN cells (targets a device lacks) are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(table.y[idx], axis=0) if len(idx) else np.full(table.y.shape[1:], np.nan)
    med = np.where(np.isfinite(med), med, 1.0)
    with torch.no_grad():
        if model.device_rate is not None:
            totals = roofline_totals([table.data[i] for i in idx], model)
            rates = np.zeros(tuple(model.device_rate.shape))
            for d in range(rates.shape[0]):
                for t in range(rates.shape[1]):
                    rates[d, t] = fit_roofline(totals if totals.ndim == 2 else totals[:, t], table.y[idx, d, t])
            model.device_rate.copy_(torch.as_tensor(rates, dtype=torch.float32))
            model.device_log_scale.zero_()
        else:
            model.device_log_scale.copy_(torch.as_tensor(np.log(med / (nodes * model.zero_logit_value())),
                                                          dtype=torch.float32))
    return {"median": med.tolist(), "mean_nodes": nodes}


@torch.no_grad()
def silence_unseen_ops(model: PerfSAGE, data: Sequence[Data]) -> np.ndarray:
    """Zero the weights that read the op columns (one-hot op type of :data:`N_OP_COLS`: vocabulary,
    hash buckets, unknown) that no node of ``data`` has: in the node encoder's input layer and, with a
    graph head, in its op-histogram inputs. Such a column is zero in every training graph, so its
    weights get no gradient and would keep their random initial values; at serving time an op type
    the model never saw would then add a random vector to its node, and so a cost factor that
    changes from seed to seed (leaving out the vit space, whose matmul, softmax, layernorm, gelu,
    gather and reduce_mean no other space has: 70.8% latency MAPE with seed 0, 18.1% with seed 1,
    bench/results/accuracy-loso-f25m17-s17.txt). Zeroed, the column stays zero through training
    (no gradient; decoupled weight decay keeps zero at zero), and an unseen op is read from its
    shapes, FLOPs and bytes like an op of no known type. Returns the seen-column mask."""
    seen = torch.zeros(N_OP_COLS, dtype=torch.bool)
    for d in data:
        seen |= (d.x[:, :N_OP_COLS] != 0).any(0)
    model.lin_in.weight[:, :N_OP_COLS][:, ~seen] = 0.0
    if model.graph_mlp is not None and model.hist_columns:
        first = model.graph_mlp[0].weight
        cols = model.graph_channels + torch.arange(min(model.hist_columns, N_OP_COLS))
        first[:, cols[~seen[: len(cols)]]] = 0.0
    return seen.numpy()


@torch.no_grad()
def predict_table(model: PerfSAGE, table: Table, idx: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Predictions ``[len(idx), D, T]`` of one model for all devices."""
    model.eval()
    out = [
        _forward_all(model, _collate(table, idx[s : s + batch_size])[0], len(table.devices)).numpy()
        for s in range(0, len(idx), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros((0, len(table.devices), len(table.targets)))


def mape(pred: np.ndarray, y: np.ndarray) -> float:
    m = np.isfinite(y)
    return float(np.mean(np.abs(pred[m] - y[m]) / y[m]) * 100) if m.any() else float("nan")


def validation_mape(model: PerfSAGE, table: Table, idx: np.ndarray) -> float:
    """MAPE of ``model`` on the graphs ``idx`` of ``table`` (NaN without any)."""
    return mape(predict_table(model, table, idx), table.y[idx]) if len(idx) else float("nan")


def fit_horizon(horizon: int, epoch: int, elapsed: float, deadline: float) -> int:
    """The epochs a schedule of ``horizon`` epochs can have when ``epoch`` (from 0) ended
    ``elapsed`` seconds in and training must end by ``deadline``: ``horizon`` when the pace so far
    fits, else as many as it affords, never fewer than the next epoch (it only shrinks)."""
    per_epoch = elapsed / (epoch + 1)
    if per_epoch <= 0 or per_epoch * horizon <= deadline:
        return horizon
    return max(epoch + 2, min(horizon, int(deadline / per_epoch)))


def cosine_schedule(opt: torch.optim.Optimizer, horizon: list[int]) -> torch.optim.lr_scheduler.LambdaLR:
    """Cosine decay of the learning rate to zero over ``horizon[0]`` epochs, read at every step
    (a list, so that :func:`fit_horizon` can shrink it while training runs)."""
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda e: 0.5 * (1.0 + math.cos(math.pi * min(e, horizon[0]) / horizon[0])))


def run_steps(model: torch.nn.Module, opt: torch.optim.Optimizer, table: Table, order: np.ndarray,
              batch_size: int) -> float:
    """One pass of optimizer steps over the graphs ``order`` in batches of ``batch_size`` (gradients
    clipped to norm 5); the mean loss. ``model`` is a PerfSAGE or its DistributedDataParallel wrapper."""
    total = 0.0
    for s in range(0, len(order), batch_size):
        batch, y = _collate(table, order[s : s + batch_size])
        loss = log_loss(_forward_all(model, batch, len(table.devices)), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        total += loss.item() * len(y)
    return total / max(len(order), 1)


def run_schedule(
    model: PerfSAGE,
    opt: torch.optim.Optimizer,
    epochs: int,
    cfg: TrainConfig,
    one_epoch: Callable[[int], float],
    validate: Callable[[], float],
    clock: Callable[[], float],
    event: str = "train",
    extra: dict[str, Any] | None = None,
) -> tuple[float, int, int]:
    """The epoch loop of both trainings (one process, :func:`train_member`; ``torchrun``,
    :mod:`predictor.distributed`): ``one_epoch(epoch)`` runs an epoch of optimizer steps and returns
    its mean loss, then the cosine learning-rate decay steps, ``validate()`` gives the validation MAPE
    and ``clock()`` the seconds since training began (under DDP the slowest rank's, so that every
    rank decides alike). The schedule decays to zero over ``epochs``; with ``cfg.max_minutes`` it
    shrinks to the epochs the budget affords (:func:`fit_horizon`), so a time-limited run still ends
    its schedule instead of stopping half-way at a high learning rate. Early stopping after
    ``max(cfg.patience, epochs // 3)`` epochs without a better validation MAPE. Logs ``{event}.epoch``,
    ``{event}.budget``, ``{event}.early_stop`` and ``{event}.time_limit`` with ``extra``. The model is
    left in eval mode with its best epoch's weights; returns (best validation MAPE, best epoch, epochs
    scheduled)."""
    extra = extra or {}
    horizon = [max(epochs, 1)]
    sched = cosine_schedule(opt, horizon)
    best: tuple[float, dict[str, torch.Tensor], int] = (float("inf"), copy.deepcopy(model.state_dict()), 0)
    deadline = (cfg.max_minutes or 1e9) * 60
    epoch = -1
    while epoch + 1 < horizon[0]:
        epoch += 1
        model.train()
        loss = one_epoch(epoch)
        sched.step()
        val = validate()
        elapsed = clock()
        fitted = fit_horizon(horizon[0], epoch, elapsed, deadline)
        if fitted < horizon[0]:
            log.info(f"{event}.budget", extra={**extra, "epoch": epoch, "epochs": fitted, "planned": epochs,
                                               "max_minutes": cfg.max_minutes})
            horizon[0] = fitted
        eta = elapsed / (epoch + 1) * (horizon[0] - epoch - 1)
        log.info(f"{event}.epoch", extra={**extra, "epoch": epoch, "loss": loss, "val_mape": val,
                                          "elapsed_s": round(elapsed, 1), "eta_s": round(eta, 1)})
        if not math.isfinite(val) or val < best[0]:
            best = (val, copy.deepcopy(model.state_dict()), epoch)
        elif epoch - best[2] >= max(cfg.patience, epochs // 3):
            log.info(f"{event}.early_stop", extra={**extra, "epoch": epoch, "best_epoch": best[2]})
            break
        if elapsed > deadline and epoch + 1 < horizon[0]:
            log.warning(f"{event}.time_limit", extra={**extra, "epoch": epoch})
            break
    model.load_state_dict(best[1])
    model.eval()
    return best[0], best[2], horizon[0]


def train_member(
    table: Table, train_idx: np.ndarray, val_idx: np.ndarray, cfg: TrainConfig, seed: int
) -> tuple[PerfSAGE, dict[str, Any]]:
    """Train one PerfSAGE with early stopping on validation MAPE."""
    _set_determinism(seed, cfg.num_threads)
    model = build_model(cfg, len(table.devices), len(table.targets), table.targets)
    stats = init_scales(model, table, train_idx)
    if cfg.silence_unseen:
        silence_unseen_ops(model, [table.data[i] for i in train_idx])
    epochs = max(cfg.epochs, math.ceil(cfg.min_steps / max(math.ceil(len(train_idx) / cfg.batch_size), 1)))
    opt = make_optimizer(model, cfg)
    rng = np.random.default_rng(seed)
    t0 = time.monotonic()
    best_val, best_epoch, scheduled = run_schedule(
        model, opt, epochs, cfg, lambda _: run_steps(model, opt, table, rng.permutation(train_idx), cfg.batch_size),
        validate=lambda: validation_mape(model, table, val_idx),
        clock=lambda: time.monotonic() - t0, event="train", extra={"seed": seed},
    )
    model.op_dropout = 0.0  # training is over: a later fine-tuning (adaptation) reads every op type
    info = {"val_mape": best_val, "best_epoch": best_epoch, "epochs_scheduled": scheduled, "norm": stats}
    if cfg.graph_head_steps and model.graph_head:
        # at most 120 passes over the training graphs (batches of 256): small tables need few steps
        steps = min(cfg.graph_head_steps, 120 * math.ceil(len(train_idx) / 256))
        info["graph_head"] = refit_graph_head(model, table, train_idx, val_idx, steps, seed=seed)
    return model, info


def refit_graph_head(model: PerfSAGE, table: Table, train_idx: np.ndarray, val_idx: np.ndarray, steps: int,
                     lr: float = 3e-3, batch_size: int = 256, seed: int = 0) -> dict[str, float]:
    """Fit only ``model``'s graph-level memory correction (:attr:`PerfSAGE.graph_head`: its MLP and
    device rows) on the memory targets, with everything else frozen, keeping the state of the best
    validation MAPE (memory only; checked every 100 steps).

    In the joint training the head learns only while the encoder and the latency heads still
    move, and early stopping follows the validation error of every target. Frozen, the rest of
    the model is a fixed per-graph value, so the head trains on graph-level tensors alone: a few
    seconds for thousands of steps."""
    mem = [t for t, b in enumerate(model.target_bases or []) if b == "memory"]
    if not model.graph_head or not mem or not len(train_idx):
        return {}
    num_devices = len(table.devices)
    idx = np.concatenate([train_idx, val_idx])
    base, inputs = [], []
    model.eval()
    with torch.no_grad():
        for s in range(0, len(idx), 256):
            batch, _ = _collate(table, idx[s : s + 256])
            dev = torch.arange(num_devices).expand(batch.num_graphs, -1)
            pred = _forward_all(model, batch, num_devices)
            g_in = model.graph_inputs(batch.x, batch.batch, batch.num_graphs, batch.graph_attr, batch.one_hot)
            base.append(pred / model.graph_factor_from(model.graph_mlp(g_in), dev))
            inputs.append(g_in)
    base_t, g = torch.cat(base)[:, :, mem], torch.cat(inputs)
    all_devices = torch.arange(num_devices).expand(len(idx), -1)
    y = torch.as_tensor(table.y[idx][:, :, mem], dtype=torch.float32)
    fit_rows, val_rows = np.arange(len(train_idx)), np.arange(len(train_idx), len(idx))
    params = [*model.graph_mlp.parameters(), model.device_graph_vec, model.device_graph_bias]

    def head_pred(rows: np.ndarray) -> torch.Tensor:
        return base_t[rows] * model.graph_factor_from(model.graph_mlp(g[rows]), all_devices[rows])[:, :, mem]

    def score() -> float:
        rows = val_rows if len(val_rows) else fit_rows
        with torch.no_grad():
            return mape(head_pred(rows).numpy(), y[rows].numpy())

    def snapshot() -> list[torch.Tensor]:
        return [p.detach().clone() for p in params]

    before = score()
    best = (before, snapshot())
    opt = torch.optim.Adam(params, lr=lr)
    rng = np.random.default_rng(seed + 7)
    for step in range(1, steps + 1):
        rows = rng.integers(0, len(fit_rows), min(batch_size, len(fit_rows)))
        loss = log_loss(head_pred(rows), y[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps:
            v = score()
            if v < best[0]:
                best = (v, snapshot())
    with torch.no_grad():
        for p, b in zip(params, best[1], strict=True):
            p.copy_(b)
    log.info("train.graph_head", extra={"seed": seed, "val_mape_before": round(before, 3),
                                        "val_mape_after": round(best[0], 3), "steps": steps})
    return {"val_mape_before": before, "val_mape_after": best[0]}


def ensemble_log(members: Sequence[PerfSAGE], table: Table, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logs = np.stack([np.log(np.maximum(predict_table(m, table, idx), 1e-12)) for m in members])
    return logs.mean(0), logs.std(0)


def calibrate(
    members: Sequence[PerfSAGE], table: Table, idx: np.ndarray, min_per_cell: int = 30
) -> tuple[np.ndarray, dict[str, Any]]:
    """Conformal scale ``q[d, t]``: the 90% quantile of |log y - mu| / max(sigma, floor)
    on the calibration graphs; pooled over devices where a cell has few samples."""
    mu, sigma = ensemble_log(members, table, idx)
    scores = np.abs(np.log(table.y[idx]) - mu) / np.maximum(sigma, SIGMA_FLOOR)
    D, T = table.y.shape[1:]
    q = np.full((D, T), np.nan)
    for t in range(T):
        pooled = conformal_q(scores[:, :, t].ravel(), COVERAGE)
        for d in range(D):
            cell = scores[:, d, t]
            n = int(np.isfinite(cell).sum())
            q[d, t] = conformal_q(cell, COVERAGE) if n >= min_per_cell else pooled
    q = np.where(np.isfinite(q), q, 3.0)
    return q, {"calibration_graphs": int(len(idx))}


def train_predictor(
    table: Table, cfg: TrainConfig, train_idx: np.ndarray | None = None, name: str = "perfsage",
    description: dict[str, Any] | None = None, fit_only: np.ndarray | None = None,
) -> Predictor:
    """Train an ensemble on ``train_idx`` (default: every graph), holding out a
    validation split for early stopping and a calibration split for the
    conformal intervals (both drawn from ``train_idx``). ``fit_only``: graphs added to the fitting
    set only, never to validation or calibration (repeat an index to weigh it more), e.g. real
    networks (:func:`zoo_fit_indices`), so that early stopping and the intervals stay on the sampled spaces."""
    idx = np.arange(len(table.keys)) if train_idx is None else np.asarray(train_idx)
    if len(idx) < 3 or not table.targets or not np.isfinite(table.y[idx]).any():
        raise ValueError(f"nothing to train on: {len(idx)} graphs, targets {table.targets}")
    val_pos, cal_pos, fit_pos = split_indices(len(idx), [cfg.val_fraction, cfg.calib_fraction], cfg.seed)
    fit, val, cal = idx[fit_pos], idx[val_pos], idx[cal_pos]
    if fit_only is not None and len(fit_only):
        fit_only = np.asarray(fit_only, dtype=np.int64)
        fit = np.concatenate([fit, fit_only])
        idx = np.concatenate([idx, np.unique(fit_only)])
    log.info("train.start", extra={"graphs": len(idx), "fit": len(fit), "val": len(val), "calib": len(cal),
                                   "devices": len(table.devices), "targets": table.targets})
    trained = with_aux_target(table, cfg)
    members, infos = train_members(trained, fit, val, cfg)
    drop_aux_targets(members, trained, table)
    q, cal_info = calibrate(members, table, cal)
    mu, _ = ensemble_log(members, table, val)
    meta = {
        "train_config": _recorded_config(cfg),
        "members": [{k: v for k, v in i.items() if k != "norm"} for i in infos],
        "normalisation": infos[0]["norm"],
        "graph_stats": graph_feature_stats([table.data[i] for i in idx]),
        "node_kinds": node_kind_stats([table.data[i] for i in idx]),
        "metrics": {"val_mape_ensemble": mape(np.exp(mu), table.y[val]), **cal_info},
        "training_data": {"graphs": len(idx), "spaces": sorted(set(table.spaces[i] for i in idx)),
                          **(description or {})},
    }
    return Predictor(members, list(table.devices), list(table.targets), table.available(), q, meta, name)


def _recorded_config(cfg: TrainConfig) -> dict[str, Any]:
    """``cfg`` as a checkpoint records it: without ``workers``, which changes how long training
    takes, not what it makes (so not the predictor's version either)."""
    return {k: v for k, v in asdict(cfg).items() if k != "workers"}


def default_workers() -> int:
    """The CPUs this process may run on (``taskset`` narrows it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


_POOL_STATE: dict[str, Any] = {}


def _member_in_child(k: int) -> bytes:
    st = _POOL_STATE
    model, info = train_member(st["table"], st["fit"], st["val"], st["cfg"], st["cfg"].seed + k)
    buf = io.BytesIO()
    torch.save((model, info), buf)
    return buf.getvalue()


def train_members(
    table: Table, fit: np.ndarray, val: np.ndarray, cfg: TrainConfig
) -> tuple[list[PerfSAGE], list[dict[str, Any]]]:
    """The ``cfg.ensemble`` members (seeds ``cfg.seed + k``), ``cfg.workers`` at a time in forked
    processes (they inherit ``table`` without copying it up front); the same members as one
    after another, which is what ``workers <= 1`` does."""
    workers = max(1, min(int(cfg.workers), cfg.ensemble))
    if workers == 1:
        pairs = [train_member(table, fit, val, cfg, cfg.seed + k) for k in range(cfg.ensemble)]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        log.info("train.parallel", extra={"members": cfg.ensemble, "workers": workers})
        table.packed()  # built once here, shared by the forked workers
        _POOL_STATE.update(table=table, fit=fit, val=val, cfg=cfg)
        try:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                blobs = list(pool.map(_member_in_child, range(cfg.ensemble)))
        finally:
            _POOL_STATE.clear()
        pairs = [torch.load(io.BytesIO(b), weights_only=False) for b in blobs]
    return [m for m, _ in pairs], [i for _, i in pairs]


def refit_graph_heads(predictor: Predictor, table: Table, steps: int | None = None) -> Predictor:
    """Refit the graph-level memory correction of a trained ensemble's members
    (:func:`refit_graph_head`) on the table it was trained on, then recompute its conformal
    scales and validation MAPE; everything else is unchanged. For checkpoints trained before
    ``graph_head_steps`` existed: seconds per member instead of a retraining.

    The split is the one :func:`train_predictor` drew (same seed and fractions), so the head sees
    only the members' training graphs; ``table`` must hold the same graphs in the same order
    (:class:`ValueError` otherwise, checked by the ensemble's recorded validation MAPE)."""
    meta = copy.deepcopy(predictor.meta)
    cfg = meta.get("train_config") or {}
    n = (meta.get("training_data") or {}).get("graphs")
    if (n != len(table.keys) or list(table.devices) != list(predictor.devices)
            or list(table.targets) != list(predictor.targets)):
        raise ValueError(f"the table ({len(table.keys)} graphs, devices {table.devices}, targets {table.targets}) "
                         f"is not the one this checkpoint was trained on ({n} graphs, devices "
                         f"{predictor.devices}, targets {predictor.targets})")
    val, cal, fit = split_indices(n, [cfg.get("val_fraction", 0.1), cfg.get("calib_fraction", 0.1)],
                                  cfg.get("seed", 0))
    members = [copy.deepcopy(m) for m in predictor.members]
    before = mape(np.exp(ensemble_log(members, table, val)[0]), table.y[val])
    recorded = (meta.get("metrics") or {}).get("val_mape_ensemble")
    if recorded is not None and abs(before - recorded) > 0.01:
        raise ValueError(f"validation MAPE {before:.3f}% on this table, {recorded:.3f}% when trained: "
                         "not the same graphs, labels or split")
    if steps is None:
        steps = min(cfg.get("graph_head_steps") or TrainConfig.graph_head_steps, 120 * math.ceil(len(fit) / 256))
    for k, m in enumerate(members):
        info = refit_graph_head(m, table, fit, val, steps, seed=cfg.get("seed", 0) + k)
        meta["members"][k]["graph_head"] = info
    q, cal_info = calibrate(members, table, cal)
    after = mape(np.exp(ensemble_log(members, table, val)[0]), table.y[val])
    meta["metrics"] = {**meta.get("metrics", {}), "val_mape_ensemble": after, **cal_info}
    meta["train_config"] = {**cfg, "graph_head_steps": steps}
    meta["refit"] = {"graph_head_steps": steps, "val_mape_ensemble_before": before}
    return Predictor(members, list(predictor.devices), list(predictor.targets), predictor.available.copy(), q, meta,
                     predictor.name)


# -- few-shot adaptation to a new device --------------------------------------------
def adapt_device(
    predictor: Predictor, device: str, graphs: Sequence[Data], values: np.ndarray,
    steps: int = 200, lr: float = 1.0, l2: float = 0.1, seed: int = 0, prior: str = "mixture",
    op_l2: float | None = OP_SCALE_L2, refine: bool = True,
) -> Predictor:
    """A copy of ``predictor`` that knows ``device``, fitted on K measurements
    (``values [K, T]``, NaN = unmeasured) by optimising only the new device's
    embedding; the shared encoder stays frozen. ``prior``: ``"mixture"`` starts the new row at
    the best mixture of the known devices' rows, ``"mean"`` at their mean (the first method).
    ``op_l2``: then a log-scale per op type (:meth:`PerfSAGE.add_op_scales`) is fitted on the same
    measurements, each pulled towards 0 (no change) by this L2 weight; None skips it.
    ``prior="nearest"``: per target, the known device whose predictions times one constant fit
    best, and that constant (:func:`_nearest_row`). ``refine=False`` keeps the row at its prior
    (no free fit of the row itself)."""
    if prior not in ("mixture", "mean", "nearest"):
        raise ValueError(f"prior must be 'mixture', 'mean' or 'nearest', got {prior!r}")
    if device in predictor.devices:
        raise ValueError(f"device {device!r} is already known")
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (len(graphs), len(predictor.targets)):
        raise ValueError(f"values must have shape (graphs, targets) = ({len(graphs)}, {len(predictor.targets)})")
    torch.manual_seed(seed)
    y = torch.as_tensor(values, dtype=torch.float32)
    batch = Batch.from_data_list(list(graphs), exclude_keys=["node_names"])
    members = []
    for m in predictor.members:
        m = copy.deepcopy(m)
        m.add_devices(1)
        m = _fit_new_row(m, batch, y, steps, lr, l2, predictor.available, prior, refine)
        if op_l2 is not None:
            _fit_op_scales(m, batch, y, op_l2, steps)
        members.append(m)
    avail = np.concatenate([predictor.available, np.isfinite(values).any(0)[None]])
    # the new device's conformal scale: no held-out data of its own to calibrate on, and its row is
    # fitted on K samples, so its intervals take the 90th percentile of the known devices' scales
    # (the median under-covered: 76% at K=10 on HELP's held-out devices, bench/accuracy.py)
    q = np.concatenate([predictor.q, np.nanquantile(predictor.q, 0.9, axis=0, keepdims=True)])
    meta = dict(predictor.meta, adapted={device: {"samples": len(graphs)}})
    return Predictor(members, [*predictor.devices, device], predictor.targets, avail, q, meta, predictor.name)


#: Targets that are sums over layers, so that a kernel-sum model of them makes sense.
ADDITIVE_TARGETS = ("latency", "energy")
#: The GNN's weight in a new device's blend with its kernel-sum model, chosen by cross-validation.
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def calibrate_device(
    predictor: Predictor, device: str, graphs: Sequence[Data], values: np.ndarray, folds: int = 5,
    seed: int = 0, min_samples: int = 5, **adapt: Any,
) -> Predictor:
    """A new device from K measurements: the nearest known device times one constant
    (``adapt_device(prior="nearest", refine=False)``: one free parameter, so it does not chase the
    noise of 10 measurements), or :func:`adapt_device` (the GNN's row fitted to the device) where
    ``folds``-fold cross-validation on the K measurements prefers that by more than one standard
    error (the one-standard-error rule: the simpler model unless the other is clearly better).
    Session 11, on three CPUs' records (random K of a pool, 150-600 other architectures tested, 5
    draws each): at K = 10 this lowered the mean MAPE from 16.98 / 15.86 / 7.76% (fitted row unless
    the constant was clearly better) to 14.93 / 14.28 / 7.24%; at K = 25 and 50 it was within
    -0.03..+0.48 points. The choice and both CV errors are in ``meta["adapted"][device]``. Then, per additive
    target, an nn-Meter-style kernel-sum model of the device (per-op-type linear costs,
    :class:`predictor.baselines.KernelSum`) blended with it in log space. The GNN's weight in
    the blend is chosen from :data:`BLEND_WEIGHTS` by ``folds``-fold cross-validation on the K
    measurements (each fold's GNN and kernel sum fitted without it; a blend must beat the GNN
    alone by more than one standard error, :func:`_blend_weight`), so a device whose latency
    the kernel sum explains better (GPUs: kernel launches) leans on it, and one it explains
    worse, or not clearly better, keeps the GNN. The blend lives in ``meta["kernels"]`` and is
    applied by :meth:`Predictor.predict_log`; with fewer than ``min_samples`` measurements
    of a target there is no blend for it."""
    from predictor.baselines import fit_kernel_sum, kernel_features, kernel_predict

    values = np.asarray(values, dtype=np.float64)
    measured = np.isfinite(values) & (values > 0)
    targets = [t for t, name in enumerate(predictor.targets) if name in ADDITIVE_TARGETS
               and measured[:, t].sum() >= max(min_samples, 2)]
    if not targets:
        return adapt_device(predictor, device, graphs, values, seed=seed, **adapt)
    rows = np.flatnonzero(measured[:, targets].any(1))
    k = min(folds, len(rows))
    fold = np.full(len(graphs), -1)
    fold[rows] = np.random.default_rng(seed).permutation(len(rows)) % k
    gnn_oof = np.full(values.shape, np.nan)
    for f in range(k):
        train, test = np.flatnonzero((fold >= 0) & (fold != f)), np.flatnonzero(fold == f)
        part = adapt_device(predictor, device, [graphs[i] for i in train], values[train], seed=seed, **adapt)
        mu, _ = part.predict_log([graphs[i] for i in test], part.device_indices([device]))
        gnn_oof[test] = mu[:, 0]
    near_oof = _nearest_oof(predictor, graphs, values, measured, fold, k, targets)
    near_sq, gnn_sq = [], []
    for t in targets:
        ok = np.flatnonzero(measured[:, t] & (fold >= 0))
        logy = np.log(values[ok, t])
        near_sq.append((near_oof[ok, t] - logy) ** 2)
        gnn_sq.append((gnn_oof[ok, t] - logy) ** 2)
    near_sq, gnn_sq = np.concatenate(near_sq), np.concatenate(gnn_sq)
    # the one-standard-error rule: the simpler model (one constant) unless the fitted row is clearly better
    method = "gnn" if _clearly_lower(gnn_sq, near_sq) else "nearest"
    if method == "nearest":  # the model fitted on all K measurements: only the chosen one
        adapted = adapt_device(predictor, device, graphs, values, seed=seed, prior="nearest", refine=False,
                               op_l2=None)
        gnn_oof = near_oof
    else:
        adapted = adapt_device(predictor, device, graphs, values, seed=seed, **adapt)
    adapted.meta = {**adapted.meta, "adapted": {**adapted.meta.get("adapted", {}), device: {
        "samples": len(graphs), "method": method,
        "cv_mse": {"gnn": float(gnn_sq.mean()), "nearest": float(near_sq.mean())}}}}
    feats = kernel_features(graphs)
    kernels: dict[str, Any] = {}
    for t in targets:
        ok = np.flatnonzero(measured[:, t] & (fold >= 0))
        ks_oof = np.full(len(graphs), np.nan)
        for f in range(k):
            train, test = ok[fold[ok] != f], ok[fold[ok] == f]
            if len(train) >= 2 and len(test):
                ks_oof[test] = np.log(kernel_predict(fit_kernel_sum(feats[train], values[train, t]), feats[test]))
        seen = ok[np.isfinite(ks_oof[ok]) & np.isfinite(gnn_oof[ok, t])]
        if len(seen) < 2:
            continue
        logy = np.log(values[seen, t])
        sq = np.stack([(w * gnn_oof[seen, t] + (1 - w) * ks_oof[seen] - logy) ** 2 for w in BLEND_WEIGHTS])
        errors = [float(e) for e in sq.mean(1)]
        weight = _blend_weight(sq)
        if weight >= 1.0:
            continue
        used, coef = fit_kernel_sum(feats[ok], values[ok, t])
        kernels[predictor.targets[t]] = {"weight": weight, "used": [int(u) for u in used],
                                         "coef": [float(c) for c in coef], "samples": len(ok),
                                         "cv_mse": dict(zip(map(str, BLEND_WEIGHTS), errors, strict=True))}
    if kernels:
        adapted.meta = {**adapted.meta, "kernels": {**(adapted.meta.get("kernels") or {}), device: kernels}}
    return adapted


def _nearest_oof(predictor: Predictor, graphs: Sequence[Data], values: np.ndarray, measured: np.ndarray,
                 fold: np.ndarray, k: int, targets: Sequence[int]) -> np.ndarray:
    """Out-of-fold log predictions ``[K, T]`` of the ``prior="nearest"`` adaptation (no row fit): in
    each fold, per target, the known device (ensemble mean) that, times the training rows' median
    ratio, fits the training rows best."""
    mu, _ = predictor.predict_log(list(graphs), np.arange(len(predictor.devices)))  # [K, D, T]
    avail = np.asarray(predictor.available, dtype=bool)
    out = np.full(values.shape, np.nan)
    logy = np.log(np.where(measured, values, 1.0))
    for f in range(k):
        test = fold == f
        for t in targets:
            train = (fold >= 0) & (fold != f) & measured[:, t]
            if not train.any():
                continue
            best = (np.inf, 0, 0.0)
            for d in np.flatnonzero(avail[:, t]) if avail[:, t].any() else range(mu.shape[1]):
                off, err = _constant_fit(logy[train, t] - mu[train, d, t])
                if err < best[0]:
                    best = (err, d, off)
            out[test, t] = mu[test, best[1], t] + best[2]
    return out


def _constant_fit(log_ratio: np.ndarray) -> tuple[float, float]:
    """The one-constant transfer from a known device: ``(offset, error)``, the median of the log
    ratios measured / predicted (robust to a noisy measurement) and the mean squared log error left
    after it; NaN ratios (unmeasured) are skipped, none at all gives ``(0, inf)``. One rule for the
    cross-validation (:func:`_nearest_oof`) and the fit (:func:`_nearest_row`)."""
    r = np.asarray(log_ratio, dtype=np.float64)
    r = r[np.isfinite(r)]
    if not r.size:
        return 0.0, float("inf")
    off = float(np.median(r))
    return off, float(np.mean((r - off) ** 2))


def _clearly_lower(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the paired errors ``a`` are lower than ``b`` by more than one standard error of
    the mean difference."""
    diff = np.asarray(a) - np.asarray(b)
    if len(diff) < 2:
        return False
    return float(diff.mean()) + float(diff.std(ddof=1) / np.sqrt(len(diff))) < 0


def _blend_weight(sq: np.ndarray) -> float:
    """The GNN's weight from out-of-fold squared log errors ``sq [len(BLEND_WEIGHTS), K]`` (one row
    per weight; weight 1.0: the GNN alone): the lowest-error blend, taken only if it beats the GNN alone by more than
    one standard error of the paired difference (the one-standard-error rule). With a few dozen
    noisy measurements a blend whose cross-validated error is only slightly lower than the GNN's
    is chance, and the kernel sum extrapolates badly off its K graphs: on the family-25 model-1
    CPU a 0.75 blend picked by a 7% lower CV error (K = 50) raised the MAPE on 600 other
    architectures from 12% to 18%."""
    gnn = sq[BLEND_WEIGHTS.index(1.0)]
    best = min(range(len(BLEND_WEIGHTS)), key=lambda i: (round(float(sq[i].mean()), 12), -BLEND_WEIGHTS[i]))
    return BLEND_WEIGHTS[best] if _clearly_lower(sq[best], gnn) else 1.0


def _fit_new_row(model: PerfSAGE, batch: Batch, y: torch.Tensor, steps: int, lr: float, l2: float,
                 available: np.ndarray | None = None, prior: str = "mixture", refine: bool = True) -> PerfSAGE:
    """Fit the last device row on ``y [K, T]`` in two stages: (1) the best mixture of the known
    devices' rows (softmax weights per target over the devices that have the target, plus a
    free log-scale offset: a handful of parameters, safe from 10 samples); (2) the row itself,
    started at that mixture and held near it by an L2 prior."""
    model.eval()
    with torch.no_grad():
        z = model.encode(batch.x, batch.edge_index, batch.batch, batch.graph_attr)
        basis = model.node_basis(batch.x)
    new = model.num_devices - 1
    mask = torch.isfinite(y)
    logy = torch.log(y.clamp_min(1e-12))
    roofline = model.device_rate is not None
    rate = model.device_rate[new].detach() if roofline else torch.zeros(y.size(1), 3)
    # a model trained with kernel-kind scales: every known row has its own, and the new row takes its
    # prior's (the nearest device's, the mixture's or the mean); op scales added only for adaptation
    # (op_l2) start at 0 in _fit_op_scales instead
    kinds = KindScales(model.node_ops(batch.x), model.device_op_scale.detach()[:new]) if model.kernel_kinds else None
    op_row = kinds.rows.mean(0) if kinds is not None else None
    if prior == "mean":  # the mean of the known rows, as add_devices left it
        vec, bias = model.device_vec[new].detach(), model.device_bias[new].detach()
        with torch.no_grad():
            base = _row_pred(model, z, batch.batch, vec, bias, torch.zeros_like(bias), y.size(0), basis, rate,
                             kinds and kinds.of(op_row))
            scale = torch.nan_to_num(torch.nanmedian(torch.where(mask, logy - torch.log(base), torch.nan), 0).values)
    elif prior == "nearest":
        vec, bias, scale, rate, op_row = _nearest_row(model, z, batch.batch, y, mask, logy, available, basis, kinds)
    else:
        vec, bias, scale, rate, op_row = _mixture_row(model, z, batch.batch, y, mask, logy, available, steps, basis,
                                                      kinds)
    if op_row is not None:
        with torch.no_grad():
            model.device_op_scale[new] = op_row
    node_scale = kinds.of(op_row) if kinds is not None else None
    vec, bias, scale, rate = (t.detach().clone().requires_grad_(True) for t in (vec, bias, scale, rate))
    if not refine:
        return _set_row(model, new, vec, bias, scale, rate if roofline else None)
    prior_vec, prior_rate = vec.detach().clone(), rate.detach().clone()
    params = [vec, bias, scale] + ([rate] if roofline else [])
    opt = torch.optim.LBFGS(params, lr=lr, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        pred = _row_pred(model, z, batch.batch, vec, bias, scale, y.size(0), basis, rate, node_scale)
        err = torch.where(mask, torch.log(pred.clamp_min(1e-12)) - logy, 0.0)
        loss = (err**2).sum() / mask.sum().clamp_min(1) + l2 * ((vec - prior_vec) ** 2).sum()
        if roofline:
            loss = loss + l2 * ((rate - prior_rate) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return _set_row(model, new, vec, bias, scale, rate if roofline else None)


def _set_row(model: PerfSAGE, new: int, vec: torch.Tensor, bias: torch.Tensor, scale: torch.Tensor,
             rate: torch.Tensor | None) -> PerfSAGE:
    with torch.no_grad():
        model.device_vec[new] = vec
        model.device_bias[new] = bias
        model.device_log_scale[new] = scale
        if rate is not None:
            model.device_rate[new] = rate
    return model


def _fit_op_scales(model: PerfSAGE, batch: Batch, y: torch.Tensor, l2: float, steps: int) -> None:
    """Fit the last device's per-op-type log-scales on ``y [K, T]``, the rest of its row fixed.

    With the row's per-node costs summed per op type into ``A [K, C]``, a graph's prediction is
    ``A @ exp(s)``; ``s`` minimises the mean squared log error plus ``l2 * |s|^2`` for each
    measured target. Op types absent from the K graphs keep 0 (the GNN's own cost). A model trained
    with kernel-kind scales keeps the row its prior gave the device (:func:`_fit_new_row`) and fits
    ``s`` on top of it, pulled towards that row."""
    model.add_op_scales(N_OP_COLS)
    width = model.scale_width
    new = model.num_devices - 1
    with torch.no_grad():
        if not model.kernel_kinds:
            model.device_op_scale[new] = 0.0
        z = model.encode(batch.x, batch.edge_index, batch.batch, batch.graph_attr)
        op = model.node_ops(batch.x)
        dev = torch.full((batch.num_graphs, 1), new, dtype=torch.long)
        contrib = model.contributions(z, batch.batch, dev, model.node_basis(batch.x), op)[:, 0].double()  # [N, T]
        cost = torch.zeros(batch.num_graphs, width, y.size(1), dtype=torch.float64)
        cost.index_put_((batch.batch, op), contrib, accumulate=True)
    for t in range(y.size(1)):
        rows = torch.isfinite(y[:, t])
        used = torch.nonzero(cost[rows, :, t].sum(0) > 0).flatten()
        if rows.sum() < 2 or not len(used):
            continue
        a, logy = cost[rows][:, used, t], torch.log(y[rows, t].double().clamp_min(1e-12))
        scale = torch.zeros(len(used), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([scale], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

        def closure(a=a, logy=logy, scale=scale, opt=opt) -> torch.Tensor:
            opt.zero_grad()
            pred = a @ torch.exp(scale)
            loss = ((torch.log(pred.clamp_min(1e-300)) - logy) ** 2).mean() + l2 * (scale**2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            model.device_op_scale[new, t, used] += scale.detach().to(model.device_op_scale.dtype)


def _nearest_row(model: PerfSAGE, z: torch.Tensor, batch: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                 logy: torch.Tensor, available: np.ndarray | None, basis: torch.Tensor | None = None,
                 kinds: KindScales | None = None,
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Per target, the known device whose predictions times one constant (the median log ratio)
    fit the K measurements best, and that constant: every candidate has the same single free
    parameter, so the in-sample errors compare fairly, and nothing else is fitted."""
    known = model.num_devices - 1
    T = y.size(1)
    allowed = np.ones((known, T), dtype=bool) if available is None else np.asarray(available)[:known].astype(bool)
    allowed = allowed | ~allowed.any(0, keepdims=True)
    rates = model.device_rate if model.device_rate is not None else None
    vec, bias = model.device_vec[known].detach().clone(), model.device_bias[known].detach().clone()
    scale = model.device_log_scale[known].detach().clone()
    rate = rates[known].detach().clone() if rates is not None else torch.zeros(T, 3)
    op_row = kinds.rows.mean(0) if kinds is not None else None
    best = torch.full((T,), float("inf"))
    with torch.no_grad():
        for d in range(known):
            r = rates[d] if rates is not None else torch.zeros(T, 3)
            pred = _row_pred(model, z, batch, model.device_vec[d], model.device_bias[d], model.device_log_scale[d],
                             y.size(0), basis, r, kinds and kinds.of(kinds.rows[d]))
            ratio = torch.where(mask, logy - torch.log(pred.clamp_min(1e-12)), torch.nan).numpy()
            for t in range(T):
                offset, err = _constant_fit(ratio[:, t])
                if allowed[d, t] and err < best[t]:
                    best[t] = err
                    vec[t], bias[t] = model.device_vec[d, t], model.device_bias[d, t]
                    scale[t] = model.device_log_scale[d, t] + offset
                    rate[t] = r[t]
                    if op_row is not None:
                        op_row[t] = kinds.rows[d, t]
    return vec, bias, scale, rate, op_row


def _mixture_row(model: PerfSAGE, z: torch.Tensor, batch: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                 logy: torch.Tensor, available: np.ndarray | None, steps: int, basis: torch.Tensor | None = None,
                 kinds: KindScales | None = None,
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    known = model.num_devices - 1
    vecs = model.device_vec[:known].detach().transpose(0, 1).contiguous()  # [T, D, E]
    biases = model.device_bias[:known].detach().T.contiguous()  # [T, D]
    scales = model.device_log_scale[:known].detach().T.contiguous()  # [T, D]
    rates = (model.device_rate[:known].detach().transpose(0, 1).contiguous() if model.device_rate is not None
             else torch.zeros(biases.size(0), known, 3))  # [T, D, 3]
    allowed = torch.ones_like(biases, dtype=torch.bool) if available is None else \
        torch.as_tensor(np.asarray(available)[:known].T, dtype=torch.bool)
    allowed = allowed | ~allowed.any(1, keepdim=True)  # a target no known device has: mix them all
    logits = torch.zeros(biases.shape, requires_grad=True)
    offset = torch.zeros(biases.size(0), requires_grad=True)

    def row() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        w = torch.softmax(logits.masked_fill(~allowed, -1e9), dim=1)
        return (torch.einsum("td,tde->te", w, vecs), (w * biases).sum(1), (w * scales).sum(1) + offset,
                torch.einsum("td,tdk->tk", w, rates),
                torch.einsum("td,dtc->tc", w, kinds.rows) if kinds is not None else None)

    with torch.no_grad():  # start the offset at the right magnitude
        v0, b0, s0, r0, o0 = row()
        ratio = torch.where(mask, logy - torch.log(_row_pred(model, z, batch, v0, b0, s0, y.size(0), basis, r0,
                                                             kinds and kinds.of(o0))), torch.nan)
        offset.copy_(torch.nan_to_num(torch.nanmedian(ratio, 0).values))
    opt = torch.optim.LBFGS([logits, offset], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        v, b, sc, r, o = row()
        pred = _row_pred(model, z, batch, v, b, sc, y.size(0), basis, r, kinds and kinds.of(o))
        err = torch.where(mask, torch.log(pred.clamp_min(1e-12)) - logy, 0.0)
        loss = (err**2).sum() / mask.sum().clamp_min(1) + 1e-3 * (logits**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return row()


class KindScales(NamedTuple):
    """A kernel-kind model's op scales as the row fits read them: each node's kind ``ops [N]`` and the
    known devices' rows ``rows [D, T, C]``."""

    ops: torch.Tensor
    rows: torch.Tensor

    def of(self, row: torch.Tensor) -> torch.Tensor:
        """``[N, T]``: each node's log-scale under one device row ``row [T, C]``."""
        return row[:, self.ops].T


def _row_pred(model, z, batch, vec, bias, scale, num_graphs, basis=None, rate=None,
              node_scale: torch.Tensor | None = None) -> torch.Tensor:
    """Graph predictions ``[num_graphs, T]`` of one device row (``rate [T, 3]``: roofline only;
    ``node_scale [N, T]``: the row's kernel-kind log-scales of each node, :class:`KindScales`)."""
    base = model.log_base(basis, rate.unsqueeze(0)) if model.device_rate is not None else None
    if node_scale is not None:
        scale = scale + node_scale
    contrib = model.activate(z @ vec.T + bias, scale, base)  # [N, T]
    return torch.zeros(num_graphs, contrib.size(1)).index_add(0, batch, contrib)


def zoo_family(key: str) -> str:
    """The family of a zoo graph's table key (``zoo-mobilenet_v2_050-224:int8:tflite`` -> ``mobilenet_v2``)."""
    from datasets import zoo

    return zoo.family(key.split(":")[0])


def zoo_folds(families: Iterable[str], folds: int) -> list[list[str]]:
    """Families (one entry per zoo graph) dealt into ``folds`` groups of about as many graphs: the
    largest family first, each to the group with the fewest graphs so far (ties: the lower group,
    then the family name), so the same zoo gives the same folds in every run."""
    counts: dict[str, int] = defaultdict(int)
    for f in families:
        counts[f] += 1
    groups: list[list[str]] = [[] for _ in range(folds)]
    sizes = [0] * folds
    for fam, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        g = min(range(folds), key=lambda i: (sizes[i], i))
        groups[g].append(fam)
        sizes[g] += n
    return [sorted(g) for g in groups]


def parse_zoo_selection(spec: str) -> tuple[int, int] | None:
    """``--train-zoo``: ``all`` -> None; ``K/N`` (every family but fold K of N) -> (K, N)."""
    if spec == "all":
        return None
    k, _, n = spec.partition("/")
    if not (k.isdigit() and n.isdigit()) or not 0 <= int(k) < int(n) or int(n) < 2:
        raise ValueError(f"--train-zoo {spec!r}: give 'all' or K/N with 0 <= K < N and N >= 2 (e.g. 0/3)")
    return int(k), int(n)


def zoo_fit_indices(table: Table, spec: str, weight: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The zoo graphs of ``table`` that ``--train-zoo spec`` trains on, each repeated ``weight``
    times, and what the checkpoint records about them (``zoo_families`` trained on, the held-out
    ``zoo_fold``): a checkpoint is scored on the zoo only on the families it did not train on."""
    zoo_idx = [i for i, s in enumerate(table.spaces) if s == HELD_OUT_SPACE]
    fams = [zoo_family(table.keys[i]) for i in zoo_idx]
    sel = parse_zoo_selection(spec)
    held: list[str] = []
    if sel is not None:
        k, n = sel
        held = zoo_folds(fams, n)[k]
    chosen = [i for i, f in zip(zoo_idx, fams, strict=True) if f not in held]
    info = {"zoo_families": sorted(set(fams) - set(held)), "zoo_held_out": held, "zoo_fold": spec,
            "zoo_weight": int(weight), "zoo_graphs": len(chosen)}
    return np.repeat(np.asarray(chosen, dtype=np.int64), max(int(weight), 1)), info


# -- CLI ------------------------------------------------------------------------------
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class ExtrasFormatter(logging.Formatter):
    """Appends a record's ``extra`` fields as ``key=value`` (event-style logs on a console)."""

    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}
        text = super().format(record)
        return text + "".join(f" {k}={v:.4g}" if isinstance(v, float) else f" {k}={v}" for k, v in extras.items())


def register(subparsers: argparse._SubParsersAction, name: str) -> None:
    p = subparsers.add_parser(name, help="train a PerfSAGE predictor from corpus files")
    p.add_argument("--source", default="corpus",
                   help="data source: corpus, corpus+help, help-cache:<path>[:nb201,fbnet]")
    p.add_argument("--devices", nargs="*", default=None, help="devices to train on (default: all)")
    p.add_argument("--out", required=True, help="checkpoint path (.pt)")
    p.add_argument("--limit", type=int, default=None, help="use at most this many graphs")
    p.add_argument("--exclude-spaces", nargs="*", default=[], metavar="SPACE",
                   help="leave these search spaces' records out of training (e.g. to compare a training with "
                        "and without a new space)")
    for f in ("epochs", "ensemble", "hidden_channels", "seed", "batch_size", "graph_head"):
        p.add_argument(f"--{f.replace('_', '-')}", dest=f, type=int, default=getattr(TrainConfig, f))
    p.add_argument("--contribution", choices=sorted(CONTRIBUTIONS), default=TrainConfig.contribution,
                   help="how node logits become costs (roofline: analytic floor x bounded learned factor)")
    p.add_argument("--memory-basis", action=argparse.BooleanOptionalAction, default=TrainConfig.memory_basis,
                   help="roofline: the memory target's floor is weight bytes + peak live activation bytes")
    p.add_argument("--drift", action=argparse.BooleanOptionalAction, default=True,
                   help="corpus latency labels divided by their device's speed drift of the hour they were "
                        "measured in (datasets.drift)")
    p.add_argument("--max-minutes", dest="max_minutes", type=float, default=None)
    p.add_argument("--op-dropout", dest="op_dropout", type=float, default=TrainConfig.op_dropout,
                   help="share of nodes read without their op type in each training step")
    p.add_argument("--kind-scales", dest="kind_scales", action=argparse.BooleanOptionalAction,
                   default=TrainConfig.kind_scales,
                   help="every device also learns a log-scale per op type and convolution kernel kind")
    p.add_argument("--kind-decay", dest="kind_decay", type=float, default=TrainConfig.kind_decay,
                   help="with --kind-scales: AdamW weight decay pulling those scales towards 0")
    p.add_argument("--workers", type=int, default=None,
                   help="ensemble members trained at once, one process each (default: one per CPU this "
                        "process may run on, at most --ensemble; the checkpoint is the same either way)")
    p.add_argument("--train-zoo", metavar="all|K/N", default=None,
                   help="train on real networks (space zoo, otherwise only a test set) too: 'all', or the "
                        "families outside fold K of N (datasets' zoo families dealt into N folds of about as many "
                        "graphs); the checkpoint records which families it saw and bench/accuracy.py scores it "
                        "only on the others. Their graphs join the fitting set only (not validation or intervals)")
    p.add_argument("--zoo-weight", type=int, default=10,
                   help="with --train-zoo: each real network's graph counts this many times in every epoch")
    p.add_argument("--refit-graph-head", metavar="CHECKPOINT", default=None,
                   help="do not train: refit CHECKPOINT's graph-level memory correction on the data it was "
                        "trained on (its devices, source and drift setting), recompute its intervals, save as --out")
    p.add_argument("--node-kinds", metavar="CHECKPOINT", default=None,
                   help="do not train: record the node kinds of the data CHECKPOINT was trained on in its "
                        "metadata (what the service's novel_nodes warning reads), save as --out")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from predictor.evaluate import load_records

    handler = logging.StreamHandler()
    handler.setFormatter(ExtrasFormatter("%(asctime)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    if args.refit_graph_head:
        return _refit(args)
    if args.node_kinds:
        return _add_node_kinds(args)
    from datasets.spaces import CORPUS_SPACES

    unknown = sorted(set(args.exclude_spaces) - set(CORPUS_SPACES))
    if unknown:
        print(f"error: --exclude-spaces {' '.join(unknown)}: not a search space (known: {', '.join(CORPUS_SPACES)})",
              file=sys.stderr)
        return 2
    # Real, widely known architectures ("zoo") are kept out of training (they test generalisation),
    # unless --train-zoo takes some of their families in.
    try:
        if args.train_zoo is not None:
            parse_zoo_selection(args.train_zoo)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    left_out = set(args.exclude_spaces) | ({HELD_OUT_SPACE} if args.train_zoo is None else set())
    records = [r for r in load_records(args.source, devices=args.devices, limit=args.limit, drift=args.drift)
               if r.space not in left_out]
    table = build_table(records, devices=args.devices)
    train_idx = fit_only = None
    zoo_info: dict[str, Any] = {}
    if args.train_zoo is not None:
        fit_only, zoo_info = zoo_fit_indices(table, args.train_zoo, args.zoo_weight)
        train_idx = np.array([i for i, s in enumerate(table.spaces) if s != HELD_OUT_SPACE], dtype=np.int64)
        if not zoo_info["zoo_graphs"]:
            print("error: --train-zoo: no zoo records of these devices to train on "
                  "(measure them: edgeperf dataset measure-zoo)", file=sys.stderr)
            return 2
        print(f"training on {zoo_info['zoo_graphs']} zoo graphs x {args.zoo_weight} of the families "
              f"{', '.join(zoo_info['zoo_families'])}; held out: {', '.join(zoo_info['zoo_held_out']) or 'none'}")
    cfg = TrainConfig(epochs=args.epochs, ensemble=args.ensemble, hidden_channels=args.hidden_channels,
                      seed=args.seed, batch_size=args.batch_size, max_minutes=args.max_minutes,
                      contribution=args.contribution, memory_basis=args.memory_basis, graph_head=args.graph_head,
                      op_dropout=args.op_dropout, kind_scales=args.kind_scales, kind_decay=args.kind_decay,
                      workers=args.workers or default_workers())
    pred = train_predictor(table, cfg, train_idx, name=args.out.rsplit("/", 1)[-1].removesuffix(".pt"),
                           description={"source": args.source, "drift_normalised": args.drift, **zoo_info},
                           fit_only=fit_only)
    from predictor.artifacts import save_checkpoint

    save_checkpoint(pred, args.out)
    print(f"saved {args.out}: devices={len(pred.devices)} val MAPE={pred.meta['metrics']['val_mape_ensemble']:.2f}%")
    return 0


def _checkpoint_table(base: Predictor) -> Table:
    """The table a checkpoint was trained on, rebuilt from its recorded source, devices and drift setting."""
    from predictor.evaluate import load_records

    data = base.meta.get("training_data") or {}
    if data.get("zoo_families"):
        raise ValueError(f"{base.version} was trained on zoo networks too (--train-zoo {data.get('zoo_fold')}): "
                         "its table is not rebuilt here; train it again instead")
    spaces = set(data.get("spaces") or []) - {HELD_OUT_SPACE}  # not a space measured since (or left out)
    records = [r for r in load_records(data.get("source", "corpus"), devices=base.devices,
                                       drift=bool(data.get("drift_normalised", False)))
               if r.space != HELD_OUT_SPACE and (not spaces or r.space in spaces)]
    return build_table(records, devices=base.devices, targets=base.targets)


def _add_node_kinds(args: argparse.Namespace) -> int:
    from predictor.artifacts import load_checkpoint, save_checkpoint

    base = load_checkpoint(args.node_kinds)
    try:
        table = _checkpoint_table(base)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n = (base.meta.get("training_data") or {}).get("graphs")
    if n != len(table.keys):
        print(f"error: the data found ({len(table.keys)} graphs) is not what {args.node_kinds} was trained on "
              f"({n} graphs)", file=sys.stderr)
        return 1
    base.meta["node_kinds"] = node_kind_stats(table.data)
    save_checkpoint(base, args.out)
    print(f"saved {args.out}: {len(base.meta['node_kinds'])} node kinds of {n} training graphs; "
          f"version {base.version} (unchanged)")
    return 0


def _refit(args: argparse.Namespace) -> int:
    from predictor.artifacts import load_checkpoint, save_checkpoint

    base = load_checkpoint(args.refit_graph_head)
    try:
        table = _checkpoint_table(base)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    pred = refit_graph_heads(base, table)
    save_checkpoint(pred, args.out)
    before = pred.meta["refit"]["val_mape_ensemble_before"]
    print(f"saved {args.out}: graph head refitted; val MAPE {before:.2f}% -> "
          f"{pred.meta['metrics']['val_mape_ensemble']:.2f}%")
    return 0
