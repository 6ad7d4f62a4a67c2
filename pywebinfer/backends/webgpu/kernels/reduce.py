"""Reductions over any set of axes (ReduceSum, Mean, Max, Min, Prod, L1, L2, LogSum,
LogSumExp, SumSquare) and ArgMax / ArgMin.  One invocation per output for short
reductions (reduce.wgsl), one workgroup per output for long ones (reduce_wg.wgsl)."""
from __future__ import annotations

import math

import numpy as np

from ....ops.shape import int_list, normalize_axes, normalize_axis
from ..tensor import FLOATS, NUMERIC
from . import claim, kinds_rule
from .common import U32, Program, coalesce, host, present, strides

REDUCE_PARAMS = (("outputs", U32, 1), ("count", U32, 1), ("out_rank", U32, 1), ("red_rank", U32, 1),
                 ("out_shape", U32, 8), ("out_stride", U32, 8), ("red_shape", U32, 8),
                 ("red_stride", U32, 8))
WORKGROUP_FROM = 64  # reduced elements per output from which a workgroup shares one

OPS = {"ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min",
       "ReduceProd": "prod", "ReduceL1": "l1", "ReduceL2": "l2", "ReduceLogSum": "log_sum",
       "ReduceLogSumExp": "log_sum_exp", "ReduceSumSquare": "sum_square"}
# the opset from which the axes are an input
AXES_INPUT_SINCE = {op: (13 if op == "ReduceSum" else 18) for op in OPS}


def reduce_axes(x, axes, keepdims: bool, fn: str, out: int | None = 0):
    """Reduce ``x`` over ``axes`` (normalized) with reduce_ops.wgsl's ``fn``."""
    be = x.backend
    axes = set(axes)
    out_shape = [1 if d in axes else n for d, n in enumerate(x.shape)] if keepdims else \
        [n for d, n in enumerate(x.shape) if d not in axes]
    y = be.empty(out_shape, x.dtype, out)
    if y.size == 0:
        return y
    xs = strides(x.shape)
    kept = [d for d in range(x.ndim) if d not in axes]
    reduced = [d for d in range(x.ndim) if d in axes]
    count = math.prod(x.shape[d] for d in reduced)
    kept_dims, (kept_strides,) = coalesce([x.shape[d] for d in kept], [xs[d] for d in kept])
    red_dims, (red_strides,) = coalesce([x.shape[d] for d in reduced], [xs[d] for d in reduced])
    if count == 0:
        red_dims, red_strides = [1], [0]
    wide = count >= WORKGROUP_FROM
    program = Program("reduce_wg.wgsl" if wide else "reduce.wgsl",
                      (("X", x.kind, False), ("Y", y.kind, True)), REDUCE_PARAMS,
                      (("OP", fn), ("SHIFTED", "true" if fn == "log_sum_exp" else "false")))
    params = {"outputs": y.size, "count": count, "out_rank": len(kept_dims),
              "red_rank": len(red_dims), "out_shape": kept_dims, "out_stride": kept_strides,
              "red_shape": red_dims, "red_stride": red_strides}
    if wide:
        from ..shaders import dispatch_grid  # noqa: PLC0415

        be.dispatch(program, [x, y], params, grid=dispatch_grid(y.size))
    else:
        be.dispatch(program, [x, y], params, threads=y.size)
    return y


def _reduce(op: str):
    fn = OPS[op]

    def run(ctx, inputs, attrs):
        x = inputs[0]
        if ctx.opset >= AXES_INPUT_SINCE[op]:
            given = present(inputs, 1)
            axes = None if given is None else int_list(op, "axes", host(op, given, "axes"))
            noop = bool(attrs.get("noop_with_empty_axes", 0))
        else:
            axes, noop = attrs.get("axes"), False
        if not axes:
            axes = () if noop else tuple(range(x.ndim))
        axes = normalize_axes(op, axes, x.ndim) if axes else []
        if not axes:
            from .elementwise import unary  # noqa: PLC0415  (nothing to reduce: a copy)

            return unary(x, "op_identity")
        return reduce_axes(x, axes, bool(attrs.get("keepdims", 1)), fn)

    run.__name__ = fn
    return run


for _op in OPS:
    claim(_op, _reduce(_op), kinds_rule(FLOATS if _op not in ("ReduceMax", "ReduceMin", "ReduceSum",
                                                              "ReduceProd") else NUMERIC | {"bool"}))


ARG_PARAMS = (("outputs", U32, 1), ("len", U32, 1), ("inner", U32, 1), ("largest", U32, 1),
              ("last", U32, 1))


def _arg(op: str, largest: bool):
    def run(ctx, inputs, attrs):
        x = inputs[0]
        if x.ndim == 0:
            raise ValueError(f"{op}: input must have rank >= 1")
        axis = normalize_axis(op, attrs.get("axis", 0), x.ndim)
        n = x.shape[axis]
        if n == 0:
            raise ValueError(f"{op}: axis {axis} is empty (input shape {x.shape})")
        shape = list(x.shape)
        if attrs.get("keepdims", 1):
            shape[axis] = 1
        else:
            del shape[axis]
        be = x.backend
        y = be.empty(shape, np.int64, 0)
        if y.size:
            program = Program("argreduce.wgsl", (("X", x.kind, False), ("Y", "i64", True)), ARG_PARAMS)
            last = bool(attrs.get("select_last_index", 0)) if ctx.opset >= 12 else False
            be.dispatch(program, [x, y], {"outputs": y.size, "len": n,
                                          "inner": math.prod(x.shape[axis + 1:]),
                                          "largest": int(largest), "last": int(last)}, threads=y.size)
        return y

    run.__name__ = op.lower()
    return run


claim("ArgMax", _arg("ArgMax", True), kinds_rule(NUMERIC))
claim("ArgMin", _arg("ArgMin", False), kinds_rule(NUMERIC))
