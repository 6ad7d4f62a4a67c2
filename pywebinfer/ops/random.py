"""Random ops (Dropout, RandomNormal/Uniform[Like], Bernoulli, Multinomial): numpy
reference kernels.

Values come from numpy's seeded Mersenne Twister (``np.random.RandomState``, present in
every numpy including Pyodide's): with a ``seed`` attribute a node gives the same values
on every run, without one it draws fresh entropy each call.  The ONNX spec leaves the
generator to the runtime, so the values differ from onnxruntime's (or any other
runtime's) for the same seed; only their distribution is the same.  A training-mode
Dropout draws its keep mask as ``uniform[0, 1) >= ratio``, which is how numpy produced the
ONNX test data, so those seeded cases reproduce exactly.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from .registry import kernel

_FLOAT_TYPES = {dtypes.FLOAT, dtypes.FLOAT16, dtypes.DOUBLE, dtypes.BFLOAT16}


def _generator(attrs):
    seed = attrs.get("seed")
    if seed is None:
        return np.random.RandomState()
    seed = float(seed)
    if seed.is_integer():
        return np.random.RandomState(int(seed) % 2**32)
    # a fractional seed: use all its bits rather than truncating it
    return np.random.RandomState(np.frombuffer(np.float64(seed).tobytes(), np.uint32))


def _float_output_type(op, attrs, like=None):
    """The dtype attribute, else (for the *Like ops) the input's type; must be a float."""
    if "dtype" in attrs:
        out = int(attrs["dtype"])
    elif like is not None:
        out = dtypes.onnx_type_of(like)
    else:
        out = dtypes.FLOAT
    if out not in _FLOAT_TYPES:
        raise ValueError(f"{op}: output type {dtypes.name(out)} is not a float type")
    return out


def _shape(op, attrs):
    if "shape" not in attrs:
        raise ValueError(f"{op}: attribute shape is required")
    shape = tuple(int(d) for d in attrs["shape"])
    if any(d < 0 for d in shape):
        raise ValueError(f"{op}: shape {shape} has a negative dimension")
    return shape


def _normal(attrs, shape, out_type):
    values = _generator(attrs).normal(float(attrs.get("mean", 0.0)), float(attrs.get("scale", 1.0)), shape)
    return dtypes.round_to(values, out_type)


def _uniform(attrs, shape, out_type):
    values = _generator(attrs).uniform(float(attrs.get("low", 0.0)), float(attrs.get("high", 1.0)), shape)
    return dtypes.round_to(values, out_type)


@kernel("RandomNormal", since=1)
def random_normal(ctx, inputs, attrs):
    return _normal(attrs, _shape("RandomNormal", attrs), _float_output_type("RandomNormal", attrs))


@kernel("RandomUniform", since=1)
def random_uniform(ctx, inputs, attrs):
    return _uniform(attrs, _shape("RandomUniform", attrs), _float_output_type("RandomUniform", attrs))


@kernel("RandomNormalLike", since=1)
def random_normal_like(ctx, inputs, attrs):
    x = inputs[0]
    return _normal(attrs, x.shape, _float_output_type("RandomNormalLike", attrs, like=x))


@kernel("RandomUniformLike", since=1)
def random_uniform_like(ctx, inputs, attrs):
    x = inputs[0]
    return _uniform(attrs, x.shape, _float_output_type("RandomUniformLike", attrs, like=x))


@kernel("Bernoulli", since=15)
def bernoulli(ctx, inputs, attrs):
    p = inputs[0]
    out = int(attrs["dtype"]) if "dtype" in attrs else dtypes.onnx_type_of(p)
    draws = _generator(attrs).random_sample(p.shape) < p.astype(np.float64)
    return dtypes.round_to(draws.astype(np.float64), out) if out != dtypes.BOOL else draws


@kernel("Multinomial", since=7)
def multinomial(ctx, inputs, attrs):
    logits = inputs[0]
    if logits.ndim != 2:
        raise ValueError(f"Multinomial: input must be [batch_size, class_size], got shape {logits.shape}")
    out = int(attrs.get("dtype", dtypes.INT32))
    if out not in (dtypes.INT32, dtypes.INT64):
        raise ValueError(f"Multinomial: dtype must be int32 or int64, got {dtypes.name(out)}")
    samples = int(attrs.get("sample_size", 1))
    if samples < 0:
        raise ValueError(f"Multinomial: sample_size must be non-negative, got {samples}")
    # the inputs are unnormalized log-probabilities: sample from softmax(row)
    x = logits.astype(np.float64)
    weights = np.exp(x - x.max(axis=1, keepdims=True))
    cdf = np.cumsum(weights, axis=1)
    u = _generator(attrs).random_sample((x.shape[0], samples)) * cdf[:, -1:]
    picks = np.array([np.searchsorted(row, draws, side="right") for row, draws in zip(cdf, u)])
    picks = np.minimum(picks.reshape(x.shape[0], samples), x.shape[1] - 1)
    return picks.astype(dtypes.storage_dtype(out))


def _dropout(x, ratio, generator, mask_dtype):
    """Training-mode dropout: keep each element with probability 1 - ratio, scaled up."""
    if not 0 <= ratio < 1:
        raise ValueError(f"Dropout: ratio must lie in [0, 1), got {ratio}")
    keep = generator.random_sample(x.shape) >= ratio
    scale = 1.0 / (1.0 - ratio)
    y = np.where(keep, x.astype(np.float64) * scale, 0.0)
    return dtypes.round_to(y, dtypes.onnx_type_of(x)), keep.astype(mask_dtype)


def _identity_with_mask(x, mask_dtype):
    return x, np.ones(x.shape, mask_dtype)


@kernel("Dropout", since=1, until=6)
def dropout_v1(ctx, inputs, attrs):
    """is_test=0 (the default) is training mode: random dropout; the mask has x's type."""
    x = inputs[0]
    if attrs.get("is_test", 0):
        return _identity_with_mask(x, x.dtype)
    return _dropout(x, float(attrs.get("ratio", 0.5)), _generator(attrs), x.dtype)


@kernel("Dropout", since=7, until=9)
def dropout_v7(ctx, inputs, attrs):
    """No training mode any more: the output is the input; the mask has x's type."""
    return _identity_with_mask(inputs[0], inputs[0].dtype)


@kernel("Dropout", since=10, until=11)
def dropout_v10(ctx, inputs, attrs):
    return _identity_with_mask(inputs[0], np.bool_)


@kernel("Dropout", since=12)
def dropout_v12(ctx, inputs, attrs):
    x = inputs[0]
    ratio = inputs[1] if len(inputs) > 1 else None
    training = inputs[2] if len(inputs) > 2 else None
    ratio = 0.5 if ratio is None else float(np.asarray(ratio).reshape(-1)[0])
    if training is None or not bool(np.asarray(training).reshape(-1)[0]) or ratio == 0:
        return _identity_with_mask(x, np.bool_)
    return _dropout(x, ratio, _generator(attrs), np.bool_)
