"""elementwise ops: numpy reference kernels.

Unary math, binary arithmetic and comparisons (with the legacy ``broadcast``/``axis``
attributes of opsets 1-6), logical and bitwise ops, the variadic Max/Min/Sum/Mean,
Clip, Where and Identity.  Results keep the element type of the input: float16 stays
float16 and a widened type such as bfloat16 is rounded back to the values it holds.
Integer arithmetic wraps on overflow, as ONNX (C) arithmetic does.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .. import dtypes
from .registry import kernel


def _is_float(x) -> bool:
    return x.dtype.kind == "f"


# ---- erf ---------------------------------------------------------------------------

_ERF_SPLIT = 2.0  # below: power series; above: continued fraction of erfc
# (series terms, fraction depth): float64 needs the full depth for a 1e-15 relative
# error; narrower inputs get 5e-9, far below their own rounding error, in half the time
_ERF_DEPTH_DOUBLE = (30, 50)
_ERF_DEPTH_SINGLE = (20, 28)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def erf(x) -> np.ndarray:
    """The error function, evaluated in float64 (see _ERF_DEPTH_* for the accuracy).

    For |x| < 2 it sums erf(x) = 2/sqrt(pi) exp(-x^2) sum_n (2x^2)^n x / (1*3*..*(2n+1)),
    whose terms are all positive (no cancellation); beyond, it evaluates
    erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))) backwards.
    """
    x = np.asarray(x)
    series_terms, fraction_depth = (
        _ERF_DEPTH_DOUBLE if x.dtype == np.float64 else _ERF_DEPTH_SINGLE)
    x = x.astype(np.float64)
    mag = np.abs(x)
    result = np.ones_like(mag)
    near = mag < _ERF_SPLIT
    s = mag[near]
    ratio = 2.0 * s * s
    term = s.copy()
    total = s.copy()
    for n in range(1, series_terms):
        term = term * ratio / (2 * n + 1)
        total += term
    result[near] = _TWO_OVER_SQRT_PI * np.exp(-s * s) * total
    far = (mag >= _ERF_SPLIT) & np.isfinite(mag)
    t = mag[far]
    fraction = t.copy()
    for k in range(fraction_depth, 0, -1):
        fraction = t + (k / 2.0) / fraction
    result[far] = 1.0 - np.exp(-t * t) / (math.sqrt(math.pi) * fraction)
    result = np.copysign(result, x)
    return np.where(np.isnan(x), np.nan, result)


# ---- unary ops ---------------------------------------------------------------------

def _unary(op_type: str, since: int, fn, errors: dict | None = None) -> None:
    """Register ``fn`` (array -> array) as the kernel of ``op_type``, keeping the type."""

    def run(ctx, inputs, attrs):
        x = inputs[0]
        with np.errstate(**(errors or {})):
            return dtypes.keep_type(fn(x), x)

    run.__name__ = op_type.lower()
    kernel(op_type, since=since)(run)


_QUIET = {"divide": "ignore", "invalid": "ignore", "over": "ignore"}

_unary("Abs", 1, np.abs)
_unary("Neg", 1, np.negative)
_unary("Ceil", 1, np.ceil)
_unary("Floor", 1, np.floor)
_unary("Round", 11, np.round)  # numpy rounds half to even, as ONNX asks
_unary("Sign", 9, np.sign)
_unary("Exp", 1, np.exp, {"over": "ignore"})
_unary("Log", 1, np.log, _QUIET)
_unary("Sqrt", 1, np.sqrt, _QUIET)
_unary("Reciprocal", 1, np.reciprocal, _QUIET)
_unary("Sin", 7, np.sin, _QUIET)
_unary("Cos", 7, np.cos, _QUIET)
_unary("Tan", 7, np.tan, _QUIET)
_unary("Asin", 7, np.arcsin, _QUIET)
_unary("Acos", 7, np.arccos, _QUIET)
_unary("Atan", 7, np.arctan, _QUIET)
_unary("Sinh", 9, np.sinh, _QUIET)
_unary("Cosh", 9, np.cosh, _QUIET)
_unary("Tanh", 1, np.tanh, _QUIET)
_unary("Asinh", 9, np.arcsinh, _QUIET)
_unary("Acosh", 9, np.arccosh, _QUIET)
_unary("Atanh", 9, np.arctanh, _QUIET)
_unary("Erf", 9, erf)
_unary("Not", 1, np.logical_not)
_unary("BitwiseNot", 18, np.invert)


@kernel("IsNaN", since=9)
def isnan(ctx, inputs, attrs):
    return np.asarray(np.isnan(inputs[0]))


@kernel("IsInf", since=10)
def isinf(ctx, inputs, attrs):
    x = inputs[0]
    found = np.zeros(x.shape, dtype=bool)
    if attrs.get("detect_positive", 1):
        found |= np.isposinf(x)
    if attrs.get("detect_negative", 1):
        found |= np.isneginf(x)
    return found


# ---- binary ops --------------------------------------------------------------------

def _legacy_operands(op_type: str, inputs, attrs):
    """Operands of opsets 1-6: with ``broadcast=1``, B is broadcast to A's shape, its
    dimensions lining up with A's from ``axis`` (default: with A's last dimensions)."""
    a, b = inputs
    if not attrs.get("broadcast", 0):
        if a.shape != b.shape:
            raise ValueError(
                f"{op_type}: shapes {a.shape} and {b.shape} differ and broadcast is not set")
        return a, b
    if b.ndim > a.ndim:
        raise ValueError(f"{op_type}: B of rank {b.ndim} cannot broadcast to A of rank {a.ndim}")
    axis = attrs.get("axis", a.ndim - b.ndim)
    if axis < 0:
        axis += a.ndim
    if not 0 <= axis <= a.ndim - b.ndim:
        raise ValueError(
            f"{op_type}: axis {attrs.get('axis')} does not place B {b.shape} in A {a.shape}")
    aligned = (1,) * axis + b.shape + (1,) * (a.ndim - axis - b.ndim)
    b = b.reshape(aligned)
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"{op_type}: B {inputs[1].shape} does not match A {a.shape} at axis {axis}") from None
    return a, b


def _binary(op_type: str, compute, *, since: int, legacy: bool) -> None:
    """Register ``compute(a, b)`` for ``op_type`` from opset ``since`` on (multidirectional
    broadcasting), and for opsets 1-6 with the legacy broadcast attributes if ``legacy``."""

    def modern(ctx, inputs, attrs):
        return compute(inputs[0], inputs[1])

    modern.__name__ = op_type.lower()
    kernel(op_type, since=since)(modern)
    if legacy:
        def old(ctx, inputs, attrs):
            return compute(*_legacy_operands(op_type, inputs, attrs))

        old.__name__ = f"{op_type.lower()}_legacy"
        kernel(op_type, since=1, until=since - 1)(old)


def _arithmetic(ufunc):
    def compute(a, b):
        with np.errstate(**_QUIET):
            return dtypes.keep_type(ufunc(a, b), a)
    return compute


def _divide(a, b):
    with np.errstate(**_QUIET):
        if _is_float(a):
            return dtypes.keep_type(np.true_divide(a, b), a)
        # integers truncate toward zero like C, not toward -inf like numpy's //
        quotient = np.floor_divide(a, b)
        if a.dtype.kind == "i":  # (a division by zero is undefined; it stays 0)
            inexact = ((a - quotient * b) != 0) & (b != 0)
            quotient = quotient + (inexact & ((a < 0) != (b < 0)))
        return np.asarray(quotient, dtype=a.dtype)


def _power(base, exponent):
    """Pow: the result has the base's type, whatever the exponent's type."""
    with np.errstate(**_QUIET):
        if _is_float(base):
            if exponent.size == 1 and exponent.reshape(-1)[0] == 2 and exponent.ndim <= base.ndim:
                # x**2 (variance in every layer norm): a product is exact and far cheaper
                return dtypes.keep_type(base * base, base)
            if exponent.dtype != base.dtype:  # mixed types: compute in float64
                value = np.power(base.astype(np.float64), exponent.astype(np.float64))
                return dtypes.keep_type(value, base)
            return dtypes.keep_type(np.power(base, exponent), base)
        if _is_float(exponent):  # integer base, float exponent: truncated like C
            value = np.power(base.astype(np.float64), exponent.astype(np.float64))
            return dtypes.truncate_to_int(value, dtypes.from_numpy(base.dtype))
        # in 64 bits, whose wrapped result has the low bits of the narrower type's
        wide = np.uint64 if base.dtype.kind == "u" else np.int64
        negative = exponent < 0
        steps = np.where(negative, 0, exponent)
        if steps.dtype == np.uint64:
            steps = np.minimum(steps, np.uint64(np.iinfo(np.int64).max))
        value = np.power(base.astype(wide), steps.astype(wide)).astype(base.dtype)
        if negative.any():  # b**-n is 0 except for b = 1 (1) and b = -1 (+-1)
            odd = (exponent % 2) != 0
            fraction = np.where(base == 1, 1, np.where(base == -1, np.where(odd, -1, 1), 0))
            value = np.where(negative, fraction, value).astype(base.dtype)
        return np.asarray(value)


def _compare(ufunc):
    def compute(a, b):
        return np.asarray(ufunc(a, b), dtype=bool)
    return compute


_binary("Add", _arithmetic(np.add), since=7, legacy=True)
_binary("Sub", _arithmetic(np.subtract), since=7, legacy=True)
_binary("Mul", _arithmetic(np.multiply), since=7, legacy=True)
_binary("Div", _divide, since=7, legacy=True)
_binary("Pow", _power, since=7, legacy=True)
_binary("And", _compare(np.logical_and), since=7, legacy=True)
_binary("Or", _compare(np.logical_or), since=7, legacy=True)
_binary("Xor", _compare(np.logical_xor), since=7, legacy=True)
_binary("Equal", _compare(np.equal), since=7, legacy=True)
_binary("Greater", _compare(np.greater), since=7, legacy=True)
_binary("Less", _compare(np.less), since=7, legacy=True)
_binary("GreaterOrEqual", _compare(np.greater_equal), since=12, legacy=False)
_binary("LessOrEqual", _compare(np.less_equal), since=12, legacy=False)
_binary("BitwiseAnd", _arithmetic(np.bitwise_and), since=18, legacy=False)
_binary("BitwiseOr", _arithmetic(np.bitwise_or), since=18, legacy=False)
_binary("BitwiseXor", _arithmetic(np.bitwise_xor), since=18, legacy=False)


@kernel("Mod", since=10)
def mod(ctx, inputs, attrs):
    a, b = inputs
    fmod = attrs.get("fmod", 0)
    if fmod not in (0, 1):
        raise ValueError(f"Mod: fmod must be 0 or 1, not {fmod}")
    with np.errstate(**_QUIET):
        # fmod=1 is C's fmod (sign of A); fmod=0 is Python's % (sign of B), which for
        # floats also gives the special values the spec lists (0 % -y is -0, x % inf ...).
        # An integer remainder by zero is undefined: numpy's 0 is kept.
        result = np.fmod(a, b) if fmod else np.remainder(a, b)
    return dtypes.keep_type(result, a)


@kernel("BitShift", since=11)
def bitshift(ctx, inputs, attrs):
    x, shift = inputs
    direction = attrs.get("direction", "")
    if direction not in ("LEFT", "RIGHT"):
        raise ValueError(f"BitShift: direction must be 'LEFT' or 'RIGHT', not {direction!r}")
    x, shift = np.broadcast_arrays(x, shift)
    bits = x.dtype.itemsize * 8
    # a shift outside [0, bits) leaves only the sign fill: -1 for a right shift of a
    # negative value, else 0 (opset 28 defines it; earlier opsets left it undefined)
    in_range = (shift >= 0) & (shift < bits)
    amount = np.where(in_range, shift, 0).astype(x.dtype)
    if direction == "LEFT":
        shifted = np.left_shift(x, amount)
        fill = np.zeros((), dtype=x.dtype)
    else:
        shifted = np.right_shift(x, amount)  # arithmetic for signed types
        signed = x.dtype.kind == "i"
        fill = np.where(x < 0, -1, 0).astype(x.dtype) if signed else np.zeros((), x.dtype)
    return np.asarray(np.where(in_range, shifted, fill), dtype=x.dtype)


# ---- variadic ops ------------------------------------------------------------------

def _variadic(op_type: str, combine, finish=None) -> None:
    """Register a variadic op: all shapes equal up to opset 7, broadcasting from 8."""

    def compute(inputs):
        if not inputs or any(x is None for x in inputs):
            raise ValueError(f"{op_type}: needs at least one input, none omitted")
        with np.errstate(**_QUIET):
            result = functools.reduce(combine, inputs)
            if finish is not None:
                result = finish(result, len(inputs))
        return dtypes.keep_type(result, inputs[0])

    def same_shapes(ctx, inputs, attrs):
        if len({x.shape for x in inputs if x is not None}) > 1:
            raise ValueError(f"{op_type}: inputs must have one shape before opset 8, "
                             f"got {[x.shape for x in inputs]}")
        return compute(inputs)

    def broadcasting(ctx, inputs, attrs):
        return compute(inputs)

    same_shapes.__name__ = f"{op_type.lower()}_same_shape"
    broadcasting.__name__ = op_type.lower()
    kernel(op_type, since=1, until=7)(same_shapes)
    kernel(op_type, since=8)(broadcasting)


_variadic("Max", np.maximum)
_variadic("Min", np.minimum)
_variadic("Sum", np.add)
_variadic("Mean", np.add, lambda total, count: total / count)


# ---- Clip, Where, Identity ---------------------------------------------------------

def _clip(x, low, high):
    """Clip with numpy's ordering: when low > high every value becomes high."""
    result = x
    if low is not None:
        result = np.maximum(result, low)
    if high is not None:
        result = np.minimum(result, high)
    return dtypes.keep_type(result, x)


@kernel("Clip", since=1, until=10)
def clip_attributes(ctx, inputs, attrs):
    x = inputs[0]
    # the defaults are float's lowest and max: no bound at all for these float types
    with np.errstate(over="ignore"):  # a float16 bound beyond its range is +-inf
        low = x.dtype.type(attrs["min"]) if "min" in attrs else None
        high = x.dtype.type(attrs["max"]) if "max" in attrs else None
    return _clip(x, low, high)


def _scalar_bound(value, x, role: str):
    if value is None:
        return None
    value = np.asarray(value)
    if value.size != 1:
        raise ValueError(f"Clip: {role} must be a scalar, got shape {value.shape}")
    return value.reshape(()).astype(x.dtype)


@kernel("Clip", since=11)
def clip(ctx, inputs, attrs):
    x = inputs[0]
    low = _scalar_bound(inputs[1] if len(inputs) > 1 else None, x, "min")
    high = _scalar_bound(inputs[2] if len(inputs) > 2 else None, x, "max")
    return _clip(x, low, high)


@kernel("Where", since=9)
def where(ctx, inputs, attrs):
    condition, x, y = inputs
    return dtypes.keep_type(np.where(np.asarray(condition, dtype=bool), x, y), x)


@kernel("Identity", since=1)
def identity(ctx, inputs, attrs):
    value = inputs[0]
    if isinstance(value, list):  # a sequence: a new list of the same tensors
        value = list(value)
    # wrapped, so that a sequence is one output and not a list of outputs
    return (value,)  # a tensor, a sequence, or None for an empty optional
