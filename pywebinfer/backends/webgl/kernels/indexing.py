"""Index-driven ops in gather.glsl and cumsum.glsl: Gather, GatherElements, GatherND,
OneHot and CumSum.

Indices are integers held exactly in float textures up to 2**24 (tensor.py).  Indices
known on the host (a feed such as token ids, a constant, a shape value) are checked
against their axis here, so a bad index is an error naming it; indices computed on the
GPU are read as they are (an index out of range reads zero)."""
from __future__ import annotations

import math

import numpy as np

from ..tensor import ALL, NUMERIC
from . import claim, kinds_rule
from .common import FLOAT, INT, MAX_RANK, Program, host, host_scalar, normalize_axis, strides

GATHER_PARAMS = (("inner", INT, 1), ("count", INT, 1), ("axis_len", INT, 1), ("axis", INT, 1),
                 ("m", INT, 1), ("per_batch", INT, 1), ("batch_stride", INT, 1),
                 ("dstride", INT, MAX_RANK), ("ddim", INT, MAX_RANK), ("on_value", FLOAT, 1),
                 ("off_value", FLOAT, 1))
_DEFAULTS = dict(inner=1, count=1, axis_len=1, axis=0, m=0, per_batch=1, batch_stride=0,
                 dstride=[0], ddim=[1], on_value=1.0, off_value=0.0)


def check_indices(op: str, indices, size: int, what: str, column: int | None = None) -> None:
    """Raise a clear error for an index outside [-size, size-1], when the indices are
    known on the host (``column``: only that column of index tuples)."""
    if indices.host is None or indices.size == 0:
        return
    values = np.asarray(indices.host)
    if column is not None:
        values = values[..., column]
    low, high = int(values.min()), int(values.max())
    if low < -size or high >= size:
        bad = low if low < -size else high
        raise ValueError(f"{op}: index {bad} is out of range for {what} of size {size} "
                         f"(expected [{-size}, {size - 1}])")


def _draw(mode: int, x, indices, out, rank: int = 0, vec: int = 0, **values) -> None:
    params = dict(_DEFAULTS, **values)
    inputs = ((("X", "any"),) if x is not None else ()) + (("I", "any"),)
    program = Program("gather.glsl", inputs, rank, GATHER_PARAMS, (("MODE", mode), ("VEC", vec)), out.kind)
    out.backend.draw(program, out, ([x] if x is not None else []) + [indices], params)


def _gather(ctx, inputs, attrs):
    data, indices = inputs[:2]
    axis = normalize_axis("Gather", int(attrs.get("axis", 0)), data.ndim)
    axis_len = data.shape[axis]
    check_indices("Gather", indices, axis_len, f"axis {axis}")
    shape = list(data.shape[:axis]) + list(indices.shape) + list(data.shape[axis + 1:])
    out = data.backend.output(0, shape, data.dtype)
    inner = math.prod(data.shape[axis + 1:])
    if out.size:
        _draw(0, data, indices, out, vec=int(inner % 4 == 0), inner=inner, count=max(indices.size, 1),
              axis_len=axis_len)
    return out


def _gather_elements(ctx, inputs, attrs):
    data, indices = inputs[:2]
    if indices.ndim != data.ndim:
        raise ValueError(f"GatherElements: indices rank {indices.ndim} differs from data rank {data.ndim}")
    axis = normalize_axis("GatherElements", int(attrs.get("axis", 0)), data.ndim)
    for d, (n, m) in enumerate(zip(indices.shape, data.shape)):
        if d != axis and n > m:
            raise ValueError(f"GatherElements: indices shape {list(indices.shape)} exceeds data "
                             f"shape {list(data.shape)} on axis {d}")
    check_indices("GatherElements", indices, data.shape[axis], f"axis {axis}")
    out = data.backend.output(0, indices.shape, data.dtype)
    if out.size:
        if data.ndim > MAX_RANK:
            raise ValueError(f"GatherElements: rank {data.ndim} exceeds {MAX_RANK}")
        _draw(1, data, indices, out, rank=data.ndim, axis=axis, axis_len=data.shape[axis],
              dstride=strides(data.shape))
    return out


def _gather_nd(ctx, inputs, attrs):
    data, indices = inputs[:2]
    b = int(attrs.get("batch_dims", 0)) if ctx.opset >= 12 else 0
    if indices.ndim < 1 or data.ndim < 1:
        raise ValueError("GatherND: data and indices need rank >= 1")
    if not 0 <= b < min(data.ndim, indices.ndim):
        raise ValueError(f"GatherND: batch_dims {b} must be in [0, {min(data.ndim, indices.ndim) - 1}]")
    if data.shape[:b] != indices.shape[:b]:
        raise ValueError(f"GatherND: batch dimensions differ: data {list(data.shape)}, indices {list(indices.shape)}")
    m = indices.shape[-1]
    if m > data.ndim - b:
        raise ValueError(f"GatherND: index tuples of length {m} exceed data rank {data.ndim} minus batch_dims {b}")
    if m > MAX_RANK:
        raise ValueError(f"GatherND: index tuples longer than {MAX_RANK}")
    for j in range(m):
        check_indices("GatherND", indices, data.shape[b + j], f"data axis {b + j}", column=j)
    shape = list(indices.shape[:-1]) + list(data.shape[b + m:])
    out = data.backend.output(0, shape, data.dtype)
    if out.size:
        st = strides(data.shape)
        _draw(2, data, indices, out, inner=math.prod(data.shape[b + m:]), m=m,
              per_batch=max(math.prod(indices.shape[b:-1]), 1),
              batch_stride=math.prod(data.shape[b:]), dstride=st[b:b + m] or [0],
              ddim=list(data.shape[b:b + m]) or [1])
    return out


def _one_hot(ctx, inputs, attrs):
    indices, depth, values = inputs[:3]
    n = int(host_scalar(depth))
    if n <= 0:
        raise ValueError(f"OneHot: depth must be positive, got {n}")
    pair = host(values).reshape(-1)
    if pair.size != 2:
        raise ValueError(f"OneHot: values must hold [off_value, on_value], got {pair.size} values")
    rank = indices.ndim + 1
    axis = normalize_axis("OneHot", int(attrs.get("axis", -1)), rank)
    shape = list(indices.shape[:axis]) + [n] + list(indices.shape[axis:])
    out = indices.backend.output(0, shape, pair.dtype)
    if out.size:
        _draw(3, None, indices, out, inner=math.prod(indices.shape[axis:]), count=n,
              on_value=float(pair[1]), off_value=float(pair[0]))
    return out


claim("Gather", _gather, kinds_rule(ALL))
claim("GatherElements", _gather_elements, kinds_rule(ALL))
claim("GatherND", _gather_nd, kinds_rule(ALL))
claim("OneHot", _one_hot, kinds_rule(NUMERIC))


def _cumsum(ctx, inputs, attrs):
    x = inputs[0]
    axis = normalize_axis("CumSum", int(host_scalar(inputs[1])), x.ndim)
    out = x.backend.output(0, x.shape, x.dtype)
    if out.size:
        program = Program("cumsum.glsl", (("X", "any"),), 0, (("inner", INT, 1), ("count", INT, 1)),
                          (("REVERSE", int(bool(attrs.get("reverse", 0)))),
                           ("EXCLUSIVE", int(bool(attrs.get("exclusive", 0))))), out.kind)
        x.backend.draw(program, out, [x], {"inner": math.prod(x.shape[axis + 1:]), "count": x.shape[axis]})
    return out


claim("CumSum", _cumsum, kinds_rule(NUMERIC))
