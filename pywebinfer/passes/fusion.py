"""Operator fusion: Conv / Gemm / MatMul with the bias Add, residual Add and activation
that follow them become one node (FusedConv / FusedGemm / FusedMatMul, domain
"pywebinfer"; the op schema is in pywebinfer/ops/fused.py).

From each Conv, Gemm or MatMul (an "anchor") the pass follows the single reader of its
output (never past a graph output or a value read twice) and takes, in this order:

0. (Conv only, looking back) a zero-valued constant-mode Pad of the spatial axes whose
   only reader is the Conv: its amounts join Conv's pads (TorchScript exports of
   TensorFlow-style "same" padding write such Pads).

1. bias: an Add of a constant that adds one value per output channel, without changing
   the output's shape.  Conv: the constant is (1, M, 1, ...) or any shape that reduces
   to it (or one element), merged into Conv's bias B.  Gemm: (N,), (1, N) or one
   element, merged into C (beta becomes 1).  MatMul: (N,), one element, or (1, ..., N)
   when the output's rank is known; it becomes FusedMatMul's bias.  The constant needs
   the channel count (the weights' static shape) to be checked.
2. residual (Conv only): an Add (or a Sum of two) of any other tensor Z, when Z is
   computed before the Conv (so the fused node may run where the Conv ran); ResNet's
   Conv -> BatchNormalization -> Add -> Relu is, after BN folding, one FusedConv.
3. activation: Relu, Sigmoid, Tanh, HardSwish, LeakyRelu, HardSigmoid, Clip with
   constant bounds (ReLU6), Gelu, SiLU written as x * Sigmoid(x), and the erf form of
   GELU that PyTorch exports: x * 0.5 * (1 + Erf(x / sqrt(2))) in its usual orders.

A Conv or Gemm that only gained a bias stays a plain Conv / Gemm.  The fused node takes
the place of the last node it replaces.  Only activations whose kernels the numpy
backend has are fused (see ops.fused.activation_supported).
"""
from __future__ import annotations

import math

import numpy as np

from ..graph.ir import Graph, Node, all_inputs
from ..ops.fused import activation_supported
from ..ops.registry import FUSED_DOMAIN, load_all_kernels
from ._util import NameMaker, graph_output_names, known_dims, only_consumer, scalar_constant

ANCHORS = ("Conv", "Gemm", "MatMul")
SIMPLE_ACTIVATIONS = ("Relu", "Sigmoid", "Tanh", "HardSwish")


class _Context:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.outputs = graph_output_names(graph)
        self.consumers = graph.consumers()
        self.producers = graph.producers()
        self.position = {id(n): i for i, n in enumerate(graph.nodes)}
        self.names = NameMaker(graph)

    def only_reader(self, name: str) -> Node | None:
        return only_consumer(self.consumers, name, self.outputs)

    def readers(self, name: str) -> list[Node]:
        return [] if name in self.outputs else self.consumers.get(name, [])

    def constant(self, name: str) -> np.ndarray | None:
        return self.graph.initializers.get(name) if name else None

    def add_constant(self, base: str, value: np.ndarray) -> str:
        name = self.names.new(base)
        self.graph.initializers[name] = value
        return name


def fusion(graph: Graph) -> Graph:
    load_all_kernels()  # activation_supported asks the registry
    for node in graph.nodes:
        for sub in node.subgraphs():
            fusion(sub)
    cx = _Context(graph)
    fused_ids: set[int] = set()
    placed: dict[int, Node] = {}  # id(last replaced node) -> the node taking its place
    for anchor in list(graph.nodes):
        if anchor.domain != "" or anchor.op_type not in ANCHORS or id(anchor) in fused_ids:
            continue
        match = _fuse(cx, anchor)
        if match is None:
            continue
        new_node, chain = match
        chain_ids = {id(n) for n in chain}
        fused_ids |= chain_ids
        placed[max(chain_ids, key=lambda i: cx.position[i])] = new_node
        for name in set(all_inputs(new_node)):
            cx.consumers[name] = [c for c in cx.consumers.get(name, []) if id(c) not in chain_ids] + [new_node]
    if not placed:
        return graph
    nodes = []
    for node in graph.nodes:
        if id(node) in placed:
            nodes.append(placed[id(node)])
        elif id(node) not in fused_ids:
            nodes.append(node)
    graph.nodes = nodes
    if any(n.domain == FUSED_DOMAIN for n in nodes):
        graph.opsets.setdefault(FUSED_DOMAIN, 1)
    return graph


def _other_input(node: Node, name: str) -> str | None:
    """The other operand of a binary node that reads ``name`` once, else None."""
    if len(node.inputs) != 2 or node.inputs.count(name) != 1:
        return None
    other = node.inputs[1] if node.inputs[0] == name else node.inputs[0]
    return other or None


def _is(node: Node | None, *op_types: str) -> bool:
    return node is not None and node.domain == "" and node.op_type in op_types


def _fuse(cx: _Context, anchor: Node) -> tuple[Node, list[Node]] | None:
    if len(anchor.outputs) != 1 or len(anchor.inputs) < 2 or not anchor.inputs[1]:
        return None
    kind = anchor.op_type
    y = anchor.outputs[0]
    chain = [anchor]
    inputs = list(anchor.inputs)
    attrs = {k: v for k, v in anchor.attrs.items() if k != "broadcast"}  # Gemm-6's: C always broadcasts now
    residual = None

    if kind == "Conv":
        pad = _absorbable_pad(cx, anchor)
        if pad is not None:
            pad_node, amounts = pad
            spatial = len(amounts) // 2
            old = list(attrs.get("pads", [0] * (2 * spatial)))
            attrs["pads"] = [a + b for a, b in zip(old, amounts)]
            inputs[0] = pad_node.inputs[0]
            chain.append(pad_node)

    add = cx.only_reader(y)
    if _is(add, "Add"):
        c = cx.constant(_other_input(add, y) or "")
        merged = _merge_bias(cx, kind, anchor, inputs, attrs, c) if c is not None else None
        if merged is not None:
            inputs, attrs = merged
            chain.append(add)
            y = add.outputs[0]

    if kind == "Conv":
        add = cx.only_reader(y)
        if _is(add, "Add", "Sum") and len(add.inputs) == 2:
            z = _other_input(add, y)
            if z is not None and _computed_before(cx, z, anchor):
                residual = z
                chain.append(add)
                y = add.outputs[0]

    activation = _match_activation(cx, y)
    if activation is not None:
        act_attrs, act_nodes, y = activation
        attrs.update(act_attrs)
        chain.extend(act_nodes)
    if len(chain) == 1:
        return None

    if activation is None and residual is None and kind in ("Conv", "Gemm"):
        if kind == "Gemm" and cx.graph.opset("") < 7:
            attrs["broadcast"] = 1
        return Node(kind, inputs, [y], attrs, "", anchor.name), chain
    if kind == "Conv" and residual is not None:
        inputs = inputs[:2] + [inputs[2] if len(inputs) > 2 else "", residual]
    return Node("Fused" + kind, inputs, [y], attrs, FUSED_DOMAIN, anchor.name), chain


def _absorbable_pad(cx: _Context, conv: Node) -> tuple[Node, list[int]] | None:
    """(Pad node, its spatial amounts in Conv's pads layout) when Conv's input is a
    zero constant padding of the spatial axes that only Conv reads."""
    pad = cx.producers.get(conv.inputs[0])
    if not _is(pad, "Pad") or cx.only_reader(conv.inputs[0]) is not conv:
        return None
    if conv.attrs.get("auto_pad", "NOTSET") != "NOTSET" or pad.attrs.get("mode", "constant") != "constant":
        return None
    if cx.graph.opset("") < 11:
        amounts = pad.attrs.get("pads", pad.attrs.get("paddings"))
        value = float(pad.attrs.get("value", 0.0))
    else:
        if len(pad.inputs) < 2 or (len(pad.inputs) > 3 and pad.inputs[3]):
            return None  # no pads (invalid), or an axes input (rare): left alone
        pads = cx.constant(pad.inputs[1])
        amounts = None if pads is None or pads.dtype.kind != "i" else [int(p) for p in pads.reshape(-1)]
        fill = cx.constant(pad.inputs[2]) if len(pad.inputs) > 2 and pad.inputs[2] else np.zeros(1)
        value = float(fill.reshape(-1)[0]) if fill is not None and fill.size == 1 else None
    w_dims = known_dims(cx.graph, conv.inputs[1])
    if amounts is None or value != 0.0 or w_dims is None or len(amounts) != 2 * len(w_dims):
        return None
    rank = len(w_dims)
    begin, end = amounts[:rank], amounts[rank:]
    if begin[:2] != [0, 0] or end[:2] != [0, 0] or min(amounts) < 0:
        return None
    return pad, begin[2:] + end[2:]


def _computed_before(cx: _Context, name: str, anchor: Node) -> bool:
    producer = cx.producers.get(name)
    if producer is None:  # a graph input, initializer or outer value
        return True
    return cx.position[id(producer)] < cx.position[id(anchor)]


# ---- bias ----------------------------------------------------------------------------

def _merge_bias(cx: _Context, kind: str, anchor: Node, inputs: list, attrs: dict,
                c: np.ndarray) -> tuple[list, dict] | None:
    w_dims = known_dims(cx.graph, inputs[1])
    if w_dims is None or c.dtype.kind != "f":
        return None
    if kind == "Conv":
        return _conv_bias(cx, anchor, inputs, attrs, c, w_dims)
    if kind == "Gemm":
        return _gemm_bias(cx, anchor, inputs, attrs, c, w_dims)
    return _matmul_bias(cx, anchor, inputs, attrs, c, w_dims)


def _conv_bias(cx, anchor, inputs, attrs, c, w_dims):
    channels, rank = w_dims[0], len(w_dims)
    if not isinstance(channels, int) or c.ndim > rank:
        return None
    aligned = c.reshape((1,) * (rank - c.ndim) + c.shape)
    if any(d != 1 for i, d in enumerate(aligned.shape) if i != 1) or aligned.shape[1] not in (1, channels):
        return None
    per_channel = np.broadcast_to(aligned.reshape(-1), (channels,)).astype(np.float64)
    if len(inputs) > 2 and inputs[2]:
        old = cx.constant(inputs[2])
        if old is None or old.shape != (channels,):
            return None
        per_channel = per_channel + old
    bias = cx.add_constant(anchor.name + "_bias", per_channel.astype(c.dtype))
    return [inputs[0], inputs[1], bias], attrs


def _gemm_bias(cx, anchor, inputs, attrs, c, w_dims):
    if len(w_dims) != 2 or c.ndim > 2 or (c.ndim == 2 and c.shape[0] != 1):
        return None
    n = w_dims[0] if attrs.get("transB", 0) else w_dims[1]
    last = c.shape[-1] if c.ndim else 1
    if last != 1 and last != n:
        return None
    total = c.astype(np.float64)
    if len(inputs) > 2 and inputs[2]:
        old = cx.constant(inputs[2])
        if old is None:
            return None
        total = float(attrs.get("beta", 1.0)) * old.astype(np.float64) + total
    bias = cx.add_constant(anchor.name + "_bias", total.astype(c.dtype))
    return [inputs[0], inputs[1], bias], {**attrs, "beta": 1.0}


def _matmul_bias(cx, anchor, inputs, attrs, c, w_dims):
    if len(w_dims) < 2:
        return None  # a 1-D B drops the last axis: the bias would not be per column
    if c.ndim > 1:
        a_dims = known_dims(cx.graph, inputs[0])
        if a_dims is None:
            return None
        out_rank = max(len(a_dims), len(w_dims)) if len(a_dims) > 1 else len(w_dims) - 1
        if c.ndim > out_rank or any(d != 1 for d in c.shape[:-1]):
            return None
    last = c.shape[-1] if c.ndim else 1
    if last != 1 and last != w_dims[-1]:
        return None
    bias = cx.add_constant(anchor.name + "_bias", np.ascontiguousarray(c.reshape(-1)))
    return [inputs[0], inputs[1], bias], attrs


# ---- activations ---------------------------------------------------------------------

def _match_activation(cx: _Context, y: str) -> tuple[dict, list[Node], str] | None:
    """(fused attributes, nodes replaced, value produced) of the activation of ``y``."""
    readers = cx.readers(y)
    found = None
    if len(readers) == 1:
        found = _single_node_activation(cx, readers[0], y)
    elif len(readers) == 2:
        found = _silu(cx, readers, y) or _erf_gelu(cx, readers, y)
    if found is None or not activation_supported(found[0]["activation"]):
        return None
    return found


def _single_node_activation(cx: _Context, node: Node, y: str):
    if node.domain != "" or len(node.outputs) != 1 or not node.inputs or node.inputs[0] != y:
        return None
    op, extra = node.op_type, node.inputs[1:]
    if y in extra:
        return None
    if op in SIMPLE_ACTIVATIONS and not extra:
        attrs = {"activation": op}
    elif op == "LeakyRelu":
        attrs = {"activation": op, "activation_alpha": float(node.attrs.get("alpha", 0.01))}
    elif op == "HardSigmoid":
        attrs = {"activation": op, "activation_alpha": float(node.attrs.get("alpha", 0.2)),
                 "activation_beta": float(node.attrs.get("beta", 0.5))}
    elif op == "Gelu":
        attrs = {"activation": op, "activation_approximate": node.attrs.get("approximate", "none")}
    elif op == "Clip":
        attrs = _clip_bounds(cx, node)
        if attrs is None:
            return None
    else:
        return None
    return attrs, [node], node.outputs[0]


def _clip_bounds(cx: _Context, clip: Node) -> dict | None:
    attrs: dict = {"activation": "Clip"}
    if cx.graph.opset("") < 11:
        for key in ("min", "max"):
            if key in clip.attrs:
                attrs["activation_" + key] = float(clip.attrs[key])
        return attrs
    for key, name in zip(("min", "max"), clip.inputs[1:3]):
        if not name:
            continue
        bound = scalar_constant(cx.graph, name)
        if bound is None:
            return None  # a bound computed at run time, or an integer clip
        attrs["activation_" + key] = bound
    return attrs


def _silu(cx: _Context, readers: list[Node], y: str):
    sig = next((n for n in readers if _is(n, "Sigmoid") and n.inputs == [y]), None)
    mul = next((n for n in readers if n is not sig), None)
    if sig is None or not _is(mul, "Mul") or _other_input(mul, y) != sig.outputs[0]:
        return None
    if cx.only_reader(sig.outputs[0]) is not mul:
        return None
    return {"activation": "Silu"}, [sig, mul], mul.outputs[0]


def _near(cx: _Context, name: str | None, value: float) -> bool:
    v = scalar_constant(cx.graph, name) if name else None
    return v is not None and math.isclose(v, value, rel_tol=1e-5)


def _erf_gelu(cx: _Context, readers: list[Node], y: str):
    """x * 0.5 * (1 + Erf(x / sqrt(2))), with the products in any of PyTorch's orders."""
    scale = None
    for n in readers:
        if (_is(n, "Div") and n.inputs[0] == y and _near(cx, n.inputs[1], math.sqrt(2))) or (
                _is(n, "Mul") and _near(cx, _other_input(n, y), math.sqrt(0.5))):
            scale = n
    if scale is None:
        return None
    other = readers[1] if readers[0] is scale else readers[0]
    erf = cx.only_reader(scale.outputs[0])
    if not _is(erf, "Erf"):
        return None
    one_plus = cx.only_reader(erf.outputs[0])
    if not _is(one_plus, "Add") or not _near(cx, _other_input(one_plus, erf.outputs[0]), 1.0):
        return None
    if not _is(other, "Mul"):
        return None
    u = one_plus.outputs[0]  # 1 + erf(x / sqrt 2)
    head = [scale, erf, one_plus]
    if _other_input(other, y) == u:  # (x * u) * 0.5
        half = cx.only_reader(other.outputs[0])
        if _is(half, "Mul") and _near(cx, _other_input(half, other.outputs[0]), 0.5):
            return _gelu_found(head + [other, half], half)
    elif _near(cx, _other_input(other, y), 0.5):  # (x * 0.5) * u
        last = cx.only_reader(other.outputs[0])
        if _is(last, "Mul") and _other_input(last, other.outputs[0]) == u and cx.only_reader(u) is last:
            return _gelu_found(head + [other, last], last)
    else:  # x * (u * 0.5)
        half = cx.only_reader(u)
        if (_is(half, "Mul") and _near(cx, _other_input(half, u), 0.5)
                and cx.only_reader(half.outputs[0]) is other and _other_input(other, y) == half.outputs[0]):
            return _gelu_found(head + [half, other], other)
    return None


def _gelu_found(nodes: list[Node], last: Node):
    return {"activation": "Gelu", "activation_approximate": "none"}, nodes, last.outputs[0]
