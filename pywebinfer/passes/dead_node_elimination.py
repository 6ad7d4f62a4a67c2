"""Dead-node elimination: drop what cannot reach a graph output.

In each graph (subgraphs first, so that a body that stops reading an outer value frees
that value in the enclosing graph):

1. Identity nodes, and Dropout nodes that act as Identity (inference mode, mask not
   used), are removed by making their readers read the input instead.  When the
   Identity's output is a graph output, the output keeps its name: the node that
   produces the Identity's input is renamed to produce the output directly, which is
   possible only when that input is an intermediate value of the same graph (not a graph
   input, initializer, outer value or another graph output); otherwise the Identity stays.
2. Nodes none of whose outputs is read by a live node or is a graph output are removed
   (a node that owns subgraphs reads what its subgraphs read from outside).
3. Initializers nothing reads any more are removed.
"""
from __future__ import annotations

from ..graph.ir import Graph, Node, all_inputs
from ._util import defined_names, graph_output_names, nested_defined_names, substitute_inputs


def dead_node_elimination(graph: Graph) -> Graph:
    for node in graph.nodes:
        for sub in node.subgraphs():
            dead_node_elimination(sub)
    _remove_identities(graph)
    _remove_dead_nodes(graph)
    return graph


def _identity_input(graph: Graph, node: Node, used: set[str]) -> str | None:
    """The input an Identity-like node passes through unchanged, else None."""
    if node.domain != "" or not node.inputs or not node.inputs[0] or not node.outputs or not node.outputs[0]:
        return None
    if node.op_type == "Identity":
        return node.inputs[0]
    if node.op_type != "Dropout":
        return None
    if any(o and o in used for o in node.outputs[1:]):
        return None  # the mask is read
    opset = graph.opset("")
    if opset < 7:
        inference = bool(node.attrs.get("is_test", 0))
    elif opset < 12:
        inference = True
    else:
        mode = node.inputs[2] if len(node.inputs) > 2 else ""
        flag = graph.initializers.get(mode) if mode else None
        inference = not mode or (flag is not None and flag.size == 1 and not bool(flag.reshape(-1)[0]))
    return node.inputs[0] if inference else None


def _remove_identities(graph: Graph) -> None:
    outputs = graph_output_names(graph)
    used = {i for n in graph.nodes for i in all_inputs(n)} | outputs
    # a name defined inside a subgraph would capture a reader moved onto it there
    nested = nested_defined_names(graph)
    producers = graph.producers()
    alias: dict[str, str] = {}  # Identity output -> the value it passes on
    to_output: list[tuple[Node, str, str]] = []  # (Identity, its input, the graph output)
    for node in graph.nodes:
        source = _identity_input(graph, node, used)
        if source is None:
            continue
        source = alias.get(source, source)
        target = node.outputs[0]
        if target in outputs:
            to_output.append((node, source, target))
        elif source not in nested:
            alias[target] = source
    removed = {id(n) for n in graph.nodes if n.outputs and n.outputs[0] in alias}
    substitute_inputs(graph, alias)

    # output = Identity(x): let x's producer write the output itself
    local = defined_names(graph) - set(graph.initializers) - {v.name for v in graph.inputs}
    taken: set[str] = set()
    renames: dict[str, str] = {}
    for node, source, target in to_output:
        producer = producers.get(source)
        if (producer is None or source not in local or source in outputs or source in taken
                or target in nested):
            continue
        taken.add(source)
        renames[source] = target
        removed.add(id(node))
    if renames:
        substitute_inputs(graph, renames)
        for node in graph.nodes:
            node.outputs = [renames.get(o, o) if o else o for o in node.outputs]
    graph.nodes = [n for n in graph.nodes if id(n) not in removed]


def _remove_dead_nodes(graph: Graph) -> None:
    needed = graph_output_names(graph)
    live: list[Node] = []
    for node in reversed(graph.nodes):
        if any(o and o in needed for o in node.outputs):
            live.append(node)
            needed.update(all_inputs(node))
    live.reverse()
    graph.nodes = live
    for name in [n for n in graph.initializers if n not in needed]:
        del graph.initializers[name]
