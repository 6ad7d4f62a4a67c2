"""The graph IR every pass and backend works on.

Values are named edges (ONNX's own convention), so a pass rewrites a graph by editing
node lists and names; a Graph owns its nodes, its initializers (numpy arrays) and what is
known of each value's type and shape.  Shapes are tuples whose entries are ints (static),
strings (symbolic, e.g. "batch") or None (unknown); a shape of None means unknown rank.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import numpy as np

from .. import dtypes


@dataclasses.dataclass
class ValueType:
    """What is known of a value: kind, element type and shape."""

    kind: str = "tensor"  # "tensor", "sequence", "optional", "map", "sparse"
    elem_type: int = 0  # ONNX element type (of the innermost tensor for seq/optional)
    shape: tuple | None = None
    inner: "ValueType | None" = None  # element type of a sequence or optional

    def describe(self) -> str:
        if self.kind == "tensor":
            return dtypes.type_string(self.elem_type) if self.elem_type else "tensor(undefined)"
        if self.inner is not None:
            return f"{self.kind}({self.inner.describe()})"
        return self.kind


@dataclasses.dataclass
class Value:
    name: str
    type: ValueType = dataclasses.field(default_factory=ValueType)
    doc: str = ""

    @property
    def shape(self):
        return self.type.shape

    @property
    def elem_type(self) -> int:
        return self.type.elem_type


@dataclasses.dataclass
class Node:
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    domain: str = ""
    name: str = ""

    def __repr__(self) -> str:
        return f"Node({self.op_type} {self.name!r}: {self.inputs} -> {self.outputs})"

    def subgraphs(self) -> Iterator["Graph"]:
        for v in self.attrs.values():
            if isinstance(v, Graph):
                yield v
            elif isinstance(v, list):
                yield from (g for g in v if isinstance(g, Graph))


@dataclasses.dataclass
class Graph:
    nodes: list[Node]
    inputs: list[Value]
    outputs: list[Value]
    initializers: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    # inputs a caller may feed but need not: their values when not fed (ONNX lets a graph
    # input share an initializer's name; such an input is not a constant to the passes)
    input_defaults: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    value_info: dict[str, Value] = dataclasses.field(default_factory=dict)
    name: str = ""
    opsets: dict[str, int] = dataclasses.field(default_factory=dict)  # shared with the model

    # ---- queries -----------------------------------------------------------------

    def producers(self) -> dict[str, Node]:
        return {o: n for n in self.nodes for o in n.outputs if o}

    def consumers(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in all_inputs(n):
                out.setdefault(i, []).append(n)
        return out

    def value_type(self, name: str) -> ValueType | None:
        for v in self.inputs:
            if v.name == name:
                return v.type
        if name in self.value_info:
            return self.value_info[name].type
        for v in self.outputs:
            if v.name == name:
                return v.type
        if name in self.initializers:
            arr = self.initializers[name]
            return ValueType("tensor", elem_type_of(arr), tuple(arr.shape))
        return None

    def input_names(self) -> list[str]:
        """Graph inputs that are fed by the caller (initializers with the same name are
        defaults that a feed may override, as ONNX allows)."""
        return [v.name for v in self.inputs]

    def opset(self, domain: str) -> int:
        return self.opsets.get(domain, 1)

    def outer_references(self) -> set[str]:
        """Names a (sub)graph reads that it does not define itself."""
        defined = set(self.initializers) | {v.name for v in self.inputs}
        used: set[str] = set()
        for n in self.nodes:
            for i in n.inputs:
                if i and i not in defined:
                    used.add(i)
            for g in n.subgraphs():
                used |= {r for r in g.outer_references() if r not in defined}
            defined.update(o for o in n.outputs if o)
        return used

    def topological_sort(self) -> None:
        """Order nodes so each comes after the producers of its inputs (stable)."""
        available = set(self.initializers) | {v.name for v in self.inputs} | {""}
        pending = list(self.nodes)
        ordered: list[Node] = []
        produced_here = {o for n in self.nodes for o in n.outputs}
        while pending:
            progress = []
            rest = []
            for n in pending:
                needs = [i for i in all_inputs(n) if i in produced_here]
                if all(i in available for i in needs):
                    progress.append(n)
                    available.update(n.outputs)
                else:
                    rest.append(n)
            if not progress:
                stuck = ", ".join(f"{n.op_type} {n.name!r}" for n in rest[:5])
                raise ValueError(f"graph {self.name!r} has a cycle through: {stuck}")
            ordered.extend(progress)
            pending = rest
        self.nodes = ordered


def all_inputs(node: Node) -> list[str]:
    """A node's inputs plus the outer values its subgraphs read (they are inputs too)."""
    names = [i for i in node.inputs if i]
    for g in node.subgraphs():
        names.extend(sorted(g.outer_references()))
    return names


def elem_type_of(arr: np.ndarray) -> int:
    try:
        return dtypes.from_numpy(arr.dtype)
    except ValueError:
        return dtypes.STRING if arr.dtype == object else 0

