"""Elementwise ops: unary math and activations, binary arithmetic and comparisons with
numpy broadcasting, Where, the variadic Sum / Mean / Max / Min and Cast.

All run through elementwise.glsl: one GLSL function of elementwise_ops.glsl per op,
picked by the kernel (``OP``), the operands read four at a time (a texel fetch where an
operand has the output's shape).  Attribute values (LeakyRelu's alpha ...) are
uniforms.  Integer kinds compute exactly within +-2**24 (tensor.py)."""
from __future__ import annotations

import math

import numpy as np

from .... import dtypes
from ..tensor import ALL, FLOATS, INTEGERS, NUMERIC
from . import claim, kinds_rule
from .common import (
    FLOAT, Program, backend_of, broadcast_shape, host_scalar, mapped_inputs, present,
)

PARAMS = (("alpha", FLOAT, 1), ("beta", FLOAT, 1), ("gamma", FLOAT, 1))
SIGNED = NUMERIC - {"u8", "u16"}
MAX_FLOAT = float(np.finfo(np.float32).max)


def elementwise(op: str, fn: str, operands, out, alpha=0.0, beta=0.0, gamma=0.0) -> None:
    """out = fn(operands...), each operand broadcast to out's shape."""
    spec, rank, params = mapped_inputs(op, operands, out.shape)
    program = Program("elementwise.glsl", spec, rank, PARAMS,
                      (("ARITY", len(operands)), ("OP", fn)), out.kind)
    params.update(alpha=alpha, beta=beta, gamma=gamma)
    out.backend.draw(program, out, operands, params)


# ---- unary ------------------------------------------------------------------------

def _unary(op: str, fn: str, kinds=FLOATS, params=None) -> None:
    """Register ``op`` as GLSL function ``fn`` of one operand; ``params(attrs)`` gives
    its (alpha, beta, gamma)."""

    def kernel(ctx, inputs, attrs):
        x = inputs[0]
        out = x.backend.output(0, x.shape, x.dtype)
        elementwise(op, fn, [x], out, *(params(attrs) if params else ()))
        return out

    kernel.__name__ = fn
    claim(op, kernel, kinds_rule(kinds))


for _op, _fn in (("Exp", "op_exp"), ("Log", "op_log"), ("Sqrt", "op_sqrt"),
                 ("Reciprocal", "op_reciprocal"), ("Floor", "op_floor"), ("Ceil", "op_ceil"),
                 ("Round", "op_round"), ("Sin", "op_sin"), ("Cos", "op_cos"), ("Tan", "op_tan"),
                 ("Asin", "op_asin"), ("Acos", "op_acos"), ("Atan", "op_atan"),
                 ("Sinh", "op_sinh"), ("Cosh", "op_cosh"), ("Tanh", "op_tanh"),
                 ("Asinh", "op_asinh"), ("Acosh", "op_acosh"), ("Atanh", "op_atanh"),
                 ("Sigmoid", "op_sigmoid"), ("Softplus", "op_softplus"),
                 ("Softsign", "op_softsign"), ("Erf", "op_erf"), ("Mish", "op_mish"),
                 ("HardSwish", "op_hard_swish")):
    _unary(_op, _fn)
_unary("Abs", "op_abs", NUMERIC)
_unary("Neg", "op_neg", SIGNED)
_unary("Sign", "op_sign", NUMERIC)
_unary("Relu", "op_relu", SIGNED)
_unary("Not", "op_not", {"bool"})
_unary("BitwiseNot", "op_bitwise_not", INTEGERS)
_unary("LeakyRelu", "op_leaky_relu", params=lambda a: (a.get("alpha", 0.01),))
_unary("Elu", "op_elu", params=lambda a: (a.get("alpha", 1.0),))
_unary("Celu", "op_celu", params=lambda a: (a.get("alpha", 1.0),))
_unary("Selu", "op_selu", params=lambda a: (a.get("alpha", 1.6732632423543772848170429916717),
                                            0.0, a.get("gamma", 1.0507009873554804934193349852946)))
_unary("HardSigmoid", "op_hard_sigmoid", params=lambda a: (a.get("alpha", 0.2), a.get("beta", 0.5)))
_unary("ThresholdedRelu", "op_thresholded_relu", params=lambda a: (a.get("alpha", 1.0),))
_unary("Shrink", "op_shrink", NUMERIC, params=lambda a: (a.get("lambd", 0.5), a.get("bias", 0.0)))


def _gelu(ctx, inputs, attrs):
    x = inputs[0]
    approximate = attrs.get("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"Gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
    out = x.backend.output(0, x.shape, x.dtype)
    elementwise("Gelu", "op_gelu_tanh" if approximate == "tanh" else "op_gelu", [x], out)
    return out


claim("Gelu", _gelu, kinds_rule(FLOATS))


def _isnan(ctx, inputs, attrs):
    x = inputs[0]
    out = x.backend.output(0, x.shape, np.bool_)
    elementwise("IsNaN", "op_isnan", [x], out)
    return out


def _isinf(ctx, inputs, attrs):
    x = inputs[0]
    out = x.backend.output(0, x.shape, np.bool_)
    elementwise("IsInf", "op_isinf", [x], out, float(attrs.get("detect_positive", 1) != 0),
                float(attrs.get("detect_negative", 1) != 0))
    return out


claim("IsNaN", _isnan, kinds_rule(FLOATS))
claim("IsInf", _isinf, kinds_rule(FLOATS))


def _identity(ctx, inputs, attrs):
    x = inputs[0]
    return x.backend.view(x, x.shape)


claim("Identity", _identity, kinds_rule(ALL))


def _clip(ctx, inputs, attrs):
    x = inputs[0]
    if ctx.opset < 11:
        low, high = attrs.get("min", -MAX_FLOAT), attrs.get("max", MAX_FLOAT)
    else:
        low = host_scalar(present(inputs, 1), -math.inf)
        high = host_scalar(present(inputs, 2), math.inf)
    out = x.backend.output(0, x.shape, x.dtype)
    elementwise("Clip", "op_clip", [x], out, float(low), float(high))
    return out


claim("Clip", _clip, kinds_rule(NUMERIC))


# ---- Cast -------------------------------------------------------------------------

def _cast_to(op: str, x, dtype):
    be = x.backend
    out = be.output(0, x.shape, dtype)
    source, target = x.kind, out.kind
    # float -> integer truncates toward zero; every other conversion is the store's
    fn = "op_trunc" if source in FLOATS and target in INTEGERS else "op_identity"
    elementwise(op, fn, [x], out)
    return out


def _cast(ctx, inputs, attrs):
    to = attrs.get("to")
    if to is None:
        raise ValueError("Cast: the 'to' attribute is required")
    return _cast_to("Cast", inputs[0], dtypes.storage_dtype(int(to)))


def _cast_like(ctx, inputs, attrs):
    return _cast_to("CastLike", inputs[0], inputs[1].dtype)


def _cast_rule(node, kinds_in, kinds_out):
    to = node.attrs.get("to")
    if to is not None and int(to) in dtypes.WIDENED:
        return f"Cast to {dtypes.name(int(to))}: WebGL2 textures do not hold it"
    return None


claim("Cast", _cast, _cast_rule)
claim("CastLike", _cast_like, kinds_rule(ALL))


# ---- binary -----------------------------------------------------------------------

def _legacy(op: str, be, a, b, attrs):
    """Opsets 1-6: with ``broadcast=1`` B lines up with A's dimensions from ``axis``."""
    if not attrs.get("broadcast", 0):
        if a.shape != b.shape:
            raise ValueError(f"{op}: shapes {a.shape} and {b.shape} differ and broadcast is not set")
        return b
    axis = attrs.get("axis", a.ndim - b.ndim)
    axis = axis + a.ndim if axis < 0 else axis
    if b.ndim > a.ndim or not 0 <= axis <= a.ndim - b.ndim:
        raise ValueError(f"{op}: B {b.shape} cannot broadcast to A {a.shape} at axis {axis}")
    return be.view(b, (1,) * axis + b.shape + (1,) * (a.ndim - axis - b.ndim), temporary=True)


def _binary(op: str, pick, kinds=NUMERIC, out_dtype=None, params=None) -> None:
    """Register ``op``: ``pick(kind, attrs)`` names the GLSL function for the operands'
    kind; the output has the first operand's type, or ``out_dtype``; ``params(a)`` gives
    the (alpha, beta, gamma) uniforms from the first operand."""

    def kernel(ctx, inputs, attrs):
        a, b = inputs[0], inputs[1]
        be = backend_of(inputs)
        if ctx.opset < 7 and op in LEGACY:
            b = _legacy(op, be, a, b, attrs)
        shape = broadcast_shape(op, a.shape, b.shape)
        out = be.output(0, shape, out_dtype or a.dtype)
        elementwise(op, pick(a.kind, attrs), [a, b], out, *(params(a) if params else ()))
        return out

    kernel.__name__ = op.lower()
    claim(op, kernel, kinds_rule(kinds))


def _fixed(fn: str):
    return lambda kind, attrs: fn


def _by_kind(float_fn: str, int_fn: str):
    return lambda kind, attrs: float_fn if kind in FLOATS else int_fn


def _mod(kind, attrs):
    fmod = attrs.get("fmod", 0)
    if fmod not in (0, 1):
        raise ValueError(f"Mod: fmod must be 0 or 1, not {fmod}")
    if kind in FLOATS:
        return "op_fmod" if fmod else "op_mod_float"
    return "op_fmod_int" if fmod else "op_mod_int"


def _shift(kind, attrs):
    direction = attrs.get("direction", "")
    if direction not in ("LEFT", "RIGHT"):
        raise ValueError(f"BitShift: direction must be 'LEFT' or 'RIGHT', not {direction!r}")
    return "op_shift_left" if direction == "LEFT" else "op_shift_right"


LEGACY = {"Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less"}
BOOL = np.bool_

_binary("Add", _fixed("op_add"))
_binary("Sub", _fixed("op_sub"))
_binary("Mul", _fixed("op_mul"))
_binary("Div", _by_kind("op_div", "op_div_int"))
_binary("Pow", _by_kind("op_pow", "op_pow_int"))
_binary("Mod", _mod)
_binary("Equal", _fixed("op_equal"), ALL, BOOL)
_binary("Less", _fixed("op_less"), NUMERIC, BOOL)
_binary("Greater", _fixed("op_greater"), NUMERIC, BOOL)
_binary("LessOrEqual", _fixed("op_less_equal"), NUMERIC, BOOL)
_binary("GreaterOrEqual", _fixed("op_greater_equal"), NUMERIC, BOOL)
_binary("And", _fixed("op_and"), {"bool"}, BOOL)
_binary("Or", _fixed("op_or"), {"bool"}, BOOL)
_binary("Xor", _fixed("op_xor"), {"bool"}, BOOL)
_binary("BitwiseAnd", _fixed("op_bitwise_and"), INTEGERS)
_binary("BitwiseOr", _fixed("op_bitwise_or"), INTEGERS)
_binary("BitwiseXor", _fixed("op_bitwise_xor"), INTEGERS)
_binary("BitShift", _shift, INTEGERS, params=lambda a: (8 * a.dtype.itemsize,))


def _prelu(ctx, inputs, attrs):
    x, slope = inputs
    be = x.backend
    shape = broadcast_shape("PRelu", x.shape, slope.shape)
    if shape != x.shape:
        raise ValueError(f"PRelu: slope {slope.shape} does not broadcast to X {x.shape}")
    out = be.output(0, shape, x.dtype)
    elementwise("PRelu", "op_prelu", [x, slope], out)
    return out


claim("PRelu", _prelu, kinds_rule(SIGNED))


def _where(ctx, inputs, attrs):
    cond, x, y = inputs
    be = backend_of(inputs)
    shape = broadcast_shape("Where", cond.shape, x.shape, y.shape)
    out = be.output(0, shape, x.dtype)
    elementwise("Where", "op_where", [cond, x, y], out)
    return out


claim("Where", _where, kinds_rule(ALL, inputs=(1,)))


# ---- variadic ---------------------------------------------------------------------

def _variadic(op: str, fn: str, kinds=NUMERIC, mean: bool = False) -> None:
    def kernel(ctx, inputs, attrs):
        operands = [t for t in inputs if t is not None]
        if not operands:
            raise ValueError(f"{op}: needs at least one input")
        be = backend_of(operands)
        shape = broadcast_shape(op, *[t.shape for t in operands])
        dtype = operands[0].dtype
        out = be.output(0, shape, dtype)
        if len(operands) == 1:
            elementwise(op, "op_identity", operands, out)
            return out
        acc = operands[0]
        steps = len(operands) - 1
        for i, t in enumerate(operands[1:], 1):
            last = i == steps and not mean
            part = broadcast_shape(op, acc.shape, t.shape)
            target = out if last else be.scratch(part, dtype)
            elementwise(op, fn, [acc, t], target)
            acc = target
        if mean:
            elementwise(op, "op_scale", [acc], out, 1.0 / len(operands))
        return out

    kernel.__name__ = op.lower()
    claim(op, kernel, kinds_rule(kinds, inputs=None))


_variadic("Sum", "op_add")
_variadic("Mean", "op_add", FLOATS, mean=True)
_variadic("Max", "op_max")
_variadic("Min", "op_min")
