"""Gather, GatherElements (gather*.wgsl), TopK (topk.wgsl) and Trilu (trilu.wgsl).
Index tensors may be int32 or int64 (used within the int32 range) and negative indices
count from the end; indices known on the host are range-checked like the reference."""
from __future__ import annotations

import math

import numpy as np

from ....ops.shape import normalize_axis, scalar_int
from ..tensor import ALL, NUMERIC
from . import claim
from .common import I32, U32, Program, host, present, strides

INDEX_KINDS = frozenset({"i32", "i64"})


def _check_known(op, indices, size, what):
    if indices.known is not None and indices.size:
        idx = np.asarray(indices.known).astype(np.int64)
        lo, hi = int(idx.min()), int(idx.max())
        if lo < -size or hi >= size:
            bad = lo if lo < -size else hi
            raise ValueError(f"{op}: index {bad} is out of range for {what} of size {size}")


def _index_rule(data_kinds):
    def rule(kinds_in, kinds_out, attrs, node=None):
        if kinds_in and kinds_in[0] is not None and kinds_in[0] not in data_kinds:
            return f"data is {kinds_in[0]}"
        if len(kinds_in) > 1 and kinds_in[1] is not None and kinds_in[1] not in INDEX_KINDS:
            return f"indices are {kinds_in[1]}, not int32/int64"
        return None

    return rule


GATHER_PARAMS = (("n", U32, 1), ("inner", U32, 1), ("count", U32, 1), ("axis_len", U32, 1))


def gather(ctx, inputs, attrs):
    x, indices = inputs
    if x.ndim == 0:
        raise ValueError("Gather: data must have rank >= 1")
    axis = normalize_axis("Gather", attrs.get("axis", 0), x.ndim)
    _check_known("Gather", indices, x.shape[axis], f"axis {axis}")
    shape = x.shape[:axis] + indices.shape + x.shape[axis + 1:]
    be = x.backend
    y = be.empty(shape, x.dtype, 0)
    if y.size:
        program = Program("gather.wgsl", (("X", x.kind, False), ("I", indices.kind, False),
                                          ("Y", y.kind, True)), GATHER_PARAMS)
        be.dispatch(program, [x, indices, y], {"n": y.size, "inner": math.prod(x.shape[axis + 1:]),
                                               "count": indices.size, "axis_len": x.shape[axis]},
                    threads=y.size)
    return y


claim("Gather", gather, _index_rule(ALL))


GATHER_ELEMENTS_PARAMS = (("n", U32, 1), ("rank", U32, 1), ("axis", U32, 1), ("axis_len", U32, 1),
                          ("shape", U32, 8), ("x_stride", U32, 8))


def gather_elements(ctx, inputs, attrs):
    x, indices = inputs
    if x.ndim != indices.ndim or x.ndim == 0:
        raise ValueError(f"GatherElements: data {x.shape} and indices {indices.shape} need the same rank >= 1")
    if x.ndim > 8:
        raise ValueError("GatherElements: more than 8 dimensions are not supported on webgpu")
    axis = normalize_axis("GatherElements", attrs.get("axis", 0), x.ndim)
    _check_known("GatherElements", indices, x.shape[axis], f"axis {axis}")
    be = x.backend
    y = be.empty(indices.shape, x.dtype, 0)
    if y.size:
        program = Program("gather_elements.wgsl", (("X", x.kind, False), ("I", indices.kind, False),
                                                   ("Y", y.kind, True)), GATHER_ELEMENTS_PARAMS)
        be.dispatch(program, [x, indices, y], {"n": y.size, "rank": x.ndim, "axis": axis,
                                               "axis_len": x.shape[axis], "shape": indices.shape,
                                               "x_stride": strides(x.shape)}, threads=y.size)
    return y


claim("GatherElements", gather_elements, _index_rule(ALL))


TOPK_PARAMS = (("n", U32, 1), ("len", U32, 1), ("inner", U32, 1), ("k", U32, 1), ("largest", U32, 1))


def topk(ctx, inputs, attrs):
    x = inputs[0]
    if ctx.opset < 10:
        k = int(attrs.get("k", -1))
    else:
        k = scalar_int("TopK", "K", host("TopK", inputs[1], "K"))
    axis = normalize_axis("TopK", attrs.get("axis", -1), x.ndim)
    length = x.shape[axis]
    if not 0 <= k <= length:
        raise ValueError(f"TopK: k={k} is out of range for axis {axis} of size {length}")
    largest = int(attrs.get("largest", 1)) if ctx.opset >= 11 else 1
    shape = list(x.shape)
    shape[axis] = k
    be = x.backend
    values = be.empty(shape, x.dtype, 0)
    indices = be.empty(shape, np.int64, 1)
    if values.size:
        program = Program("topk.wgsl", (("X", x.kind, False), ("Y", values.kind, True),
                                        ("I", "i64", True)), TOPK_PARAMS)
        be.dispatch(program, [x, values, indices], {"n": x.size, "len": length,
                                                    "inner": math.prod(x.shape[axis + 1:]), "k": k,
                                                    "largest": largest}, threads=x.size)
    return values, indices


claim("TopK", topk, _index_rule(NUMERIC))


TRILU_PARAMS = (("n", U32, 1), ("rows", U32, 1), ("cols", U32, 1), ("upper", U32, 1), ("k", I32, 1))
BANDS = {"lower": 0, "upper": 1, "diagonal": 2}


def trilu_mask(x, k: int, band: str, out: int | None = 0):
    """x with the elements outside the band of diagonal k zeroed."""
    be = x.backend
    y = be.empty(x.shape, x.dtype, out)
    if y.size:
        program = Program("trilu.wgsl", (("X", x.kind, False), ("Y", y.kind, True)), TRILU_PARAMS)
        k = max(-(2**31), min(2**31 - 1, k))
        be.dispatch(program, [x, y], {"n": x.size, "rows": x.shape[-2], "cols": x.shape[-1],
                                      "upper": BANDS[band], "k": k}, threads=x.size)
    return y


def trilu(ctx, inputs, attrs):
    x = inputs[0]
    if x.ndim < 2:
        raise ValueError(f"Trilu: input must have rank >= 2, got shape {x.shape}")
    given = present(inputs, 1)
    k = 0 if given is None else scalar_int("Trilu", "k", host("Trilu", given, "k"))
    return trilu_mask(x, k, "upper" if attrs.get("upper", 1) else "lower")


claim("Trilu", trilu, _index_rule(ALL))
