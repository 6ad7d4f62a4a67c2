"""Constant folding: compute at load time what does not depend on the feeds.

A node whose inputs are all constants (initializers, or outputs of nodes folded before
it) is run once with the numpy backend's kernel from the op registry and its outputs
become initializers; a Constant node simply becomes an initializer.  Shape and Size of a
value whose shape is statically known fold too, although the value itself is not
constant, and so does a Gather or Slice that picks only static dimensions out of a
partly known shape: together with ordinary folding this collapses the
Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains of TorchScript exports into a
Reshape by a constant shape.  Shapes come from what the model declares (graph inputs,
outputs, value_info) and from pywebinfer.graph.shapes.infer_shapes; folding and
inference alternate until nothing more folds.  When inference fails (say the model
declares a shape that contradicts its nodes) no shape is trusted and only constants
fold.

Never folded:
* random ops (RandomNormal, RandomNormalLike, RandomUniform, RandomUniformLike,
  Bernoulli, Multinomial) and Dropout, whose result may be random (an inference-mode
  Dropout is removed by dead_node_elimination instead);
* nodes with subgraphs (If, Loop, Scan, ...): their bodies are folded on their own, with
  the enclosing graphs' constants visible;
* results larger than MAX_FOLDED_BYTES (16 MiB) in all and larger than the constant
  inputs they are made from: such a node (say a ConstantOfShape making a 10M-element
  tensor, or an Expand) stays, so that the model does not hold the tensor in memory
  for its whole life when it only needs it during a run.  A result no larger than its
  inputs (a Transpose or Reshape of a big weight) is folded: the input usually dies;
* nodes whose kernel fails: the error is reported when the model runs, with the node's
  name, as without folding.
"""
from __future__ import annotations

import math
from collections import ChainMap
from typing import Mapping

import numpy as np

from ..graph.ir import Graph, Node
from ..ops.registry import KernelContext, OpRegistry, load_all_kernels
from ._util import defined_names, infer_shapes_quietly, known_dims

# 16 MiB: large enough for every weight a ConstantOfShape/Expand/Tile usually builds
# (a 2048x2048 float32 matrix), small enough that a folded model stays near its file size
MAX_FOLDED_BYTES = 16 * 1024 * 1024

NEVER_FOLD = frozenset({"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike",
                        "Bernoulli", "Multinomial", "Dropout"})

# folding and shape inference alternate at most this often (each round that folds
# something can make more shapes known)
MAX_ROUNDS = 4


def constant_folding(graph: Graph) -> Graph:
    """Fold every constant computation of ``graph`` and its subgraphs (in place)."""
    registry = load_all_kernels()
    for _ in range(MAX_ROUNDS):
        shapes_trusted = infer_shapes_quietly(graph) is None
        if not _fold_graph(graph, {}, registry, shapes_trusted):
            break
    return graph


def _fold_graph(graph: Graph, outer: Mapping, registry: OpRegistry, shapes_trusted: bool) -> bool:
    defined = defined_names(graph)
    visible_outer = {k: v for k, v in outer.items() if k not in defined}
    consts = ChainMap(graph.initializers, visible_outer)
    # Shape outputs whose dimensions are only partly static: name -> tuple of dims
    shape_dims: dict[str, tuple] = {}
    changed = False
    kept: list[Node] = []
    for node in graph.nodes:
        subgraphs = list(node.subgraphs())
        if subgraphs:
            for sub in subgraphs:
                changed |= _fold_graph(sub, consts, registry, shapes_trusted)
            kept.append(node)
            continue
        values = _evaluate(graph, node, consts, shape_dims if shapes_trusted else None, registry)
        if values is None:
            kept.append(node)
            continue
        for name, value in zip(node.outputs, values):
            if name:
                # read-only: a folded value returned as a model output must be copied,
                # never handed out as the initializer itself
                value.setflags(write=False)
                graph.initializers[name] = value
        changed = True
    graph.nodes = kept
    return changed


def _evaluate(graph: Graph, node: Node, consts: Mapping, shape_dims: dict | None,
              registry: OpRegistry) -> list | None:
    """The outputs of ``node`` if they can be computed now, else None.  ``shape_dims``
    is None when shapes are not to be trusted."""
    if node.domain == "" and node.op_type in NEVER_FOLD:
        return None
    given = [i for i in node.inputs if i]
    if (shape_dims is not None and node.domain == "" and node.op_type in ("Shape", "Size")
            and given and given[0] not in consts):
        return _shape_of(graph, node, shape_dims)
    if (shape_dims is not None and node.domain == "" and node.op_type in ("Gather", "Slice") and node.inputs
            and node.inputs[0] in shape_dims and all(i in consts for i in given[1:])):
        return _pick_dims(graph, node, consts, shape_dims, registry)
    if not all(i in consts for i in given):
        return None
    inputs = [consts[i] if i else None for i in node.inputs]
    budget = max(MAX_FOLDED_BYTES, sum(x.nbytes for x in inputs if isinstance(x, np.ndarray)))
    if _predicted_bytes(node, consts) > budget:
        return None
    return _run(graph, node, inputs, registry, budget)


def _run(graph: Graph, node: Node, inputs: list, registry: OpRegistry,
         budget: int | None = None) -> list | None:
    opset = graph.opset(node.domain)
    entry = registry.lookup(node.op_type, node.domain, opset, "numpy")
    if entry is None:
        return None
    ctx = KernelContext(opset=opset, num_outputs=len(node.outputs),
                        output_names=tuple(node.outputs), node_name=node.name)
    try:
        out = entry.fn(ctx, inputs, node.attrs)
    except Exception:  # noqa: BLE001  (the node stays; running the model reports the error)
        return None
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    values = []
    for i, name in enumerate(node.outputs):
        if not name:
            values.append(None)
            continue
        if i >= len(outs):
            return None
        v = np.asarray(outs[i]) if isinstance(outs[i], np.generic) else outs[i]
        if not isinstance(v, np.ndarray):
            return None  # sequences and optionals are not initializers
        values.append(v)
    if sum(v.nbytes for v in values if v is not None) > (MAX_FOLDED_BYTES if budget is None else budget):
        return None
    return values


def _shape_of(graph: Graph, node: Node, shape_dims: dict) -> list | None:
    """Shape / Size of a non-constant value whose dimensions are (partly) known."""
    dims = known_dims(graph, node.inputs[0])
    if dims is None:
        return None
    if node.op_type == "Size":
        if not all(isinstance(d, int) for d in dims):
            return None
        return [np.asarray(math.prod(dims), dtype=np.int64)]
    start = int(node.attrs.get("start", 0))
    end = node.attrs.get("end")
    # Python slicing clamps start/end exactly as Shape-15 specifies
    dims = dims[start:None if end is None else int(end)]
    if all(isinstance(d, int) for d in dims):
        return [np.array(dims, dtype=np.int64)]
    shape_dims[node.outputs[0]] = dims
    return None


def _pick_dims(graph: Graph, node: Node, consts: Mapping, shape_dims: dict,
               registry: OpRegistry) -> list | None:
    """Gather / Slice over a partly known shape: run the op's own kernel on the
    positions 0..rank-1 to learn which dimensions it picks; fold if all are static."""
    dims = shape_dims[node.inputs[0]]
    positions = np.arange(len(dims), dtype=np.int64)
    inputs = [positions] + [consts[i] if i else None for i in node.inputs[1:]]
    picked = _run(graph, node, inputs, registry)
    if picked is None:
        return None
    where = picked[0]
    chosen = [dims[int(p)] for p in where.reshape(-1)]
    if all(isinstance(d, int) for d in chosen):
        return [np.array(chosen, dtype=np.int64).reshape(where.shape)]
    if where.ndim == 1:
        shape_dims[node.outputs[0]] = tuple(chosen)
    return None


def _predicted_bytes(node: Node, consts: Mapping) -> int:
    """Size of the result of ops that build big tensors from small inputs, known before
    running them (so a huge ConstantOfShape is not even allocated); 0 for others."""
    if node.domain != "" or node.op_type not in ("ConstantOfShape", "Expand", "Tile"):
        return 0
    try:
        if node.op_type == "ConstantOfShape":
            value = node.attrs.get("value")
            itemsize = np.asarray(value).dtype.itemsize if value is not None else 4
            return math.prod(int(d) for d in consts[node.inputs[0]].reshape(-1)) * itemsize
        x = consts[node.inputs[0]]
        second = [int(d) for d in consts[node.inputs[1]].reshape(-1)]
        if node.op_type == "Expand":
            return math.prod(np.broadcast_shapes(x.shape, tuple(second))) * x.itemsize
        return x.nbytes * math.prod(second)
    except (ValueError, TypeError, IndexError, KeyError):
        return 0  # malformed: the kernel says what is wrong
