"""cast ops: numpy reference kernels (Cast, CastLike, BitCast).

Types numpy lacks are held widened (see :mod:`pywebinfer.dtypes`); their arrays carry
the ONNX type in the dtype, which is how CastLike and BitCast learn it.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from .registry import kernel

# Cast-1 names its target type with the TensorProto.DataType enum name
_TYPE_BY_ENUM_NAME = {
    "FLOAT": dtypes.FLOAT, "UINT8": dtypes.UINT8, "INT8": dtypes.INT8,
    "UINT16": dtypes.UINT16, "INT16": dtypes.INT16, "INT32": dtypes.INT32,
    "INT64": dtypes.INT64, "STRING": dtypes.STRING, "BOOL": dtypes.BOOL,
    "FLOAT16": dtypes.FLOAT16, "DOUBLE": dtypes.DOUBLE, "UINT32": dtypes.UINT32,
    "UINT64": dtypes.UINT64, "COMPLEX64": dtypes.COMPLEX64, "COMPLEX128": dtypes.COMPLEX128,
}
_NATIVE_FLOATS = (dtypes.FLOAT16, dtypes.FLOAT, dtypes.DOUBLE)
_INTEGERS = (dtypes.UINT8, dtypes.INT8, dtypes.UINT16, dtypes.INT16, dtypes.INT32,
             dtypes.INT64, dtypes.UINT32, dtypes.UINT64, dtypes.UINT4, dtypes.INT4,
             dtypes.UINT2, dtypes.INT2)
_FLOAT8_FNUZ = (dtypes.FLOAT8E4M3FNUZ, dtypes.FLOAT8E5M2FNUZ)


def _is_string(x) -> bool:
    return x.dtype == object or x.dtype.kind in "US"


# ---- strings -----------------------------------------------------------------------

def _format_number(value) -> str:
    """How onnxruntime writes a number: integers exactly, floats with 8 significant
    digits, and NaN / INF / -INF for the special values."""
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    return format(value, ".8g")


def _to_strings(x) -> np.ndarray:
    if _is_string(x):
        return np.array([str(s) for s in x.ravel()], dtype=object).reshape(x.shape)
    values = x.ravel().tolist()
    return np.array([_format_number(v) for v in values], dtype=object).reshape(x.shape)


def _parse_float(text: str) -> float:
    # float() already reads "1e-5", "INF", "+inf", "-Inf", "NaN" in any case
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError(f"Cast: cannot read {text!r} as a number") from None


def _parse_strings(x, to: int) -> np.ndarray:
    """Numbers from a string tensor: exact integers for integer targets where every
    string is an integer literal, else float64 values."""
    texts = [str(s) for s in x.ravel()]
    if to in _INTEGERS or to == dtypes.BOOL:
        try:
            # wrapped to 64 bits here; the cast to the target keeps its low bits
            return np.array([int(s.strip()) % (1 << 64) for s in texts],
                            dtype=np.uint64).reshape(x.shape)
        except ValueError:
            pass  # "100.5" and the like: read as floats and truncated
    return np.array([_parse_float(s) for s in texts], dtype=np.float64).reshape(x.shape)


# ---- Cast --------------------------------------------------------------------------

def cast(x, to: int, *, saturate: bool = True, round_mode: str = "up",
         opset: int = 25) -> np.ndarray:
    """``x`` converted to the ONNX type ``to`` by the rules of the ONNX Cast op."""
    if to not in dtypes.STORAGE or to == dtypes.UNDEFINED:
        raise ValueError(f"Cast: unknown target type {to}")
    if to == dtypes.STRING:
        return _to_strings(x)
    if x.dtype.kind in "c" and to not in (dtypes.COMPLEX64, dtypes.COMPLEX128):
        raise ValueError(f"Cast: complex input cannot be cast to {dtypes.name(to)}")
    if _is_string(x):
        x = _parse_strings(x, to)
        if to == dtypes.BOOL:  # read as an integer, like onnxruntime: "0.5" is False
            x = np.trunc(x)
    if to == dtypes.BOOL:
        return np.asarray(x != 0)  # NaN is nonzero, so True
    if to in _INTEGERS:
        if x.dtype.kind in "fc":
            return dtypes.truncate_to_int(x, to)
        # integers and bools keep their low bits
        return dtypes.from_bits(x, to) if to in dtypes.WIDENED else x.astype(dtypes.STORAGE[to])
    if to in dtypes.WIDENED:
        result = dtypes.round_to(x, to, saturate=saturate, round_mode=round_mode)
        if saturate and to in _FLOAT8_FNUZ and opset < 24:
            # before opset 24 saturation still turned infinities into NaN for FNUZ types
            result = np.where(np.isinf(x), np.nan, result).astype(result.dtype)
        return result
    with np.errstate(over="ignore"):  # out of range becomes +-inf, as the spec says
        return x.astype(dtypes.STORAGE[to])


@kernel("Cast", since=1, until=5)
def cast_named(ctx, inputs, attrs):
    to = attrs.get("to")
    if isinstance(to, bytes):
        to = to.decode()
    if isinstance(to, str):
        if to.upper() not in _TYPE_BY_ENUM_NAME:
            raise ValueError(f"Cast: unknown target type name {to!r}")
        to = _TYPE_BY_ENUM_NAME[to.upper()]
    if to is None:
        raise ValueError("Cast: the 'to' attribute is required")
    return cast(inputs[0], to, opset=ctx.opset)


@kernel("Cast", since=6)
def cast_op(ctx, inputs, attrs):
    if "to" not in attrs:
        raise ValueError("Cast: the 'to' attribute is required")
    return cast(inputs[0], attrs["to"], saturate=bool(attrs.get("saturate", 1)),
                round_mode=attrs.get("round_mode", "up"), opset=ctx.opset)


@kernel("CastLike", since=15)
def cast_like(ctx, inputs, attrs):
    x, like = inputs
    return cast(x, dtypes.onnx_type_of(like), saturate=bool(attrs.get("saturate", 1)),
                round_mode=attrs.get("round_mode", "up"), opset=ctx.opset)


# ---- BitCast -----------------------------------------------------------------------

@kernel("BitCast", since=26)
def bitcast(ctx, inputs, attrs):
    x = inputs[0]
    if "to" not in attrs:
        raise ValueError("BitCast: the 'to' attribute is required")
    to = attrs["to"]
    source = dtypes.onnx_type_of(x)
    if dtypes.STRING in (source, to):
        raise ValueError("BitCast: string tensors have no bit pattern")
    if to not in dtypes.BITS:
        raise ValueError(f"BitCast: unknown target type {to}")
    if dtypes.BITS[source] != dtypes.BITS[to]:
        raise ValueError(f"BitCast: {dtypes.name(source)} has {dtypes.BITS[source]} bits, "
                         f"{dtypes.name(to)} has {dtypes.BITS[to]}")
    if source == to:
        return x.copy()
    return dtypes.from_bits(dtypes.to_bits(x, source), to)
