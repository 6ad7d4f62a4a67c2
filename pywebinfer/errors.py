"""Errors raised by pywebinfer.  Each says what was wrong and where."""
from __future__ import annotations


class PywebinferError(Exception):
    """Base class of pywebinfer's own errors."""


class ModelError(PywebinferError, ValueError):
    """The model file is malformed: truncated, corrupt, or inconsistent.

    ``offset`` is the byte offset in the file where the problem was found, when known.
    """

    def __init__(self, message: str, offset: int | None = None):
        self.offset = offset
        self.reason = message
        super().__init__(message if offset is None else f"{message} (at byte offset {offset})")


class UnsupportedOpError(PywebinferError, NotImplementedError):
    """Some nodes of the model have no kernel on the requested backends.

    ``missing`` lists every such node at once as dicts with op_type, domain, opset,
    node name and, under ``declined``, why each provider that has the op turned the node
    down (an element type it does not hold, an attribute it lacks ...).
    """

    def __init__(self, missing: list[dict], providers: list[str]):
        self.missing = missing
        self.providers = list(providers)
        lines = []
        for m in missing:
            line = (f"  {m['op_type']} (domain {m['domain'] or 'ai.onnx'}, opset {m['opset']}) "
                    f"at node {m['node']!r}")
            if m.get("declined"):
                line += ": " + "; ".join(m["declined"])
            lines.append(line)
        kinds = sorted({(m["op_type"], m["domain"], m["opset"]) for m in missing})
        super().__init__(
            f"{len(missing)} node(s) of {len(kinds)} op type(s) have no kernel on "
            f"providers {self.providers}:\n" + "\n".join(lines)
        )
