"""Row-wise normalizations in normalize.glsl: Softmax, LogSoftmax, Hardmax,
LayerNormalization (with its Mean and InvStdDev outputs), RMSNormalization,
InstanceNormalization, GroupNormalization, LpNormalization, and BatchNormalization in
inference mode; LRN (a window across channels) in lrn.glsl.

Two draws: one texel of statistics per row (max and sum of exponentials, or mean and
inverse deviation ...), then every element from its row's statistics - so a row is
read a few times, not once per element.  Statistics are float32 whatever X's type."""
from __future__ import annotations

import math

import numpy as np

from ..tensor import FLOATS
from . import claim, kinds_rule
from .common import FLOAT, INT, Program, access_of, broadcast_strides, normalize_axis, present
from .layout import affine_copy

PARAMS = (("k", INT, 1), ("inner", INT, 1), ("epsilon", FLOAT, 1), ("p", FLOAT, 1))
SOFTMAX, MOMENTS, RMS, LP, HARDMAX, BATCH = range(6)


def normalize(op: str, x, mode: int, outer: int, k: int, inner: int, out_index: int = 0,
              scale=None, bias=None, epsilon: float = 0.0, p: float = 2.0, log: bool = False,
              keep_stats: bool = False):
    """Y over X viewed as [outer, k, inner]; with keep_stats, also the [rows, 4]
    statistics tensor (a scratch tensor, released after the kernel)."""
    be = x.backend
    out = be.output(out_index, x.shape, x.dtype)
    rows = outer * inner
    if out.size == 0:
        return out, None
    values = {"k": k, "inner": inner, "epsilon": epsilon, "p": p}
    stats = be.scratch((rows, 4))
    vec = int(inner == 1 and k % 4 == 0 and mode in (MOMENTS, RMS, LP))
    subst = (("STAGE", 0), ("MODE", mode), ("VEC", vec), ("LOG", int(log)), ("HAS_BIAS", 0))
    be.draw(Program("normalize.glsl", (("X", "any"),), 0, PARAMS, subst), stats, [x], values)
    inputs = [("X", "same"), ("S", "any")]
    tensors = [x, stats]
    values = dict(values, oshape=list(x.shape))
    for name, t in (("SC", scale), ("BI", bias)):
        if t is not None:
            inputs.append((name, _bind(name, t, x.shape, values)))
            tensors.append(t)
    subst = (("STAGE", 1), ("MODE", mode), ("VEC", 0), ("LOG", int(log)),
             ("HAS_BIAS", int(bias is not None)))
    be.draw(Program("normalize.glsl", tuple(inputs), max(x.ndim, 1), PARAMS, subst, out.kind),
            out, tensors, values)
    return out, stats


def _bind(name: str, t, shape, values: dict) -> str:
    """Access of a parameter broadcast to X's shape (numpy rules), strides into values."""
    access = access_of(t.shape, shape)
    if access == "same" and tuple(t.shape) != tuple(shape):
        access = "bcast"
    if access == "bcast":
        values[f"{name}_bstride"] = broadcast_strides(t.shape, shape)
    return access


def _along_axis(op: str, mode: int, log: bool = False):
    def kernel(ctx, inputs, attrs):
        x = inputs[0]
        if ctx.opset < 13:  # coerced to 2-D at axis
            axis = normalize_axis(op, int(attrs.get("axis", 1)), x.ndim) if x.ndim else 0
            outer, k, inner = math.prod(x.shape[:axis]), math.prod(x.shape[axis:]), 1
        else:
            axis = normalize_axis(op, int(attrs.get("axis", -1)), x.ndim)
            outer, k, inner = math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1:])
        return normalize(op, x, mode, outer, k, inner, log=log)[0]

    kernel.__name__ = op.lower()
    return kernel


claim("Softmax", _along_axis("Softmax", SOFTMAX), kinds_rule(FLOATS))
claim("LogSoftmax", _along_axis("LogSoftmax", SOFTMAX, log=True), kinds_rule(FLOATS))
claim("Hardmax", _along_axis("Hardmax", HARDMAX), kinds_rule(FLOATS))


def _stash_rule(node) -> str | None:
    stash = int(node.attrs.get("stash_type", 1))
    return None if stash == 1 else f"stash_type {stash}: the WebGL kernel keeps statistics in float32"


def _stats_output(be, stats, index: int, shape, dtype, component: int):
    """LayerNormalization's Mean (component 0) or InvStdDev (1) from the statistics."""
    out = be.output(index, shape, dtype)
    affine_copy(stats, out, component, [(math.prod(shape), 4, 0)])
    return out


def _layer_norm(ctx, inputs, attrs):
    x, scale, bias = inputs[0], inputs[1], present(inputs, 2)
    axis = normalize_axis("LayerNormalization", int(attrs.get("axis", -1)), x.ndim)
    outer, k = math.prod(x.shape[:axis]), math.prod(x.shape[axis:])
    y, stats = normalize("LayerNormalization", x, MOMENTS, outer, k, 1, scale=scale, bias=bias,
                         epsilon=float(attrs.get("epsilon", 1e-5)))
    outs = [y]
    stat_shape = list(x.shape[:axis]) + [1] * (x.ndim - axis)
    for i in (1, 2):
        if ctx.num_outputs > i:
            outs.append(_stats_output(x.backend, stats, i, stat_shape, np.float32, i - 1)
                        if ctx.wants(i) and stats is not None else None)
    return outs if len(outs) > 1 else y


def _rms_norm(ctx, inputs, attrs):
    x, scale = inputs[0], inputs[1]
    axis = normalize_axis("RMSNormalization", int(attrs.get("axis", -1)), x.ndim)
    outer, k = math.prod(x.shape[:axis]), math.prod(x.shape[axis:])
    return normalize("RMSNormalization", x, RMS, outer, k, 1, scale=scale,
                     epsilon=float(attrs.get("epsilon", 1e-5)))[0]


def _channel_view(be, t, x):
    """A per-channel parameter ([C]) as [C, 1, ...] against X ([N, C, ...])."""
    return be.view(t, (t.size,) + (1,) * (x.ndim - 2), temporary=True)


def _instance_norm(ctx, inputs, attrs):
    x, scale, bias = inputs[:3]
    if x.ndim < 2:
        raise ValueError(f"InstanceNormalization: input must have rank 2 or more, got {x.ndim}")
    c = x.shape[1]
    if scale.size != c or bias.size != c:
        raise ValueError(f"InstanceNormalization: scale and B need {c} values")
    be = x.backend
    return normalize("InstanceNormalization", x, MOMENTS, x.shape[0] * c, math.prod(x.shape[2:]), 1,
                     scale=_channel_view(be, scale, x), bias=_channel_view(be, bias, x),
                     epsilon=float(attrs.get("epsilon", 1e-5)))[0]


def _group_norm(ctx, inputs, attrs):
    x, scale, bias = inputs[:3]
    if "num_groups" not in attrs:
        raise ValueError("GroupNormalization: the num_groups attribute is required")
    groups = int(attrs["num_groups"])
    if x.ndim < 2:
        raise ValueError(f"GroupNormalization: X must have rank 2 or more, got {x.ndim}")
    n, c = x.shape[:2]
    if groups <= 0 or c % groups:
        raise ValueError(f"GroupNormalization: num_groups {groups} must divide the {c} channels")
    be = x.backend
    per_channel = ctx.opset >= 21
    params = c if per_channel else groups
    if scale.size != params or bias.size != params:
        raise ValueError(f"GroupNormalization: scale and bias need {params} values")
    if not per_channel:  # opset 18: one value per group, repeated over its channels
        scale, bias = (_repeat_groups(be, t, c // groups) for t in (scale, bias))
    return normalize("GroupNormalization", x, MOMENTS, n * groups, (c // groups) * math.prod(x.shape[2:]), 1,
                     scale=_channel_view(be, scale, x), bias=_channel_view(be, bias, x),
                     epsilon=float(attrs.get("epsilon", 1e-5)))[0]


def _repeat_groups(be, t, times: int):
    out = be.scratch((t.size * times,), t.dtype)
    affine_copy(t, out, 0, [(t.size, 1, 0), (times, 0, 0)])
    return out


def _lp_norm(ctx, inputs, attrs):
    x = inputs[0]
    p = int(attrs.get("p", 2))
    if p not in (1, 2):
        raise ValueError(f"LpNormalization: p must be 1 or 2, got {p}")
    axis = normalize_axis("LpNormalization", int(attrs.get("axis", -1)), x.ndim)
    return normalize("LpNormalization", x, LP, math.prod(x.shape[:axis]), x.shape[axis],
                     math.prod(x.shape[axis + 1:]), p=float(p))[0]


def _batch_norm(ctx, inputs, attrs):
    x, scale, bias, mean, var = inputs[:5]
    if x.ndim == 0:
        raise ValueError("BatchNormalization: X must have rank 1 or more")
    be = x.backend
    spatial = ctx.opset >= 9 or bool(attrs.get("spatial", 1))
    params = []
    for t in (scale, bias, mean, var):
        if x.ndim == 1:
            params.append(t)
        elif spatial:
            params.append(_channel_view(be, t, x))
        else:
            params.append(be.view(t, x.shape[1:], temporary=True))
    out = be.output(0, x.shape, x.dtype)
    values = {"k": 1, "inner": 1, "epsilon": float(attrs.get("epsilon", 1e-5)), "p": 0.0,
              "oshape": list(x.shape)}
    inputs_spec = [("X", "same")]
    for name, t in zip(("SC", "BI", "MN", "VR"), params):
        inputs_spec.append((name, _bind(name, t, x.shape, values)))
    subst = (("STAGE", 1), ("MODE", BATCH), ("VEC", 0), ("LOG", 0), ("HAS_BIAS", 1))
    be.draw(Program("normalize.glsl", tuple(inputs_spec), max(x.ndim, 1), PARAMS, subst, out.kind),
            out, [x] + params, values)
    return out


def _batch_norm_rule(node) -> str | None:
    if node.attrs.get("training_mode", 0) or sum(1 for o in node.outputs if o) > 1:
        return "training mode (running statistics): the WebGL kernel does inference only"
    return None


def _lrn(ctx, inputs, attrs):
    x = inputs[0]
    if "size" not in attrs:
        raise ValueError("LRN: the size attribute is required")
    size = int(attrs["size"])
    if size <= 0 or x.ndim < 2:
        raise ValueError(f"LRN: needs a positive size and X of rank 2 or more, got {size} and {list(x.shape)}")
    out = x.backend.output(0, x.shape, x.dtype)
    program = Program("lrn.glsl", (("X", "any"),), 0,
                      (("spatial", INT, 1), ("channels", INT, 1), ("before", INT, 1), ("after", INT, 1),
                       ("size", INT, 1), ("alpha", FLOAT, 1), ("beta", FLOAT, 1), ("bias", FLOAT, 1)),
                      (), out.kind)
    x.backend.draw(program, out, [x], {
        "spatial": math.prod(x.shape[2:]), "channels": x.shape[1], "before": (size - 1) // 2,
        "after": size - 1 - (size - 1) // 2, "size": size, "alpha": float(attrs.get("alpha", 1e-4)),
        "beta": float(attrs.get("beta", 0.75)), "bias": float(attrs.get("bias", 1.0))})
    return out


claim("LRN", _lrn, kinds_rule(FLOATS))
claim("LayerNormalization", _layer_norm, kinds_rule(FLOATS, check=_stash_rule))
claim("RMSNormalization", _rms_norm, kinds_rule(FLOATS, check=_stash_rule))
claim("InstanceNormalization", _instance_norm, kinds_rule(FLOATS))
claim("GroupNormalization", _group_norm, kinds_rule(FLOATS, check=_stash_rule))
claim("LpNormalization", _lp_norm, kinds_rule(FLOATS))
claim("BatchNormalization", _batch_norm, kinds_rule(FLOATS, check=_batch_norm_rule))
