"""Conv (general, grouped, depthwise, strided, dilated, padded; 1-D to 3-D), the fused
FusedConv (bias, residual and activation in the epilogue) and ConvTranspose.

Pointwise (1x1) convolutions are matrix products (matmul.wgsl, batched over images);
others with many output channels per group and large windows run as an implicit GEMM in
workgroup memory (conv_gemm.wgsl); depthwise ones (few output channels per group) and
small windows sum each window directly (conv_direct.wgsl).  The geometry - pads from auto_pad, output sizes - is the
numpy reference's (ops/conv.py), computed from the shapes alone."""
from __future__ import annotations

import math

from ....ops.conv import _conv_attrs, _out_sizes, _transpose_pads, per_axis
from ....ops.registry import FUSED_DOMAIN
from ..tensor import FLOATS
from . import claim, kinds_rule
from .common import F32, I32, U32, Program, backend_of, float_bits, present
from .elementwise import binary, unary
from .matmul import ACT_CODES, ACTIVATIONS, activation, gemm_dispatch

FLOAT_ONLY = kinds_rule(FLOATS, inputs=None)
TILE = 64
DIRECT_BELOW = 8  # output channels per group under which the direct kernel is used
DIRECT_MAX_K = 64  # ... or window sizes (channels x taps) up to this
CONV_PARAMS = (("in_sp", U32, 3), ("out_sp", U32, 3), ("kernel", U32, 3), ("stride", U32, 3),
               ("dilation", U32, 3), ("pad", I32, 3), ("channels", U32, 1),
               ("group_channels", U32, 1), ("out_channels", U32, 1), ("group_out", U32, 1),
               ("batch", U32, 1), ("has_bias", U32, 1), ("has_residual", U32, 1), ("act", U32, 1),
               ("act_alpha", F32, 1), ("act_beta", F32, 1))

# an activation applied after a separate residual Add: the unary op of the same function
UNARY_OF = {"act_relu": "op_relu", "act_sigmoid": "op_sigmoid", "act_tanh": "op_tanh",
            "act_hard_swish": "op_hard_swish", "act_leaky_relu": "op_leaky_relu",
            "act_hard_sigmoid": "op_hard_sigmoid", "act_clip": "op_clip", "act_gelu": "op_gelu",
            "act_gelu_tanh": "op_gelu_tanh", "act_silu": "op_silu"}


def _three(values, fill):
    """Spatial values padded to three axes (leading ones: 1-D and 2-D are 3-D with size 1)."""
    values = list(values)
    if len(values) > 3:
        raise ValueError("webgpu: convolutions over more than 3 spatial axes are not supported")
    return [fill] * (3 - len(values)) + values


def conv_dispatch(file, x, w, bias, residual, y, geometry, act, grid=None) -> None:
    be = backend_of([x, w])
    fn, alpha, beta = act
    b = bias if bias is not None else be.dummy()
    z = residual if residual is not None else be.dummy()
    program = Program(
        file, (("X", x.kind, False), ("W", w.kind, False), ("B", b.kind, False),
               ("Z", z.kind, False), ("Y", y.kind, True)), CONV_PARAMS, (),
        256 if file == "conv_gemm.wgsl" else 64)
    params = dict(geometry, has_bias=int(bias is not None), has_residual=int(residual is not None),
                  act=ACT_CODES[fn], act_alpha=alpha, act_beta=beta)
    be.dispatch(program, [x, w, b, z, y], params, threads=None if grid else y.size, grid=grid)


def conv_forward(op, x, w, bias, residual, attrs, act):
    be = backend_of([x, w])
    strides, pads, dilations, group = _conv_attrs(op, attrs, x, w)
    rank = x.ndim - 2
    begin, end = pads[:rank], pads[rank:]
    padded = [s + b + e for s, b, e in zip(x.shape[2:], begin, end)]
    kernel = tuple(w.shape[2:])
    out_sp = _out_sizes(op, padded, kernel, strides, dilations)
    n, c = x.shape[:2]
    m = w.shape[0]
    if group < 1 or c % group or m % group or w.shape[1] * group != c:
        raise ValueError(f"{op}: {c} input channels and weights {w.shape} do not fit group={group}")
    if bias is not None and bias.size != m:
        raise ValueError(f"{op}: bias has {bias.size} values for {m} output channels")
    y_shape = (n, m, *out_sp)
    fused_residual = residual is not None and tuple(residual.shape) == y_shape
    split_epilogue = residual is not None and not fused_residual
    y = be.empty(y_shape, x.dtype, None if split_epilogue else 0)
    if y.size:
        geometry = {"in_sp": _three(x.shape[2:], 1), "out_sp": _three(out_sp, 1),
                    "kernel": _three(kernel, 1), "stride": _three(strides, 1),
                    "dilation": _three(dilations, 1), "pad": _three(begin, 0), "channels": c,
                    "group_channels": c // group, "out_channels": m, "group_out": m // group,
                    "batch": n}
        inner_act = ACTIVATIONS[""] if split_epilogue else act
        z = residual if fused_residual else None
        pointwise = (group == 1 and all(k == 1 for k in kernel) and all(s == 1 for s in strides)
                     and not any(pads))
        if pointwise:
            # a 1x1 convolution is a matrix product per image: Y[n] = W (M x C) @ X[n] (C x P)
            p = math.prod(out_sp)
            gemm_dispatch(w, x, bias, y, m, p, c, (c, 1), (p, 1), (1, 0), ([n], [0], [c * p]),
                          inner_act, residual=z)
        elif m // group < DIRECT_BELOW or (c // group) * math.prod(kernel) <= DIRECT_MAX_K:
            conv_dispatch("conv_direct.wgsl", x, w, bias, z, y, geometry, inner_act)
        else:
            grid = (-(-math.prod(out_sp) // TILE), -(-(m // group) // TILE), n * group)
            conv_dispatch("conv_gemm.wgsl", x, w, bias, z, y, geometry, inner_act, grid)
    if not split_epilogue:
        return y
    # a residual of another shape (broadcast): a separate Add, then the activation
    total = binary(op, y, residual, "op_add", y.dtype, out=None if act[0] != "act_none" else 0)
    if act[0] == "act_none":
        return total
    return unary(total, UNARY_OF[act[0]], params=(float_bits(act[1]), float_bits(act[2]), 0))


def conv(ctx, inputs, attrs):
    return conv_forward("Conv", inputs[0], inputs[1], present(inputs, 2), None, attrs, ACTIVATIONS[""])


def fused_conv(ctx, inputs, attrs):
    return conv_forward("FusedConv", inputs[0], inputs[1], present(inputs, 2), present(inputs, 3),
                        attrs, activation("FusedConv", attrs))


def conv_transpose(ctx, inputs, attrs):
    op = "ConvTranspose"
    x, w = inputs[0], inputs[1]
    bias = present(inputs, 2)
    be = backend_of(inputs)
    rank = x.ndim - 2
    if rank < 1 or w.ndim != x.ndim:
        raise ValueError(f"{op}: input of shape {x.shape} and weights of shape {w.shape} do not match")
    kernel = tuple(w.shape[2:])
    declared = attrs.get("kernel_shape")
    if declared is not None and len(declared) and tuple(int(k) for k in declared) != kernel:
        raise ValueError(f"{op}: kernel_shape {list(declared)} does not match weights of shape {w.shape}")
    strides = per_axis(op, attrs, "strides", rank, 1)
    dilations = per_axis(op, attrs, "dilations", rank, 1)
    out_pad = per_axis(op, attrs, "output_padding", rank, 0)
    if min(strides) < 1 or min(dilations) < 1:
        raise ValueError(f"{op}: strides and dilations must be positive")
    begin, out_sp = _transpose_pads(op, attrs, x.shape[2:], kernel, strides, dilations, out_pad)
    group = int(attrs.get("group", 1))
    n, c = x.shape[:2]
    if group < 1 or c % group or w.shape[0] != c:
        raise ValueError(f"{op}: {c} input channels and weights {w.shape} do not fit group={group}")
    mg = w.shape[1]
    m = mg * group
    if bias is not None and bias.size != m:
        raise ValueError(f"{op}: bias has {bias.size} values for {m} output channels")
    y = be.empty((n, m, *out_sp), x.dtype, 0)
    if y.size:
        geometry = {"in_sp": _three(x.shape[2:], 1), "out_sp": _three(out_sp, 1),
                    "kernel": _three(kernel, 1), "stride": _three(strides, 1),
                    "dilation": _three(dilations, 1), "pad": _three(begin, 0), "channels": c,
                    "group_channels": c // group, "out_channels": m, "group_out": mg, "batch": n}
        conv_dispatch("conv_transpose.wgsl", x, w, bias, None, y, geometry, ACTIVATIONS[""])
    return y


claim("Conv", conv, FLOAT_ONLY)
claim("FusedConv", fused_conv, FLOAT_ONLY, domain=FUSED_DOMAIN)
claim("ConvTranspose", conv_transpose, FLOAT_ONLY)
