"""MaxPool (with its Indices output), AveragePool and LpPool over 1-3 spatial axes, in
pool.glsl; the window geometry (pads, auto_pad, ceil_mode, dilations) is the reference's
(pywebinfer/ops/pool.py).  The global pools are reductions (reduce.py)."""
from __future__ import annotations

import numpy as np

from ....ops.pool import _Windows
from ..tensor import FLOATS, NUMERIC
from . import claim, kinds_rule
from .common import FLOAT, INT, Program

POOL_PARAMS = (("stride3", INT, 3), ("pad3", INT, 3), ("pad_end3", INT, 3), ("in3", INT, 3),
               ("kernel3", INT, 3), ("dil3", INT, 3), ("p", FLOAT, 1))


def _pool(op: str, x, attrs, mode: int, index: int = 0, p: float = 2.0, dtype=None):
    win = _Windows(op, attrs, x)
    rank = len(win.kernel)
    if rank > 3:
        raise ValueError(f"{op}: {rank} spatial axes; the WebGL kernel pools over 1 to 3")
    pad = 3 - rank

    def three(values, fill):
        return [fill] * pad + list(values)

    be = x.backend
    shape = list(x.shape[:2]) + list(win.out_sp)
    out = be.output(index, shape, dtype or x.dtype)
    order = int(attrs.get("storage_order", 0))
    if order not in (0, 1):
        raise ValueError(f"{op}: storage_order must be 0 or 1, got {order}")
    program = Program("pool.glsl", (("X", "any"),), 5, POOL_PARAMS,
                      (("MODE", mode), ("COUNT_PAD", int(attrs.get("count_include_pad", 0) != 0)),
                       ("ORDER", order)), out.kind)
    be.draw(program, out, [x], {
        "oshape": list(x.shape[:2]) + three(win.out_sp, 1), "stride3": three(win.strides, 1),
        "pad3": three(win.begin, 0), "pad_end3": three(win.end, 0), "in3": three(win.in_sp, 1),
        "kernel3": three(win.kernel, 1), "dil3": three(win.dilations, 1), "p": p})
    return out


def _max_pool(ctx, inputs, attrs):
    x = inputs[0]
    y = _pool("MaxPool", x, attrs, 0)
    if ctx.num_outputs > 1:
        return y, (_pool("MaxPool", x, attrs, 3, 1, dtype=np.int64) if ctx.wants(1) else None)
    return y


def _average_pool(ctx, inputs, attrs):
    return _pool("AveragePool", inputs[0], attrs, 1)


def _lp_pool(ctx, inputs, attrs):
    p = float(attrs.get("p", 2))
    if p <= 0:
        raise ValueError(f"LpPool: p must be positive, got {p}")
    return _pool("LpPool", inputs[0], attrs, 2, p=p)


def _spatial_rule(node) -> str | None:
    kernel = node.attrs.get("kernel_shape")
    if kernel is not None and len(kernel) > 3:
        return f"{len(kernel)}-D pooling: the WebGL kernel pools over 1 to 3 axes"
    return None


claim("MaxPool", _max_pool, kinds_rule(NUMERIC, check=_spatial_rule))
claim("AveragePool", _average_pool, kinds_rule(FLOATS, check=_spatial_rule))
claim("LpPool", _lp_pool, kinds_rule(FLOATS, check=_spatial_rule))
