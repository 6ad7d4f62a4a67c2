"""Optimizer ops (domain ai.onnx.preview.training): numpy reference kernels.

Each op updates several tensors at once: its inputs are R, T, then one group per
state kind (all X, then all G, ...), and its outputs follow the same grouping.
Updates are computed in float64 and rounded to each tensor's own type.
"""
from __future__ import annotations

import numpy as np

from .registry import TRAINING_DOMAIN, kernel


def _groups(op, inputs, kinds):
    """Split the variadic inputs after R and T into ``kinds`` equal groups."""
    rest = inputs[2:]
    if not rest or len(rest) % kinds or any(x is None for x in rest):
        raise ValueError(f"{op}: expected {kinds} x n tensors after R and T, got {len(rest)}")
    n = len(rest) // kinds
    return [rest[i * n:(i + 1) * n] for i in range(kinds)]


def _scalars(op, inputs):
    r, t = np.asarray(inputs[0]), np.asarray(inputs[1])
    if r.size != 1 or t.size != 1:
        raise ValueError(f"{op}: R and T must be scalars, got shapes {r.shape} and {t.shape}")
    return float(r.reshape(())), int(t.reshape(()))


def _required(op, attrs, name):
    if name not in attrs:
        raise ValueError(f"{op}: attribute {name} is required")
    return attrs[name]


@kernel("Adagrad", since=1, domain=TRAINING_DOMAIN)
def adagrad(ctx, inputs, attrs):
    op = "Adagrad"
    rate, step = _scalars(op, inputs)
    xs, grads, accums = _groups(op, inputs, 3)
    norm = attrs.get("norm_coefficient", 0.0)
    decay = attrs.get("decay_factor", 0.0)
    eps = attrs.get("epsilon", 1e-6)
    r = rate / (1.0 + step * decay)
    new_x, new_h = [], []
    for x, g, h in zip(xs, grads, accums):
        g_reg = norm * x.astype(np.float64) + g
        h_new = h + g_reg * g_reg
        new_x.append((x - r * g_reg / (np.sqrt(h_new) + eps)).astype(x.dtype))
        new_h.append(h_new.astype(h.dtype))
    return tuple(new_x + new_h)


@kernel("Adam", since=1, domain=TRAINING_DOMAIN)
def adam(ctx, inputs, attrs):
    op = "Adam"
    rate, step = _scalars(op, inputs)
    xs, grads, moments, squares = _groups(op, inputs, 4)
    alpha, beta = attrs.get("alpha", 0.9), attrs.get("beta", 0.999)
    norm, norm_post = attrs.get("norm_coefficient", 0.0), attrs.get("norm_coefficient_post", 0.0)
    eps = attrs.get("epsilon", 1e-6)
    # bias correction only from the first counted step on
    r = rate * np.sqrt(1.0 - beta ** step) / (1.0 - alpha ** step) if step > 0 else rate
    new_x, new_v, new_h = [], [], []
    for x, g, v, h in zip(xs, grads, moments, squares):
        g_reg = norm * x.astype(np.float64) + g
        v_new = alpha * v.astype(np.float64) + (1.0 - alpha) * g_reg
        h_new = beta * h.astype(np.float64) + (1.0 - beta) * g_reg * g_reg
        x_new = x - r * v_new / (np.sqrt(h_new) + eps)
        new_x.append(((1.0 - norm_post) * x_new).astype(x.dtype))
        new_v.append(v_new.astype(v.dtype))
        new_h.append(h_new.astype(h.dtype))
    return tuple(new_x + new_v + new_h)


@kernel("Momentum", since=1, domain=TRAINING_DOMAIN)
def momentum(ctx, inputs, attrs):
    op = "Momentum"
    rate, step = _scalars(op, inputs)
    xs, grads, moments = _groups(op, inputs, 3)
    alpha = _required(op, attrs, "alpha")
    beta = _required(op, attrs, "beta")
    norm = _required(op, attrs, "norm_coefficient")
    mode = _required(op, attrs, "mode")
    if mode not in ("standard", "nesterov"):
        raise ValueError(f"{op}: mode {mode!r} is not 'standard' or 'nesterov'")
    beta_now = beta if step > 0 else 1.0  # the first step takes the whole gradient
    new_x, new_v = [], []
    for x, g, v in zip(xs, grads, moments):
        g_reg = norm * x.astype(np.float64) + g
        v_new = alpha * v.astype(np.float64) + beta_now * g_reg
        direction = g_reg + alpha * v_new if mode == "nesterov" else v_new
        new_x.append((x - rate * direction).astype(x.dtype))
        new_v.append(v_new.astype(v.dtype))
    return tuple(new_x + new_v)
