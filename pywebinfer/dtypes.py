"""ONNX element types and how pywebinfer holds them in numpy.

numpy (and numpy inside Pyodide, which has no ml_dtypes) has no bfloat16, float8, float6,
float4, int4 or int2.  Tensors of those types are *widened* on load: they are held in the
smallest numpy type that represents every value exactly (float32 for the small floats,
int8/uint8 for the small ints).  Kernels that produce such a type (Cast, QuantizeLinear,
...) round to it with :func:`round_to` and keep the widened storage, so values always
match what the narrow type can hold.

The widened storage dtype (:func:`storage_dtype`) carries the ONNX type in its metadata;
:func:`onnx_type_of` reads it back and :func:`keep_type` gives a result the type of an
input.  numpy ufuncs keep the metadata when their inputs share it, but many functions
(``np.where``, ``np.concatenate``, ``astype`` to a new dtype ...) drop it, so a kernel that
produces a widened type should finish with :func:`round_to` or :func:`keep_type`.
:func:`to_bits` / :func:`from_bits` convert between values and bit patterns.
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

FLOAT6E2M3 = 27
FLOAT6E3M2 = 28

NAMES = {
    FLOAT: "float32", UINT8: "uint8", INT8: "int8", UINT16: "uint16", INT16: "int16",
    INT32: "int32", INT64: "int64", STRING: "string", BOOL: "bool", FLOAT16: "float16",
    DOUBLE: "float64", UINT32: "uint32", UINT64: "uint64", COMPLEX64: "complex64",
    COMPLEX128: "complex128", BFLOAT16: "bfloat16", FLOAT8E4M3FN: "float8e4m3fn",
    FLOAT8E4M3FNUZ: "float8e4m3fnuz", FLOAT8E5M2: "float8e5m2",
    FLOAT8E5M2FNUZ: "float8e5m2fnuz", UINT4: "uint4", INT4: "int4", FLOAT4E2M1: "float4e2m1",
    FLOAT8E8M0: "float8e8m0", UINT2: "uint2", INT2: "int2", FLOAT6E2M3: "float6e2m3",
    FLOAT6E3M2: "float6e3m2",
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
    FLOAT6E2M3: np.float32, FLOAT6E3M2: np.float32,
}
WIDENED = {BFLOAT16, FLOAT8E4M3FN, FLOAT8E4M3FNUZ, FLOAT8E5M2, FLOAT8E5M2FNUZ, FLOAT8E8M0,
           FLOAT4E2M1, UINT4, INT4, UINT2, INT2, FLOAT6E2M3, FLOAT6E3M2}

# bits of one element (what BitCast compares; strings have no width)
BITS = {
    FLOAT: 32, UINT8: 8, INT8: 8, UINT16: 16, INT16: 16, INT32: 32, INT64: 64, BOOL: 8,
    FLOAT16: 16, DOUBLE: 64, UINT32: 32, UINT64: 64, COMPLEX64: 64, COMPLEX128: 128,
    BFLOAT16: 16, FLOAT8E4M3FN: 8, FLOAT8E4M3FNUZ: 8, FLOAT8E5M2: 8, FLOAT8E5M2FNUZ: 8,
    UINT4: 4, INT4: 4, FLOAT4E2M1: 4, FLOAT8E8M0: 8, UINT2: 2, INT2: 2,
    FLOAT6E2M3: 6, FLOAT6E3M2: 6,
}

_FROM_NUMPY = {np.dtype(v): k for k, v in STORAGE.items() if k not in WIDENED}

# A widened array carries its ONNX type in its dtype's metadata, so that kernels which
# depend on the element type (CastLike, BitCast) can tell bfloat16 from float32.  The
# tagged dtype compares equal to the plain storage dtype, so nothing else notices it.
_TAG = "onnx_type"
_TAGGED = {t: np.dtype(STORAGE[t], metadata={_TAG: t}) for t in WIDENED}


def name(onnx_type: int) -> str:
    return NAMES.get(onnx_type, f"type{onnx_type}")


def storage_dtype(onnx_type: int) -> np.dtype:
    """The numpy dtype holding ``onnx_type``; for a widened type it is tagged with it."""
    if onnx_type in _TAGGED:
        return _TAGGED[onnx_type]
    try:
        return np.dtype(STORAGE[onnx_type])
    except KeyError:
        raise ValueError(f"unknown ONNX element type {onnx_type}") from None


def from_numpy(dtype) -> int:
    """The ONNX type of a numpy dtype: its widened tag, else the native type."""
    dt = np.dtype(dtype)
    if dt.metadata and _TAG in dt.metadata:
        return dt.metadata[_TAG]
    if dt.kind in "US":
        return STRING
    try:
        return _FROM_NUMPY[dt]
    except KeyError:
        raise ValueError(f"numpy dtype {dt} has no ONNX element type") from None


def onnx_type_of(array) -> int:
    """The ONNX element type of a tensor held as a numpy array."""
    return from_numpy(np.asarray(array).dtype)


def widened_type(array) -> int | None:
    """The widened ONNX type (bfloat16, float8 ...) an array is tagged with, else None."""
    metadata = np.asarray(array).dtype.metadata
    return metadata.get(_TAG) if metadata else None


def keep_type(value, like) -> np.ndarray:
    """``value`` as an array of the element type of ``like``: its numpy dtype, and for a
    widened type (bfloat16 ...) rounded to the values that type holds."""
    widened = widened_type(like)
    if widened is not None:
        return round_to(value, widened)
    return np.asarray(value, dtype=np.asarray(like).dtype)


def type_string(onnx_type: int) -> str:
    """The onnxruntime-style type string, e.g. 'tensor(float)'."""
    short = {FLOAT: "float", DOUBLE: "double"}.get(onnx_type, name(onnx_type))
    return f"tensor({short})"


# ---- the small float formats ---------------------------------------------------------

# exponent bits, mantissa bits, exponent bias, and the special values of the encoding:
# "ieee": the all-ones exponent holds inf and NaN; "fn": no inf, only all ones is NaN;
# "fnuz": no inf and no -0, the -0 pattern is NaN; "finite": no inf and no NaN.
_SMALL_FLOATS = {
    BFLOAT16: (8, 7, 127, "ieee"),
    FLOAT8E4M3FN: (4, 3, 7, "fn"),
    FLOAT8E4M3FNUZ: (4, 3, 8, "fnuz"),
    FLOAT8E5M2: (5, 2, 15, "ieee"),
    FLOAT8E5M2FNUZ: (5, 2, 16, "fnuz"),
    FLOAT4E2M1: (2, 1, 1, "finite"),
    FLOAT6E2M3: (2, 3, 1, "finite"),
    FLOAT6E3M2: (3, 2, 3, "finite"),
}
# bit width and signedness of the small integers
_SMALL_INTS = {INT4: (4, True), UINT4: (4, False), INT2: (2, True), UINT2: (2, False)}
E8M0_MIN = 2.0 ** -127
E8M0_MAX = 2.0 ** 127


def max_finite(onnx_type: int) -> float:
    """The largest finite value of a small float type."""
    exp_bits, mant_bits, bias, kind = _SMALL_FLOATS[onnx_type]
    top = (1 << exp_bits) - 1 - bias  # exponent of the all-ones field
    if kind == "ieee":
        return (2.0 - 2.0 ** -mant_bits) * 2.0 ** (top - 1)
    if kind == "fn":  # all-ones exponent is usable except with the all-ones mantissa
        return (2.0 - 2.0 ** (1 - mant_bits)) * 2.0 ** top
    return (2.0 - 2.0 ** -mant_bits) * 2.0 ** top


def _round_small_float(x, onnx_type: int, saturate: bool) -> np.ndarray:
    """Round to nearest even at the format's precision (subnormals included); values
    beyond the largest finite one and infinities saturate to it when ``saturate``, else
    become inf (or NaN for formats without inf), as the ONNX Cast tables say."""
    exp_bits, mant_bits, bias, kind = _SMALL_FLOATS[onnx_type]
    x = np.asarray(x, dtype=np.float64)
    mag = np.abs(x)
    safe = np.where(np.isfinite(mag), mag, 0.0)
    _, e = np.frexp(safe)  # safe = m * 2**e with 0.5 <= m < 1, so floor(log2) = e - 1
    exponent = np.maximum(e - 1, 1 - bias).astype(np.int32)
    step = np.ldexp(1.0, exponent - mant_bits)
    r = np.round(safe / step) * step  # exact in float64; numpy rounds half to even
    limit = max_finite(onnx_type)
    if saturate or kind == "finite":
        big = limit
    else:
        big = np.inf if kind == "ieee" else np.nan
    r = np.where((r > limit) | np.isinf(mag), big, r)
    r = np.copysign(r, x)
    if kind == "fnuz":
        r = np.where(r == 0, 0.0, r)  # no negative zero
    if kind == "finite":
        # no NaN encoding: like onnx/ml_dtypes, NaN lands on the sign-only pattern (-0)
        r = np.where(np.isnan(x), -0.0, r)
    else:
        r = np.where(np.isnan(x), np.nan, r)
    return r.astype(storage_dtype(onnx_type))


def _round_e8m0(x, saturate: bool, round_mode: str) -> np.ndarray:
    """Round to a power of two 2**k, -127 <= k <= 127 (FLOAT8E8M0 has no zero and no
    sign; the sign of ``x`` is ignored, negative input being undefined by the spec)."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    usable = np.isfinite(x) & (x > 0)
    m, e = np.frexp(np.where(usable, x, 1.0))
    k = e.astype(np.int32) - 1
    if round_mode == "up":
        k = k + (m > 0.5)
    elif round_mode == "nearest":  # ties (1.5 * 2**k) round up
        k = k + (m >= 0.75)
    elif round_mode != "down":
        raise ValueError(f"Cast: round_mode must be 'up', 'down' or 'nearest', not {round_mode!r}")
    r = np.ldexp(1.0, np.clip(k, -127, 127).astype(np.int32))
    below = (x == 0) | (k < -127)
    above = np.isinf(x) | (k > 127)
    if saturate:
        r = np.where(below, E8M0_MIN, np.where(above, E8M0_MAX, r))
    else:
        r = np.where(below | above, np.nan, r)
    r = np.where(np.isnan(x), np.nan, r)
    return r.astype(storage_dtype(FLOAT8E8M0))


def round_to(x: np.ndarray, onnx_type: int, saturate: bool = True,
             round_mode: str = "up") -> np.ndarray:
    """Round ``x`` to the values ``onnx_type`` can hold, in that type's storage dtype.

    Small floats round to nearest even; ``saturate`` picks what out-of-range values
    become (the float 8 types), ``round_mode`` ('up', 'down', 'nearest') how values
    round to FLOAT8E8M0.  Small integers round half to even and clip to their range
    (what QuantizeLinear needs; Cast wraps instead).  Native types are a plain astype.
    """
    x = np.asarray(x)
    if onnx_type == BFLOAT16:  # like every IEEE float, bfloat16 overflows to inf
        return _round_small_float(x, onnx_type, saturate=False)
    if onnx_type in _SMALL_FLOATS:
        return _round_small_float(x, onnx_type, saturate)
    if onnx_type == FLOAT8E8M0:
        return _round_e8m0(x, saturate, round_mode)
    if onnx_type in _SMALL_INTS:
        bits, signed = _SMALL_INTS[onnx_type]
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        values = np.rint(x) if x.dtype.kind in "fc" else x.astype(np.int64)
        with np.errstate(invalid="ignore"):  # NaN has no integer value
            return np.clip(values, lo, hi).astype(storage_dtype(onnx_type))
    return x.astype(storage_dtype(onnx_type))


def truncate_to_int(x, onnx_type: int) -> np.ndarray:
    """Floats truncated toward zero into an integer type, wrapping like a C cast on x86
    (what onnxruntime does): types up to 32 bits (uint32 excepted) convert through int32,
    the others through int64, a value outside that range (NaN included) becomes its
    minimum, and the result keeps the low bits of the target width (200.7 -> int8 -56)."""
    t = np.trunc(np.asarray(x, dtype=np.float64))
    width = BITS[onnx_type]
    signed = onnx_type in (INT8, INT16, INT32, INT64, INT4, INT2)
    via = 32 if width < 32 or (width == 32 and signed) else 64
    low = -(2.0 ** (via - 1))
    ints = np.where((t >= low) & (t < -low), t, low).astype(np.int64)
    if onnx_type == UINT64:  # values from 2**63 on fit only the unsigned type
        fits = (t >= 2.0 ** 63) & (t < 2.0 ** 64)
        upper = (np.where(fits, t, 2.0 ** 63) - 2.0 ** 63).astype(np.uint64) + np.uint64(1 << 63)
        result = np.where(fits, upper, ints.astype(np.uint64))
        return np.where(t >= 2.0 ** 64, np.uint64(0), result)  # +inf included
    if onnx_type in _SMALL_INTS:
        return from_bits(ints, onnx_type)
    return ints.astype(STORAGE[onnx_type])


# ---- bit patterns --------------------------------------------------------------------

def _unsigned(bits: int) -> np.dtype:
    if bits > 64:
        raise ValueError(f"no unsigned integer holds {bits} bits")
    return np.dtype({8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}[max(bits, 8)])


def to_bits(x, onnx_type: int) -> np.ndarray:
    """The bit pattern of every element of ``x`` (held as ``onnx_type``), as unsigned
    integers of the type's width; types narrower than a byte use the low bits of uint8."""
    x = np.asarray(x)
    if onnx_type in _SMALL_FLOATS:
        return _encode_small_float(round_to(x, onnx_type, saturate=False), onnx_type)
    if onnx_type == FLOAT8E8M0:
        v = round_to(x, onnx_type).astype(np.float64)
        _, e = np.frexp(np.where(np.isnan(v), 1.0, v))
        return np.where(np.isnan(v), 0xFF, e.astype(np.int32) - 1 + 127).astype(np.uint8)
    if onnx_type in _SMALL_INTS:
        bits, _ = _SMALL_INTS[onnx_type]
        return (x.astype(np.int16) & ((1 << bits) - 1)).astype(np.uint8)
    if onnx_type not in BITS:
        raise ValueError(f"{name(onnx_type)} has no bit pattern")
    native = np.array(x, dtype=STORAGE[onnx_type], order="C")
    return native.view(_unsigned(BITS[onnx_type]))


def from_bits(bits, onnx_type: int) -> np.ndarray:
    """The values whose bit patterns are ``bits`` (unsigned integers), held as ``onnx_type``."""
    bits = np.asarray(bits)
    if onnx_type in _SMALL_FLOATS:
        return _decode_small_float(bits, onnx_type)
    if onnx_type == FLOAT8E8M0:
        b = bits.astype(np.int32) & 0xFF
        v = np.where(b == 0xFF, np.nan, np.ldexp(1.0, b - 127))
        return v.astype(storage_dtype(onnx_type))
    if onnx_type in _SMALL_INTS:
        width, signed = _SMALL_INTS[onnx_type]
        b = bits.astype(np.int16) & ((1 << width) - 1)
        if signed:
            b = np.where(b >= 1 << (width - 1), b - (1 << width), b)
        return b.astype(storage_dtype(onnx_type))
    if onnx_type == BOOL:
        return bits != 0
    if onnx_type not in BITS:
        raise ValueError(f"{name(onnx_type)} has no bit pattern")
    word = np.array(bits, dtype=_unsigned(BITS[onnx_type]), order="C")
    return word.view(STORAGE[onnx_type])


def _encode_small_float(v: np.ndarray, onnx_type: int) -> np.ndarray:
    """Bit patterns of values already representable in the small float type."""
    exp_bits, mant_bits, bias, kind = _SMALL_FLOATS[onnx_type]
    v = np.asarray(v, dtype=np.float64)
    mag = np.abs(v)
    safe = np.where(np.isfinite(mag), mag, 0.0)
    _, e = np.frexp(safe)
    field = np.where(safe == 0, 0, np.maximum(e.astype(np.int32) - 1 + bias, 0))  # 0: subnormal
    step = np.ldexp(1.0, (np.maximum(field, 1) - bias - mant_bits).astype(np.int32))
    mant = (safe / step).astype(np.int64)
    mant = np.where(field > 0, mant - (1 << mant_bits), mant)
    sign_bit = 1 << (exp_bits + mant_bits)
    bits = (field.astype(np.int64) << mant_bits) | mant | np.where(np.signbit(v), sign_bit, 0)
    all_ones = ((1 << exp_bits) - 1) << mant_bits
    if kind == "ieee":
        bits = np.where(np.isinf(v), np.where(np.signbit(v), sign_bit, 0) | all_ones, bits)
        bits = np.where(np.isnan(v), all_ones | (1 << (mant_bits - 1)), bits)
    elif kind == "fn":
        bits = np.where(np.isnan(v), all_ones | ((1 << mant_bits) - 1), bits)
    elif kind == "fnuz":
        bits = np.where(np.isnan(v), sign_bit, np.where(safe == 0, 0, bits))
    return bits.astype(_unsigned(1 + exp_bits + mant_bits))


def _decode_small_float(bits: np.ndarray, onnx_type: int) -> np.ndarray:
    exp_bits, mant_bits, bias, kind = _SMALL_FLOATS[onnx_type]
    width = 1 + exp_bits + mant_bits
    b = bits.astype(np.int64) & ((1 << width) - 1)
    field = ((b >> mant_bits) & ((1 << exp_bits) - 1)).astype(np.int32)
    mant = (b & ((1 << mant_bits) - 1)).astype(np.float64)
    mag = np.where(field == 0,
                   np.ldexp(mant, np.int32(1 - bias - mant_bits)),
                   np.ldexp(mant + (1 << mant_bits), field - bias - mant_bits))
    v = np.where(b >> (width - 1) == 1, -mag, mag)
    top = field == (1 << exp_bits) - 1
    if kind == "ieee":
        v = np.where(top, np.where(mant == 0, np.copysign(np.inf, v), np.nan), v)
    elif kind == "fn":
        v = np.where(top & (mant == (1 << mant_bits) - 1), np.nan, v)
    elif kind == "fnuz":
        v = np.where(b == 1 << (width - 1), np.nan, v)
    return v.astype(storage_dtype(onnx_type))
