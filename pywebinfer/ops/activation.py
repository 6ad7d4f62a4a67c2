"""activation ops: numpy reference kernels.

Formulas are evaluated in float32 for float16 input (one rounding at the end instead
of one per step) and the result keeps the input's element type.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from .elementwise import erf
from .registry import kernel


def _work(x) -> np.ndarray:
    """The array to compute with: float16 widened to float32, others unchanged."""
    return x.astype(np.float32) if x.dtype == np.float16 else x


def _sigmoid(x) -> np.ndarray:
    # exp of a non-positive number only, so large |x| neither overflows nor warns
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _activation(op_type: str, since: int, formula) -> None:
    """Register ``formula(x, attrs)`` as the kernel of ``op_type``."""

    def run(ctx, inputs, attrs):
        x = inputs[0]
        with np.errstate(over="ignore", invalid="ignore"):
            return dtypes.keep_type(formula(_work(x), attrs), x)

    run.__name__ = op_type.lower()
    kernel(op_type, since=since)(run)


def _relu(x, attrs):
    return np.maximum(x, np.zeros((), dtype=x.dtype))


def _leaky_relu(x, attrs):
    alpha = attrs.get("alpha", 0.01)
    return np.where(x < 0, x * x.dtype.type(alpha), x)


def _elu(x, attrs):
    alpha = attrs.get("alpha", 1.0)
    return np.where(x < 0, x.dtype.type(alpha) * np.expm1(np.minimum(x, 0)), x)


def _selu(x, attrs):
    alpha = x.dtype.type(attrs.get("alpha", 1.67326319217681884765625))
    gamma = x.dtype.type(attrs.get("gamma", 1.05070102214813232421875))
    return np.where(x <= 0, gamma * alpha * np.expm1(np.minimum(x, 0)), gamma * x)


def _celu(x, attrs):
    alpha = x.dtype.type(attrs.get("alpha", 1.0))
    return np.maximum(x, 0) + np.minimum(0, alpha * np.expm1(np.minimum(x, 0) / alpha))


def _hard_sigmoid(x, attrs):
    alpha = x.dtype.type(attrs.get("alpha", 0.2))
    beta = x.dtype.type(attrs.get("beta", 0.5))
    return np.clip(alpha * x + beta, 0, 1)


def _hard_swish(x, attrs):
    return x * np.clip(x / x.dtype.type(6) + x.dtype.type(0.5), 0, 1)


def _softplus(x, attrs):
    return np.logaddexp(x.dtype.type(0), x)


def _softsign(x, attrs):
    return x / (1 + np.abs(x))


def _gelu(x, attrs):
    approximate = attrs.get("approximate", "none")
    if approximate == "tanh":
        inner = x.dtype.type(math.sqrt(2 / math.pi)) * (x + x.dtype.type(0.044715) * x * x * x)
        return x.dtype.type(0.5) * x * (1 + np.tanh(inner))
    if approximate == "none":
        return 0.5 * x * (1 + erf(x / math.sqrt(2)))
    raise ValueError(f"Gelu: approximate must be 'none' or 'tanh', not {approximate!r}")


def _mish(x, attrs):
    return x * np.tanh(np.logaddexp(x.dtype.type(0), x))


def _swish(x, attrs):
    return x * _sigmoid(x * x.dtype.type(attrs.get("alpha", 1.0)))


def _thresholded_relu(x, attrs):
    return np.where(x > x.dtype.type(attrs.get("alpha", 1.0)), x, 0)


_activation("Relu", 1, _relu)
_activation("LeakyRelu", 1, _leaky_relu)
_activation("Elu", 1, _elu)
_activation("Selu", 1, _selu)
_activation("Celu", 12, _celu)
_activation("Sigmoid", 1, lambda x, attrs: _sigmoid(x))
_activation("HardSigmoid", 1, _hard_sigmoid)
_activation("HardSwish", 14, _hard_swish)
_activation("Softplus", 1, _softplus)
_activation("Softsign", 1, _softsign)
_activation("Gelu", 20, _gelu)
_activation("Mish", 18, _mish)
_activation("Swish", 24, _swish)
_activation("ThresholdedRelu", 10, _thresholded_relu)


@kernel("Shrink", since=9)
def shrink(ctx, inputs, attrs):
    x = inputs[0]
    lambd = attrs.get("lambd", 0.5)
    bias = attrs.get("bias", 0.0)
    # integers too: computed in float64, then truncated back to the input type
    work = x.astype(np.float64) if x.dtype.kind in "iu" else _work(x)
    result = np.where(work < -lambd, work + bias, np.where(work > lambd, work - bias, 0))
    return dtypes.keep_type(result, x)


def _prelu(x, slope):
    if np.broadcast_shapes(x.shape, slope.shape) != x.shape:
        raise ValueError(f"PRelu: slope {slope.shape} is not unidirectionally broadcastable "
                         f"to X {x.shape}")
    with np.errstate(over="ignore"):
        return dtypes.keep_type(np.where(x < 0, x * slope, x), x)


@kernel("PRelu", since=1, until=6)
def prelu_channels(ctx, inputs, attrs):
    x, slope = inputs
    # before opset 7 a slope of one value per channel lines up with X's axis 1
    if slope.ndim == 1 and slope.size > 1 and x.ndim >= 2 and x.shape[1] == slope.size:
        slope = slope.reshape((slope.size,) + (1,) * (x.ndim - 2))
    return _prelu(x, slope)


@kernel("PRelu", since=7)
def prelu(ctx, inputs, attrs):
    return _prelu(inputs[0], inputs[1])


# ---- Softmax, LogSoftmax, Hardmax --------------------------------------------------

def _softmax(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _hardmax(x, axis):
    result = np.zeros(x.shape, dtype=x.dtype)
    if x.size:
        first_max = np.argmax(x, axis=axis, keepdims=True)
        np.put_along_axis(result, first_max, 1, axis=axis)
    return result


def _normalized_axis(op_type: str, axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"{op_type}: axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def _along_axis(op_type: str, fn) -> None:
    """Register ``fn(x, axis)`` for ``op_type``: before opset 13 the input is coerced to
    2D [prod(shape[:axis]), prod(shape[axis:])] (axis default 1); from 13 on ``fn``
    works along the single ``axis`` (default -1)."""

    def run(x, axis):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return dtypes.keep_type(fn(_work(x), axis), x)

    def coerced_2d(ctx, inputs, attrs):
        x = inputs[0]
        axis = _normalized_axis(op_type, attrs.get("axis", 1), x.ndim)
        rows = math.prod(x.shape[:axis])
        flat = x.reshape(rows, math.prod(x.shape[axis:]))
        return run(flat, 1).reshape(x.shape)

    def single_axis(ctx, inputs, attrs):
        x = inputs[0]
        return run(x, _normalized_axis(op_type, attrs.get("axis", -1), x.ndim))

    coerced_2d.__name__ = f"{op_type.lower()}_2d"
    single_axis.__name__ = op_type.lower()
    kernel(op_type, since=1, until=12)(coerced_2d)
    kernel(op_type, since=13)(single_axis)


_along_axis("Softmax", _softmax)
_along_axis("LogSoftmax", _log_softmax)
_along_axis("Hardmax", _hardmax)
