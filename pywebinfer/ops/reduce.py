"""Reduction ops: numpy reference kernels.

ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum,
ReduceLogSumExp and ReduceSumSquare.  The axes are an attribute up to opset 12
(ReduceSum) or 17 (the others) and an optional input afterwards, where
``noop_with_empty_axes`` decides what no axes mean.  Reductions over an empty set give the
identity of the operation (0 for sums, 1 for products, -inf/+inf or the type's extreme
for max/min, -inf for the log reductions).  float16 is accumulated in float32.
"""
from __future__ import annotations

import numpy as np

from .registry import kernel
from .shape import int_list, normalize_axes, optional_input


def _axes(op, x, attrs, inputs, axes_from_input):
    """The axes to reduce as a sorted tuple; () reduces nothing."""
    if axes_from_input:
        given = optional_input(inputs, 1)
        axes = None if given is None else int_list(op, "axes", given)
        noop = bool(attrs.get("noop_with_empty_axes", 0))
    else:
        axes = attrs.get("axes")
        noop = False
    if not axes:
        return () if noop else tuple(range(x.ndim))
    return tuple(sorted(normalize_axes(op, axes, x.ndim)))


def _work(x):
    """x in the dtype to compute in: float32 for float16, itself otherwise."""
    return x.astype(np.float32) if x.dtype == np.float16 else x


def _finish(result, dtype):
    return np.asarray(result).astype(dtype, copy=False)


def _sum(x, axes, keepdims):
    w = _work(x)
    return _finish(np.sum(w, axis=axes, keepdims=keepdims, dtype=w.dtype), x.dtype)


def _sum_square(x, axes, keepdims):
    w = _work(x)
    return _finish(np.sum(w * w, axis=axes, keepdims=keepdims, dtype=w.dtype), x.dtype)


def _l1(x, axes, keepdims):
    w = _work(x)
    return _finish(np.sum(np.abs(w), axis=axes, keepdims=keepdims, dtype=w.dtype), x.dtype)


def _l2(x, axes, keepdims):
    w = _work(x)
    if w.dtype.kind in "iu":  # the root of an integer sum, truncated back to the type
        w = w.astype(np.float64)
    return _finish(np.sqrt(np.sum(w * w, axis=axes, keepdims=keepdims)), x.dtype)


def _prod(x, axes, keepdims):
    w = _work(x)
    return _finish(np.prod(w, axis=axes, keepdims=keepdims, dtype=w.dtype), x.dtype)


def _mean(x, axes, keepdims):
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    w = _work(x)
    total = np.sum(w, axis=axes, keepdims=keepdims, dtype=w.dtype)
    if w.dtype.kind in "iu":
        # integer mean truncates toward zero; an empty mean is left at 0
        total = np.asarray(total)
        quotient = np.abs(total) // max(count, 1)
        return _finish(np.where(total < 0, -quotient, quotient), x.dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _finish(total / w.dtype.type(count), x.dtype)


def _extreme_identity(dtype, largest):
    """The identity of max (largest=True) or min over an empty set."""
    if dtype.kind == "b":
        return not largest
    if dtype.kind == "f":
        return -np.inf if largest else np.inf
    info = np.iinfo(dtype)
    return info.min if largest else info.max


def _max(x, axes, keepdims):
    return _finish(np.max(x, axis=axes, keepdims=keepdims,
                          initial=_extreme_identity(x.dtype, True)), x.dtype)


def _min(x, axes, keepdims):
    return _finish(np.min(x, axis=axes, keepdims=keepdims,
                          initial=_extreme_identity(x.dtype, False)), x.dtype)


def _float_work(x):
    return x.astype(np.float64) if x.dtype.kind in "iu" else _work(x)


def _log_sum(x, axes, keepdims):
    w = _float_work(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _finish(np.log(np.sum(w, axis=axes, keepdims=keepdims)), x.dtype)


def _log_sum_exp(x, axes, keepdims):
    w = _float_work(x)
    # shift by the maximum so exp cannot overflow; infinite maxima are not shifted
    shift = np.max(w, axis=axes, keepdims=True, initial=-np.inf)
    shift = np.where(np.isfinite(shift), shift, 0).astype(w.dtype)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.log(np.sum(np.exp(w - shift), axis=axes, keepdims=True)) + shift
    if not keepdims:
        out = out.reshape([d for i, d in enumerate(out.shape) if i not in axes])
    return _finish(out, x.dtype)


def _register(op, compute, axes_input_since):
    def run(axes_from_input):
        def reduce_kernel(ctx, inputs, attrs):
            x = inputs[0]
            axes = _axes(op, x, attrs, inputs, axes_from_input)
            return compute(x, axes, bool(attrs.get("keepdims", 1)))
        return reduce_kernel

    kernel(op, since=1, until=axes_input_since - 1)(run(False))
    kernel(op, since=axes_input_since)(run(True))


_register("ReduceSum", _sum, 13)
_register("ReduceMean", _mean, 18)
_register("ReduceMax", _max, 18)
_register("ReduceMin", _min, 18)
_register("ReduceProd", _prod, 18)
_register("ReduceL1", _l1, 18)
_register("ReduceL2", _l2, 18)
_register("ReduceLogSum", _log_sum, 18)
_register("ReduceLogSumExp", _log_sum_exp, 18)
_register("ReduceSumSquare", _sum_square, 18)
