"""conv ops: numpy reference kernels.

Conv, ConvTranspose, ConvInteger, QLinearConv, DeformConv and Col2Im for any number of
spatial axes.  :func:`conv_nchw` is the convolution itself, callable with explicit
parameters (fused ops use it too).  It picks one of three paths:

* depthwise (one input channel per group): one multiply-add per kernel tap over
  strided views of the padded input, no im2col;
* 1x1 kernels without padding: a plain matmul over the channels (where numpy has BLAS;
  without it the im2col layout below suits its matmul better);
* everything else: im2col with stride tricks (the input copied once, channels last)
  and one batched matmul over all groups.

float16 is computed in float32, float32 stays float32.
"""
from __future__ import annotations

import itertools
import math
import sys

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .registry import kernel


def _numpy_has_blas() -> bool:
    # Pyodide's numpy has no BLAS: its matmul is then a plain loop that sums along the
    # rows of the left operand and the columns of the right one, so the operand layout
    # decides its speed (see _apply_weights).
    if sys.platform == "emscripten":
        return False
    try:
        return bool(np.show_config(mode="dicts")["Build Dependencies"]["blas"]["found"])
    except (KeyError, TypeError, ValueError):
        return True


_HAS_BLAS = _numpy_has_blas()

# Above this many bytes of im2col columns the batch is convolved in slices.
_IM2COL_BYTES = 256 << 20
# Working-set size that tap-by-tap loops aim to keep per block (about a core's L2).
_CACHE_BYTES = 512 << 10


# --------------------------------------------------------------------------- geometry


def per_axis(op: str, attrs: dict, name: str, rank: int, default: int) -> tuple:
    """An attribute with one int per spatial axis, ``default`` on each when absent."""
    value = attrs.get(name)
    if value is None or len(value) == 0:
        return (default,) * rank
    value = tuple(int(v) for v in value)
    if len(value) != rank:
        raise ValueError(f"{op}: {name} has {len(value)} values, expected {rank} (one per spatial axis)")
    return value


def explicit_pads(op: str, attrs: dict, rank: int) -> tuple[tuple, tuple]:
    """(begin, end) pads from the ``pads`` attribute."""
    pads = attrs.get("pads")
    if pads is None or len(pads) == 0:
        return (0,) * rank, (0,) * rank
    pads = tuple(int(p) for p in pads)
    if len(pads) != 2 * rank:
        raise ValueError(f"{op}: pads has {len(pads)} values, expected {2 * rank}")
    if min(pads) < 0:
        raise ValueError(f"{op}: pads must not be negative, got {list(pads)}")
    return pads[:rank], pads[rank:]


def same_pads(in_size: int, kernel: int, stride: int, dilation: int, upper: bool) -> tuple[int, int]:
    """SAME_UPPER / SAME_LOWER pads giving ceil(in / stride) outputs."""
    out = -(-in_size // stride)
    total = max(0, (out - 1) * stride + (kernel - 1) * dilation + 1 - in_size)
    small, big = total // 2, total - total // 2
    return (small, big) if upper else (big, small)


def auto_pad_mode(op: str, attrs: dict) -> str:
    mode = attrs.get("auto_pad", "NOTSET")
    if isinstance(mode, bytes):
        mode = mode.decode()
    if mode not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        raise ValueError(f"{op}: unknown auto_pad {mode!r}")
    return mode


def conv_pads(op: str, attrs: dict, in_sp, kernel, strides, dilations) -> tuple[tuple, tuple]:
    """(begin, end) pads of a convolution from ``pads`` or ``auto_pad``."""
    mode = auto_pad_mode(op, attrs)
    rank = len(in_sp)
    if mode == "NOTSET":
        return explicit_pads(op, attrs, rank)
    if mode == "VALID":
        return (0,) * rank, (0,) * rank
    both = [same_pads(i, k, s, d, mode == "SAME_UPPER")
            for i, k, s, d in zip(in_sp, kernel, strides, dilations)]
    return tuple(b for b, _ in both), tuple(e for _, e in both)


def tap_slices(kernel, strides, dilations, grid):
    """For each kernel tap in row-major order, the slices that pick, from a padded
    array, the input element that tap sees at every point of the output ``grid``."""
    for tap in itertools.product(*(range(k) for k in kernel)):
        yield tuple(
            slice(t * d, t * d + (g - 1) * s + 1 if g > 0 else t * d, s)
            for t, s, d, g in zip(tap, strides, dilations, grid)
        )


def _out_sizes(op, padded_sp, kernel, strides, dilations):
    sizes = []
    for p, k, s, d in zip(padded_sp, kernel, strides, dilations):
        extent = (k - 1) * d + 1
        if p < extent:
            raise ValueError(f"{op}: kernel extent {extent} is larger than the padded input {p}")
        sizes.append((p - extent) // s + 1)
    return tuple(sizes)


def _check_positive(op, name, values):
    if any(v < 1 for v in values):
        raise ValueError(f"{op}: {name} must be positive, got {list(values)}")


def _work_dtype(op, dtype) -> np.dtype:
    """The dtype a convolution computes in: float16 accumulates in float32."""
    dtype = np.dtype(dtype)
    if dtype == np.float16:
        return np.dtype(np.float32)
    if dtype.kind != "f":
        raise ValueError(f"{op}: {dtype} input is not supported")
    return dtype


# --------------------------------------------------------------------------- convolution


def _pad(x, begin, end, dtype, channels_last):
    """x (N, C, *sp) padded with zeros, as dtype, optionally moved to (N, *sp, C)."""
    n, c, sp = x.shape[0], x.shape[1], x.shape[2:]
    padded = tuple(s + b + e for s, b, e in zip(sp, begin, end))
    inner = tuple(slice(b, b + s) for b, s in zip(begin, sp))
    if channels_last:
        out = np.zeros((n, *padded, c), dtype) if any(begin) or any(end) else np.empty((n, *padded, c), dtype)
        out[(slice(None), *inner, slice(None))] = np.moveaxis(x, 1, -1)
        return out
    if not any(begin) and not any(end):
        return x.astype(dtype, copy=False)
    out = np.zeros((n, c, *padded), dtype)
    out[(slice(None), slice(None), *inner)] = x
    return out


def _apply_weights(wm, cols):
    """wm (G, Mg, K) applied to cols (N, G, P, K): returns (N, G, Mg, P)."""
    if _HAS_BLAS:
        return np.matmul(wm, cols.swapaxes(-1, -2))
    # BLAS-less matmul sums along contiguous rows of both operands best, with the large
    # operand on the left so the small weight matrix stays in cache.
    return np.matmul(cols, wm.swapaxes(-1, -2)).swapaxes(-1, -2)


def _depthwise(xp, w, strides, dilations, out_sp):
    """Each input channel of the padded xp convolved with its own filters, w of shape
    (C * mult, 1, *kernel): one multiply-add per tap over strided views, a block of
    channels at a time so that the accumulator stays in cache."""
    n, c = xp.shape[:2]
    mult = w.shape[0] // c
    ones = (1,) * len(out_sp)
    taps = w.reshape(c, mult, -1)
    windows = list(tap_slices(w.shape[2:], strides, dilations, out_sp))
    out = np.empty((n, c, mult, *out_sp), xp.dtype)
    block = max(1, _CACHE_BYTES // max(1, n * mult * math.prod(out_sp) * xp.itemsize))
    scratch = np.empty((n, min(block, c), mult, *out_sp), xp.dtype)
    for start in range(0, c, block):
        stop = min(start + block, c)
        acc = out[:, start:stop]
        tmp = scratch[:, : stop - start]
        for t, window in enumerate(windows):
            view = xp[(slice(None), slice(start, stop), None, *window)]
            weight = taps[start:stop, :, t].reshape(stop - start, mult, *ones)
            if t == 0:
                np.multiply(view, weight, out=acc)
            else:
                np.multiply(view, weight, out=tmp)
                acc += tmp
    return out.reshape(n, c * mult, *out_sp)


def _pointwise(x, w, strides, group, out_sp, dtype):
    """1x1 kernel, no padding: a matmul over channels on the (strided) input."""
    n, c = x.shape[:2]
    m = w.shape[0]
    if any(s > 1 for s in strides):
        x = x[(slice(None), slice(None), *(slice(None, None, s) for s in strides))]
    cols = x.astype(dtype, copy=False).reshape(n, group, c // group, -1)
    wm = w.reshape(group, m // group, c // group)
    return np.matmul(wm, cols).reshape(n, m, *out_sp)


def _im2col(xp_cl, w, strides, dilations, group, out_sp):
    """General convolution of the padded channels-last input xp_cl (N, *sp, C)."""
    n, c = xp_cl.shape[0], xp_cl.shape[-1]
    m = w.shape[0]
    kernel = w.shape[2:]
    rank = len(kernel)
    cg, mg = c // group, m // group
    taps = math.prod(kernel)
    positions = math.prod(out_sp)
    # weights as (G, Mg, K) with K ordered (*kernel, Cg) like the columns
    wm = np.moveaxis(w.reshape(group, mg, cg, taps), 2, 3).reshape(group, mg, taps * cg)
    st = xp_cl.strides
    view = as_strided(
        xp_cl,
        shape=(n, group, *out_sp, *kernel, cg),
        strides=(st[0], cg * st[-1], *(st[1 + i] * strides[i] for i in range(rank)),
                 *(st[1 + i] * dilations[i] for i in range(rank)), st[-1]),
        writeable=False,
    )
    per_image = positions * taps * c * xp_cl.itemsize
    chunk = max(1, _IM2COL_BYTES // max(per_image, 1))
    outs = []
    for start in range(0, n, chunk):
        part = view[start:start + chunk]
        cols = part.reshape(part.shape[0], group, positions, taps * cg)
        outs.append(_apply_weights(wm, cols).reshape(part.shape[0], m, *out_sp))
    return outs[0] if len(outs) == 1 else np.concatenate(outs)


def conv_nchw(x, w, bias=None, strides=None, pads=None, dilations=None, group=1, *, op="Conv"):
    """N-D convolution of x (N, C, *spatial) with w (M, C / group, *kernel).

    strides and dilations have one value per spatial axis (default 1); pads is ONNX's
    [begin..., end...] list (default 0).  Returns (N, M, *out_spatial) in x's dtype
    (float16 is accumulated in float32).  ``op`` names the node in error messages.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    rank = x.ndim - 2
    if rank < 1 or w.ndim != x.ndim:
        raise ValueError(f"{op}: input of shape {x.shape} and weights of shape {w.shape} do not match")
    c = x.shape[1]
    m = w.shape[0]
    kernel = w.shape[2:]
    strides = tuple(strides) if strides is not None else (1,) * rank
    dilations = tuple(dilations) if dilations is not None else (1,) * rank
    pads = tuple(pads) if pads is not None else (0,) * (2 * rank)
    begin, end = pads[:rank], pads[rank:]
    _check_positive(op, "strides", strides)
    _check_positive(op, "dilations", dilations)
    if len(pads) != 2 * rank or min(pads) < 0:
        raise ValueError(f"{op}: pads must be {2 * rank} values >= 0, got {list(pads)}")
    if group < 1 or c % group or m % group or w.shape[1] * group != c:
        raise ValueError(
            f"{op}: {c} input channels, {m} output channels and weights {w.shape} "
            f"do not fit group={group}")
    dtype = _work_dtype(op, x.dtype)
    w = w.astype(dtype, copy=False)
    padded_sp = tuple(s + b + e for s, b, e in zip(x.shape[2:], begin, end))
    out_sp = _out_sizes(op, padded_sp, kernel, strides, dilations)

    if group == c and w.shape[1] == 1 and c > 1:
        y = _depthwise(_pad(x, begin, end, dtype, False), w, strides, dilations, out_sp)
    elif _HAS_BLAS and all(k == 1 for k in kernel) and not any(pads):
        y = _pointwise(x, w, strides, group, out_sp, dtype)
    else:
        y = _im2col(_pad(x, begin, end, dtype, True), w, strides, dilations, group, out_sp)
    if bias is not None:
        y += np.asarray(bias, dtype).reshape(m, *(1,) * rank)
    return y.astype(x.dtype, copy=False)


def _conv_attrs(op, attrs, x, w):
    """(strides, pads list, dilations, group) of a Conv-like node."""
    rank = x.ndim - 2
    if rank < 1 or w.ndim != x.ndim:
        raise ValueError(f"{op}: input of shape {x.shape} and weights of shape {w.shape} do not match")
    kernel = tuple(w.shape[2:])
    declared = attrs.get("kernel_shape")
    if declared is not None and len(declared) and tuple(int(k) for k in declared) != kernel:
        raise ValueError(f"{op}: kernel_shape {list(declared)} does not match weights of shape {w.shape}")
    strides = per_axis(op, attrs, "strides", rank, 1)
    dilations = per_axis(op, attrs, "dilations", rank, 1)
    _check_positive(op, "strides", strides)
    _check_positive(op, "dilations", dilations)
    begin, end = conv_pads(op, attrs, x.shape[2:], kernel, strides, dilations)
    return strides, begin + end, dilations, int(attrs.get("group", 1))


@kernel("Conv", since=1)
def conv(ctx, inputs, attrs):
    x, w = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    strides, pads, dilations, group = _conv_attrs("Conv", attrs, x, w)
    return conv_nchw(x, w, bias, strides, pads, dilations, group)


# --------------------------------------------------------------------------- integer convolutions


def _zero_point(op, name, zp, channels):
    """A zero point as float64, shaped to broadcast over (N, M, ...) per output channel."""
    if zp is None:
        return np.float64(0)
    zp = np.asarray(zp)
    if zp.size == 1:
        return np.float64(zp.reshape(()))
    if zp.ndim != 1 or zp.size != channels:
        raise ValueError(f"{op}: {name} must be a scalar or have one value per output channel ({channels})")
    return zp.astype(np.float64)


def _integer_conv(op, attrs, x, x_zp, w, w_zp):
    """Exact integer convolution of (x - x_zp) and (w - w_zp), as float64 (exact far
    beyond int32's range, and float64 matmul uses BLAS)."""
    x_zp = np.asarray(x_zp) if x_zp is not None else None
    if x_zp is not None and x_zp.size != 1:
        raise ValueError(f"{op}: x_zero_point must be a scalar (per-tensor)")
    xf = x.astype(np.float64) - (np.float64(x_zp.reshape(())) if x_zp is not None else 0.0)
    wzp = _zero_point(op, "w_zero_point", w_zp, w.shape[0])
    wf = w.astype(np.float64)
    wf = wf - (wzp.reshape(-1, *(1,) * (w.ndim - 1)) if np.ndim(wzp) else wzp)
    strides, pads, dilations, group = _conv_attrs(op, attrs, x, w)
    return conv_nchw(xf, wf, None, strides, pads, dilations, group, op=op)


@kernel("ConvInteger", since=10)
def conv_integer(ctx, inputs, attrs):
    x, w = inputs[0], inputs[1]
    x_zp = inputs[2] if len(inputs) > 2 else None
    w_zp = inputs[3] if len(inputs) > 3 else None
    acc = _integer_conv("ConvInteger", attrs, x, x_zp, w, w_zp)
    # int32 accumulation wraps around on overflow
    return np.rint(acc).astype(np.int64).astype(np.int32)


@kernel("QLinearConv", since=10)
def qlinear_conv(ctx, inputs, attrs):
    x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp = inputs[:8]
    bias = inputs[8] if len(inputs) > 8 else None
    m = w.shape[0]
    out_type = np.asarray(y_zp).dtype
    if out_type not in (np.uint8, np.int8):
        raise ValueError(f"QLinearConv: y_zero_point must be int8 or uint8, got {out_type}")
    acc = np.rint(_integer_conv("QLinearConv", attrs, x, x_zp, w, w_zp)).astype(np.int64)
    if bias is not None:
        acc += np.asarray(bias).astype(np.int64).reshape(m, *(1,) * (x.ndim - 2))
    acc = acc.astype(np.int32)
    w_scale = np.asarray(w_scale, np.float32)
    if w_scale.size not in (1, m):
        raise ValueError(f"QLinearConv: w_scale must be a scalar or have one value per output channel ({m})")
    # the requantization scale in float32, as the runtimes compute it
    x_scale = np.float32(np.asarray(x_scale).reshape(()))
    y_scale = np.float32(np.asarray(y_scale).reshape(()))
    scale = (x_scale * w_scale.reshape(-1) / y_scale).astype(np.float32).reshape(-1, *(1,) * (x.ndim - 2))
    y = np.rint(acc.astype(np.float32) * scale) + np.float32(np.asarray(y_zp).reshape(()))
    info = np.iinfo(out_type)
    return np.clip(y, info.min, info.max).astype(out_type)


# --------------------------------------------------------------------------- transposed convolution


def fold(cols, kernel, strides, dilations, grid, out_sp):
    """Sum the columns cols (..., K, *grid) into an array (..., *out_sp): tap t of
    column position g lands at g * stride + t * dilation (the inverse of im2col)."""
    rank = len(kernel)
    lead = cols.shape[: cols.ndim - rank - 1]
    # string tensors (Col2Im allows them) start empty and are joined where blocks overlap
    if cols.dtype == object:
        out = np.full(lead + tuple(out_sp), "", dtype=object)
    else:
        out = np.zeros(lead + tuple(out_sp), cols.dtype)
    for t, window in enumerate(tap_slices(kernel, strides, dilations, grid)):
        target = out[(Ellipsis, *window)]
        np.add(target, cols[(Ellipsis, t) + (slice(None),) * rank], out=target)
    return out


def _transpose_pads(op, attrs, in_sp, kernel, strides, dilations, out_pad):
    """Where the output starts in the full transposed result, and the output sizes."""
    rank = len(in_sp)
    full = [s * (i - 1) + p + (k - 1) * d + 1
            for i, k, s, d, p in zip(in_sp, kernel, strides, dilations, out_pad)]
    mode = auto_pad_mode(op, attrs)
    requested = attrs.get("output_shape")
    if requested is not None and len(requested):
        requested = [int(v) for v in requested]
        if len(requested) == rank + 2:
            requested = requested[2:]
        if len(requested) != rank:
            raise ValueError(f"{op}: output_shape has {len(requested)} values, expected {rank}")
        totals = [f - size for f, size in zip(full, requested)]
    elif mode in ("SAME_UPPER", "SAME_LOWER"):
        # aims at input * stride outputs, but only ever crops (as onnxruntime does)
        totals = [max(0, f - i * s) for f, i, s in zip(full, in_sp, strides)]
    else:
        if mode == "VALID":
            begin, end = (0,) * rank, (0,) * rank
        else:
            begin, end = explicit_pads(op, attrs, rank)
        sizes = [f - b - e for f, b, e in zip(full, begin, end)]
        if min(sizes) < 0:
            raise ValueError(f"{op}: pads {list(begin + end)} remove more than the whole output")
        return begin, sizes
    # An odd total puts its extra unit at the end for SAME_UPPER and at the beginning
    # otherwise: opset 11's text.  Opset 1's formula contradicts its own auto_pad text;
    # onnxruntime applies this rule to every opset.  A negative total (output_shape
    # larger than the result) extends the output with zeros.
    begin = tuple(t // 2 if mode == "SAME_UPPER" else t - t // 2 for t in totals)
    return begin, [f - t for f, t in zip(full, totals)]


def conv_transpose_nchw(x, w, bias, strides, dilations, group, begin, out_sp):
    """Transposed convolution of x (N, C, *sp) with w (C, M / group, *kernel); output
    element o is element o + begin of the full result (zero outside it)."""
    n, c = x.shape[:2]
    rank = x.ndim - 2
    in_sp = x.shape[2:]
    kernel = w.shape[2:]
    mg = w.shape[1]
    m = mg * group
    if group < 1 or c % group or w.shape[0] != c:
        raise ValueError(f"ConvTranspose: {c} input channels and weights {w.shape} do not fit group={group}")
    dtype = _work_dtype("ConvTranspose", x.dtype)
    cg = c // group
    taps = math.prod(kernel)
    wt = np.ascontiguousarray(np.swapaxes(w.astype(dtype, copy=False).reshape(group, cg, mg * taps), 1, 2))
    xs = x.astype(dtype, copy=False).reshape(n, group, cg, -1)
    if _HAS_BLAS:
        cols = np.matmul(wt, xs)
    else:
        cols = np.matmul(wt, np.ascontiguousarray(xs.swapaxes(-1, -2)).swapaxes(-1, -2))
    cols = cols.reshape(n, m, taps, *in_sp)
    full_sp = tuple((i - 1) * s + (k - 1) * d + 1 for i, k, s, d in zip(in_sp, kernel, strides, dilations))
    full = fold(cols, kernel, strides, dilations, in_sp, full_sp)
    if tuple(begin) == (0,) * rank and tuple(out_sp) == full_sp:
        y = full
    else:
        y = np.zeros((n, m, *out_sp), dtype)
        src, dst = [slice(None)] * 2, [slice(None)] * 2
        for b, size, f in zip(begin, out_sp, full_sp):
            lo, hi = max(b, 0), min(f, b + size)
            hi = max(hi, lo)
            src.append(slice(lo, hi))
            dst.append(slice(lo - b, hi - b))
        y[tuple(dst)] = full[tuple(src)]
    if bias is not None:
        y += np.asarray(bias, dtype).reshape(m, *(1,) * rank)
    return y.astype(x.dtype, copy=False)


def _conv_transpose(attrs, inputs):
    op = "ConvTranspose"
    x, w = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
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
    _check_positive(op, "strides", strides)
    _check_positive(op, "dilations", dilations)
    begin, out_sp = _transpose_pads(op, attrs, x.shape[2:], kernel, strides, dilations, out_pad)
    return conv_transpose_nchw(x, w, bias, strides, dilations, int(attrs.get("group", 1)), begin, out_sp)


@kernel("ConvTranspose", since=1)
def conv_transpose(ctx, inputs, attrs):
    return _conv_transpose(attrs, inputs)


# --------------------------------------------------------------------------- Col2Im


@kernel("Col2Im", since=18)
def col2im(ctx, inputs, attrs):
    op = "Col2Im"
    cols, image_shape, block_shape = inputs
    image = tuple(int(v) for v in np.asarray(image_shape).reshape(-1))
    block = tuple(int(v) for v in np.asarray(block_shape).reshape(-1))
    rank = len(image)
    if len(block) != rank:
        raise ValueError(f"{op}: image_shape has {rank} values but block_shape {len(block)}")
    if cols.ndim != 3:
        raise ValueError(f"{op}: input must be 3-D (N, C * prod(block_shape), L), got shape {cols.shape}")
    strides = per_axis(op, attrs, "strides", rank, 1)
    dilations = per_axis(op, attrs, "dilations", rank, 1)
    _check_positive(op, "strides", strides)
    _check_positive(op, "dilations", dilations)
    begin, end = explicit_pads(op, attrs, rank)
    padded = tuple(i + b + e for i, b, e in zip(image, begin, end))
    grid = _out_sizes(op, padded, block, strides, dilations)
    taps = math.prod(block)
    n, ck, blocks = cols.shape
    if ck % taps or blocks != math.prod(grid):
        raise ValueError(
            f"{op}: input of shape {cols.shape} does not fit blocks {list(block)} over image "
            f"{list(image)} ({math.prod(grid)} block positions expected)")
    full = fold(cols.reshape(n, ck // taps, taps, *grid), block, strides, dilations, grid, padded)
    return full[(slice(None), slice(None), *(slice(b, b + i) for b, i in zip(begin, image)))].copy()


# --------------------------------------------------------------------------- DeformConv


def _bilinear_gather(xf, coords, sp):
    """Sample xf (N, G, Cg, S) at fractional coords (N, G, rank, Q) of a grid of shape sp,
    linearly interpolated, zero outside: returns (N, G, Cg, Q)."""
    rank = len(sp)
    low = np.floor(coords)
    frac = coords - low
    low = low.astype(np.int64)
    result = None
    for corner in itertools.product((0, 1), repeat=rank):
        weight = None
        flat = None
        inside = None
        for axis, bit in enumerate(corner):
            idx = low[:, :, axis] + bit
            part = frac[:, :, axis] if bit else 1 - frac[:, :, axis]
            ok = (idx >= 0) & (idx < sp[axis])
            weight = part if weight is None else weight * part
            inside = ok if inside is None else inside & ok
            idx = np.clip(idx, 0, sp[axis] - 1)
            flat = idx if flat is None else flat * sp[axis] + idx
        weight = np.where(inside, weight, 0)
        values = np.take_along_axis(xf, flat[:, :, None, :], axis=-1)
        term = values * weight[:, :, None, :]
        result = term if result is None else result + term
    return result


@kernel("DeformConv", since=19)
def deform_conv(ctx, inputs, attrs):
    op = "DeformConv"
    x, w, offset = inputs[0], inputs[1], inputs[2]
    bias = inputs[3] if len(inputs) > 3 else None
    mask = inputs[4] if len(inputs) > 4 else None
    rank = x.ndim - 2
    if rank < 1 or w.ndim != x.ndim:
        raise ValueError(f"{op}: input of shape {x.shape} and weights of shape {w.shape} do not match")
    kernel_sp = tuple(w.shape[2:])
    declared = attrs.get("kernel_shape")
    if declared is not None and len(declared) and tuple(int(k) for k in declared) != kernel_sp:
        raise ValueError(f"{op}: kernel_shape {list(declared)} does not match weights of shape {w.shape}")
    strides = per_axis(op, attrs, "strides", rank, 1)
    dilations = per_axis(op, attrs, "dilations", rank, 1)
    _check_positive(op, "strides", strides)
    _check_positive(op, "dilations", dilations)
    begin, end = explicit_pads(op, attrs, rank)
    group = int(attrs.get("group", 1))
    offset_group = int(attrs.get("offset_group", 1))
    n, c = x.shape[:2]
    sp = x.shape[2:]
    m = w.shape[0]
    if group < 1 or c % group or m % group or w.shape[1] * group != c:
        raise ValueError(f"{op}: {c} input channels, weights {w.shape} do not fit group={group}")
    if offset_group < 1 or c % offset_group:
        raise ValueError(f"{op}: {c} input channels are not divisible by offset_group={offset_group}")
    padded = tuple(s + b + e for s, b, e in zip(sp, begin, end))
    out_sp = _out_sizes(op, padded, kernel_sp, strides, dilations)
    taps = math.prod(kernel_sp)
    positions = math.prod(out_sp)
    if offset.shape != (n, offset_group * taps * rank, *out_sp):
        raise ValueError(
            f"{op}: offset must have shape {(n, offset_group * taps * rank, *out_sp)}, got {offset.shape}")
    if mask is not None and mask.shape != (n, offset_group * taps, *out_sp):
        raise ValueError(f"{op}: mask must have shape {(n, offset_group * taps, *out_sp)}, got {mask.shape}")
    dtype = _work_dtype(op, x.dtype)

    # where each tap of each output position samples, in unpadded input coordinates
    base = []
    for axis in range(rank):
        out_pos = np.arange(out_sp[axis]) * strides[axis] - begin[axis]
        tap_pos = np.arange(kernel_sp[axis]) * dilations[axis]
        shape_k = [1] * rank
        shape_k[axis] = kernel_sp[axis]
        shape_o = [1] * rank
        shape_o[axis] = out_sp[axis]
        grid = tap_pos.reshape(*shape_k, *(1,) * rank) + out_pos.reshape(*(1,) * rank, *shape_o)
        base.append(np.broadcast_to(grid, (*kernel_sp, *out_sp)).reshape(taps, positions))
    base = np.stack(base, axis=1).astype(dtype)  # (K, rank, P)
    coords = offset.astype(dtype).reshape(n, offset_group, taps, rank, positions) + base
    coords = coords.transpose(0, 1, 3, 2, 4).reshape(n, offset_group, rank, taps * positions)
    xf = x.astype(dtype).reshape(n, offset_group, c // offset_group, -1)
    sampled = _bilinear_gather(xf, coords, sp).reshape(n, offset_group, c // offset_group, taps, positions)
    if mask is not None:
        sampled = sampled * mask.astype(dtype).reshape(n, offset_group, 1, taps, positions)
    cg, mg = c // group, m // group
    cols = sampled.reshape(n, group, cg * taps, positions)
    wm = w.astype(dtype).reshape(group, mg, cg * taps)
    y = np.matmul(wm, cols).reshape(n, m, *out_sp)
    if bias is not None:
        y += np.asarray(bias, dtype).reshape(m, *(1,) * rank)
    return y.astype(x.dtype, copy=False)
