"""Softmax, LogSoftmax and Hardmax (softmax.wgsl, softmax_short.wgsl); LayerNormalization,
InstanceNormalization, GroupNormalization and RMSNormalization (normalize.wgsl);
BatchNormalization in inference mode (batchnorm.wgsl); LRN (lrn.wgsl).  Long rows are
reduced by one workgroup each, in workgroup memory; short ones by one invocation."""
from __future__ import annotations

import math

import numpy as np

from ..shaders import dispatch_grid
from ..tensor import FLOATS
from . import claim, kinds_rule
from .common import F32, U32, Program, broadcast_strides, coalesce, present

FLOAT_ONLY = kinds_rule(FLOATS, inputs=None)
SOFTMAX_PARAMS = (("rows", U32, 1), ("len", U32, 1), ("inner", U32, 1))
SHORT_ROW = 128  # rows shorter than this are one invocation's work (softmax_short.wgsl)


def _axis(op, axis, rank):
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"{op}: axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def _softmax(op: str, mode: str):
    def run(ctx, inputs, attrs):
        x = inputs[0]
        be = x.backend
        y = be.empty(x.shape, x.dtype, 0)
        if y.size == 0:
            return y
        if ctx.opset < 13:  # the input is coerced to 2-D at axis
            axis = _axis(op, attrs.get("axis", 1), x.ndim)
            length, inner = math.prod(x.shape[axis:]), 1
        else:
            axis = _axis(op, attrs.get("axis", -1), x.ndim)
            length, inner = x.shape[axis] if x.ndim else 1, math.prod(x.shape[axis + 1:])
        rows = x.size // length
        short = length < SHORT_ROW
        program = Program("softmax_short.wgsl" if short else "softmax.wgsl",
                          (("X", x.kind, False), ("Y", y.kind, True)), SOFTMAX_PARAMS, (("MODE", mode),))
        params = {"rows": rows, "len": length, "inner": inner}
        if short:
            be.dispatch(program, [x, y], params, threads=rows)
        else:
            be.dispatch(program, [x, y], params, grid=dispatch_grid(rows))
        return y

    run.__name__ = mode
    return run


claim("Softmax", _softmax("Softmax", "softmax_row"), FLOAT_ONLY)
claim("LogSoftmax", _softmax("LogSoftmax", "log_softmax_row"), FLOAT_ONLY)
claim("Hardmax", _softmax("Hardmax", "hardmax_row"), FLOAT_ONLY)


NORM_PARAMS = (("rows", U32, 1), ("len", U32, 1), ("epsilon", F32, 1), ("center", U32, 1),
               ("per_channel", U32, 1), ("rows_per_image", U32, 1), ("channels_per_row", U32, 1),
               ("channel_len", U32, 1), ("affine_rank", U32, 1), ("affine_shape", U32, 8),
               ("scale_stride", U32, 8), ("bias_stride", U32, 8))


def normalize(x, scale, bias, rows: int, row_shape, epsilon: float, *, center=True,
              per_channel=None, stats=None):
    """Y (output 0) normalized per row of ``row_shape``; per_channel = (rows_per_image,
    channels_per_row, channel_len) for scale/bias per channel, else scale/bias broadcast
    over the row's dimensions; stats = (mean, inv_std) tensors to write, if wanted."""
    be = x.backend
    length = math.prod(row_shape)
    y = be.empty(x.shape, x.dtype, 0)
    if y.size == 0:
        return y
    params = {"rows": rows, "len": length, "epsilon": epsilon, "center": int(center),
              "per_channel": 0, "rows_per_image": 1, "channels_per_row": 1, "channel_len": 1,
              "affine_rank": 1, "affine_shape": [1], "scale_stride": [0], "bias_stride": [0]}
    if per_channel is not None:
        params.update(per_channel=1, rows_per_image=per_channel[0], channels_per_row=per_channel[1],
                      channel_len=per_channel[2])
    else:
        norm_shape = list(row_shape)
        lists = [broadcast_strides(scale.shape, norm_shape),
                 broadcast_strides(bias.shape, norm_shape) if bias is not None else [0] * len(norm_shape)]
        for t in (scale, bias):
            if t is not None and t.ndim > len(norm_shape):
                raise ValueError(f"normalization: scale/bias of shape {t.shape} do not fit rows {norm_shape}")
        dims, (ss, bs) = coalesce(norm_shape, *lists)
        params.update(affine_rank=len(dims), affine_shape=dims, scale_stride=ss, bias_stride=bs)
    b = bias if bias is not None else be.dummy()
    mean, inv_std = stats if stats is not None else (be.empty((1,), np.float32), be.empty((1,), np.float32))
    program = Program("normalize.wgsl", (("X", x.kind, False), ("S", scale.kind, False),
                                         ("B", b.kind, False), ("Y", y.kind, True),
                                         ("M", mean.kind, True), ("V", inv_std.kind, True)),
                      NORM_PARAMS, (("HAS_BIAS", "true" if bias is not None else "false"),
                                    ("HAS_STATS", "true" if stats is not None else "false")))
    be.dispatch(program, [x, scale, b, y, mean, inv_std], params, grid=dispatch_grid(rows))
    return y


def layer_norm(ctx, inputs, attrs):
    x, scale = inputs[0], inputs[1]
    bias = present(inputs, 2)
    axis = _axis("LayerNormalization", int(attrs.get("axis", -1)), x.ndim)
    rows = math.prod(x.shape[:axis])
    stats = None
    if ctx.num_outputs > 1 and any(ctx.wants(i) for i in (1, 2)):
        stat_shape = x.shape[:axis] + (1,) * (x.ndim - axis)
        be = x.backend
        mean = be.empty(stat_shape, np.float32, 1 if ctx.wants(1) else None)
        inv_std = be.empty(stat_shape, np.float32, 2 if ctx.num_outputs > 2 and ctx.wants(2) else None)
        stats = (mean, inv_std)
    y = normalize(x, scale, bias, rows, x.shape[axis:], float(attrs.get("epsilon", 1e-5)), stats=stats)
    outs = [y]
    if ctx.num_outputs > 1:
        outs.append(stats[0] if stats is not None and ctx.wants(1) else None)
    if ctx.num_outputs > 2:
        outs.append(stats[1] if stats is not None and ctx.wants(2) else None)
    return tuple(outs) if len(outs) > 1 else y


def _layer_norm_rule(kinds_in, kinds_out, attrs, node=None):
    if int(attrs.get("stash_type", 1)) != 1:
        return "stash_type other than float32"
    return FLOAT_ONLY(kinds_in, kinds_out[:1], attrs, node)


def rms_norm(ctx, inputs, attrs):
    x, scale = inputs[0], inputs[1]
    axis = _axis("RMSNormalization", int(attrs.get("axis", -1)), x.ndim)
    return normalize(x, scale, None, math.prod(x.shape[:axis]), x.shape[axis:],
                     float(attrs.get("epsilon", 1e-5)), center=False)


def instance_norm(ctx, inputs, attrs):
    x, scale, bias = inputs[:3]
    if x.ndim < 2:
        raise ValueError(f"InstanceNormalization: input must have rank 2 or more, got {x.ndim}")
    c = x.shape[1]
    if scale.size != c or bias.size != c:
        raise ValueError(f"InstanceNormalization: scale and B need {c} values")
    length = math.prod(x.shape[2:])
    return normalize(x, scale, bias, x.shape[0] * c, [length], float(attrs.get("epsilon", 1e-5)),
                     per_channel=(c, 1, max(length, 1)))


def group_norm(ctx, inputs, attrs):
    x, scale, bias = inputs[:3]
    if x.ndim < 2:
        raise ValueError(f"GroupNormalization: X must have rank 2 or more, got {x.ndim}")
    n, c = x.shape[:2]
    groups = int(attrs.get("num_groups", 0))
    if groups <= 0 or c % groups:
        raise ValueError(f"GroupNormalization: num_groups {groups} must divide the {c} channels")
    per_channel = ctx.opset >= 21
    params = c if per_channel else groups
    if scale.size != params or bias.size != params:
        raise ValueError(f"GroupNormalization: scale and bias need {params} values")
    spatial = math.prod(x.shape[2:])
    length = (c // groups) * spatial
    layout = (groups, c // groups, max(spatial, 1)) if per_channel else (groups, 1, max(length, 1))
    return normalize(x, scale, bias, n * groups, [length], float(attrs.get("epsilon", 1e-5)),
                     per_channel=layout)


claim("LayerNormalization", layer_norm, _layer_norm_rule)
claim("RMSNormalization", rms_norm, _layer_norm_rule)
claim("InstanceNormalization", instance_norm, FLOAT_ONLY)
claim("GroupNormalization", group_norm, _layer_norm_rule)


BN_PARAMS = (("n", U32, 1), ("channels", U32, 1), ("spatial", U32, 1), ("epsilon", F32, 1))


def batch_norm(ctx, inputs, attrs):
    x, scale, bias, mean, var = inputs[:5]  # inference mode: _batch_norm_rule declined training
    c = x.shape[1] if x.ndim > 1 else 1
    for name, t in (("scale", scale), ("B", bias), ("mean", mean), ("var", var)):
        if t.size != c:
            raise ValueError(f"BatchNormalization: {name} needs {c} values, got {t.size}")
    be = x.backend
    y = be.empty(x.shape, x.dtype, 0)
    if y.size:
        program = Program("batchnorm.wgsl", (("X", x.kind, False), ("S", scale.kind, False),
                                             ("B", bias.kind, False), ("M", mean.kind, False),
                                             ("V", var.kind, False), ("Y", y.kind, True)), BN_PARAMS)
        be.dispatch(program, [x, scale, bias, mean, var, y],
                    {"n": x.size, "channels": c, "spatial": math.prod(x.shape[2:]),
                     "epsilon": float(attrs.get("epsilon", 1e-5))}, threads=x.size)
    return y


def _batch_norm_rule(kinds_in, kinds_out, attrs, node=None):
    training = attrs.get("training_mode", 0) if node is None or node.opset >= 14 else \
        len(kinds_out) > 1 and (node.opset >= 7 or not attrs.get("is_test", 0))
    if training:
        return "training mode (batch statistics and running averages)"
    if node is not None and node.opset < 9 and not attrs.get("spatial", 1):
        return "spatial=0 (per-element statistics)"
    return FLOAT_ONLY(kinds_in, kinds_out, attrs, node)


claim("BatchNormalization", batch_norm, _batch_norm_rule)


LRN_PARAMS = (("n", U32, 1), ("spatial", U32, 1), ("channels", U32, 1), ("size", U32, 1),
              ("alpha", F32, 1), ("beta", F32, 1), ("bias", F32, 1))


def lrn(ctx, inputs, attrs):
    x = inputs[0]
    if "size" not in attrs or int(attrs["size"]) <= 0:
        raise ValueError("LRN: a positive size attribute is required")
    if x.ndim < 2:
        raise ValueError(f"LRN: X must have rank 2 or more, got {x.ndim}")
    be = x.backend
    y = be.empty(x.shape, x.dtype, 0)
    if y.size:
        program = Program("lrn.wgsl", (("X", x.kind, False), ("Y", y.kind, True)), LRN_PARAMS)
        be.dispatch(program, [x, y], {"n": x.size, "spatial": math.prod(x.shape[2:]),
                                      "channels": x.shape[1], "size": int(attrs["size"]),
                                      "alpha": float(attrs.get("alpha", 1e-4)),
                                      "beta": float(attrs.get("beta", 0.75)),
                                      "bias": float(attrs.get("bias", 1.0))}, threads=x.size)
    return y


claim("LRN", lrn, FLOAT_ONLY)
