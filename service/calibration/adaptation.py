"""Fit a predictor to one device from its own measurements, and judge the fit by
k-fold cross-validation on those measurements (every measurement is predicted by a
model adapted without it)."""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Batch, Data

from predictor.artifacts import Predictor
from predictor.train import calibrate_device, log_loss
from service.training.evaluation import accuracy


def fit(base: Predictor, device: str, data: list[Data], latency: np.ndarray, steps: int = 200) -> Predictor:
    """``base`` plus ``device``, fitted on the device's latency only (other targets NaN): the GNN's
    device row and op scales, blended with a kernel-sum model where cross-validation prefers it
    (:func:`predictor.train.calibrate_device`)."""
    values = np.full((len(data), len(base.targets)), np.nan)
    values[:, base.targets.index("latency")] = latency
    return calibrate_device(base, device, data, values, steps=steps)


def predicted_latency(pred: Predictor, device: str, data: list[Data]) -> np.ndarray:
    mu, _ = pred.predict_log(data, pred.device_indices([device]))
    return np.exp(mu[:, 0, pred.targets.index("latency")])


def cross_validate(
    base: Predictor,
    device: str,
    data: list[Data],
    latency: np.ndarray,
    folds: int = 5,
    seed: int = 0,
    fitter=None,
    judge: np.ndarray | None = None,
) -> dict:
    """k-fold MAPE and Spearman of the adapted model on the device's measurements. With ``judge``
    (a mask of the measurements), ``judged_mape`` / ``judged_n`` are the MAPE over those alone
    (every fold still fits on all the others)."""
    n = len(data)
    if n < 3:
        return {"mape": None, "spearman": None, "n": n, "folds": 0}
    k = min(folds, n)
    fold = np.random.default_rng(seed).permutation(n) % k
    pred = np.zeros(n)
    for f in range(k):
        tr, te = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        adapted = (fitter or fit)(base, device, [data[i] for i in tr], latency[tr])
        pred[te] = predicted_latency(adapted, device, [data[i] for i in te])
    out = {**accuracy(pred, latency), "folds": k}
    if judge is not None and np.any(judge):
        out["judged_mape"] = accuracy(pred[judge], latency[judge])["mape"]
        out["judged_n"] = int(np.sum(judge))
    return out


def fit_head(
    base: Predictor,
    device: str,
    data: list[Data],
    latency: np.ndarray,
    steps: int = 150,
    lr: float = 3e-3,
    l2: float = 1.0,
) -> Predictor:
    """Embedding fit, then fine-tuning of the embedding head (``lin_embed``, ``lin_graph``)
    together with the device row, pulled towards the starting weights by ``l2``. The result
    serves only ``device``: the head is shared, so other devices' outputs move with it."""
    adapted = fit(base, device, data, latency)
    dev = adapted.devices.index(device)
    t = adapted.targets.index("latency")
    batch = Batch.from_data_list(list(data), exclude_keys=["node_names"])
    y = torch.as_tensor(latency, dtype=torch.float32)
    for m in adapted.members:
        _tune(m, batch, y, dev, t, steps, lr, l2)
    adapted.meta = {**adapted.meta, "adapted_head": device}
    return adapted


def _tune(model, batch: Batch, y: torch.Tensor, dev: int, t: int, steps: int, lr: float, l2: float) -> None:
    head = [*model.lin_embed.parameters(), *(model.lin_graph.parameters() if model.lin_graph else [])]
    params = [*head, *model.device_parameters()]
    start = [p.detach().clone() for p in params]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr)
    idx = torch.full((batch.num_graphs,), dev, dtype=torch.long)
    model.train()
    for _ in range(steps):
        pred, _ = model(batch.x, batch.edge_index, batch.batch, idx, batch.graph_attr)
        prior = sum(((p - s) ** 2).sum() for p, s in zip(head, start, strict=False))
        loss = log_loss(pred[:, 0, t], y) + l2 * prior / max(len(y), 1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(True)
