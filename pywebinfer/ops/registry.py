"""The one op registry.

Every kernel of every backend is registered here under (op type, domain, opset range,
backend).  The support table in docs/, ``python -m pywebinfer inspect`` and the session's
placement all read this registry; nothing else keeps a list of ops.

A kernel is a plain function ``fn(ctx, inputs, attrs) -> outputs``:

* ``ctx``     a :class:`KernelContext` (opset in force, number of outputs, subgraph runner);
* ``inputs``  a list with one entry per node input: a numpy array, a Python list (an
              ONNX sequence) or ``None`` (an omitted optional input or an empty optional);
* ``attrs``   a dict of the node's attributes, already decoded: int, float, str, bytes
              for non-UTF-8 strings, lists of those, numpy arrays for tensors and
              :class:`pywebinfer.graph.Graph` for subgraphs.  Kernels apply defaults.

It returns a tuple or list of outputs (or one array when the op has one output).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Iterable

DEFAULT_DOMAIN = ""  # ai.onnx
ML_DOMAIN = "ai.onnx.ml"
TRAINING_DOMAIN = "ai.onnx.preview.training"
PREVIEW_DOMAIN = "ai.onnx.preview"
FUSED_DOMAIN = "pywebinfer"  # ops made by the fusion passes

# The highest opset of each domain that this release understands.  A model that asks
# for more is still loaded when every op it uses has a kernel whose range covers it.
MAX_OPSET = {DEFAULT_DOMAIN: 28, ML_DOMAIN: 5, TRAINING_DOMAIN: 1, PREVIEW_DOMAIN: 1, FUSED_DOMAIN: 1}


def normalize_domain(domain: str | None) -> str:
    return "" if domain in (None, "", "ai.onnx") else domain


@dataclasses.dataclass
class KernelContext:
    """What a kernel may know beyond its inputs and attributes."""

    opset: int  # version of the node's domain in force for this model
    num_outputs: int  # how many outputs the node declares (optional ones included)
    output_names: tuple = ()  # "" marks an output the model does not want
    node_name: str = ""
    run_graph: Callable | None = None  # run_graph(graph, inputs: list, outer: dict) -> list
    outer_scope: dict | None = None  # values visible to subgraphs
    state: object = None  # what the kernel's prepare() made at load (e.g. packed weights)

    def wants(self, i: int) -> bool:
        return i < len(self.output_names) and self.output_names[i] != ""


@dataclasses.dataclass(frozen=True)
class KernelEntry:
    op_type: str
    domain: str
    since: int  # first opset version this kernel implements
    until: int | None  # last opset version (inclusive), None = open-ended
    backend: str
    fn: Callable
    note: str = ""  # limits a user should know about, shown in the support table
    # prepare(ctx, attrs, constants) -> state, run once at session load; ``constants``
    # holds each input's value when it is an initializer, else None (e.g. to pack weights)
    prepare: Callable | None = None

    def covers(self, opset: int) -> bool:
        return self.since <= opset and (self.until is None or opset <= self.until)

    @property
    def versions(self) -> str:
        return f"{self.since}+" if self.until is None else f"{self.since}-{self.until}"


class OpRegistry:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str, str], list[KernelEntry]] = {}

    def add(self, entry: KernelEntry) -> None:
        key = (entry.op_type, entry.domain, entry.backend)
        bucket = self._entries.setdefault(key, [])
        for other in bucket:
            overlap = (entry.until is None or other.since <= entry.until) and (
                other.until is None or entry.since <= other.until
            )
            if overlap:
                raise ValueError(
                    f"kernel {entry.op_type} ({entry.domain or 'ai.onnx'}) on {entry.backend}: "
                    f"opsets {entry.versions} overlap {other.versions}"
                )
        bucket.append(entry)
        bucket.sort(key=lambda e: e.since)

    def lookup(self, op_type: str, domain: str, opset: int, backend: str) -> KernelEntry | None:
        for entry in self._entries.get((op_type, normalize_domain(domain), backend), ()):
            if entry.covers(opset):
                return entry
        return None

    def entries(self, backend: str | None = None) -> Iterable[KernelEntry]:
        for bucket in self._entries.values():
            for entry in bucket:
                if backend is None or entry.backend == backend:
                    yield entry

    def op_types(self, backend: str | None = None) -> set[tuple[str, str]]:
        return {(e.op_type, e.domain) for e in self.entries(backend)}

    def backends(self) -> list[str]:
        return sorted({e.backend for e in self.entries()})


REGISTRY = OpRegistry()


def kernel(
    op_types: str | Iterable[str],
    *,
    since: int = 1,
    until: int | None = None,
    domain: str = DEFAULT_DOMAIN,
    backend: str = "numpy",
    note: str = "",
    prepare: Callable | None = None,
) -> Callable[[Callable], Callable]:
    """Register ``fn`` as the kernel of one or more op types for an opset range.

    ``since``/``until`` are the opset versions of ``domain`` (inclusive) whose semantics
    the kernel implements; register one kernel per behaviour change of the op.
    """
    names = [op_types] if isinstance(op_types, str) else list(op_types)

    def register(fn: Callable) -> Callable:
        for name in names:
            REGISTRY.add(KernelEntry(name, normalize_domain(domain), since, until, backend, fn, note, prepare))
        return fn

    return register


def load_all_kernels() -> OpRegistry:
    """Import every module that registers kernels (idempotent) and return the registry."""
    from . import _catalog  # noqa: F401  (imports the op family modules)
    from ..backends import PROVIDERS, load_backend_kernels

    # every backend's claims are known everywhere (support table, inspect, placement
    # errors), even where its runtime (a GPU, a browser) is absent
    for name in PROVIDERS:
        load_backend_kernels(name)
    return REGISTRY

