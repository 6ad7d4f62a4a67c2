"""Conv (1-D and 2-D: general, grouped, depthwise, strided, dilated, padded, auto_pad)
and FusedConv with its bias, residual and activation epilogue (ops/fused.py), in
conv.glsl: four neighbouring outputs share each weight read along a row whose width is a
multiple of 4, and pointwise convolutions run as a matrix product over texels."""
from __future__ import annotations

from ....ops.conv import conv_pads, per_axis
from ..tensor import FLOATS
from . import claim, kinds_rule
from .common import INT, Program, access_of, broadcast_shape, broadcast_strides, present
from .layout import affine_copy, transposed_copy
from .matmul import ACT_PARAMS, activation, activation_rule, matmul

MAX_RUN_TEXELS = 6  # the widest input run MODE 1 reads per kernel row
CONV_PARAMS = tuple((name, INT, 1) for name in (
    "c_in", "channels", "m_group", "in_h", "in_w", "k_h", "k_w", "stride_h", "stride_w",
    "pad_h", "pad_w", "dil_h", "dil_w")) + ACT_PARAMS


def _geometry(op: str, x, w, attrs):
    """(x shape, w shape, output shape) in 2-D form, strides, dilations, begin pads, group."""
    rank = x.ndim - 2
    if rank not in (1, 2) or w.ndim != x.ndim:
        raise ValueError(f"{op}: input {list(x.shape)} and weights {list(w.shape)} are not a 1-D or 2-D convolution")
    kernel = tuple(w.shape[2:])
    declared = attrs.get("kernel_shape")
    if declared is not None and len(declared) and tuple(int(k) for k in declared) != kernel:
        raise ValueError(f"{op}: kernel_shape {list(declared)} does not match weights {list(w.shape)}")
    strides = per_axis(op, attrs, "strides", rank, 1)
    dilations = per_axis(op, attrs, "dilations", rank, 1)
    if min(strides) < 1 or min(dilations) < 1:
        raise ValueError(f"{op}: strides {list(strides)} and dilations {list(dilations)} must be positive")
    begin, end = conv_pads(op, attrs, x.shape[2:], kernel, strides, dilations)
    group = int(attrs.get("group", 1))
    n, c = x.shape[:2]
    m, c_in = w.shape[:2]
    if group < 1 or c % group or m % group or c // group != c_in:
        raise ValueError(f"{op}: {c} input channels, weights {list(w.shape)} and group {group} do not match")
    out_sp = []
    for size, k, s, d, b, e in zip(x.shape[2:], kernel, strides, dilations, begin, end):
        extent = (k - 1) * d + 1
        if size + b + e < extent:
            raise ValueError(f"{op}: kernel extent {extent} is larger than the padded input {size + b + e}")
        out_sp.append((size + b + e - extent) // s + 1)
    if rank == 1:  # as 2-D with a height of 1
        return ((n, c, 1, x.shape[2]), (m, c_in, 1, kernel[0]), (n, m, 1, out_sp[0]),
                (1, strides[0]), (1, dilations[0]), (0, begin[0]), group, [n, m, out_sp[0]])
    return (tuple(x.shape), tuple(w.shape), (n, m, *out_sp), strides, dilations, begin, group,
            [n, m, *out_sp])


def conv(op: str, inputs, attrs):
    x, w = inputs[0], inputs[1]
    b, z = present(inputs, 2), present(inputs, 3)
    x4, w4, y4, strides, dilations, begin, group, shape = _geometry(op, x, w, attrs)
    be = x.backend
    if b is not None and b.size != w4[0]:
        raise ValueError(f"{op}: bias of shape {list(b.shape)} for {w4[0]} output channels")
    if z is not None and broadcast_shape(op, shape, z.shape) != tuple(shape):
        raise ValueError(f"{op}: residual {list(z.shape)} does not broadcast to the output {shape}")
    out = be.output(0, shape, x.dtype)
    if out.size == 0:
        return out
    n, channels, in_h, in_w = x4
    m, c_in, k_h, k_w = w4
    pointwise = k_h == k_w == 1 and strides == (1, 1) and tuple(begin) == (0, 0) and group == 1
    code, act = activation(attrs)
    # the input columns under four neighbouring outputs' taps, in whole texels at any
    # alignment (MODE 1 reads them at once)
    span = 3 * strides[1] + (k_w - 1) * dilations[1] + 1
    run_texels = (span + 6) // 4
    if pointwise and (in_h * in_w) % 4:
        # rows of H*W do not pack into texels: multiply in [N, H*W, C] x [C, M] order,
        # where whole texels run along C and M, then transpose in the epilogue
        plane = in_h * in_w
        xt = be.scratch((n, plane, channels), x.dtype)
        transposed_copy(x, xt, (n, channels, plane), (0, 2, 1))
        wt = be.derive(w, "pointwise_t", (channels, m),
                       lambda t: transposed_copy(w, t, (m, channels), (1, 0)))
        product = matmul("Conv", xt, wt, scratch=True)
        mode, inputs_spec, tensors = 3, [("P", "any")], [product]
    else:
        mode = 2 if pointwise else 1 if run_texels <= MAX_RUN_TEXELS else 0
        inputs_spec, tensors = [("X", "any"), ("W", "any")], [x, w]
    target, grid = out, list(y4)
    if mode == 1 and y4[3] % 4:
        if z is None:
            # rows whose width is not a multiple of 4: render rows padded to one, in
            # whole texels, and copy the real columns out
            grid[3] = -(-y4[3] // 4) * 4
            target = be.scratch(grid, x.dtype)
        else:
            mode = 0
    values = {"oshape": grid, "c_in": c_in, "channels": channels, "m_group": m // group,
              "in_h": in_h, "in_w": in_w, "k_h": k_h, "k_w": k_w, "stride_h": strides[0],
              "stride_w": strides[1], "pad_h": begin[0], "pad_w": begin[1],
              "dil_h": dilations[0], "dil_w": dilations[1], **act}
    if b is not None:
        inputs_spec.append(("B", "any"))
        tensors.append(b)
    if z is not None:
        access = access_of(z.shape, shape)
        inputs_spec.append(("Z", access))
        tensors.append(z)
        if access == "bcast":
            st = broadcast_strides(z.shape, shape)
            values["Z_bstride"] = st if len(shape) == 4 else st[:2] + [0] + st[2:]
    program = Program("conv.glsl", tuple(inputs_spec), 4, CONV_PARAMS,
                      (("MODE", mode), ("C4", int(channels % 4 == 0)), ("RUN_TEXELS", run_texels),
                       ("HAS_B", int(b is not None)),
                       ("HAS_Z", int(z is not None)), ("ACT", code)), out.kind)
    be.draw(program, target, tensors, values)
    if target is not out:
        affine_copy(target, out, 0, [(n * m * y4[2], grid[3], 0), (y4[3], 1, 0)])
    return out


def _conv(ctx, inputs, attrs):
    return conv("Conv", inputs, attrs)


def _fused_conv(ctx, inputs, attrs):
    return conv("FusedConv", inputs, attrs)


def _conv_rule(node) -> str | None:
    kernel = node.attrs.get("kernel_shape")
    if kernel is not None and len(kernel) > 2:
        return f"{len(kernel)}-D convolution: the WebGL kernel does 1-D and 2-D"
    return activation_rule(node)


claim("Conv", _conv, kinds_rule(FLOATS, inputs=(0, 1), check=_conv_rule))
claim("FusedConv", _fused_conv, kinds_rule(FLOATS, inputs=(0, 1), check=_conv_rule), domain="pywebinfer")
