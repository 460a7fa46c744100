"""Re-fusing operators that exporters decompose, so that one network gives the same
IR whatever exporter or opset wrote it:

* LayerNormalization written out below opset 17 (ReduceMean, Sub, Pow, ReduceMean,
  Add, Sqrt, Div [, Mul, Add]) -> one ``layernorm`` node;
* exact GELU below opset 20 (Div, Erf, Add, Mul, Mul) -> one ``gelu`` node;
* MatMul with constant weights followed by a bias Add -> one ``fc`` node with a bias
  (what Gemm gives for 2-D inputs).

Intermediate tensors must have no other consumer; anything else is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from predictor.graph.costs import apply_costs
from predictor.graph.ir import Node


@dataclass
class _Index:
    nodes: list[Node]
    consumers: dict[str, list[int]] = field(default_factory=dict)
    producer: dict[str, int] = field(default_factory=dict)
    dead: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        for i, n in enumerate(self.nodes):
            for t in n.inputs:
                self.consumers.setdefault(t.name, []).append(i)
            for t in n.outputs:
                self.producer[t.name] = i

    def only_consumer(self, i: int, source_op: str) -> int | None:
        """The single consumer of node i's single output, if it is a ``source_op`` in the same subgraph."""
        n = self.nodes[i]
        if len(n.outputs) != 1:
            return None
        users = self.consumers.get(n.outputs[0].name, [])
        if len(users) != 1 or users[0] in self.dead:
            return None
        j = users[0]
        ok = self.nodes[j].source_op == source_op and self.nodes[j].subgraph == n.subgraph
        return j if ok else None

    def unary_const(self, i: int | None, source_op: str) -> bool:
        """Node i is ``source_op`` with one activation input and one constant input."""
        if i is None:
            return False
        n = self.nodes[i]
        return n.source_op == source_op and len(n.inputs) == 1 and len(n.weights) == 1


def _fused(first: Node, op: str, source: str, chain: list[Node], inputs, weights, outputs) -> Node:
    node = Node(name=first.name, op=op, source_op=source, inputs=list(inputs), weights=list(weights),
                outputs=list(outputs), subgraph=first.subgraph,
                attrs={"layout": first.attrs.get("layout", "NCHW"), "fused": [n.source_op for n in chain]})
    if "trip_count" in first.attrs:
        node.attrs["trip_count"] = first.attrs["trip_count"]
    return node


def _layernorm(ix: _Index, r1: int) -> tuple[list[int], Node] | None:
    n = ix.nodes[r1]
    if n.source_op != "ReduceMean" or len(n.inputs) != 1:
        return None
    x = n.inputs[0]
    sub = ix.only_consumer(r1, "Sub")
    if sub is None or [t.name for t in ix.nodes[sub].inputs] != [x.name, n.outputs[0].name]:
        return None
    users = ix.consumers.get(ix.nodes[sub].outputs[0].name, [])
    pw = next((u for u in users if ix.nodes[u].source_op == "Pow"), None)
    div = next((u for u in users if ix.nodes[u].source_op == "Div"), None)
    if len(users) != 2 or pw is None or div is None or not ix.unary_const(pw, "Pow"):
        return None
    r2 = ix.only_consumer(pw, "ReduceMean")
    eps = ix.only_consumer(r2, "Add") if r2 is not None else None
    sq = ix.only_consumer(eps, "Sqrt") if ix.unary_const(eps, "Add") else None
    if sq is None or ix.only_consumer(sq, "Div") != div:
        return None
    chain = [r1, sub, pw, r2, eps, sq, div]
    mul = ix.only_consumer(div, "Mul")
    if ix.unary_const(mul, "Mul"):
        chain.append(mul)
        add = ix.only_consumer(mul, "Add")
        if ix.unary_const(add, "Add"):
            chain.append(add)
    nodes = [ix.nodes[i] for i in chain]
    weights = [w for i in chain[7:] for w in ix.nodes[i].weights]
    fused = _fused(n, "layernorm", "LayerNormalization", nodes, [x], weights, nodes[-1].outputs)
    fused.attrs["axes"] = n.attrs.get("axes")
    return chain, fused


def _gelu(ix: _Index, e: int) -> tuple[list[int], Node] | None:
    n = ix.nodes[e]
    if n.source_op != "Erf" or len(n.inputs) != 1:
        return None
    d = ix.producer.get(n.inputs[0].name)
    if d is None or not ix.unary_const(d, "Div") or ix.only_consumer(d, "Erf") != e:
        return None
    x = ix.nodes[d].inputs[0]
    add = ix.only_consumer(e, "Add")
    if not ix.unary_const(add, "Add"):
        return None
    m1 = ix.only_consumer(add, "Mul")
    m2 = ix.only_consumer(m1, "Mul") if m1 is not None else None
    if m1 is None or m2 is None:
        return None

    def times_x(i: int, prev: int) -> bool:
        return {t.name for t in ix.nodes[i].inputs} == {x.name, ix.nodes[prev].outputs[0].name}

    # x * (1 + erf) * 0.5 (TorchScript exporter) or x * ((1 + erf) * 0.5) (dynamo exporter)
    if not ((times_x(m1, add) and ix.unary_const(m2, "Mul")) or (ix.unary_const(m1, "Mul") and times_x(m2, m1))):
        return None
    chain = [d, e, add, m1, m2]
    nodes = [ix.nodes[i] for i in chain]
    return chain, _fused(ix.nodes[d], "gelu", "Gelu", nodes, [x], [], nodes[-1].outputs)


def _fc_bias(ix: _Index, i: int) -> tuple[list[int], Node] | None:
    n = ix.nodes[i]
    if n.op != "fc" or n.source_op != "MatMul" or n.attrs.get("bias"):
        return None
    add = ix.only_consumer(i, "Add")
    if not ix.unary_const(add, "Add"):
        return None
    bias = ix.nodes[add].weights[0]
    if bias.shape != [n.attrs.get("out_features")]:
        return None
    fused = _fused(n, "fc", "MatMul", [n, ix.nodes[add]], n.inputs, [*n.weights, bias], ix.nodes[add].outputs)
    fused.attrs.update(k=n.attrs.get("k"), out_features=n.attrs.get("out_features"), bias=True)
    return [i, add], fused


_PATTERNS = (_layernorm, _gelu, _fc_bias)


def fuse(nodes: list[Node]) -> tuple[list[Node], dict[int, int], int]:
    """(fused node list, old index -> new index (removed nodes map to their fused node),
    number of nodes removed)."""
    ix = _Index(nodes)
    replace: dict[int, Node] = {}
    owner: dict[int, int] = {}
    for pattern in _PATTERNS:
        for i in range(len(nodes)):
            if i in ix.dead:
                continue
            hit = pattern(ix, i)
            if hit is None or any(j in ix.dead for j in hit[0]):
                continue
            chain, node = hit
            head = min(chain)
            replace[head] = apply_costs(node)
            for j in chain:
                ix.dead.add(j)
                owner[j] = head
            ix.dead.discard(head)
            ix.nodes[head] = node
            for t in node.outputs:
                ix.producer[t.name] = head
            for t in node.inputs:
                users = ix.consumers.setdefault(t.name, [])
                for j in chain:
                    if j in users:
                        users.remove(j)
                users.append(head)
    kept = [i for i in range(len(nodes)) if i not in ix.dead]
    new_index = {old: new for new, old in enumerate(kept)}
    remap = {old: new_index[owner.get(old, old)] for old in range(len(nodes))}
    return [ix.nodes[i] for i in kept], remap, len(nodes) - len(kept)
