"""Graph IR and shape inference."""
from .ir import Graph, Node, Value, ValueType

__all__ = ["Graph", "Node", "Value", "ValueType"]
