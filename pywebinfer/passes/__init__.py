"""Graph optimization passes, run by InferenceSession after loading a model.

Each pass is a module with one ``Graph -> Graph`` function of the same name that edits
the graph in place (subgraphs of If / Loop / Scan included) and returns it, so each can
run and be tested alone:

* constant_folding.constant_folding        evaluate what does not depend on the feeds
* dead_node_elimination.dead_node_elimination   drop Identity and unreachable nodes
* batchnorm_folding.batchnorm_folding      BatchNormalization into Conv / Gemm / MatMul
* fusion.fusion                            Conv/Gemm/MatMul + bias + residual + activation
* memory_plan.plan_memory                  liveness plan of the intermediates' buffers
                                           (the session runs it after placement)

``optimize(graph, level)`` runs them by onnxruntime's GraphOptimizationLevel values.
"""
from __future__ import annotations

from ..graph.ir import Graph
from . import batchnorm_folding, constant_folding, dead_node_elimination, fusion


def optimize(graph: Graph, level: int) -> Graph:
    """Run the passes enabled at ``level``: 0 none; 1 (basic) constant folding and
    dead-node elimination; 2 (extended) and 99 (all) also BatchNormalization folding
    and fusion, then dead-node elimination again for what they left unused."""
    if level <= 0:
        return graph
    graph = constant_folding.constant_folding(graph)
    graph = dead_node_elimination.dead_node_elimination(graph)
    if level >= 2:
        graph = batchnorm_folding.batchnorm_folding(graph)
        graph = fusion.fusion(graph)
        graph = dead_node_elimination.dead_node_elimination(graph)
    return graph
