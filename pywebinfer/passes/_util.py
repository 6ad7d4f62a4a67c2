"""Small graph queries and edits that several passes share."""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Node
from ..graph.shapes import infer_shapes


def defined_names(graph: Graph) -> set[str]:
    """Names a graph defines itself: its inputs, initializers and node outputs."""
    names = set(graph.initializers) | {v.name for v in graph.inputs}
    for node in graph.nodes:
        names.update(o for o in node.outputs if o)
    return names


def nested_defined_names(graph: Graph) -> set[str]:
    """Names defined inside the subgraphs of a graph's nodes, at any depth."""
    names: set[str] = set()
    for node in graph.nodes:
        for sub in node.subgraphs():
            names |= defined_names(sub) | nested_defined_names(sub)
    return names


def all_names(graph: Graph) -> set[str]:
    """Every value name used anywhere in a graph and its subgraphs (for fresh names)."""
    names = defined_names(graph) | {v.name for v in graph.outputs} | set(graph.value_info)
    for node in graph.nodes:
        names.update(i for i in node.inputs if i)
        for sub in node.subgraphs():
            names |= all_names(sub)
    return names


class NameMaker:
    """Makes value names that no existing value of the graph uses."""

    def __init__(self, graph: Graph):
        self._used = all_names(graph)

    def new(self, base: str) -> str:
        name, k = base, 1
        while name in self._used:
            name, k = f"{base}_{k}", k + 1
        self._used.add(name)
        return name


def substitute_inputs(graph: Graph, mapping: dict[str, str]) -> None:
    """Make every reader of ``old`` read ``new`` instead, for each ``old -> new`` pair,
    in the graph and in the subgraphs that see it (a subgraph that defines ``old``
    itself hides the outer value from its body)."""
    if not mapping:
        return
    for node in graph.nodes:
        node.inputs = [mapping.get(i, i) if i else i for i in node.inputs]
        for sub in node.subgraphs():
            hidden = defined_names(sub)
            substitute_inputs(sub, {k: v for k, v in mapping.items() if k not in hidden})


def known_dims(graph: Graph, name: str) -> tuple | None:
    """The dimensions known of a tensor value (ints, or str/None where unknown), or None
    when even its rank is unknown."""
    if name in graph.initializers:
        arr = graph.initializers[name]
        return tuple(arr.shape) if isinstance(arr, np.ndarray) else None
    vtype = graph.value_type(name)
    if vtype is None or vtype.kind != "tensor" or vtype.shape is None:
        return None
    return tuple(_dim(d) for d in vtype.shape)


def _dim(d):
    if isinstance(d, str):
        return d
    return d if isinstance(d, int) and d >= 0 else None


def graph_output_names(graph: Graph) -> set[str]:
    return {v.name for v in graph.outputs}


def only_consumer(consumers: dict[str, list[Node]], name: str, outputs: set[str]) -> Node | None:
    """The one node that reads ``name`` (reading it once), when nothing else does and it
    is not a graph output; else None."""
    readers = consumers.get(name, [])
    if len(readers) != 1 or name in outputs:
        return None
    return readers[0]


def scalar_constant(graph: Graph, name: str) -> float | None:
    """The value of a one-element float constant of rank <= 1, else None."""
    arr = graph.initializers.get(name)
    if not isinstance(arr, np.ndarray) or arr.size != 1 or arr.ndim > 1 or arr.dtype.kind != "f":
        return None
    return float(arr.reshape(-1)[0])


def infer_shapes_quietly(graph: Graph) -> str | None:
    """Fill graph.value_info by shape inference; returns why inference failed (the
    passes then work with the shapes the model declares), or None."""
    try:
        infer_shapes(graph)
    except Exception as e:  # noqa: BLE001  (a model inference cannot type may still run)
        return f"{type(e).__name__}: {e}"
    return None
