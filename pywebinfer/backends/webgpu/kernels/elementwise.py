"""Elementwise kernels: unary math and activations, binary arithmetic, comparisons and
logic with multidirectional broadcasting (and opsets 1-6's broadcast/axis attributes),
the variadic Sum/Mean/Max/Min, Clip, Where and Cast.  Shaders: unary.wgsl, binary.wgsl,
where.wgsl, cast.wgsl with the op libraries unary_*.wgsl and binary_*.wgsl."""
from __future__ import annotations

import math

import numpy as np

from .... import dtypes
from ..tensor import ALL, FLOATS, INTEGERS, NUMERIC, SIGNED
from . import claim, kinds_rule
from .common import (
    U32, backend_of, broadcast_shape, broadcast_strides, coalesce, compute_kind,
    elementwise_program, float_bits, host, present, value_words,
)

BOOL = frozenset({"bool"})

# ---- unary -----------------------------------------------------------------------------

UNARY_PARAMS = (("n", U32, 1), ("alpha", U32, 1), ("beta", U32, 1), ("gamma", U32, 1))


def unary(x, fn_name: str, out_dtype=None, params=(0, 0, 0), out: int | None = 0):
    """Y = fn(X) elementwise; ``params`` are the raw words of alpha, beta and gamma."""
    be = x.backend
    out_dtype = np.dtype(out_dtype or x.dtype)
    y = be.empty(x.shape, out_dtype, out)
    family = compute_kind(x.kind)
    libs = ("math_util.wgsl", "unary_float.wgsl") if family == "f" else ("unary_int.wgsl",)
    program = elementwise_program(
        "unary.wgsl", (("X", x.kind, False), ("Y", y.kind, True)), UNARY_PARAMS,
        (("OP", fn_name),), libs)
    alpha, beta, gamma = params
    be.dispatch(program, [x, y], {"n": x.size, "alpha": alpha, "beta": beta, "gamma": gamma},
                threads=x.size)
    return y


def _floats(*values):
    return tuple(float_bits(v) for v in values) + (0,) * (3 - len(values))


def _float_unary(fn_name, params=lambda attrs: ()):
    def run(ctx, inputs, attrs):
        return unary(inputs[0], fn_name, params=_floats(*params(attrs)))

    run.__name__ = fn_name
    return run


FLOAT_UNARY = {
    "Exp": "op_exp", "Log": "op_log", "Sqrt": "op_sqrt", "Reciprocal": "op_reciprocal",
    "Ceil": "op_ceil", "Floor": "op_floor", "Round": "op_round", "Sin": "op_sin",
    "Cos": "op_cos", "Tan": "op_tan", "Asin": "op_asin", "Acos": "op_acos", "Atan": "op_atan",
    "Sinh": "op_sinh", "Cosh": "op_cosh", "Asinh": "op_asinh", "Acosh": "op_acosh",
    "Atanh": "op_atanh", "Tanh": "op_tanh", "Erf": "op_erf", "Sigmoid": "op_sigmoid",
    "HardSwish": "op_hard_swish", "Softplus": "op_softplus", "Softsign": "op_softsign",
    "Mish": "op_mish",
}
for _op, _fn in FLOAT_UNARY.items():
    claim(_op, _float_unary(_fn), kinds_rule(FLOATS))

claim("LeakyRelu", _float_unary("op_leaky_relu", lambda a: (a.get("alpha", 0.01),)), kinds_rule(FLOATS))
claim("Elu", _float_unary("op_elu", lambda a: (a.get("alpha", 1.0),)), kinds_rule(FLOATS))
claim("Celu", _float_unary("op_celu", lambda a: (a.get("alpha", 1.0),)), kinds_rule(FLOATS))
claim("ThresholdedRelu", _float_unary("op_thresholded_relu", lambda a: (a.get("alpha", 1.0),)),
      kinds_rule(FLOATS))
claim("Selu", _float_unary("op_selu", lambda a: (a.get("alpha", 1.67326319217681884765625), 0.0,
                                                 a.get("gamma", 1.05070102214813232421875))),
      kinds_rule(FLOATS))
claim("HardSigmoid", _float_unary("op_hard_sigmoid", lambda a: (a.get("alpha", 0.2), a.get("beta", 0.5))),
      kinds_rule(FLOATS))
claim("Shrink", _float_unary("op_shrink", lambda a: (a.get("bias", 0.0), a.get("lambd", 0.5))),
      kinds_rule(FLOATS))


def gelu(ctx, inputs, attrs):
    approximate = attrs.get("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"Gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
    return unary(inputs[0], "op_gelu" if approximate == "none" else "op_gelu_tanh")


claim("Gelu", gelu, kinds_rule(FLOATS))


def _signed_or_float(fn_name):
    def run(ctx, inputs, attrs):
        return unary(inputs[0], fn_name)

    run.__name__ = fn_name
    return run


for _op, _fn in {"Abs": "op_abs", "Neg": "op_neg", "Sign": "op_sign", "Relu": "op_relu"}.items():
    claim(_op, _signed_or_float(_fn), kinds_rule(NUMERIC))
claim("BitwiseNot", _signed_or_float("op_bitwise_not"), kinds_rule(INTEGERS))
claim("Not", _signed_or_float("op_not"), kinds_rule(BOOL))


def isnan(ctx, inputs, attrs):
    return unary(inputs[0], "op_is_nan", np.bool_)


def isinf(ctx, inputs, attrs):
    return unary(inputs[0], "op_is_inf", np.bool_,
                 (int(attrs.get("detect_positive", 1) != 0), int(attrs.get("detect_negative", 1) != 0), 0))


claim("IsNaN", isnan, kinds_rule(FLOATS))
claim("IsInf", isinf, kinds_rule(FLOATS))


# ---- Clip ------------------------------------------------------------------------------

def clip(ctx, inputs, attrs):
    x = inputs[0]
    if ctx.opset < 11:
        low, high = attrs.get("min"), attrs.get("max")
    else:
        low = host("Clip", present(inputs, 1), "min")
        high = host("Clip", present(inputs, 2), "max")
        low = None if low is None else low.reshape(-1)[0]
        high = None if high is None else high.reshape(-1)[0]
    if x.kind in FLOATS:
        low = -math.inf if low is None else float(low)
        high = math.inf if high is None else float(high)
        return unary(x, "op_clip", params=_floats(low, high))
    info = np.iinfo(x.dtype)
    low = info.min if low is None else int(low)
    high = info.max if high is None else int(high)
    # the bounds in the 32-bit words the shader compares in
    return unary(x, "op_clip", params=(value_words(low, np.int64 if x.kind in SIGNED else np.uint64)[0],
                                       value_words(high, np.int64 if x.kind in SIGNED else np.uint64)[0], 0))


claim("Clip", clip, kinds_rule(NUMERIC))


# ---- binary ----------------------------------------------------------------------------

BINARY_PARAMS = (("n", U32, 1), ("rank", U32, 1), ("bits", U32, 1), ("shape", U32, 8),
                 ("sa", U32, 8), ("sb", U32, 8))


def binary(op: str, a, b, fn_name: str, out_dtype, out: int | None = 0, libs=None):
    """Y = fn(A, B) with multidirectional broadcasting."""
    be = backend_of([a, b])
    shape = broadcast_shape(op, a.shape, b.shape)
    y = be.empty(shape, out_dtype, out)
    if y.size == 0:
        return y
    dims, (sa, sb) = coalesce(shape, broadcast_strides(a.shape, shape), broadcast_strides(b.shape, shape))
    family = compute_kind(a.kind)
    if libs is None:
        libs = (("binary_any.wgsl", "float_util.wgsl", "binary_float.wgsl") if family == "f" else
                ("binary_any.wgsl", "float_util.wgsl", "binary_int.wgsl"))
    program = elementwise_program(
        "binary.wgsl", (("A", a.kind, False), ("B", b.kind, False), ("Y", y.kind, True)),
        BINARY_PARAMS, (("OP", fn_name),), libs)
    bits = 8 * np.dtype(a.dtype).itemsize
    be.dispatch(program, [a, b, y], {"n": y.size, "rank": len(dims), "bits": bits, "shape": dims,
                                     "sa": sa, "sb": sb}, threads=y.size)
    return y


def legacy_operands(op: str, be, a, b, attrs):
    """Opsets 1-6: with broadcast=1, B lines up with A's dimensions from ``axis``."""
    if not attrs.get("broadcast", 0):
        if a.shape != b.shape:
            raise ValueError(f"{op}: shapes {a.shape} and {b.shape} differ and broadcast is not set")
        return a, b
    if b.ndim > a.ndim:
        raise ValueError(f"{op}: B of rank {b.ndim} cannot broadcast to A of rank {a.ndim}")
    axis = attrs.get("axis", a.ndim - b.ndim)
    axis = axis + a.ndim if axis < 0 else axis
    if not 0 <= axis <= a.ndim - b.ndim:
        raise ValueError(f"{op}: axis {attrs.get('axis')} does not place B {b.shape} in A {a.shape}")
    aligned = (1,) * axis + b.shape + (1,) * (a.ndim - axis - b.ndim)
    return a, be.view(b, aligned)


def _arith(op: str, float_fn: str, int_fn: str | None = None):
    def run(ctx, inputs, attrs):
        a, b = inputs[0], inputs[1]
        if ctx.opset < 7:
            a, b = legacy_operands(op, a.backend, a, b, attrs)
        fn = float_fn if a.kind in FLOATS else (int_fn or float_fn)
        return binary(op, a, b, fn, a.dtype)

    run.__name__ = op.lower()
    return run


def _same_kinds(kinds, outputs=ALL):
    base = kinds_rule(kinds, inputs=None, outputs=outputs)

    def rule(kinds_in, kinds_out, attrs, node=None):
        known = {k for k in kinds_in if k is not None}
        if len(known) > 1:
            return f"inputs of different element types {sorted(known)}"
        return base(kinds_in, kinds_out, attrs, node)

    return rule


claim("Add", _arith("Add", "op_add"), _same_kinds(NUMERIC))
claim("Sub", _arith("Sub", "op_sub"), _same_kinds(NUMERIC))
claim("Mul", _arith("Mul", "op_mul"), _same_kinds(NUMERIC))
claim("Div", _arith("Div", "op_div"), _same_kinds(NUMERIC))
claim("BitwiseAnd", _arith("BitwiseAnd", "op_bitwise_and"), _same_kinds(INTEGERS))
claim("BitwiseOr", _arith("BitwiseOr", "op_bitwise_or"), _same_kinds(INTEGERS))
claim("BitwiseXor", _arith("BitwiseXor", "op_bitwise_xor"), _same_kinds(INTEGERS))


def pow_(ctx, inputs, attrs):
    a, b = inputs[0], inputs[1]
    if ctx.opset < 7:
        a, b = legacy_operands("Pow", a.backend, a, b, attrs)
    if a.kind in FLOATS:
        fn = "op_pow" if b.kind in FLOATS else "op_pow_float_base"
    else:
        fn = "op_pow_int_base" if b.kind in FLOATS else "op_pow"
        if b.kind not in FLOATS and compute_kind(a.kind) != compute_kind(b.kind):
            fn = "op_pow_int_base"  # exponent of another integer family: through f32
    return binary("Pow", a, b, fn, a.dtype)


claim("Pow", pow_, kinds_rule(NUMERIC, inputs=(0, 1)))


def _compare(op: str, fn: str):
    def run(ctx, inputs, attrs):
        a, b = inputs[0], inputs[1]
        if ctx.opset < 7:
            a, b = legacy_operands(op, a.backend, a, b, attrs)
        return binary(op, a, b, fn, np.bool_)

    run.__name__ = op.lower()
    return run


claim("Equal", _compare("Equal", "op_equal"), _same_kinds(NUMERIC | BOOL))
claim("Less", _compare("Less", "op_less"), _same_kinds(NUMERIC))
claim("Greater", _compare("Greater", "op_greater"), _same_kinds(NUMERIC))
claim("LessOrEqual", _compare("LessOrEqual", "op_less_equal"), _same_kinds(NUMERIC))
claim("GreaterOrEqual", _compare("GreaterOrEqual", "op_greater_equal"), _same_kinds(NUMERIC))
claim("And", _compare("And", "op_and"), _same_kinds(BOOL))
claim("Or", _compare("Or", "op_or"), _same_kinds(BOOL))
claim("Xor", _compare("Xor", "op_xor"), _same_kinds(BOOL))


def mod(ctx, inputs, attrs):
    fmod = attrs.get("fmod", 0)
    if fmod not in (0, 1):
        raise ValueError(f"Mod: fmod must be 0 or 1, not {fmod}")
    a, b = inputs
    return binary("Mod", a, b, "op_fmod" if fmod else "op_mod", a.dtype)


claim("Mod", mod, _same_kinds(NUMERIC))


def bitshift(ctx, inputs, attrs):
    direction = attrs.get("direction", "")
    if direction not in ("LEFT", "RIGHT"):
        raise ValueError(f"BitShift: direction must be 'LEFT' or 'RIGHT', not {direction!r}")
    a, b = inputs
    return binary("BitShift", a, b, "op_shift_left" if direction == "LEFT" else "op_shift_right", a.dtype)


claim("BitShift", bitshift, _same_kinds(INTEGERS))


def prelu(ctx, inputs, attrs):
    x, slope = inputs
    if ctx.opset < 7 and slope.ndim < x.ndim and slope.size != 1:
        # opsets 1-6 gave one slope per channel (axis 1)
        slope = x.backend.view(slope, (1, slope.size) + (1,) * (x.ndim - 2))
    return binary("PRelu", x, slope, "op_prelu", x.dtype)


claim("PRelu", prelu, _same_kinds(NUMERIC))


# ---- variadic --------------------------------------------------------------------------

def _variadic(op: str, float_fn: str, int_fn: str, mean: bool = False):
    def run(ctx, inputs, attrs):
        if not inputs or any(x is None for x in inputs):
            raise ValueError(f"{op}: needs at least one input, none omitted")
        if ctx.opset < 8 and len({x.shape for x in inputs}) > 1:
            raise ValueError(f"{op}: inputs must have one shape before opset 8, got {[x.shape for x in inputs]}")
        first = inputs[0]
        fn = float_fn if first.kind in FLOATS else int_fn
        if len(inputs) == 1:
            return unary(first, "op_identity")
        acc = first
        for i, x in enumerate(inputs[1:]):
            last = i == len(inputs) - 2 and not mean
            acc = binary(op, acc, x, fn, first.dtype, out=0 if last else None)
        if mean:
            return unary(acc, "op_scale", params=_floats(1.0 / len(inputs)))
        return acc

    run.__name__ = op.lower()
    return run


claim("Sum", _variadic("Sum", "op_add", "op_add"), _same_kinds(NUMERIC))
claim("Mean", _variadic("Mean", "op_add", "op_add", mean=True), _same_kinds(FLOATS))
claim("Max", _variadic("Max", "op_fmax", "op_max"), _same_kinds(NUMERIC))
claim("Min", _variadic("Min", "op_fmin", "op_min"), _same_kinds(NUMERIC))


# ---- Where -----------------------------------------------------------------------------

WHERE_PARAMS = (("n", U32, 1), ("rank", U32, 1), ("shape", U32, 8), ("sc", U32, 8),
                ("sx", U32, 8), ("sz", U32, 8))


def where(ctx, inputs, attrs):
    c, x, z = inputs
    be = backend_of(inputs)
    shape = broadcast_shape("Where", c.shape, x.shape, z.shape)
    y = be.empty(shape, x.dtype, 0)
    if y.size == 0:
        return y
    dims, (sc, sx, sz) = coalesce(shape, *(broadcast_strides(t.shape, shape) for t in (c, x, z)))
    program = elementwise_program(
        "where.wgsl", (("C", c.kind, False), ("X", x.kind, False), ("Z", z.kind, False),
                       ("Y", y.kind, True)), WHERE_PARAMS)
    be.dispatch(program, [c, x, z, y], {"n": y.size, "rank": len(dims), "shape": dims,
                                        "sc": sc, "sx": sx, "sz": sz}, threads=y.size)
    return y


def _where_rule(kinds_in, kinds_out, attrs, node=None):
    if kinds_in and kinds_in[0] not in (None, "bool"):
        return f"condition is {kinds_in[0]}, not bool"
    data = {k for k in kinds_in[1:] if k is not None}
    if len(data) > 1:
        return f"X and Y of different element types {sorted(data)}"
    return None


claim("Where", where, _where_rule)


# ---- Cast ------------------------------------------------------------------------------

CAST_KINDS = NUMERIC | BOOL


def cast_to(x, dtype, out: int | None = 0):
    be = x.backend
    y = be.empty(x.shape, dtype, out)
    if y.size == 0:
        return y
    program = elementwise_program("cast.wgsl", (("X", x.kind, False), ("Y", y.kind, True)),
                                  (("n", U32, 1), ("to_bool", U32, 1)))
    be.dispatch(program, [x, y], {"n": x.size, "to_bool": int(y.kind == "bool")}, threads=x.size)
    return y


def cast(ctx, inputs, attrs):
    to = attrs.get("to")
    if to is None:
        raise ValueError("Cast: the 'to' attribute is required")
    return cast_to(inputs[0], dtypes.storage_dtype(int(to)))


def cast_like(ctx, inputs, attrs):
    return cast_to(inputs[0], inputs[1].dtype)


claim("Cast", cast, kinds_rule(CAST_KINDS, outputs=CAST_KINDS))
claim("CastLike", cast_like, kinds_rule(CAST_KINDS, inputs=(0, 1), outputs=CAST_KINDS))


__all__ = ["unary", "binary", "cast_to"]
