"""WebGPU kernels, one module per family, registered under backend "webgpu".

A kernel is registered for exactly the opset ranges its numpy reference has (``claim``),
so the GPU covers an op at every opset the reference does; where semantics change
between versions (attributes becoming inputs ...) the kernel reads ``ctx.opset``.

Each op also states the element types it computes (``kinds``, see tensor.py): the
session asks ``dtype_rule(op)`` at load, and a node with other types is declined there
(named in UnsupportedOpError, or placed on the next provider and listed in
``session.placement``), never failed or silently moved at run time.
"""
from __future__ import annotations

from typing import Callable, Iterable

from ....ops.registry import REGISTRY, KernelEntry, load_all_kernels
from ..tensor import ALL, NUMERIC

# (op type, domain) -> rule(kinds of inputs, kinds of outputs, attrs, node) -> reason or
# None; ``node`` has ``opset`` and ``constants`` (each input's value when it is an
# initializer, else None)
_RULES: dict[tuple[str, str], Callable] = {}


def kinds_rule(kinds: frozenset | set = NUMERIC, inputs: Iterable[int] | None = (0,),
               outputs: frozenset | set = ALL) -> Callable:
    """A rule: inputs at ``inputs`` (all when None) must be of ``kinds``; every output of
    ``outputs`` kinds.  Unknown types (None) pass: the kernel checks them when it runs."""
    kinds = frozenset(kinds)
    checked = None if inputs is None else tuple(inputs)
    outputs = frozenset(outputs)

    def rule(kinds_in, kinds_out, attrs, node=None):
        for i, kind in enumerate(kinds_in):
            if kind is None or (checked is not None and i not in checked):
                continue
            if kind not in kinds:
                return f"input {i} is {_describe(kind)}; the GPU kernel computes {_list(kinds)}"
        for i, kind in enumerate(kinds_out):
            if kind is not None and kind not in outputs:
                return f"output {i} would be {_describe(kind)}; the GPU kernel makes {_list(outputs)}"
        return None

    return rule


def claim(op_types, fn: Callable, rule: Callable | None = None, domain: str = "",
          note: str = "", prepare: Callable | None = None) -> Callable:
    """Register ``fn`` as the webgpu kernel of each op for every opset range its numpy
    kernel covers, with the element-type ``rule`` (default: numeric first input)."""
    load_all_kernels()
    names = [op_types] if isinstance(op_types, str) else list(op_types)
    for name in names:
        ranges = [(e.since, e.until) for e in REGISTRY.entries("numpy")
                  if e.op_type == name and e.domain == domain]
        if not ranges:
            raise ValueError(f"webgpu: {name} has no numpy kernel to take the opset ranges from")
        for since, until in sorted(ranges):
            REGISTRY.add(KernelEntry(name, domain, since, until, "webgpu", fn, note, prepare))
        _RULES[(name, domain)] = rule or kinds_rule()
    return fn


def dtype_rule(op_type: str, domain: str = "") -> Callable:
    return _RULES.get((op_type, domain), lambda kinds_in, kinds_out, attrs, node=None: None)


def _describe(kind) -> str:
    return {"f64": "float64", "f16": "float16", "f32": "float32", "bool": "bool"}.get(kind, kind)


def _list(kinds) -> str:
    return ", ".join(sorted(_describe(k) for k in kinds))


# the families (each registers its kernels on import)
from . import elementwise  # noqa: E402,F401
from . import movement  # noqa: E402,F401
from . import shape  # noqa: E402,F401
from . import matmul  # noqa: E402,F401
from . import conv  # noqa: E402,F401
from . import pool  # noqa: E402,F401
from . import reduce  # noqa: E402,F401
from . import norm  # noqa: E402,F401
from . import indexing  # noqa: E402,F401
from . import resize  # noqa: E402,F401
