"""Reshape-like ops as free views (no GPU work: the output shares the input's buffer),
Shape and Size from the tensor's metadata, and the generators ConstantOfShape and Range
(fill.wgsl).  The shape arithmetic is the numpy reference's own, run on a stand-in that
has only a shape."""
from __future__ import annotations

import math

import numpy as np

from .... import dtypes
from ....ops import shape as reference
from ....ops.shape import int_list
from ..tensor import ALL, FLOATS, NUMERIC
from . import claim, kinds_rule
from .common import U32, elementwise_program, host, present, value_words

ANY = kinds_rule(ALL)


class _ShapeOnly:
    """What the reference's reshape helpers look at: shape, ndim, size and reshape()."""

    def __init__(self, shape):
        self.shape = tuple(shape)
        self.ndim = len(self.shape)
        self.size = math.prod(self.shape)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
            shape = shape[0]
        return tuple(int(d) for d in shape)


def _view(x, shape):
    return x.backend.view(x, shape)


def reshape(ctx, inputs, attrs):
    x = inputs[0]
    if ctx.opset < 5:
        if "shape" not in attrs:
            raise ValueError("Reshape: the shape attribute is required")
        target = int_list("Reshape", "shape", attrs["shape"])
        allowzero = False
    else:
        target = int_list("Reshape", "shape", host("Reshape", inputs[1], "shape"))
        allowzero = bool(attrs.get("allowzero", 0))
    return _view(x, reference._reshape("Reshape", _ShapeOnly(x.shape), target, allowzero))


def squeeze(ctx, inputs, attrs):
    x = inputs[0]
    if ctx.opset < 13:
        axes = attrs.get("axes")
        axes = None if axes is None else list(axes)
    else:
        given = present(inputs, 1)
        axes = None if given is None else int_list("Squeeze", "axes", host("Squeeze", given, "axes"))
    return _view(x, reference._squeeze(_ShapeOnly(x.shape), axes))


def unsqueeze(ctx, inputs, attrs):
    x = inputs[0]
    if ctx.opset < 13:
        if "axes" not in attrs:
            raise ValueError("Unsqueeze: the axes attribute is required")
        axes = list(attrs["axes"])
    else:
        if present(inputs, 1) is None:
            raise ValueError("Unsqueeze: the axes input is required")
        axes = int_list("Unsqueeze", "axes", host("Unsqueeze", inputs[1], "axes"))
    return _view(x, reference._unsqueeze(_ShapeOnly(x.shape), axes))


def flatten(ctx, inputs, attrs):
    x = inputs[0]
    axis = int(attrs.get("axis", 1))
    if not -x.ndim <= axis <= x.ndim:
        raise ValueError(f"Flatten: axis {axis} is out of range for rank {x.ndim}")
    axis = axis + x.ndim if axis < 0 else axis
    return _view(x, (math.prod(x.shape[:axis]), math.prod(x.shape[axis:])))


def identity(ctx, inputs, attrs):
    return _view(inputs[0], inputs[0].shape)


claim("Reshape", reshape, ANY)
claim("Squeeze", squeeze, ANY)
claim("Unsqueeze", unsqueeze, ANY)
claim("Flatten", flatten, ANY)
claim("Identity", identity, ANY)


def dropout(ctx, inputs, attrs):
    """Inference: the input unchanged and an all-true mask (training mode is declined)."""
    x = inputs[0]
    y = _view(x, x.shape)  # training mode was declined at load (_dropout_rule)
    if ctx.num_outputs < 2 or not ctx.wants(1):
        return (y, None) if ctx.num_outputs > 1 else y
    mask_dtype = np.bool_ if ctx.opset >= 10 else x.dtype
    return y, fill(x.backend, x.shape, mask_dtype, 1, out=1)


def _dropout_rule(kinds_in, kinds_out, attrs, node=None):
    if node is not None:
        if node.opset < 7 and not attrs.get("is_test", 0):
            return "training mode (is_test=0: random masks)"
        if node.opset >= 12 and len(node.present) > 2 and node.present[2]:
            training = node.constants[2]
            if training is None:
                return "training_mode is not a constant of the model (random masks when true)"
            ratio = node.constants[1] if len(node.constants) > 1 else None
            if bool(np.asarray(training).reshape(-1)[0]) and (ratio is None or float(np.asarray(ratio).reshape(-1)[0]) != 0):
                return "training mode (random masks)"
    return kinds_rule(FLOATS)(kinds_in, kinds_out, attrs, node)


claim("Dropout", dropout, _dropout_rule)


def shape(ctx, inputs, attrs):
    x = inputs[0]
    start = int(attrs.get("start", 0))
    end = attrs.get("end")
    return x.backend.host_value(np.array(x.shape[start:None if end is None else int(end)], dtype=np.int64))


def size(ctx, inputs, attrs):
    return inputs[0].backend.host_value(np.asarray(inputs[0].size, dtype=np.int64))


claim("Shape", shape, ANY)
claim("Size", size, ANY)


# ---- generators ------------------------------------------------------------------------

FILL_PARAMS = (("n", U32, 1), ("lo", U32, 1), ("hi", U32, 1))
RANGE_PARAMS = (("n", U32, 1), ("start", U32, 1), ("delta", U32, 1))


def fill(be, shape, dtype, value, out: int | None = 0):
    """A tensor of ``shape`` holding ``value`` everywhere."""
    y = be.empty(shape, dtype, out)
    lo, hi = value_words(value, dtype)
    program = elementwise_program("fill.wgsl", (("Y", y.kind, True),), FILL_PARAMS)
    be.dispatch(program, [y], {"n": y.size, "lo": lo, "hi": hi}, threads=y.size)
    return y


def constant_of_shape(ctx, inputs, attrs):
    dims = int_list("ConstantOfShape", "input", host("ConstantOfShape", inputs[0], "input"))
    if any(d < 0 for d in dims):
        raise ValueError(f"ConstantOfShape: shape {dims} has a negative dimension")
    value = attrs.get("value")
    value = np.zeros(1, np.float32) if value is None else np.asarray(value)
    if value.size != 1:
        raise ValueError(f"ConstantOfShape: value must hold one element, got shape {value.shape}")
    return fill(inputs[0].backend, dims, value.dtype, value.reshape(-1)[0])


claim("ConstantOfShape", constant_of_shape, kinds_rule(ALL, inputs=()))


def range_(ctx, inputs, attrs):
    start, limit, delta = (host("Range", inputs[i], name).reshape(-1) for i, name in
                           enumerate(("start", "limit", "delta")))
    for name, v in (("start", start), ("limit", limit), ("delta", delta)):
        if v.size != 1:
            raise ValueError(f"Range: {name} must be a scalar, got {v.size} values")
    s, l, d = start[0], limit[0], delta[0]
    if d == 0:
        raise ValueError("Range: delta is 0")
    dtype = inputs[0].dtype
    if dtype.kind in "iu":
        count = max(-((int(s) - int(l)) // int(d)), 0)
        first, step = int(np.int64(s)) & 0xFFFFFFFF, int(np.int64(d)) & 0xFFFFFFFF
    else:
        steps = (float(l) - float(s)) / float(d)
        if not math.isfinite(steps):
            raise ValueError(f"Range: start {s}, limit {l} and delta {d} do not give a finite count")
        count = max(math.ceil(steps), 0)
        first = int(np.float32(s).view(np.uint32))
        step = int(np.float32(d).view(np.uint32))
    be = inputs[0].backend
    y = be.empty((count,), dtype, 0)
    program = elementwise_program("range.wgsl", (("Y", y.kind, True),), RANGE_PARAMS)
    be.dispatch(program, [y], {"n": count, "start": first, "delta": step}, threads=count)
    return y


claim("Range", range_, kinds_rule(NUMERIC - {"u64"}, inputs=(0, 1, 2)))


def eye_like(ctx, inputs, attrs):
    x = inputs[0]
    if x.ndim != 2:
        raise ValueError(f"EyeLike: input must be 2-D, got shape {x.shape}")
    dtype = dtypes.storage_dtype(attrs["dtype"]) if "dtype" in attrs else x.dtype
    from .indexing import trilu_mask  # noqa: PLC0415

    ones = fill(x.backend, x.shape, dtype, 1, out=None)
    return trilu_mask(ones, int(attrs.get("k", 0)), "diagonal", out=0)


claim("EyeLike", eye_like, kinds_rule(ALL, inputs=(), outputs=ALL - {"f64"}))


__all__ = ["fill"]
