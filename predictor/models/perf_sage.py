"""PerfSAGE: a GraphSAGE performance predictor with per-node contributions."""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import SAGEConv
from torch_geometric.utils import scatter

# torch calls its sparse CSR tensors beta (a warning once per process); adjacency() needs only
# their long-standing CSR x dense product
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state", category=UserWarning)

CONTRIBUTIONS = frozenset({"exp", "softplus", "roofline"})
#: Kernel sizes with a kind of their own in kernel-kind scales (:meth:`PerfSAGE.add_op_scales`); any other
#: size is one more kind. Convolutions and depthwise convolutions each get all of them.
KIND_KERNELS = (1, 3, 5, 7)
KIND_WIDTH = 2 * (len(KIND_KERNELS) + 1)
BASIS_TERMS = 3  # roofline basis: FLOPs, bytes moved, a constant per node
BASES = ("compute", "memory")  # per-target roofline bases


class PerfSAGE(nn.Module):
    r"""GraphSAGE encoder + device-conditioned per-node contribution heads.

    Every node :math:`n` gets an embedding :math:`z_n` from a residual GraphSAGE
    encoder (edges used in both directions, LayerNorm, graph-level context added
    to each node). A device :math:`d` owns, for each target :math:`t`, a learnable
    vector :math:`v_{d,t}`, a bias :math:`c_{d,t}` and a log-scale :math:`s_{d,t}`
    (together the *device embedding*). A node contributes

    .. math::
        y_{n,d,t} = e^{s_{d,t}} \operatorname{softplus}(z_n^\top v_{d,t} + c_{d,t})

    and the graph prediction is :math:`\sum_n y_{n,d,t}` (linear space, always
    positive), so a per-node breakdown comes for free. Adapting to a new device
    means fitting only its embedding (:meth:`device_parameters`).

    Args:
        in_channels (int): node feature size.
        graph_channels (int): graph-level feature size (0 for none).
        hidden_channels (int): encoder width.
        num_layers (int): number of SAGEConv layers.
        num_devices (int): number of device embeddings.
        num_targets (int): number of targets (e.g. latency, energy, memory).
        embed_channels (int): size of node embeddings / device vectors.
        dropout (float): dropout in the encoder.
        contribution (str): how a node's logit becomes its (positive) contribution:
            ``"exp"`` (log-linear: node costs span orders of magnitude, and
            :math:`e^{s_{d,t}}` then scales them multiplicatively) or ``"softplus"``
            (the first checkpoints' form; the default so that their configs load), or
            ``"roofline"``: the node's cost is an analytic floor, a device-rated sum of
            its FLOPs, bytes moved and a per-node constant, times a *bounded* learned
            factor :math:`e^{\pm\text{bound}}`. An op the encoder has never seen (another
            search space, an unknown operator) then still costs about what its work
            implies, instead of whatever an unconstrained exponential extrapolates to.
        basis_columns (list[int]): roofline only: the columns of ``x`` holding the
            scaled ``log1p`` of FLOPs, bytes read and bytes written.
        basis_scale (float): roofline only: ``log1p(v) = x[:, col] * basis_scale``.
        bound (float): roofline only: the learned factor stays within ``e^{-bound}..e^{bound}``.
        target_bases (list[str]): roofline only: each target's floor, ``"compute"`` (the FLOPs /
            bytes-moved / per-node basis above) or ``"memory"``: the node's weight bytes, the
            graph's peak of live activation bytes (on the node where it peaks, 0 elsewhere) and
            a constant carried by the peak node alone, so that the graph's floor is
            ``a*weights + b*peak + c`` (plus ``a + b`` per node from the ``+ 1``s).
            Peak memory is a maximum over the run, not a sum over layers: a compute floor
            summed over nodes predicted real networks' memory 21% off where this floor alone is
            12% off. None: every target uses the compute basis (checkpoints before it).
        memory_columns (list[int]): with a ``"memory"`` target: the columns of ``x`` holding the
            scaled ``log1p`` of weight bytes and of the peak live bytes.
        encoder_targets (list[int]): the targets whose loss trains the shared encoder (None: all);
            the others learn only their device rows on top of its embeddings.
        op_columns (int): 0, or the width of the one-hot op block at the start of ``x``: each
            device then also owns a log-scale per target and op type (``device_op_scale``, zero
            = no change) that multiplies its nodes' contributions. Added by
            :meth:`add_op_scales` when a new device is calibrated on its own measurements
            (nn-Meter's per-kernel view, on top of the GNN's costs), or for every device in training.
        kernel_kinds (list[int]): with ``op_columns``: the columns of ``x`` holding the kernel height
            (``k / 7``) and the depthwise flag, then the op columns of ``conv`` and ``dwconv``. A
            convolution then takes the scale of its kernel kind (:data:`KIND_KERNELS` x depthwise or
            not, :meth:`node_ops`) instead of its op type's: one device's 7x7 depthwise kernels can be
            slow (LiteRT's XNNPACK on the family-6 model-167 CPU: 14x to 79x its 3x3 ones,
            ``bench/dwconv_kernels.py``) without its 7x7 stem convolutions or 5x5 depthwise ones
            following, which a shared encoder reading ``k / 7`` as one number could not keep apart.
        graph_head (int): 0, or the width of a graph-level correction for the ``"memory"``-basis
            targets: an MLP over the graph's totals (``graph_attr``, the op histogram of the first
            ``hist_columns`` columns, total weight bytes and peak live bytes) gives each graph a
            vector that each device/target row turns into a factor within ``e^{-1}..e^{1}``,
            applied to the graph's memory and to each node's share of it. Peak memory is a
            property of the whole run (an allocator's arena grows in steps), which a sum of node
            costs fits poorly: on the family-25 model-17 CPU's 10,144 graphs, the memory floor times
            such an MLP was 4.2% off, the per-node head 7.5% (``bench/results``). Its device rows
            start at zero (no change) and it never trains the encoder.
        hist_columns (int): with ``graph_head``: the width of the one-hot op block of ``x``.
    """

    def __init__(
        self,
        in_channels: int,
        graph_channels: int,
        hidden_channels: int = 64,
        num_layers: int = 3,
        num_devices: int = 1,
        num_targets: int = 1,
        embed_channels: int = 32,
        dropout: float = 0.0,
        contribution: str = "softplus",
        basis_columns: list[int] | tuple[int, ...] | None = None,
        basis_scale: float = 10.0,
        bound: float = 3.0,
        target_bases: list[str] | tuple[str, ...] | None = None,
        memory_columns: list[int] | tuple[int, ...] | None = None,
        encoder_targets: list[int] | tuple[int, ...] | None = None,
        op_columns: int = 0,
        graph_head: int = 0,
        hist_columns: int = 0,
        kernel_kinds: list[int] | tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        if contribution not in CONTRIBUTIONS:
            raise ValueError(f"contribution must be one of {sorted(CONTRIBUTIONS)}, got {contribution!r}")
        self.in_channels = in_channels
        self.graph_channels = graph_channels
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.num_devices = num_devices
        self.num_targets = num_targets
        self.embed_channels = embed_channels
        self.dropout = dropout
        self.contribution = contribution
        if contribution == "roofline" and (basis_columns is None or len(basis_columns) != 3):
            raise ValueError("contribution 'roofline' needs basis_columns: the FLOPs, bytes-read, bytes-written columns")
        self.basis_columns = [int(c) for c in basis_columns] if contribution == "roofline" else None
        self.basis_scale = float(basis_scale)
        self.bound = float(bound)
        self.target_bases = list(target_bases) if contribution == "roofline" and target_bases else None
        if self.target_bases is not None:
            if len(self.target_bases) != num_targets or set(self.target_bases) - set(BASES):
                raise ValueError(f"target_bases must name one of {BASES} per target, got {self.target_bases}")
            if "memory" in self.target_bases and (memory_columns is None or len(memory_columns) != 2):
                raise ValueError("a 'memory' target basis needs memory_columns: weight bytes, peak live bytes")
        self.encoder_targets = None if encoder_targets is None else [int(t) for t in encoder_targets]
        self.memory_columns = ([int(c) for c in memory_columns]
                               if self.target_bases and "memory" in self.target_bases else None)

        self.lin_in = nn.Linear(in_channels, hidden_channels)
        # training only (not a constructor argument: a checkpoint serves without it): the share of
        # nodes whose one-hot op type the input layer drops in a training step (train.TrainConfig.op_dropout)
        self.op_dropout = 0.0
        self.lin_graph = nn.Linear(graph_channels, hidden_channels) if graph_channels > 0 else None
        self.convs = nn.ModuleList(SAGEConv(hidden_channels, hidden_channels) for _ in range(num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_channels) for _ in range(num_layers))
        self.lin_embed = nn.Sequential(
            nn.Linear(2 * hidden_channels, hidden_channels), nn.ReLU(), nn.Linear(hidden_channels, embed_channels)
        )
        self.device_vec = nn.Parameter(torch.empty(num_devices, num_targets, embed_channels))
        self.device_bias = nn.Parameter(torch.empty(num_devices, num_targets))
        self.device_log_scale = nn.Parameter(torch.empty(num_devices, num_targets))
        # roofline: per device/target log-rates of the FLOPs, bytes and constant terms
        self.device_rate = (nn.Parameter(torch.empty(num_devices, num_targets, BASIS_TERMS))
                            if contribution == "roofline" else None)
        self.op_columns = 0
        self.kernel_kinds: list[int] | None = None
        self.device_op_scale: nn.Parameter | None = None
        self.graph_head = int(graph_head) if self.memory_columns is not None else 0
        self.hist_columns = int(hist_columns) if self.graph_head else 0
        if self.graph_head and not 0 < self.hist_columns <= in_channels:
            raise ValueError(f"graph_head needs hist_columns in 1..{in_channels}, got {hist_columns}")
        self.graph_mlp: nn.Sequential | None = None
        self.device_graph_vec: nn.Parameter | None = None
        self.device_graph_bias: nn.Parameter | None = None
        if self.graph_head:
            width = graph_channels + self.hist_columns + 2
            self.graph_mlp = nn.Sequential(nn.Linear(width, self.graph_head), nn.ReLU(),
                                           nn.Linear(self.graph_head, self.graph_head), nn.ReLU())
            self.device_graph_vec = nn.Parameter(torch.empty(num_devices, num_targets, self.graph_head))
            self.device_graph_bias = nn.Parameter(torch.empty(num_devices, num_targets))
        self.reset_parameters()
        if op_columns:
            self.add_op_scales(op_columns, kernel_kinds)

    def reset_parameters(self) -> None:
        self.lin_in.reset_parameters()
        if self.lin_graph is not None:
            self.lin_graph.reset_parameters()
        for conv, norm in zip(self.convs, self.norms, strict=True):
            conv.reset_parameters()
            norm.reset_parameters()
        for m in self.lin_embed:
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        nn.init.normal_(self.device_vec, std=1.0 / math.sqrt(self.embed_channels))
        nn.init.zeros_(self.device_bias)
        nn.init.zeros_(self.device_log_scale)
        if self.graph_mlp is not None:
            for m in self.graph_mlp:
                if isinstance(m, nn.Linear):
                    m.reset_parameters()
            nn.init.zeros_(self.device_graph_vec)
            nn.init.zeros_(self.device_graph_bias)
        if self.device_rate is not None:
            # starting rates (about 1 ns per FLOP or byte, 10 us per node, in ms); training sets them
            # from a non-negative least-squares fit of the measurements (train.init_scales)
            self.device_rate.data[:] = torch.tensor([-13.8, -13.8, -4.6])

    def device_parameters(self) -> list[nn.Parameter]:
        """The per-device parameters (fitted alone when adapting to a new device)."""
        params = [self.device_vec, self.device_bias, self.device_log_scale]
        params += [self.device_rate] if self.device_rate is not None else []
        params += [self.device_graph_vec, self.device_graph_bias] if self.graph_head else []
        return params + ([self.device_op_scale] if self.device_op_scale is not None else [])

    def add_op_scales(self, columns: int, kernel_kinds: list[int] | tuple[int, ...] | None = None) -> None:
        """Give every device a per-op-type log-scale (zeros: predictions unchanged); ``columns``:
        the width of the one-hot op block of ``x``; ``kernel_kinds``: convolutions scaled per kernel
        kind instead (see the class). Idempotent for the same width and kinds."""
        kinds = [int(c) for c in kernel_kinds] if kernel_kinds is not None else None
        if kinds is not None and (len(kinds) != 4 or not all(0 <= c < self.in_channels for c in kinds)):
            raise ValueError(f"kernel_kinds: 4 columns of x (kernel, depthwise, conv, dwconv), got {kernel_kinds}")
        if self.device_op_scale is not None:
            if columns != self.op_columns or (kinds is not None and kinds != self.kernel_kinds):
                raise ValueError(f"op scales exist for {self.op_columns} op columns and kernel kinds "
                                 f"{self.kernel_kinds}, not {columns} and {kinds}")
            return
        if columns <= 0 or columns > self.in_channels:
            raise ValueError(f"op_columns must be in 1..{self.in_channels}, got {columns}")
        self.op_columns = int(columns)
        self.kernel_kinds = kinds
        ref = self.device_log_scale
        self.device_op_scale = nn.Parameter(torch.zeros(self.num_devices, self.num_targets, self.scale_width,
                                                        dtype=ref.dtype, device=ref.device))

    @property
    def scale_width(self) -> int:
        """How many op scales a device has: its op columns, plus the kernel kinds where used."""
        return self.op_columns + (KIND_WIDTH if self.kernel_kinds else 0)

    def op_log_scale(self, device_idx: Tensor, op: Tensor) -> Tensor:
        """``[N, K, T]``: the per-op log-scales of each node's devices (``device_idx [N, K]``) at
        its op column ``op [N]`` (:meth:`node_ops`)."""
        table = self.device_op_scale.transpose(1, 2)  # [D, C, T]
        return table[device_idx, op.unsqueeze(1)]

    def node_ops(self, x: Tensor, one_hot: tuple[Tensor, int] | None = None) -> Tensor:
        """Each node's op column: ``one_hot``'s index where given, else the argmax of the one-hot block;
        with kernel kinds, a convolution's kind instead: ``op_columns + 5 * depthwise + j``, ``j`` the
        index of its kernel height in :data:`KIND_KERNELS` (4: any other size)."""
        op = one_hot[0] if one_hot is not None else x[:, : self.op_columns].argmax(1)
        if not self.kernel_kinds:
            return op
        k_col, dw_col, conv, dwconv = self.kernel_kinds
        k = torch.round(x[:, k_col] * 7.0)
        j = torch.full_like(op, len(KIND_KERNELS))
        for i, size in enumerate(KIND_KERNELS):
            j = torch.where(k == size, torch.full_like(op, i), j)
        dw = (op == dwconv) | (x[:, dw_col] > 0.5)
        kind = self.op_columns + dw.long() * (len(KIND_KERNELS) + 1) + j
        return torch.where((op == conv) | (op == dwconv), kind, op)

    def node_basis(self, x: Tensor) -> Tensor | None:
        """Roofline basis: ``[N, 3]`` log(FLOPs + 1), log(bytes moved + 2), 0 when every target
        uses it, else ``[N, T, 3]`` with each target's basis (memory: log(weight bytes + 1),
        log(peak live bytes + 1), and 0 on the peak node, -30 elsewhere); None for other forms."""
        if self.basis_columns is None:
            return None
        c = self.basis_columns
        flops = x[:, c[0]] * self.basis_scale
        moved = torch.logaddexp(x[:, c[1]] * self.basis_scale, x[:, c[2]] * self.basis_scale)
        zero = torch.zeros_like(flops)
        compute = torch.stack([flops, moved, zero], -1)
        if self.target_bases is None or "memory" not in self.target_bases:
            return compute
        m = self.memory_columns or []
        peak = x[:, m[1]]
        # the constant is the runtime's own footprint: once per graph (on the peak node), not per node
        once = torch.where(peak > 0, zero, torch.full_like(zero, -30.0))
        memory = torch.stack([x[:, m[0]] * self.basis_scale, peak * self.basis_scale, once], -1)
        return torch.stack([memory if b == "memory" else compute for b in self.target_bases], 1)

    def log_base(self, basis: Tensor, rate: Tensor) -> Tensor:
        """log of the roofline floor: ``basis [N, 3]`` or ``[N, T, 3]`` with ``rate [N, ..., T, 3]``
        -> ``[N, ..., T]``."""
        if basis.dim() == 2:
            shape = (basis.size(0),) + (1,) * (rate.dim() - 2) + (BASIS_TERMS,)
        else:
            shape = (basis.size(0),) + (1,) * (rate.dim() - 3) + tuple(basis.shape[1:])
        return torch.logsumexp(basis.view(shape) + rate, -1)

    def add_devices(self, count: int) -> None:
        """Append ``count`` device embeddings, initialised to the mean of the existing ones."""
        with torch.no_grad():
            params = self.device_parameters()
            for p in params:
                extra = p.mean(0, keepdim=True).expand(count, *p.shape[1:]).clone()
                p.data = torch.cat([p.data, extra], 0)
        self.num_devices += count

    def keep_targets(self, keep: list[int]) -> None:
        """Keep only the targets ``keep`` (in that order): their device rows, bases and encoder
        flags; used to drop an auxiliary training target before a model is shipped."""
        with torch.no_grad():
            for p in self.device_parameters():
                p.data = p.data[:, keep].clone()
        if self.target_bases is not None:
            self.target_bases = [self.target_bases[t] for t in keep]
            if "memory" not in self.target_bases:
                self.target_bases, self.memory_columns = None, None
                self.graph_head, self.hist_columns = 0, 0
                self.graph_mlp, self.device_graph_vec, self.device_graph_bias = None, None, None
        if self.encoder_targets is not None:
            self.encoder_targets = [keep.index(t) for t in self.encoder_targets if t in keep]
        self.num_targets = len(keep)

    @staticmethod
    def adjacency(edge_index: Tensor, num_nodes: int) -> Tensor:
        """What the layers aggregate over, as a sparse CSR ``[num_nodes, num_nodes]`` matrix:
        every data-flow edge in both directions, row = receiving node.

        Built once per batch and passed as ``edge_index``, it serves every layer of every
        ensemble member (a CSR mean instead of a gather and a scatter per layer); same
        result as the edge list."""
        src = torch.cat([edge_index[0], edge_index[1]])
        dst = torch.cat([edge_index[1], edge_index[0]])
        crow = torch.zeros(num_nodes + 1, dtype=torch.long, device=edge_index.device)
        torch.cumsum(torch.bincount(dst, minlength=num_nodes), 0, out=crow[1:])
        return torch.sparse_csr_tensor(
            crow,
            src[torch.argsort(dst, stable=True)],
            torch.ones(src.numel(), device=edge_index.device),
            (num_nodes, num_nodes),
            check_invariants=False,
        )

    def encode(self, x: Tensor, edge_index: Tensor, batch: Tensor, graph_attr: Tensor | None = None,
               one_hot: tuple[Tensor, int] | None = None) -> Tensor:
        """Node embeddings ``z`` of shape ``[num_nodes, embed_channels]``; ``edge_index``: data-flow
        edges ``[2, E]`` or their :meth:`adjacency`. ``one_hot = (index [N], width)`` says that the
        first ``width`` columns of ``x`` are exactly one-hot with the 1 at ``index``: the input layer
        then gathers those weight columns instead of multiplying by them (same result, a quarter of
        the forward pass's arithmetic saved)."""
        if edge_index.layout == torch.sparse_csr:
            ei = edge_index
        else:
            ei = torch.cat([edge_index, edge_index.flip(0)], 1)
        h = F.relu(self.input_layer(x, one_hot))
        h0 = h
        for conv, norm in zip(self.convs, self.norms, strict=True):
            out = norm(F.relu(conv(h, ei)))
            if self.dropout > 0:
                out = F.dropout(out, self.dropout, self.training)
            h = h + out
        if self.lin_graph is not None and graph_attr is not None:
            h = h + self.lin_graph(graph_attr)[batch]
        return self.lin_embed(torch.cat([h, h0], -1))

    def input_layer(self, x: Tensor, one_hot: tuple[Tensor, int] | None = None) -> Tensor:
        """``lin_in(x)``, by a gather over the one-hot columns where ``one_hot`` gives them."""
        if one_hot is None:
            # features of a later schema append columns: a model reads the ones it was trained on
            return self.lin_in(x[:, : self.in_channels] if x.size(1) > self.in_channels else x)
        index, width = one_hot
        w = self.lin_in.weight
        ops = F.embedding(index, w[:, :width].T)
        if self.training and self.op_dropout > 0:
            # op-type dropout: these nodes are read as of no known type, from their shapes and costs
            ops = ops * (torch.rand(index.size(0), 1, device=ops.device) >= self.op_dropout)
        return ops + F.linear(x[:, width : self.in_channels], w[:, width:], self.lin_in.bias)

    def contributions(self, z: Tensor, batch: Tensor, device_idx: Tensor, basis: Tensor | None = None,
                      op: Tensor | None = None) -> Tensor:
        """Per-node contributions ``[num_nodes, K, num_targets]`` for ``device_idx``
        of shape ``[B, K]`` (K devices per graph); ``basis``: :meth:`node_basis` (roofline);
        ``op``: each node's op column (:meth:`node_ops`), needed with op scales."""
        dev = device_idx[batch]  # [N, K]
        # one matrix product against the rows of the devices asked for, then a gather: the
        # same logits as z . device_vec[dev] without an [N, K, T, E] copy and N tiny products
        uniq, inverse = torch.unique(device_idx, return_inverse=True)
        pick = inverse[batch].unsqueeze(-1).expand(-1, -1, self.num_targets)  # [N, K, T]
        rows = self.device_vec[uniq].reshape(-1, self.embed_channels)  # [U * T, E]

        def node_logits(emb: Tensor) -> Tensor:
            every = (emb @ rows.T).view(emb.size(0), uniq.numel(), self.num_targets)  # [N, U, T]
            return every.gather(1, pick) + self.device_bias[dev]

        logits = node_logits(z)
        if self.training and self.encoder_targets is not None:
            # targets outside encoder_targets read the embeddings without training the encoder
            keep = torch.zeros(self.num_targets, dtype=torch.bool, device=z.device)
            keep[self.encoder_targets] = True
            logits = torch.where(keep, logits, node_logits(z.detach()))
        base = None
        if self.device_rate is not None:
            if basis is None:
                raise ValueError("roofline contributions need the node basis (node_basis(x))")
            base = self.log_base(basis, self.device_rate[dev])
        log_scale = self.device_log_scale[dev]
        if self.device_op_scale is not None:
            if op is None:
                raise ValueError("a model with op scales needs each node's op column (node_ops(x))")
            log_scale = log_scale + self.op_log_scale(dev, op)
        return self.activate(logits, log_scale, base)

    def activate(self, logits: Tensor, log_scale: Tensor, log_base: Tensor | None = None) -> Tensor:
        """Contribution from a node logit and a device log-scale (always positive); roofline
        also takes the node's :meth:`log_base`."""
        if self.contribution == "roofline":
            if log_base is None:
                raise ValueError("roofline contributions need log_base")
            bounded = self.bound * torch.tanh(logits / self.bound)
            return torch.exp((log_base + bounded + log_scale).clamp(-40.0, 30.0))
        if self.contribution == "exp":
            return torch.exp((logits + log_scale).clamp(-30.0, 30.0))
        return F.softplus(logits) * torch.exp(log_scale)

    def zero_logit_value(self) -> float:
        """A node's contribution at logit 0 and log-scale 0 (used to initialise scales)."""
        return math.log(2.0) if self.contribution == "softplus" else 1.0

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor,
        device_idx: Tensor,
        graph_attr: Tensor | None = None,
        edge_attr: Tensor | None = None,
        one_hot: tuple[Tensor, int] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Predict every target for every (graph, device) pair.

        Args:
            x: node features ``[N, in_channels]``.
            edge_index: data-flow edges ``[2, E]``, or their :meth:`adjacency`.
            batch: graph index of each node ``[N]``.
            device_idx: ``[B]`` (one device per graph) or ``[B, K]``.
            graph_attr: graph features ``[B, graph_channels]``.
            edge_attr: unused (kept for the PyG signature).
            one_hot: see :meth:`encode`.

        Returns:
            ``(pred [B, K, T], node_contrib [N, K, T])`` in linear target units.
        """
        del edge_attr
        if device_idx.dim() == 1:
            device_idx = device_idx.unsqueeze(1)
        z = self.encode(x, edge_index, batch, graph_attr, one_hot)
        op = self.node_ops(x, one_hot) if self.device_op_scale is not None else None
        contrib = self.contributions(z, batch, device_idx, self.node_basis(x), op)
        if self.graph_head:
            factor = self.graph_factor(x, batch, device_idx, graph_attr, one_hot)  # [B, K, T]
            contrib = contrib * factor[batch]
        pred = scatter(contrib, batch, dim=0, dim_size=device_idx.size(0), reduce="sum")
        return pred, contrib

    def graph_inputs(self, x: Tensor, batch: Tensor, num_graphs: int, graph_attr: Tensor | None,
                     one_hot: tuple[Tensor, int] | None = None) -> Tensor:
        """``[B, graph_channels + hist_columns + 2]``: what :attr:`graph_mlp` reads: ``graph_attr``,
        log1p of the op histogram, and log1p of the total weight bytes and of the peak live bytes
        (both scaled like the node features)."""
        if one_hot is not None and one_hot[1] == self.hist_columns:
            cell = batch * self.hist_columns + one_hot[0]
            hist = torch.bincount(cell, minlength=num_graphs * self.hist_columns)
            hist = hist.view(num_graphs, self.hist_columns).to(x.dtype)
        else:
            hist = scatter(x[:, : self.hist_columns], batch, dim=0, dim_size=num_graphs, reduce="sum")
        m = self.memory_columns or []
        weights = scatter(torch.expm1(x[:, m[0]] * self.basis_scale), batch, dim=0, dim_size=num_graphs,
                          reduce="sum")
        peak = scatter(x[:, m[1]], batch, dim=0, dim_size=num_graphs, reduce="max")
        if graph_attr is None:
            graph_attr = x.new_zeros(num_graphs, self.graph_channels)
        return torch.cat([graph_attr, torch.log1p(hist), (torch.log1p(weights) / self.basis_scale).unsqueeze(1),
                          peak.unsqueeze(1)], 1)

    def graph_factor(self, x: Tensor, batch: Tensor, device_idx: Tensor, graph_attr: Tensor | None,
                     one_hot: tuple[Tensor, int] | None = None) -> Tensor:
        """``[B, K, T]``: the graph-level factor of each (graph, device, target), 1 for targets
        that do not use the memory basis."""
        h = self.graph_mlp(self.graph_inputs(x, batch, device_idx.size(0), graph_attr, one_hot))  # [B, H]
        return self.graph_factor_from(h, device_idx)

    def graph_factor_from(self, h: Tensor, device_idx: Tensor) -> Tensor:
        """:meth:`graph_factor` from the head's MLP output ``h [B, H]`` (``graph_mlp`` of
        :meth:`graph_inputs`): the device rows' bounded factor, 1 outside the memory targets."""
        logit = torch.einsum("bh,bkth->bkt", h, self.device_graph_vec[device_idx])
        logit = torch.tanh(logit + self.device_graph_bias[device_idx])
        return torch.exp(torch.where(self._memory_mask(h.device), logit, torch.zeros_like(logit)))

    def _memory_mask(self, device: torch.device) -> Tensor:
        """``[T]`` bool: the targets on the memory basis (built once per ``target_bases``)."""
        key = (tuple(self.target_bases or ()), device)
        if self.__dict__.get("_mask_key") != key:
            self.__dict__["_mask"] = torch.tensor([b == "memory" for b in key[0]], dtype=torch.bool, device=device)
            self.__dict__["_mask_key"] = key
        return self.__dict__["_mask"]

    def config(self) -> dict[str, Any]:
        """Constructor arguments (what a checkpoint stores)."""
        extra: dict[str, Any] = {}
        if self.contribution == "roofline":
            extra = {"basis_columns": list(self.basis_columns or []), "basis_scale": self.basis_scale,
                     "bound": self.bound}
            if self.target_bases is not None:
                extra.update(target_bases=list(self.target_bases), memory_columns=self.memory_columns)
        if self.encoder_targets is not None:
            extra["encoder_targets"] = list(self.encoder_targets)
        if self.op_columns:
            extra["op_columns"] = self.op_columns
            if self.kernel_kinds:
                extra["kernel_kinds"] = list(self.kernel_kinds)
        if self.graph_head:
            extra.update(graph_head=self.graph_head, hist_columns=self.hist_columns)
        return {
            "in_channels": self.in_channels,
            "graph_channels": self.graph_channels,
            "hidden_channels": self.hidden_channels,
            "num_layers": self.num_layers,
            "num_devices": self.num_devices,
            "num_targets": self.num_targets,
            "embed_channels": self.embed_channels,
            "dropout": self.dropout,
            "contribution": self.contribution,
            **extra,
        }

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, hidden={self.hidden_channels}, "
            f"layers={self.num_layers}, devices={self.num_devices}, targets={self.num_targets}, "
            f"embed={self.embed_channels}, contribution={self.contribution!r})"
        )
