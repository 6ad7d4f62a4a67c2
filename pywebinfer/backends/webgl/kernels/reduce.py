"""Reductions in reduce.glsl: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd,
ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp, ReduceSumSquare, ArgMax, ArgMin and
the global pools (GlobalAveragePool, GlobalMaxPool, GlobalLpPool).

The host splits X's axes into kept and reduced ones and merges neighbours that are
contiguous in X, so a reduction over the innermost axes (a row: LayerNorm's mean, the
head of a classifier) walks one run of X, by texels when its length is a multiple of 4;
any other set of axes is decomposed per step."""
from __future__ import annotations

import math

import numpy as np

from ....ops.shape import normalize_axes
from ..tensor import ALL, FLOATS, INTEGERS, NUMERIC
from . import claim, kinds_rule
from .common import FLOAT, INT, Program, host_ints, normalize_axis, present, strides

# op -> (XFORM, COMBINE, FINISH, SPECIAL) of reduce.glsl
REDUCTIONS = {
    "ReduceSum": (0, 0, 0, 0), "ReduceMean": (0, 0, 1, 0), "ReduceMax": (0, 2, 0, 0),
    "ReduceMin": (0, 3, 0, 0), "ReduceProd": (0, 1, 0, 0), "ReduceL1": (1, 0, 0, 0),
    "ReduceL2": (2, 0, 2, 0), "ReduceLogSum": (0, 0, 3, 0), "ReduceLogSumExp": (0, 0, 0, 1),
    "ReduceSumSquare": (2, 0, 0, 0),
}
AXES_INPUT_SINCE = {"ReduceSum": 13}  # the others: 18


def _merge(dims):
    """Merge neighbouring (size, stride) pairs that are contiguous; drop size 1."""
    merged: list = []
    for size, stride in dims:
        if size == 1:
            continue
        if merged and merged[-1][1] == size * stride:
            merged[-1] = (merged[-1][0] * size, stride)
        else:
            merged.append((size, stride))
    return merged


def reduce(op: str, x, axes, keepdims: bool, mode, out_index: int = 0, dtype=None,
           select_last: bool = False, p: float = 2.0):
    """Reduce x over ``axes`` (sorted, normalized) with reduce.glsl's ``mode``
    (XFORM, COMBINE, FINISH, SPECIAL); the output tensor."""
    xform, combine, finish, special = mode
    shape = [1 if d in axes else n for d, n in enumerate(x.shape)] if keepdims else \
        [n for d, n in enumerate(x.shape) if d not in axes]
    out = x.backend.output(out_index, shape, dtype or x.dtype)
    if out.size == 0:
        return out
    st = strides(x.shape)
    kept = _merge([(n, s) for d, (n, s) in enumerate(zip(x.shape, st)) if d not in axes]) or [(1, 0)]
    reduced = _merge([(n, s) for d, (n, s) in enumerate(zip(x.shape, st)) if d in axes])
    k_len = math.prod(n for n, _ in reduced)
    contig = int(len(reduced) <= 1 and (not reduced or reduced[0][1] == 1))
    if contig and k_len % 4 == 0 and k_len and special == 0:
        contig = 2
    rr = max(len(reduced), 1)
    rstride = strides([n for n, _ in reduced]) if reduced else [1]
    trunc = int(out.kind in INTEGERS and (finish != 0 or special == 1))
    program = Program("reduce.glsl", (("X", "any"),), len(kept),
                      (("kept", INT, len(kept)), ("k", INT, 1), ("rshape", INT, rr),
                       ("rstride", INT, rr), ("rin", INT, rr), ("p", FLOAT, 1)),
                      (("XFORM", xform), ("COMBINE", combine), ("FINISH", finish),
                       ("SPECIAL", special), ("SELECT_LAST", int(select_last)), ("CONTIG", contig),
                       ("RR", rr), ("TRUNC", trunc), ("BOOL", int(x.kind == "bool"))), out.kind)
    x.backend.draw(program, out, [x], {
        "oshape": [n for n, _ in kept], "kept": [s for _, s in kept], "k": k_len,
        "rshape": [n for n, _ in reduced] or [1], "rstride": rstride,
        "rin": [s for _, s in reduced] or [0], "p": p})
    return out


def _reducer(op: str):
    since = AXES_INPUT_SINCE.get(op, 18)

    def kernel(ctx, inputs, attrs):
        x = inputs[0]
        if ctx.opset >= since:
            axes = host_ints(present(inputs, 1))
            noop = bool(attrs.get("noop_with_empty_axes", 0))
        else:
            axes, noop = attrs.get("axes"), False
        if not axes:
            if noop:
                return x.backend.view(x, x.shape)
            axes = range(x.ndim)
        axes = sorted(normalize_axes(op, [int(a) for a in axes], x.ndim))
        return reduce(op, x, axes, bool(attrs.get("keepdims", 1)), REDUCTIONS[op])

    kernel.__name__ = op.lower()
    return kernel


for _op in REDUCTIONS:
    claim(_op, _reducer(_op), kinds_rule(ALL if _op in ("ReduceMax", "ReduceMin") else NUMERIC))


def _arg(op: str, special: int):
    def kernel(ctx, inputs, attrs):
        x = inputs[0]
        if x.ndim == 0:
            raise ValueError(f"{op}: input must have rank >= 1")
        axis = normalize_axis(op, int(attrs.get("axis", 0)), x.ndim)
        if x.shape[axis] == 0:
            raise ValueError(f"{op}: axis {axis} is empty (input shape {list(x.shape)})")
        return reduce(op, x, [axis], bool(attrs.get("keepdims", 1)), (0, 0, 0, special),
                      dtype=np.int64, select_last=bool(attrs.get("select_last_index", 0)))

    kernel.__name__ = op.lower()
    return kernel


claim("ArgMax", _arg("ArgMax", 2), kinds_rule(NUMERIC))
claim("ArgMin", _arg("ArgMin", 3), kinds_rule(NUMERIC))


def _global(op: str, mode):
    def kernel(ctx, inputs, attrs):
        x = inputs[0]
        if x.ndim < 3:
            raise ValueError(f"{op}: input must have at least 3 dimensions, got {list(x.shape)}")
        p = float(attrs.get("p", 2))
        if p <= 0:
            raise ValueError(f"{op}: p must be positive, got {p}")
        return reduce(op, x, list(range(2, x.ndim)), True, mode, p=p)

    kernel.__name__ = op.lower()
    return kernel


claim("GlobalAveragePool", _global("GlobalAveragePool", (0, 0, 1, 0)), kinds_rule(FLOATS))
claim("GlobalMaxPool", _global("GlobalMaxPool", (0, 2, 0, 0)), kinds_rule(FLOATS))
claim("GlobalLpPool", _global("GlobalLpPool", (3, 0, 4, 0)), kinds_rule(FLOATS))
