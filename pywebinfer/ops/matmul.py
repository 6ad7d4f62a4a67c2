"""Matrix ops: numpy reference kernels.

MatMul, Gemm, Einsum, MatMulInteger, QLinearMatMul and Det.  float16 operands are
multiplied in float32 (one BLAS call instead of numpy's slow half-precision loops, and
float32 accumulation) and rounded back.  The integer products are exact: 8-bit operands
are multiplied in float64, which holds every partial sum of realistic depth exactly,
and then wrap to int32 as the spec allows.
"""
from __future__ import annotations

import numpy as np

from .registry import kernel


def _matmul(op, a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"{op}: operands must have rank >= 1, got shapes {a.shape} and {b.shape}")
    try:
        if a.dtype == np.float16 and b.dtype == np.float16:
            return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(np.float16)
        return np.matmul(a, b)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} do not multiply") from None


@kernel("MatMul", since=1)
def matmul(ctx, inputs, attrs):
    return _matmul("MatMul", inputs[0], inputs[1])


def _gemm(inputs, attrs, c_must_match=False):
    a, b = inputs[:2]
    c = inputs[2] if len(inputs) > 2 else None
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"Gemm: A and B must be 2-D, got shapes {a.shape} and {b.shape}")
    if attrs.get("transA", 0):
        a = a.T
    if attrs.get("transB", 0):
        b = b.T
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"Gemm: A' {a.shape} and B' {b.shape} do not multiply")
    dtype = a.dtype
    alpha = float(attrs.get("alpha", 1.0))
    beta = float(attrs.get("beta", 1.0))
    if dtype == np.float16:  # the whole expression in float32, rounded once at the end
        a, b = a.astype(np.float32), b.astype(np.float32)
        c = None if c is None else c.astype(np.float32)
    y = _matmul("Gemm", a, b)
    if dtype.kind in "iu" and (alpha != 1.0 or (c is not None and beta not in (0.0, 1.0))):
        y = y.astype(np.float64)  # fractional scales on integers, truncated at the end
    if alpha != 1.0:
        y *= y.dtype.type(alpha)
    if c is not None and beta != 0.0:
        if c_must_match and c.shape != y.shape:
            raise ValueError(f"Gemm: C shape {c.shape} must be {y.shape} when broadcast=0")
        try:
            np.broadcast_to(c, y.shape)
        except ValueError:
            raise ValueError(f"Gemm: C shape {c.shape} does not broadcast to {y.shape}") from None
        y += c if beta == 1.0 else c.astype(y.dtype) * y.dtype.type(beta)
    return y.astype(dtype, copy=False)


@kernel("Gemm", since=1, until=6)
def gemm_v1(ctx, inputs, attrs):
    # before opset 7, C broadcasts only when the broadcast attribute asks for it
    return _gemm(inputs, attrs, c_must_match=not attrs.get("broadcast", 0))


@kernel("Gemm", since=7)
def gemm(ctx, inputs, attrs):
    return _gemm(inputs, attrs)


def _explicit_equation(equation, n_inputs):
    """The equation with its output term spelled out (implicit mode resolved)."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != n_inputs:
        raise ValueError(f"Einsum: equation {equation!r} has {len(terms)} operand terms for "
                         f"{n_inputs} inputs")
    for term in terms + [rhs]:
        letters = term.replace("...", "")
        if not all(ch.isascii() and ch.isalpha() for ch in letters):
            raise ValueError(f"Einsum: equation {equation!r} has an invalid term {term!r}")
    if arrow:
        return eq
    # implicit output: labels used exactly once, in ASCII order (upper case first),
    # after the broadcast dimensions
    letters = lhs.replace("...", "").replace(",", "")
    once = sorted(ch for ch in set(letters) if letters.count(ch) == 1)
    return lhs + "->" + ("..." if "..." in lhs else "") + "".join(once)


@kernel("Einsum", since=12)
def einsum(ctx, inputs, attrs):
    if "equation" not in attrs:
        raise ValueError("Einsum: the equation attribute is required")
    if not inputs:
        raise ValueError("Einsum: needs at least one input")
    equation = _explicit_equation(attrs["equation"], len(inputs))
    dtype = np.result_type(*inputs)
    operands = [x.astype(np.float32) for x in inputs] if dtype == np.float16 else inputs
    try:
        # the optimizer finds a good contraction order and routes pairs through BLAS
        out = np.einsum(equation, *operands, optimize=len(operands) > 1)
    except ValueError as e:
        raise ValueError(f"Einsum: {equation!r} does not fit operand shapes "
                         f"{[x.shape for x in inputs]}: {e}") from None
    return np.asarray(out).astype(dtype, copy=False)


def _per_row(v, x):
    """A per-row quantization parameter of an [.., M, K] operand, shaped to broadcast."""
    v = np.asarray(v)
    if v.ndim == 1 and v.size > 1 and x.ndim >= 2:
        if v.size != x.shape[-2]:
            raise ValueError(f"per-row parameter of {v.size} values for {x.shape[-2]} rows")
        return v[:, None]
    return v


def _exact_int_matmul(op, a, a_zero, b, b_zero):
    """(a - a_zero) @ (b - b_zero) for 8-bit operands, exactly, as int64."""
    try:
        a = a.astype(np.float64) - _per_row(a_zero, a).astype(np.float64)
    except ValueError as e:
        raise ValueError(f"{op}: a zero point: {e}") from None
    b = b.astype(np.float64) - np.asarray(b_zero).astype(np.float64)
    return _matmul(op, a, b).astype(np.int64)


@kernel("MatMulInteger", since=10)
def matmul_integer(ctx, inputs, attrs):
    a, b = inputs[:2]
    a_zero = inputs[2] if len(inputs) > 2 and inputs[2] is not None else 0
    b_zero = inputs[3] if len(inputs) > 3 and inputs[3] is not None else 0
    acc = _exact_int_matmul("MatMulInteger", a, a_zero, b, b_zero)
    return acc.astype(np.int32)  # wraps on int32 overflow, as the spec allows


def _qlinear_matmul(inputs):
    op = "QLinearMatMul"
    a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero = inputs[:8]
    if a.dtype.kind == "f" or b.dtype.kind == "f" or y_zero.dtype.kind == "f":
        # float8 tensors arrive widened to float32, which hides which float8 format the
        # output must be rounded to; the kernel interface carries no element types
        raise ValueError(f"{op}: float8 operands are not supported (their element type is "
                         "not known to the kernel)")
    acc = _exact_int_matmul(op, a, a_zero, b, b_zero)
    # requantize in float32 like the reference runtimes: acc * (sa * sb / sy) + zy
    try:
        scale = (_per_row(a_scale, a).astype(np.float32) * np.asarray(b_scale, dtype=np.float32)
                 / np.asarray(y_scale, dtype=np.float32))
    except ValueError as e:
        raise ValueError(f"{op}: a scale: {e}") from None
    y = np.rint(acc.astype(np.float32) * scale) + np.asarray(y_zero).astype(np.float32)
    info = np.iinfo(y_zero.dtype)
    return np.clip(y, info.min, info.max).astype(y_zero.dtype)


@kernel("QLinearMatMul", since=10, until=20)
def qlinear_matmul_v10(ctx, inputs, attrs):
    return _qlinear_matmul(inputs)


@kernel("QLinearMatMul", since=21, note="float8 operands unsupported (types not passed)")
def qlinear_matmul(ctx, inputs, attrs):
    return _qlinear_matmul(inputs)


@kernel("Det", since=11)
def det(ctx, inputs, attrs):
    x = inputs[0]
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"Det: input must be [*, M, M], got shape {x.shape}")
    work = np.float32 if x.dtype == np.float16 else x.dtype
    return np.asarray(np.linalg.det(x.astype(work, copy=False))).astype(x.dtype, copy=False)
