"""ONNX element types and how pywebinfer holds them in numpy.

numpy (and numpy inside Pyodide, which has no ml_dtypes) has no bfloat16, float8, float4,
int4 or int2.  Tensors of those types are *widened* on load: they are held in the
smallest numpy type that represents every value exactly (float32 for the small floats,
int8/uint8 for the small ints).  Kernels that produce such a type (Cast, QuantizeLinear,
...) round to it with :func:`round_to` and keep the widened storage, so values always
match what the narrow type can hold.
"""
from __future__ import annotations

import numpy as np

UNDEFINED = 0
FLOAT = 1
UINT8 = 2
INT8 = 3
UINT16 = 4
INT16 = 5
INT32 = 6
INT64 = 7
STRING = 8
BOOL = 9
FLOAT16 = 10
DOUBLE = 11
UINT32 = 12
UINT64 = 13
COMPLEX64 = 14
COMPLEX128 = 15
BFLOAT16 = 16
FLOAT8E4M3FN = 17
FLOAT8E4M3FNUZ = 18
FLOAT8E5M2 = 19
FLOAT8E5M2FNUZ = 20
UINT4 = 21
INT4 = 22
FLOAT4E2M1 = 23
FLOAT8E8M0 = 24
UINT2 = 25
INT2 = 26

NAMES = {
    FLOAT: "float32", UINT8: "uint8", INT8: "int8", UINT16: "uint16", INT16: "int16",
    INT32: "int32", INT64: "int64", STRING: "string", BOOL: "bool", FLOAT16: "float16",
    DOUBLE: "float64", UINT32: "uint32", UINT64: "uint64", COMPLEX64: "complex64",
    COMPLEX128: "complex128", BFLOAT16: "bfloat16", FLOAT8E4M3FN: "float8e4m3fn",
    FLOAT8E4M3FNUZ: "float8e4m3fnuz", FLOAT8E5M2: "float8e5m2",
    FLOAT8E5M2FNUZ: "float8e5m2fnuz", UINT4: "uint4", INT4: "int4", FLOAT4E2M1: "float4e2m1",
    FLOAT8E8M0: "float8e8m0", UINT2: "uint2", INT2: "int2",
}

# numpy type that holds each ONNX type (exactly for native types, widened otherwise)
STORAGE = {
    FLOAT: np.float32, UINT8: np.uint8, INT8: np.int8, UINT16: np.uint16, INT16: np.int16,
    INT32: np.int32, INT64: np.int64, STRING: np.object_, BOOL: np.bool_,
    FLOAT16: np.float16, DOUBLE: np.float64, UINT32: np.uint32, UINT64: np.uint64,
    COMPLEX64: np.complex64, COMPLEX128: np.complex128,
    BFLOAT16: np.float32, FLOAT8E4M3FN: np.float32, FLOAT8E4M3FNUZ: np.float32,
    FLOAT8E5M2: np.float32, FLOAT8E5M2FNUZ: np.float32, FLOAT8E8M0: np.float32,
    FLOAT4E2M1: np.float32, UINT4: np.uint8, INT4: np.int8, UINT2: np.uint8, INT2: np.int8,
}
WIDENED = {BFLOAT16, FLOAT8E4M3FN, FLOAT8E4M3FNUZ, FLOAT8E5M2, FLOAT8E5M2FNUZ, FLOAT8E8M0,
           FLOAT4E2M1, UINT4, INT4, UINT2, INT2}

_FROM_NUMPY = {np.dtype(v): k for k, v in STORAGE.items() if k not in WIDENED}


def name(onnx_type: int) -> str:
    return NAMES.get(onnx_type, f"type{onnx_type}")


def storage_dtype(onnx_type: int) -> np.dtype:
    try:
        return np.dtype(STORAGE[onnx_type])
    except KeyError:
        raise ValueError(f"unknown ONNX element type {onnx_type}") from None


def from_numpy(dtype) -> int:
    """The ONNX type of a numpy dtype (native types only)."""
    dt = np.dtype(dtype)
    if dt.kind in "US":
        return STRING
    try:
        return _FROM_NUMPY[dt]
    except KeyError:
        raise ValueError(f"numpy dtype {dt} has no ONNX element type") from None


def type_string(onnx_type: int) -> str:
    """The onnxruntime-style type string, e.g. 'tensor(float)'."""
    short = {FLOAT: "float", DOUBLE: "double"}.get(onnx_type, name(onnx_type))
    return f"tensor({short})"


# ---- rounding to the widened types -------------------------------------------------

def _round_float_bits(x: np.ndarray, mant_bits: int, exp_bits: int, bias: int,
                      *, fn: bool, uz: bool, saturate: bool) -> np.ndarray:
    """Round float32 values to a small float format, returned as float32.

    ``fn``: finite only (no inf; the all-ones pattern is NaN); ``uz``: unsigned zero
    (no -0, NaN is 0x80).  Rounds to nearest even; out-of-range values saturate to the
    largest finite value or become inf/NaN as the ONNX Cast spec says.
    """
    x = np.asarray(x, dtype=np.float32)
    out = np.empty_like(x)
    # largest finite value of the format
    if fn and not uz:  # e4m3fn: exponent all-ones is usable except mantissa all-ones
        max_exp = (1 << exp_bits) - 1 - bias
        max_mant = (1 << mant_bits) - 2
    elif uz:
        max_exp = (1 << exp_bits) - 1 - bias
        max_mant = (1 << mant_bits) - 1
    else:  # IEEE-like: the all-ones exponent holds inf/NaN
        max_exp = (1 << exp_bits) - 2 - bias
        max_mant = (1 << mant_bits) - 1
    max_val = np.float32((1 + max_mant / (1 << mant_bits)) * 2.0 ** max_exp)
    min_exp = 1 - bias  # smallest normal exponent
    ax = np.abs(x).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        e = np.floor(np.log2(np.where(ax > 0, ax, 1.0)))
        e = np.maximum(e, min_exp)
        step = np.exp2(e - mant_bits)
        r = np.round(ax / step) * step  # numpy rounds half to even
    r = np.where(ax == 0, 0.0, r)
    overflow = r > max_val
    if saturate:
        r = np.where(overflow, max_val, r)
        r = np.where(np.isinf(ax), max_val, r)
    else:
        big = np.nan if (fn or uz) else np.inf
        r = np.where(overflow | np.isinf(ax), big, r)
    r = np.copysign(r, x)
    r = np.where(np.isnan(x), np.nan, r)
    if uz:
        r = np.where(r == 0, 0.0, r)  # no negative zero
    out[...] = r
    return out


def round_to(x: np.ndarray, onnx_type: int, saturate: bool = True) -> np.ndarray:
    """Round ``x`` to the values ``onnx_type`` can hold, in that type's storage dtype."""
    x = np.asarray(x)
    if onnx_type == BFLOAT16:
        f = np.ascontiguousarray(x, dtype=np.float32)
        bits = f.view(np.uint32).astype(np.uint64)
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16).astype(np.uint32)
        res = rounded.view(np.float32).copy()
        res[np.isnan(f)] = np.nan
        return res
    if onnx_type == FLOAT8E4M3FN:
        return _round_float_bits(x, 3, 4, 7, fn=True, uz=False, saturate=saturate)
    if onnx_type == FLOAT8E4M3FNUZ:
        return _round_float_bits(x, 3, 4, 8, fn=True, uz=True, saturate=saturate)
    if onnx_type == FLOAT8E5M2:
        return _round_float_bits(x, 2, 5, 15, fn=False, uz=False, saturate=saturate)
    if onnx_type == FLOAT8E5M2FNUZ:
        return _round_float_bits(x, 2, 5, 16, fn=True, uz=True, saturate=saturate)
    if onnx_type == FLOAT4E2M1:
        f = np.asarray(x, dtype=np.float32)
        grid = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6], dtype=np.float32)
        a = np.minimum(np.abs(f), 6.0)
        # nearest grid point, ties to the even mantissa (the lower index for .25, .75 ...)
        idx = np.searchsorted(grid, a)
        idx = np.clip(idx, 1, len(grid) - 1)
        lo, hi = grid[idx - 1], grid[idx]
        pick_hi = (hi - a < a - lo) | ((hi - a == a - lo) & (idx % 2 == 0))
        r = np.where(pick_hi, hi, lo)
        r = np.copysign(r, f).astype(np.float32)
        r[np.isnan(f)] = np.nan
        return r
    if onnx_type == FLOAT8E8M0:
        f = np.asarray(x, dtype=np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.exp2(np.round(np.log2(np.abs(f)))).astype(np.float32)
        r = np.clip(r, np.float32(2.0 ** -127), np.float32(2.0 ** 127))
        r[np.isnan(f)] = np.nan
        return r
    if onnx_type in (INT4, UINT4, INT2, UINT2):
        lo, hi = {INT4: (-8, 7), UINT4: (0, 15), INT2: (-2, 1), UINT2: (0, 3)}[onnx_type]
        return np.clip(np.rint(x) if x.dtype.kind == "f" else x, lo, hi).astype(STORAGE[onnx_type])
    return x.astype(storage_dtype(onnx_type))
