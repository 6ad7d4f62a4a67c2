"""MaxPool (with its indices), AveragePool, LpPool (pool.wgsl) and their Global forms
(reductions over the spatial axes).  The window geometry - pads from auto_pad,
ceil_mode, output sizes - is the numpy reference's (ops/pool.py _Windows)."""
from __future__ import annotations

import numpy as np

from ....ops.pool import _Windows
from ..tensor import FLOATS, NUMERIC
from . import claim, kinds_rule
from .common import F32, I32, U32, Program
from .conv import _three
from .reduce import reduce_axes

POOL_PARAMS = (("in_sp", U32, 3), ("out_sp", U32, 3), ("kernel", U32, 3), ("stride", U32, 3),
               ("dilation", U32, 3), ("pad", I32, 3), ("pad_end", I32, 3), ("planes", U32, 1),
               ("include_pad", U32, 1), ("storage_order", U32, 1), ("p", F32, 1))


def pool(op: str, ctx, x, attrs, mode: str, p: float = 2.0):
    if x.ndim - 2 > 3:
        raise ValueError(f"{op}: more than 3 spatial axes are not supported on webgpu")
    win = _Windows(op, attrs, x)
    be = x.backend
    y_shape = x.shape[:2] + win.out_sp
    y = be.empty(y_shape, x.dtype, 0)
    want_indices = mode == "pool_max" and ctx.num_outputs > 1 and ctx.wants(1)
    indices = be.empty(y_shape, np.int64, 1) if want_indices else None
    storage_order = int(attrs.get("storage_order", 0))
    if storage_order not in (0, 1):
        raise ValueError(f"{op}: storage_order must be 0 or 1, got {storage_order}")
    if y.size:
        slot = indices if indices is not None else be.empty((1,), np.int64)
        program = Program("pool.wgsl", (("X", x.kind, False), ("Y", y.kind, True), ("I", "i64", True)),
                          POOL_PARAMS, (("MODE", mode),
                                        ("HAS_INDICES", "true" if indices is not None else "false")))
        be.dispatch(program, [x, y, slot], {
            "in_sp": _three(win.in_sp, 1), "out_sp": _three(win.out_sp, 1),
            "kernel": _three(win.kernel, 1), "stride": _three(win.strides, 1),
            "dilation": _three(win.dilations, 1), "pad": _three(win.begin, 0),
            "pad_end": _three(win.end, 0), "planes": x.shape[0] * x.shape[1],
            "include_pad": int(bool(attrs.get("count_include_pad", 0))),
            "storage_order": storage_order, "p": p}, threads=y.size)
    if ctx.num_outputs > 1:
        return y, indices
    return y


def max_pool(ctx, inputs, attrs):
    return pool("MaxPool", ctx, inputs[0], attrs, "pool_max")


def average_pool(ctx, inputs, attrs):
    return pool("AveragePool", ctx, inputs[0], attrs, "pool_avg")


def lp_pool(ctx, inputs, attrs):
    p = attrs.get("p", 2)
    if p <= 0:
        raise ValueError(f"LpPool: p must be positive, got {p}")
    return pool("LpPool", ctx, inputs[0], attrs, "pool_lp", float(p))


claim("MaxPool", max_pool, kinds_rule(NUMERIC - {"i64", "u64"}))
claim("AveragePool", average_pool, kinds_rule(FLOATS))
claim("LpPool", lp_pool, kinds_rule(FLOATS))


def _global(op: str, fn: str):
    def run(ctx, inputs, attrs):
        x = inputs[0]
        if x.ndim < 3:
            raise ValueError(f"{op}: input must have at least 3 dimensions, got shape {x.shape}")
        return reduce_axes(x, range(2, x.ndim), True, fn)

    run.__name__ = fn
    return run


claim("GlobalAveragePool", _global("GlobalAveragePool", "mean"), kinds_rule(FLOATS))
claim("GlobalMaxPool", _global("GlobalMaxPool", "max"), kinds_rule(FLOATS))
def _global_lp_rule(kinds_in, kinds_out, attrs, node=None):
    if attrs.get("p", 2) != 2:
        return f"p={attrs.get('p')}: only p=2 (ReduceL2 over the spatial axes) is on webgpu"
    return kinds_rule(FLOATS)(kinds_in, kinds_out, attrs, node)


claim("GlobalLpPool", _global("GlobalLpPool", "l2"), _global_lp_rule)
