"""norm ops: numpy reference kernels.

Statistics are computed in float32 (float64 for float64 tensors) so that float16 inputs do
not overflow or lose precision; results are cast back to the types the spec names.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from .registry import kernel


def _stat_dtype(*arrays):
    """float64 when any operand is float64, float32 otherwise (float16 is widened)."""
    if any(np.asarray(a).dtype == np.float64 for a in arrays if a is not None):
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def _check_float(op, x):
    if np.asarray(x).dtype.kind != "f":
        raise ValueError(f"{op}: expected a floating-point tensor, got {np.asarray(x).dtype}")


def _normalize_axis(op, axis, rank):
    if not -rank <= axis < rank:
        raise ValueError(f"{op}: axis {axis} out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def _stash_type(op, attrs):
    """The type stage one computes in; stash_type is an ONNX element type."""
    stash = int(attrs.get("stash_type", dtypes.FLOAT))
    if stash not in (dtypes.FLOAT, dtypes.BFLOAT16):
        raise ValueError(f"{op}: stash_type must be 1 (float) or 16 (bfloat16), got {stash}")
    return stash


def _moments(x, axes):
    """Mean and population variance over ``axes`` (keepdims), variance from deviations."""
    mean = x.mean(axis=axes, keepdims=True)
    dev = x - mean
    return mean, (dev * dev).mean(axis=axes, keepdims=True), dev


# ---------------------------------------------------------------------------- BatchNormalization


def _channel_shape(x, params_per_feature=False):
    """Shape that broadcasts a per-channel (or per-feature) parameter against ``x``."""
    if x.ndim == 1:
        return (-1,)
    if params_per_feature:
        return x.shape[1:]
    return (x.shape[1],) + (1,) * (x.ndim - 2)


def _batch_norm(x, scale, bias, mean, var, epsilon, spatial=True):
    """Inference-mode normalization; returns values in the statistics dtype."""
    cd = _stat_dtype(x, scale, bias, mean, var)
    shape = _channel_shape(x, not spatial)
    p = [np.asarray(a, dtype=cd).reshape(shape) for a in (scale, bias, mean, var)]
    scale_, bias_, mean_, var_ = p
    return (x.astype(cd) - mean_) / np.sqrt(var_ + cd.type(epsilon)) * scale_ + bias_


def _batch_stats(x, spatial=True):
    """Current mean and population variance per channel (per feature when not spatial)."""
    cd = _stat_dtype(x)
    if x.ndim == 1 or not spatial:
        axes = (0,)
    else:
        axes = (0,) + tuple(range(2, x.ndim))
    xs = x.astype(cd)
    mean = xs.mean(axis=axes)
    var = ((xs - mean.reshape(_channel_shape(x, not spatial))) ** 2).mean(axis=axes)
    return mean, var


def _check_bn_inputs(x, scale, bias, mean, var, spatial=True):
    _check_float("BatchNormalization", x)
    if x.ndim == 0:
        raise ValueError("BatchNormalization: X must have rank 1 or more")
    expected = (1,) if x.ndim == 1 else ((x.shape[1],) if spatial else x.shape[1:])
    for name, p in (("scale", scale), ("B", bias), ("mean", mean), ("var", var)):
        if p is None:
            raise ValueError(f"BatchNormalization: input {name} is required")
        if int(np.prod(np.shape(p))) != int(np.prod(expected)):
            raise ValueError(
                f"BatchNormalization: {name} has shape {np.shape(p)}, expected {expected} for X {x.shape}"
            )


def _legacy_batch_norm(ctx, inputs, attrs, training, spatial):
    x, scale, bias, mean, var = inputs[:5]
    _check_bn_inputs(x, scale, bias, mean, var, spatial)
    epsilon = float(attrs.get("epsilon", 1e-5))
    if not training:
        if any(ctx.wants(i) for i in range(1, ctx.num_outputs)):
            raise ValueError("BatchNormalization: test mode produces only Y")
        return _batch_norm(x, scale, bias, mean, var, epsilon, spatial).astype(x.dtype)
    momentum = float(attrs.get("momentum", 0.9))
    saved_mean, saved_var = _batch_stats(x, spatial)
    y = _batch_norm(x, scale, bias, saved_mean, saved_var, epsilon, spatial)
    feature_shape = saved_mean.shape
    running_mean = np.asarray(mean).reshape(feature_shape) * momentum + saved_mean * (1 - momentum)
    running_var = np.asarray(var).reshape(feature_shape) * momentum + saved_var * (1 - momentum)
    outs = [y, running_mean.reshape(np.shape(mean)), running_var.reshape(np.shape(var)),
            saved_mean.reshape(np.shape(mean)), saved_var.reshape(np.shape(var))]
    return tuple(o.astype(x.dtype) for o in outs[: max(ctx.num_outputs, 1)])


@kernel("BatchNormalization", since=1, until=6)
def batch_norm_1(ctx, inputs, attrs):
    # is_test=0 asks for training, which needs the running-statistics outputs to mean anything;
    # a node that declares only Y is run in inference mode
    training = not attrs.get("is_test", 0) and ctx.num_outputs > 1
    return _legacy_batch_norm(ctx, inputs, attrs, training, bool(attrs.get("spatial", 1)))


@kernel("BatchNormalization", since=7, until=8)
def batch_norm_7(ctx, inputs, attrs):
    return _legacy_batch_norm(ctx, inputs, attrs, ctx.num_outputs > 1, bool(attrs.get("spatial", 1)))


@kernel("BatchNormalization", since=9, until=13)
def batch_norm_9(ctx, inputs, attrs):
    return _legacy_batch_norm(ctx, inputs, attrs, ctx.num_outputs > 1, True)


@kernel("BatchNormalization", since=14)
def batch_norm(ctx, inputs, attrs):
    x, scale, bias, mean, var = inputs[:5]
    _check_bn_inputs(x, scale, bias, mean, var)
    epsilon = float(attrs.get("epsilon", 1e-5))
    if not attrs.get("training_mode", 0):
        if any(ctx.wants(i) for i in range(1, ctx.num_outputs)):
            raise ValueError("BatchNormalization: running_mean/running_var need training_mode=1")
        return _batch_norm(x, scale, bias, mean, var, epsilon).astype(x.dtype)
    momentum = float(attrs.get("momentum", 0.9))
    current_mean, current_var = _batch_stats(x)
    y = _batch_norm(x, scale, bias, current_mean, current_var, epsilon).astype(x.dtype)
    stats_dtype = np.asarray(mean).dtype
    running_mean = np.asarray(mean).reshape(-1) * momentum + current_mean * (1 - momentum)
    running_var = np.asarray(var).reshape(-1) * momentum + current_var * (1 - momentum)
    outs = (y, running_mean.reshape(np.shape(mean)).astype(stats_dtype),
            running_var.reshape(np.shape(var)).astype(stats_dtype))
    return outs[: max(ctx.num_outputs, 1)]


# ---------------------------------------------------------------------------- InstanceNormalization


@kernel("InstanceNormalization", since=1)
def instance_norm(ctx, inputs, attrs):
    x, scale, bias = inputs[:3]
    _check_float("InstanceNormalization", x)
    if x.ndim < 2:
        raise ValueError(f"InstanceNormalization: input must have rank 2 or more, got {x.ndim}")
    c = x.shape[1]
    if np.size(scale) != c or np.size(bias) != c:
        raise ValueError(f"InstanceNormalization: scale and B need {c} values")
    cd = _stat_dtype(x)
    epsilon = float(attrs.get("epsilon", 1e-5))
    _, var, dev = _moments(x.astype(cd), tuple(range(2, x.ndim)))
    shape = (c,) + (1,) * (x.ndim - 2)
    y = dev / np.sqrt(var + cd.type(epsilon))
    y = y * np.asarray(scale, dtype=cd).reshape(shape) + np.asarray(bias, dtype=cd).reshape(shape)
    return y.astype(x.dtype)


# ---------------------------------------------------------------------------- LayerNormalization


def _stash_round(values, stash):
    if stash == dtypes.BFLOAT16:
        return dtypes.round_to(values, dtypes.BFLOAT16)
    return values.astype(np.float32)


@kernel("LayerNormalization", since=17)
def layer_norm(ctx, inputs, attrs):
    x, scale = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    _check_float("LayerNormalization", x)
    axis = _normalize_axis("LayerNormalization", int(attrs.get("axis", -1)), x.ndim)
    epsilon = float(attrs.get("epsilon", 1e-5))
    stash = _stash_type("LayerNormalization", attrs)
    axes = tuple(range(axis, x.ndim))
    # stage one runs in the stash type (float32 storage also for bfloat16)
    mean, var, dev = _moments(x.astype(np.float32), axes)
    std = np.sqrt(var + np.float32(epsilon))
    normalized = (dev / std).astype(x.dtype)
    y = normalized * scale
    if bias is not None:
        y = y + bias
    outs = [y.astype(x.dtype)]
    if ctx.num_outputs > 1:
        outs.append(_stash_round(mean, stash))
    if ctx.num_outputs > 2:
        outs.append(_stash_round(np.float32(1) / std, stash))
    return tuple(outs)


# ---------------------------------------------------------------------------- GroupNormalization


def _group_norm(x, scale, bias, num_groups, epsilon, per_channel):
    _check_float("GroupNormalization", x)
    if x.ndim < 2:
        raise ValueError(f"GroupNormalization: X must have rank 2 or more, got {x.ndim}")
    n, c = x.shape[:2]
    if num_groups <= 0 or c % num_groups:
        raise ValueError(f"GroupNormalization: num_groups {num_groups} must divide the {c} channels")
    params = c if per_channel else num_groups
    if np.size(scale) != params or np.size(bias) != params:
        raise ValueError(f"GroupNormalization: scale and bias need {params} values")
    cd = _stat_dtype(x)
    grouped = x.astype(cd).reshape(n, num_groups, -1)
    _, var, dev = _moments(grouped, (2,))
    normalized = (dev / np.sqrt(var + cd.type(epsilon))).reshape(x.shape).astype(x.dtype)
    scale = np.asarray(scale).reshape(-1)
    bias = np.asarray(bias).reshape(-1)
    if not per_channel:
        scale = np.repeat(scale, c // num_groups)
        bias = np.repeat(bias, c // num_groups)
    shape = (c,) + (1,) * (x.ndim - 2)
    y = normalized * scale.astype(x.dtype).reshape(shape) + bias.astype(x.dtype).reshape(shape)
    return y.astype(x.dtype)


def _num_groups(attrs):
    if "num_groups" not in attrs:
        raise ValueError("GroupNormalization: the num_groups attribute is required")
    return int(attrs["num_groups"])


@kernel("GroupNormalization", since=18, until=20)
def group_norm_18(ctx, inputs, attrs):
    # opset 18: scale and bias hold one value per group
    return _group_norm(inputs[0], inputs[1], inputs[2], _num_groups(attrs),
                       float(attrs.get("epsilon", 1e-5)), per_channel=False)


@kernel("GroupNormalization", since=21)
def group_norm(ctx, inputs, attrs):
    _stash_type("GroupNormalization", attrs)
    return _group_norm(inputs[0], inputs[1], inputs[2], _num_groups(attrs),
                       float(attrs.get("epsilon", 1e-5)), per_channel=True)


# ---------------------------------------------------------------------------- RMSNormalization


@kernel("RMSNormalization", since=23)
def rms_norm(ctx, inputs, attrs):
    x, scale = inputs[0], np.asarray(inputs[1])
    _check_float("RMSNormalization", x)
    axis = _normalize_axis("RMSNormalization", int(attrs.get("axis", -1)), x.ndim)
    epsilon = float(attrs.get("epsilon", 1e-5))
    _stash_type("RMSNormalization", attrs)
    xs = x.astype(np.float32)
    mean_square = (xs * xs).mean(axis=tuple(range(axis, x.ndim)), keepdims=True)
    normalized = (xs / np.sqrt(mean_square + np.float32(epsilon))).astype(scale.dtype)
    return (normalized * scale).astype(scale.dtype)


# ---------------------------------------------------------------------------- LRN


@kernel("LRN", since=1)
def lrn(ctx, inputs, attrs):
    x = inputs[0]
    _check_float("LRN", x)
    if "size" not in attrs:
        raise ValueError("LRN: the size attribute is required")
    size = int(attrs["size"])
    if size <= 0:
        raise ValueError(f"LRN: size must be positive, got {size}")
    if x.ndim < 2:
        raise ValueError(f"LRN: X must have rank 2 or more, got {x.ndim}")
    alpha = float(attrs.get("alpha", 1e-4))
    beta = float(attrs.get("beta", 0.75))
    bias = float(attrs.get("bias", 1.0))
    cd = _stat_dtype(x)
    squares = x.astype(cd) ** 2
    before = (size - 1) // 2
    after = size - 1 - before
    pad = [(0, 0)] * x.ndim
    pad[1] = (before, after)
    padded = np.pad(squares, pad)
    c = x.shape[1]
    square_sum = np.zeros_like(squares)
    for offset in range(size):
        square_sum += padded[:, offset:offset + c]
    y = x.astype(cd) / (cd.type(bias) + cd.type(alpha / size) * square_sum) ** cd.type(beta)
    return y.astype(x.dtype)


# ---------------------------------------------------------------------------- MeanVarianceNormalization


@kernel("MeanVarianceNormalization", since=9)
def mean_variance_norm(ctx, inputs, attrs):
    x = inputs[0]
    _check_float("MeanVarianceNormalization", x)
    axes = [int(a) for a in attrs.get("axes", [0, 2, 3])]
    axes = tuple(sorted({_normalize_axis("MeanVarianceNormalization", a, x.ndim) for a in axes}))
    cd = _stat_dtype(x)
    _, var, dev = _moments(x.astype(cd), axes)
    # the spec adds its 1e-9 to the standard deviation, not to the variance
    return (dev / (np.sqrt(var) + cd.type(1e-9))).astype(x.dtype)


# ---------------------------------------------------------------------------- LpNormalization


@kernel("LpNormalization", since=1)
def lp_norm(ctx, inputs, attrs):
    x = inputs[0]
    _check_float("LpNormalization", x)
    p = int(attrs.get("p", 2))
    if p not in (1, 2):
        raise ValueError(f"LpNormalization: p must be 1 or 2, got {p}")
    axis = _normalize_axis("LpNormalization", int(attrs.get("axis", -1)), x.ndim)
    cd = _stat_dtype(x)
    xs = x.astype(cd)
    if p == 1:
        norm = np.abs(xs).sum(axis=axis, keepdims=True)
    else:
        norm = np.sqrt((xs * xs).sum(axis=axis, keepdims=True))
    safe = np.where(norm == 0, cd.type(1), norm)
    return np.where(norm == 0, cd.type(0), xs / safe).astype(x.dtype)
