"""BatchNormalization folding: merge an inference-mode BatchNormalization into the
weights and bias of the Conv, Gemm or MatMul(+Add) that feeds it.

In inference mode BatchNormalization is the per-channel affine map
``y = x * f + (B - mean * f)`` with ``f = scale / sqrt(var + epsilon)``, so when ``x`` is
the output of a layer with constant weights and nothing else reads ``x``:

* Conv:  W'[m] = W[m] * f[m],  bias'[m] = (bias[m] - mean[m]) * f[m] + B[m]
* Gemm:  Y is (M, N) and the channel is N: the columns of op(B) are scaled by f and
  C' = beta * C * f + (B - mean * f) with beta' = 1
* MatMul (+ Add of a constant c), 2-D output only (the channel is then the last axis):
  W' = W * f on the last axis and c' = (c - mean) * f + B; a MatMul without Add gets one.

A Mul by a constant holding one factor per output channel (the scale that Caffe2
exports write after BatchNormalization, e.g. DenseNet's) is the same map with
``f`` = that factor and no shift, and is folded the same way.

The new weights are new initializers (the old ones may be shared with other nodes;
dead_node_elimination drops them when they are not).  Arithmetic is done in float64 and
rounded once to the weights' type.  A BatchNormalization is left alone when it is in
training mode or declares more than one output, when its parameters or the layer's
weights are not constants of one value per channel, or when the weights are held widened
(bfloat16, float8: their rounding is not numpy's).
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..graph.ir import Graph, Node
from ._util import NameMaker, graph_output_names, known_dims, only_consumer


def batchnorm_folding(graph: Graph) -> Graph:
    for node in graph.nodes:
        for sub in node.subgraphs():
            batchnorm_folding(sub)
    names = NameMaker(graph)
    outputs = graph_output_names(graph)
    consumers = graph.consumers()
    producers = graph.producers()
    removed: set[int] = set()
    added: dict[int, Node] = {}  # id(node) -> a node to insert right after it
    for affine in graph.nodes:
        if affine.domain != "" or affine.op_type not in ("BatchNormalization", "Mul") or not affine.inputs:
            continue
        if affine.op_type == "BatchNormalization":
            x, factor_shift = affine.inputs[0], _inference_affine(graph, affine)
        else:
            x, factor_shift = _scaled_layer_output(graph, affine, producers)
        if factor_shift is None:
            continue
        layer = producers.get(x)
        if layer is None or only_consumer(consumers, x, outputs) is not affine or id(layer) in removed:
            continue
        folded = _fold_into(graph, layer, factor_shift, producers, consumers, outputs, names)
        if folded is None:
            continue
        if isinstance(folded, Node):  # a MatMul that needed an Add for the bias
            added[id(layer)] = folded
            folded.outputs = [affine.outputs[0]]
            producers[affine.outputs[0]] = folded
        else:
            layer.outputs = [affine.outputs[0]]
            producers[affine.outputs[0]] = layer
        removed.add(id(affine))
    nodes: list[Node] = []
    for node in graph.nodes:
        if id(node) in removed:
            continue
        nodes.append(node)
        if id(node) in added:
            nodes.append(added[id(node)])
    graph.nodes = nodes
    return graph


def _inference_affine(graph: Graph, bn: Node) -> tuple[np.ndarray, np.ndarray] | None:
    """(f, shift) in float64 when ``bn`` is an inference-mode BatchNormalization with
    constant 1-D parameters, else None."""
    if len(bn.outputs) != 1 or len(bn.inputs) < 5:
        return None
    opset = graph.opset("")
    if opset >= 14 and bn.attrs.get("training_mode", 0):
        return None
    if opset < 9 and not bn.attrs.get("spatial", 1):
        return None
    params = [graph.initializers.get(n) for n in bn.inputs[1:5]]
    if any(p is None or p.ndim != 1 or p.dtype.kind != "f" for p in params):
        return None
    if len({p.shape for p in params}) != 1:
        return None
    scale, bias, mean, var = (p.astype(np.float64) for p in params)
    eps = float(bn.attrs.get("epsilon", 1e-5))
    f = scale / np.sqrt(var + eps)
    return f, bias - mean * f


def _scaled_layer_output(graph: Graph, mul: Node, producers: dict):
    """(x, (f, 0)) when ``mul`` multiplies a Conv / Gemm / MatMul output x by a constant
    that holds one factor per output channel, else (None, None)."""
    for k in (0, 1):
        x, c = mul.inputs[k], graph.initializers.get(mul.inputs[1 - k]) if len(mul.inputs) == 2 else None
        layer = producers.get(x)
        if c is None or layer is None or c.dtype.kind != "f" or x == mul.inputs[1 - k]:
            continue
        layout = _channel_layout(graph, layer, producers)
        if layout is None:
            continue
        rank, channels = layout
        if c.ndim > rank:
            continue
        aligned = c.reshape((1,) * (rank - c.ndim) + c.shape)
        if any(d != 1 for i, d in enumerate(aligned.shape) if i != 1) or aligned.shape[1] not in (1, channels):
            continue
        f = np.broadcast_to(aligned.reshape(-1).astype(np.float64), (channels,))
        return x, (f, np.zeros(channels))
    return None, None


def _channel_layout(graph: Graph, layer: Node, producers: dict) -> tuple[int, int] | None:
    """(rank of the layer's output, channels on its axis 1) for the layers this pass
    folds into, when their weights are constant."""
    if layer.domain != "" or len(layer.inputs) < 2:
        return None
    if layer.op_type == "Add":  # MatMul + bias
        mm = next((producers.get(i) for i in layer.inputs if _is_matmul(producers.get(i))), None)
        if mm is None:
            return None
        layer = mm
    w = _plain_weights(graph, layer.inputs[1])
    if w is None:
        return None
    if layer.op_type == "Conv" and w.ndim >= 3:
        return w.ndim, w.shape[0]
    if layer.op_type == "Gemm" and w.ndim == 2:
        return 2, w.shape[0] if layer.attrs.get("transB", 0) else w.shape[1]
    if layer.op_type == "MatMul" and w.ndim == 2:
        return 2, w.shape[1]
    return None


def _is_matmul(node: Node | None) -> bool:
    return node is not None and node.domain == "" and node.op_type == "MatMul"


def _plain_weights(graph: Graph, name: str) -> np.ndarray | None:
    w = graph.initializers.get(name) if name else None
    if w is None or w.dtype.kind != "f" or dtypes.widened_type(w) is not None:
        return None
    return w


def _fold_into(graph, layer, factor_shift, producers, consumers, outputs, names):
    """Rewrite ``layer``'s constants; returns True, a new Add node to append after
    ``layer`` (MatMul without bias), or None when it cannot be folded."""
    f, shift = factor_shift
    if layer.domain != "":
        return None
    if layer.op_type == "Conv":
        return _fold_conv(graph, layer, f, shift, names)
    if layer.op_type == "Gemm":
        return _fold_gemm(graph, layer, f, shift, names)
    if layer.op_type == "MatMul":
        return _fold_matmul(graph, layer, None, f, shift, names)
    if layer.op_type == "Add":
        for k in (0, 1):
            mm = producers.get(layer.inputs[k])
            if (mm is not None and mm.op_type == "MatMul" and mm.domain == ""
                    and only_consumer(consumers, layer.inputs[k], outputs) is layer):
                return _fold_matmul(graph, mm, layer, f, shift, names, bias_index=1 - k)
    return None


def _new_initializer(graph: Graph, names: NameMaker, base: str, value: np.ndarray) -> str:
    name = names.new(base)
    graph.initializers[name] = value
    return name


def _fold_conv(graph, conv, f, shift, names):
    w = _plain_weights(graph, conv.inputs[1] if len(conv.inputs) > 1 else "")
    if w is None or w.ndim < 3 or w.shape[0] != f.shape[0]:
        return None
    has_bias = len(conv.inputs) > 2 and conv.inputs[2]
    b = graph.initializers.get(conv.inputs[2]) if has_bias else np.zeros(w.shape[0])
    if b is None or b.shape != (w.shape[0],):
        return None
    w_new = (w.astype(np.float64) * f.reshape((-1,) + (1,) * (w.ndim - 1))).astype(w.dtype)
    b_new = (b.astype(np.float64) * f + shift).astype(w.dtype)
    conv.inputs = [conv.inputs[0], _new_initializer(graph, names, conv.inputs[1] + "_bn", w_new),
                   _new_initializer(graph, names, (conv.inputs[2] if has_bias else conv.inputs[1]) + "_bnbias",
                                    b_new)]
    return True


def _fold_gemm(graph, gemm, f, shift, names):
    w = _plain_weights(graph, gemm.inputs[1])
    if w is None or w.ndim != 2:
        return None
    trans_b = bool(gemm.attrs.get("transB", 0))
    n = w.shape[0] if trans_b else w.shape[1]
    if n != f.shape[0]:
        return None
    has_c = len(gemm.inputs) > 2 and gemm.inputs[2]
    c = graph.initializers.get(gemm.inputs[2]) if has_c else None
    if has_c and (c is None or c.ndim > 2):
        return None
    w_new = w.astype(np.float64) * (f[:, None] if trans_b else f[None, :])
    beta = float(gemm.attrs.get("beta", 1.0))
    c_new = shift if c is None else beta * c.astype(np.float64) * f + shift
    gemm.inputs = [gemm.inputs[0],
                   _new_initializer(graph, names, gemm.inputs[1] + "_bn", w_new.astype(w.dtype)),
                   _new_initializer(graph, names, (gemm.inputs[2] if has_c else gemm.inputs[1]) + "_bnbias",
                                    c_new.astype(w.dtype))]
    gemm.attrs = {**gemm.attrs, "beta": 1.0}
    if graph.opset("") < 7:
        gemm.attrs["broadcast"] = 1  # C' may be (N,) where the old C was (M, N)
    return True


def _fold_matmul(graph, matmul, add, f, shift, names, bias_index=1):
    w = _plain_weights(graph, matmul.inputs[1])
    a_dims = known_dims(graph, matmul.inputs[0])
    # only a 2-D product has its channel (axis 1) on the weights' last axis
    if w is None or w.ndim != 2 or a_dims is None or len(a_dims) != 2 or w.shape[1] != f.shape[0]:
        return None
    c = None
    if add is not None:
        c = graph.initializers.get(add.inputs[bias_index])
        if c is None or c.ndim > 2 or c.dtype != w.dtype:
            return None
    w_new = (w.astype(np.float64) * f[None, :]).astype(w.dtype)
    c_new = (shift if c is None else (c.astype(np.float64) * f + shift)).astype(w.dtype)
    w_name = _new_initializer(graph, names, matmul.inputs[1] + "_bn", w_new)
    c_name = _new_initializer(graph, names, (add.inputs[bias_index] if add else matmul.inputs[1]) + "_bnbias",
                              c_new)
    matmul.inputs = [matmul.inputs[0], w_name]
    if add is not None:
        add.inputs = [matmul.outputs[0], c_name]
        return True
    product = names.new(matmul.outputs[0] + "_bn")
    bias_add = Node("Add", [product, c_name], [], {}, "", names.new(matmul.name + "_bnbias"))
    matmul.outputs = [product]
    return bias_add
