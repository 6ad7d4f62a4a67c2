"""Conv (1-D and 2-D: general, grouped, depthwise, strided, dilated, padded, auto_pad)
and FusedConv with its bias, residual and activation epilogue (ops/fused.py), in
conv.glsl and rows.glsl: four neighbouring outputs along a row share each weight read;
where 4 or 8 output channels share their input channels (pointwise and ungrouped
convolutions), conv_targets.glsl renders them at once, one a render target, before
conv.glsl's epilogue puts them in order."""
from __future__ import annotations

from ....ops.conv import conv_pads, per_axis
from ..tensor import FLOATS
from . import claim, kinds_rule
from .common import INT, Program, access_of, broadcast_shape, broadcast_strides, present
from .layout import affine_copy
from .matmul import ACT_PARAMS, activation, activation_rule

MAX_RUN_TEXELS = 6  # the widest input run MODE 1 reads per kernel row
CONV_PARAMS = tuple((name, INT, 1) for name in (
    "c_in", "channels", "m_group", "in_h", "in_w", "k_h", "k_w", "stride_h", "stride_w",
    "pad_h", "pad_w", "dil_h", "dil_w", "q_plane", "q_row")) + ACT_PARAMS
TARGET_PARAMS = CONV_PARAMS[:-len(ACT_PARAMS)] + (("m_blocks", INT, 1), ("m", INT, 1))


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
    out_h, out_w = y4[2], y4[3]
    # the input columns under four neighbouring outputs' taps, in whole texels at any
    # alignment (MODE 1 reads them at once)
    span = 3 * strides[1] + (k_w - 1) * dilations[1] + 1
    run_texels = (span + 6) // 4
    # rows.glsl does MODE 1's work with every tap's lanes at fixed places in the window,
    # the weights re-laid out in whole texels (a copy kept for the session).  With rows
    # aligned to texels every fragment's window starts SKEW lanes into a texel; else the
    # shader shifts it into place.
    aligned = in_w % 4 == 0
    skew = -begin[1] % 4 if aligned else 0
    rows_run = (skew + 3 * strides[1] + (k_w - 1) * dilations[1]) // 4 + 1
    kw_texels = -(-k_w // 4)
    rows = {"ROWS": 0, "KW": 0, "SW": 0, "DW": 0, "SKEW": 0, "KW_TEXELS": 0, "ALIGNED": 0,
            "RUN_TEXELS": 0, "TARGETS": 1}
    by_rows = not pointwise and k_w <= 8 and rows_run <= MAX_RUN_TEXELS
    if by_rows:
        rows.update(ROWS=1, KW=k_w, SW=strides[1], DW=dilations[1], SKEW=skew, KW_TEXELS=kw_texels,
                    ALIGNED=int(aligned), RUN_TEXELS=rows_run)
    values = {"c_in": c_in, "channels": channels, "m_group": m // group,
              "in_h": in_h, "in_w": in_w, "k_h": k_h, "k_w": k_w, "stride_h": strides[0],
              "stride_w": strides[1], "pad_h": begin[0], "pad_w": begin[1],
              "dil_h": dilations[0], "dil_w": dilations[1], "q_plane": 0, "q_row": 0, **act}
    target, grid = out, list(y4)
    # TARGETS output channels a fragment: 8 where the context renders to 8 targets and
    # there are more than 4 channels (the 8 of a block share their group)
    targets = 8 if be.gl.max_targets >= 8 and m > 4 and (group == 1 or (m // group) % 8 == 0) else 4
    if pointwise or (by_rows and (group == 1 or (m // group) % targets == 0)):
        # several output channels a fragment, one a render target (conv_targets.glsl),
        # so each read of X serves that many times the products; then the epilogue (MODE 3).
        # Rows of H*W (pointwise) or of the output (rows) are padded to whole texels
        # there; pointwise X is copied out so padded when H*W is not a multiple of 4
        # (the pad columns' products are never read)
        xs = x
        if pointwise:
            values["q_row"] = out_w
            values["q_plane"] = -(-(in_h * in_w) // 4) * 4
            if values["q_plane"] != in_h * in_w:
                xs = be.scratch((n, channels, values["q_plane"]), x.dtype)
                affine_copy(x, xs, 0, [(n * channels, in_h * in_w, 0), (values["q_plane"], 1, 0)])
            wt = w
        else:
            values["q_row"] = -(-out_w // 4) * 4
            values["q_plane"] = out_h * values["q_row"]
            wt = _taps_of(w, w4, targets)
        blocks = -(-m // targets)
        quads = be.scratch_targets(targets, (n, blocks, values["q_plane"]), x.dtype)
        product = Program("conv_targets.glsl", (("X", "any"), ("W", "any")), 0, TARGET_PARAMS,
                          (("PRODUCT", int(not pointwise)), ("C4", int(pointwise and channels % 4 == 0)),
                           *dict(rows, TARGETS=targets).items()), quads[0].kind, outs=targets)
        be.draw(product, quads, [xs, wt], dict(values, m_blocks=blocks, m=m))
        mode = 3
        q_texels = values["q_row"] == out_w and values["q_plane"] == out_h * out_w and out_h * out_w % 4 == 0
        rows = {k: 0 for k in rows} | {"TARGETS": 1}
        inputs_spec, tensors = [(f"Q{r}", "any") for r in range(targets)], list(quads)
    else:
        q_texels = False
        inputs_spec, tensors = [("X", "any"), ("W", "any")], [x, w]
        mode = 4 if by_rows else 1 if run_texels <= MAX_RUN_TEXELS else 0
        if mode and out_w % 4:
            if z is None:
                # rows whose width is not a multiple of 4: render rows padded to one, in
                # whole texels, and copy the real columns out
                grid[3] = -(-out_w // 4) * 4
                target = be.scratch(grid, x.dtype)
            else:
                mode = 0
        if mode == 4:
            tensors[1] = _rows_in_texels(w, w4, kw_texels)
        else:
            rows = {k: 0 for k in rows} | {"TARGETS": 1, "RUN_TEXELS": run_texels if mode == 1 else 0}
    values["oshape"] = grid
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
                      (("MODE", mode), ("Q_TEXELS", int(q_texels)), ("QS", targets if mode == 3 else 0),
                       *rows.items(),
                       ("HAS_B", int(b is not None)),
                       ("HAS_Z", int(z is not None)), ("ACT", code)), out.kind)
    be.draw(program, target, tensors, values)
    if target is not out:
        affine_copy(target, out, 0, [(n * m * y4[2], grid[3], 0), (y4[3], 1, 0)])
    return out


def _rows_in_texels(w, w4, kw_texels):
    """Weights [M, C/group, KH, KW] as [M, C/group, KH, KW_TEXELS * 4] (kept for the
    session when a weight): each kernel row in whole texels.  The pad lanes hold the
    next row's values, which no tap reads."""
    rows = w4[0] * w4[1] * w4[2]
    return w.backend.derive(w, "conv_rows", (rows, 4 * kw_texels), lambda t: affine_copy(
        w, t, 0, [(rows, w4[3], 0), (4 * kw_texels, 1, 0)]))


def _taps_of(w, w4, k: int):
    """Weights [M, C/group, KH, KW] as [M/k, C/group, KH, KW, k] (kept for the session
    when a weight): k/4 texels hold one tap of k output channels.  Channels past M hold
    whatever lies past the weights, products no one reads."""
    m, c_in, k_h, k_w = w4
    taps = c_in * k_h * k_w
    return w.backend.derive(w, f"conv_taps{k}", (-(-m // k), taps, k), lambda t: affine_copy(
        w, t, 0, [(-(-m // k), k * taps, 0), (taps, 1, 0), (k, taps, 0)]))


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
