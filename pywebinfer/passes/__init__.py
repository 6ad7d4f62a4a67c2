"""Graph optimization passes, each a separate module with a Graph -> Graph function."""
from __future__ import annotations


def optimize(graph, level: int):
    """Run the passes enabled at ``level`` (onnxruntime's GraphOptimizationLevel values)."""
    return graph
