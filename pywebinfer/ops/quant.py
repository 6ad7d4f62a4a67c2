"""Linear quantization ops: numpy reference kernels.

QuantizeLinear / DequantizeLinear cover per-tensor, per-axis and blocked (opset 21)
parameters, the 8/16-bit integers, and the types numpy lacks (int4/uint4/int2/uint2,
float8*, float4e2m1), which are held widened (see :mod:`pywebinfer.dtypes`).

Where no attribute names a type, it comes from the inputs' element types: a widened
array carries its ONNX type in its dtype (:func:`pywebinfer.dtypes.onnx_type_of`).
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from .registry import kernel

_INT_RANGE = {
    dtypes.UINT8: (0, 255), dtypes.INT8: (-128, 127),
    dtypes.UINT16: (0, 65535), dtypes.INT16: (-32768, 32767),
    dtypes.UINT4: (0, 15), dtypes.INT4: (-8, 7),
    dtypes.UINT2: (0, 3), dtypes.INT2: (-2, 1),
}
_FLOAT_TARGETS = {dtypes.FLOAT8E4M3FN, dtypes.FLOAT8E4M3FNUZ, dtypes.FLOAT8E5M2,
                  dtypes.FLOAT8E5M2FNUZ, dtypes.FLOAT4E2M1, dtypes.FLOAT6E2M3, dtypes.FLOAT6E3M2}
_FLOAT_OUTPUTS = {dtypes.FLOAT, dtypes.FLOAT16, dtypes.BFLOAT16}


def _param(op, name, value, x_shape, axis, block_size, opset):
    """Broadcast a scale / zero point to ``x_shape``: per-tensor, per-axis or blocked."""
    value = np.asarray(value)
    rank = len(x_shape)
    if value.ndim == 0 or (value.ndim == 1 and value.size == 1 and block_size == 0):
        return value.reshape(())
    if opset < 13:
        raise ValueError(f"{op}: {name} must be a scalar before opset 13, got shape {value.shape}")
    if not -rank <= axis < rank:
        raise ValueError(f"{op}: axis {axis} is out of range for rank {rank}")
    axis %= rank
    dim = x_shape[axis]
    if block_size > 0:
        if value.ndim != rank:
            raise ValueError(f"{op}: blocked {name} must have rank {rank}, got shape {value.shape}")
        blocks = -(-dim // block_size)
        expected = tuple(blocks if i == axis else d for i, d in enumerate(x_shape))
        if value.shape != expected:
            raise ValueError(f"{op}: {name} has shape {value.shape}, expected {expected} "
                             f"for block_size {block_size}")
        return np.repeat(value, block_size, axis=axis).take(np.arange(dim), axis=axis)
    if value.ndim != 1 or value.shape[0] != dim:
        raise ValueError(f"{op}: per-axis {name} must be 1-D of length {dim}, got shape {value.shape}")
    shape = [1] * rank
    shape[axis] = dim
    return value.reshape(shape)


def _block_size(op, attrs):
    size = int(attrs.get("block_size", 0))
    if size < 0:
        raise ValueError(f"{op}: block_size must be positive, got {size}")
    return size


def _as_precision(value, onnx_type):
    """``value`` in the numpy type that does arithmetic at ``onnx_type``'s precision."""
    if onnx_type == dtypes.DOUBLE:
        return value.astype(np.float64)
    if onnx_type == dtypes.FLOAT16:
        return value.astype(np.float16)
    if onnx_type == dtypes.BFLOAT16:
        return dtypes.round_to(value.astype(np.float32), dtypes.BFLOAT16)
    if onnx_type == dtypes.INT32:
        return value.astype(np.float64)  # exact for every int32: a true division
    return value.astype(np.float32)  # float, and the float8e8m0 scales (exact in float32)


def _target_type(attrs, zero_point):
    out = int(attrs.get("output_dtype", 0))
    if zero_point is None:
        return out or dtypes.UINT8
    zp_type = dtypes.onnx_type_of(zero_point)
    if out and zp_type and out != zp_type:
        raise ValueError(f"QuantizeLinear: output_dtype {dtypes.name(out)} differs from "
                         f"y_zero_point's type {dtypes.name(zp_type)}")
    target = out or zp_type
    if target not in _INT_RANGE and target not in _FLOAT_TARGETS:
        raise ValueError(f"QuantizeLinear: cannot quantize to {dtypes.name(target)}")
    return target


@kernel("QuantizeLinear", since=10)
def quantize_linear(ctx, inputs, attrs):
    x, scale = inputs[0], inputs[1]
    zero_point = inputs[2] if len(inputs) > 2 else None
    target = _target_type(attrs, zero_point)
    axis = int(attrs.get("axis", 1))
    block_size = _block_size("QuantizeLinear", attrs)
    scale_b = _param("QuantizeLinear", "y_scale", scale, x.shape, axis, block_size, ctx.opset)
    precision = int(attrs.get("precision", 0)) or dtypes.onnx_type_of(scale)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = _as_precision(x, precision) / _as_precision(scale_b, precision)
        if precision == dtypes.BFLOAT16:
            q = dtypes.round_to(q, dtypes.BFLOAT16)
    if zero_point is None:
        zp = np.zeros((), np.float64)
    else:
        zp = _param("QuantizeLinear", "y_zero_point", zero_point, x.shape, axis, block_size, ctx.opset)
        if zp.shape != scale_b.shape:
            raise ValueError(f"QuantizeLinear: y_zero_point shape {np.shape(zero_point)} does not "
                             f"match y_scale shape {np.shape(scale)}")
    if target in _FLOAT_TARGETS:
        # saturate only matters for float8: float4/float6 have no inf, they always saturate
        saturate = bool(attrs.get("saturate", 1))
        return dtypes.round_to(q.astype(np.float64) + zp.astype(np.float64), target, saturate)
    low, high = _INT_RANGE[target]
    # round half to even, then shift and saturate (in float64: exact for these ranges)
    y = np.rint(q.astype(np.float64)) + zp.astype(np.float64)
    return np.clip(np.nan_to_num(y, nan=0.0), low, high).astype(dtypes.storage_dtype(target))


@kernel("DequantizeLinear", since=10)
def dequantize_linear(ctx, inputs, attrs):
    x, scale = inputs[0], inputs[1]
    zero_point = inputs[2] if len(inputs) > 2 else None
    axis = int(attrs.get("axis", 1))
    block_size = _block_size("DequantizeLinear", attrs)
    out = int(attrs.get("output_dtype", 0))
    if out and out not in _FLOAT_OUTPUTS:
        raise ValueError(f"DequantizeLinear: output_dtype {dtypes.name(out)} is not "
                         "float, float16 or bfloat16")
    if not out:
        out = dtypes.onnx_type_of(scale)
        if out not in _FLOAT_OUTPUTS:  # e.g. a float8e8m0 scale, which needs output_dtype
            raise ValueError(f"DequantizeLinear: x_scale of type {dtypes.name(out)} needs "
                             "output_dtype")
    scale_b = _param("DequantizeLinear", "x_scale", scale, x.shape, axis, block_size, ctx.opset)
    diff = x.astype(np.float64)
    if zero_point is not None:
        zp = _param("DequantizeLinear", "x_zero_point", zero_point, x.shape, axis, block_size, ctx.opset)
        if zp.shape != scale_b.shape:
            raise ValueError(f"DequantizeLinear: x_zero_point shape {np.shape(zero_point)} does not "
                             f"match x_scale shape {np.shape(scale)}")
        diff = diff - zp.astype(np.float64)
    # the output type sets the precision of the multiplication
    y = _as_precision(diff, out) * _as_precision(scale_b, out)
    if out == dtypes.BFLOAT16:
        return dtypes.round_to(y, dtypes.BFLOAT16)
    return y.astype(dtypes.storage_dtype(out), copy=False)


@kernel("DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(ctx, inputs, attrs):
    x = inputs[0]
    if dtypes.onnx_type_of(x) != dtypes.FLOAT:
        raise ValueError(f"DynamicQuantizeLinear: x must be float, got {dtypes.name(dtypes.onnx_type_of(x))}")
    # the range always includes 0 so that 0 is exactly representable
    x_min = np.minimum(np.float32(0), x.min()) if x.size else np.float32(0)
    x_max = np.maximum(np.float32(0), x.max()) if x.size else np.float32(0)
    scale = np.float32((x_max - x_min) / np.float32(255))
    if scale == 0:  # all zeros: any scale works; zero point 0 keeps y exact
        zero_point = np.uint8(0)
        y = np.zeros(x.shape, np.uint8)
    else:
        zero_point = np.uint8(np.clip(np.rint(np.float32(0) - x_min / scale), 0, 255))
        y = np.clip(np.rint(x / scale) + zero_point.astype(np.float32), 0, 255).astype(np.uint8)
    return y, np.asarray(scale, np.float32), np.asarray(zero_point, np.uint8)
