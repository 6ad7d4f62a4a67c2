"""WebGL2 kernels, one module per family, registered under backend "webgl".

A kernel is registered for exactly the opset ranges its numpy reference has (``claim``),
so WebGL covers an op at every opset the reference does; where semantics change
between versions (attributes becoming inputs ...) the kernel reads ``ctx.opset``.

Each op also has a load-time ``rule(node, kinds_in, kinds_out) -> reason | None``: the
element types it computes (tensor.py's kinds) and the attribute values it handles.
The session asks it at load, so a node the kernel cannot run is declined there (named
in UnsupportedOpError, or placed on the next provider and listed in
``session.placement``), never failed or silently moved at run time.

How to add an op: write its shader in shaders/glsl/ (or reuse a family's: most
elementwise ops are one GLSL function in elementwise_ops.glsl), a kernel that turns
shapes and attributes into parameters and calls ``backend.draw``, and ``claim`` it with
a rule; then run the conformance cases of the op in the browser
(tests/browser/conformance_in_browser.py --backend webgl -k OP).
"""
from __future__ import annotations

from typing import Callable, Iterable

from ....ops.registry import REGISTRY, KernelEntry, load_all_kernels
from ..tensor import FLOATS, NUMERIC

# (op type, domain) -> rule(node, kinds_in, kinds_out) -> reason or None
_RULES: dict[tuple[str, str], Callable] = {}

# ops evaluated on the host when every input is a host-known shape value (backend.py):
# each output is no larger than its inputs together, so this stays shape arithmetic
HOST_OPS = frozenset({
    "Gather", "Unsqueeze", "Squeeze", "Reshape", "Flatten", "Concat", "Slice", "Cast",
    "Identity", "Add", "Sub", "Mul", "Div", "Mod", "Neg", "Abs", "Equal", "Less",
    "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Where", "Min", "Max",
    "ReduceProd", "ReduceSum", "ReduceMin", "ReduceMax", "Floor", "Ceil", "Transpose",
    "Split", "Sign",
})


def _describe(kind) -> str:
    return {"f16": "float16", "f32": "float32", "int": "int32/int64/uint32/uint64"}.get(kind, kind)


def kinds_rule(kinds: Iterable[str] = NUMERIC, inputs: Iterable[int] | None = (0,),
               check: Callable | None = None) -> Callable:
    """A rule: inputs at ``inputs`` (all when None) must be of ``kinds``, and ``check(node)``
    (attribute limits) must give no reason.  Unknown element types (None) pass: the kernel
    checks them when it runs."""
    kinds = frozenset(kinds)
    checked = None if inputs is None else tuple(inputs)

    def rule(node, kinds_in, kinds_out):
        for i, kind in enumerate(kinds_in):
            if kind is None or (checked is not None and i not in checked):
                continue
            if kind not in kinds:
                return (f"input {i} is {_describe(kind)}; the WebGL kernel computes "
                        + ", ".join(sorted(_describe(k) for k in kinds)))
        return check(node) if check is not None else None

    return rule


FLOAT_RULE = kinds_rule(FLOATS)


def claim(op_types, fn: Callable, rule: Callable | None = None, domain: str = "",
          note: str = "") -> Callable:
    """Register ``fn`` as the webgl kernel of each op for every opset range its numpy
    kernel covers, with the load-time ``rule`` (default: a numeric first input)."""
    load_all_kernels()
    names = [op_types] if isinstance(op_types, str) else list(op_types)
    for name in names:
        ranges = sorted({(e.since, e.until) for e in REGISTRY.entries("numpy")
                         if e.op_type == name and e.domain == domain})
        if not ranges:
            raise ValueError(f"webgl: {name} has no numpy kernel to take the opset ranges from")
        for since, until in ranges:
            REGISTRY.add(KernelEntry(name, domain, since, until, "webgl", fn, note))
        _RULES[(name, domain)] = rule or kinds_rule()
    return fn


def rule_of(op_type: str, domain: str = "") -> Callable:
    return _RULES.get((op_type, domain), lambda node, kinds_in, kinds_out: None)


# the families (each registers its kernels on import)
from . import elementwise  # noqa: E402,F401
from . import layout  # noqa: E402,F401
from . import matmul  # noqa: E402,F401
from . import conv  # noqa: E402,F401
from . import pool  # noqa: E402,F401
from . import reduce  # noqa: E402,F401
from . import norm  # noqa: E402,F401
from . import indexing  # noqa: E402,F401
from . import resize  # noqa: E402,F401
