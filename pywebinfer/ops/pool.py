"""pool ops: numpy reference kernels.

MaxPool, AveragePool, LpPool and their Global forms, MaxUnpool, MaxRoiPool and RoiAlign,
for any number of spatial axes.  Windows are read as strided views of the input padded
with the op's neutral value; max and sum pool one spatial axis after the other (a box
window is separable), so a k x k window costs 2k vectorized steps, not k*k.
float16 is computed in float32.
"""
from __future__ import annotations

import math

import numpy as np

from .conv import auto_pad_mode, explicit_pads, per_axis, same_pads, tap_slices
from .registry import kernel


def _float_work(op, x):
    if x.dtype == np.float16:
        return np.dtype(np.float32)
    if x.dtype.kind != "f":
        raise ValueError(f"{op}: {x.dtype} input is not supported")
    return x.dtype


class _Windows:
    """Geometry of a pooling node: kernel, strides, dilations, pads and output size."""

    def __init__(self, op, attrs, x):
        rank = x.ndim - 2
        if rank < 1:
            raise ValueError(f"{op}: input must have at least 3 dimensions, got shape {x.shape}")
        kernel_shape = attrs.get("kernel_shape")
        if kernel_shape is None or len(kernel_shape) != rank:
            raise ValueError(f"{op}: kernel_shape needs one value per spatial axis ({rank})")
        self.kernel = tuple(int(k) for k in kernel_shape)
        self.strides = per_axis(op, attrs, "strides", rank, 1)
        self.dilations = per_axis(op, attrs, "dilations", rank, 1)
        for name in ("kernel", "strides", "dilations"):
            if min(getattr(self, name)) < 1:
                raise ValueError(f"{op}: {name} must be positive, got {list(getattr(self, name))}")
        ceil_mode = bool(attrs.get("ceil_mode", 0))
        self.in_sp = x.shape[2:]
        mode = auto_pad_mode(op, attrs)
        begin, end, out = [], [], []
        if mode == "NOTSET":
            pads_begin, pads_end = explicit_pads(op, attrs, rank)
        for axis, (size, k, s, d) in enumerate(zip(self.in_sp, self.kernel, self.strides, self.dilations)):
            extent = (k - 1) * d + 1
            if mode in ("SAME_UPPER", "SAME_LOWER"):
                b, e = same_pads(size, k, s, d, mode == "SAME_UPPER")
                n_out = -(-size // s)
            elif mode == "VALID":
                b, e = 0, 0
                n_out = (size - extent) // s + 1
            else:
                b, e = pads_begin[axis], pads_end[axis]
                span = size + b + e - extent
                n_out = (-(-span // s) if ceil_mode else span // s) + 1
                # a window may not start in the end padding
                if ceil_mode and (n_out - 1) * s >= size + b:
                    n_out -= 1
            if n_out < 1:
                raise ValueError(f"{op}: kernel extent {extent} does not fit the padded input {size + b + e}")
            begin.append(b)
            end.append(e)
            out.append(n_out)
        self.begin, self.end, self.out_sp = tuple(begin), tuple(end), tuple(out)

    def padded(self, x, fill, dtype):
        """x padded to cover every window, with fill outside the input."""
        reach = [(o - 1) * s + (k - 1) * d + 1
                 for o, k, s, d in zip(self.out_sp, self.kernel, self.strides, self.dilations)]
        after = [max(0, r - b - i) for r, b, i in zip(reach, self.begin, self.in_sp)]
        if not any(self.begin) and not any(after):
            return x.astype(dtype, copy=False)
        shape = x.shape[:2] + tuple(b + i + a for b, i, a in zip(self.begin, self.in_sp, after))
        out = np.full(shape, fill, dtype)
        out[(slice(None), slice(None), *(slice(b, b + i) for b, i in zip(self.begin, self.in_sp)))] = x
        return out

    def reduce(self, xp, ufunc):
        """Pool xp (padded) with a binary ufunc (np.maximum, np.add), axis by axis."""
        for axis in range(len(self.kernel)):
            k, s, d, n_out = self.kernel[axis], self.strides[axis], self.dilations[axis], self.out_sp[axis]
            index = [slice(None)] * xp.ndim
            acc = None
            for t in range(k):
                index[2 + axis] = slice(t * d, t * d + (n_out - 1) * s + 1, s)
                view = xp[tuple(index)]
                if acc is None:
                    acc = view.copy()
                else:
                    ufunc(acc, view, out=acc)
            xp = acc
        return xp

    def counts(self, include_pad):
        """How many window elements fall inside the input (or inside the explicit
        padding, when include_pad) for each output position."""
        total = None
        for axis in range(len(self.kernel)):
            pos = (np.arange(self.out_sp[axis])[:, None] * self.strides[axis] - self.begin[axis]
                   + np.arange(self.kernel[axis])[None, :] * self.dilations[axis])
            lo, hi = 0, self.in_sp[axis]
            if include_pad:
                lo, hi = -self.begin[axis], hi + self.end[axis]
            count = ((pos >= lo) & (pos < hi)).sum(axis=1)
            shape = [1] * len(self.kernel)
            shape[axis] = -1
            count = count.reshape(shape)
            total = count if total is None else total * count
        return total


def _neutral_low(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _max_indices(win, x, storage_order):
    """MaxPool's values and flat indices (first maximum of each window in row-major
    window order; column-major index layout when storage_order is 1)."""
    n, c = x.shape[:2]
    rank = len(win.kernel)
    xp = win.padded(x, _neutral_low(x.dtype), x.dtype)
    best = best_tap = have = None
    taps = list(np.ndindex(*win.kernel))
    for t, window in enumerate(tap_slices(win.kernel, win.strides, win.dilations, win.out_sp)):
        view = xp[(slice(None), slice(None), *window)]
        inside = None
        for axis in range(rank):
            start = np.arange(win.out_sp[axis]) * win.strides[axis] - win.begin[axis]
            pos = start + taps[t][axis] * win.dilations[axis]
            shape = [1] * rank
            shape[axis] = -1
            ok = ((pos >= 0) & (pos < win.in_sp[axis])).reshape(shape)
            inside = ok if inside is None else inside & ok
        if best is None:
            best = view.copy()
            best_tap = np.zeros(best.shape, np.int64)
            have = np.broadcast_to(inside, best.shape).copy()
            continue
        take = inside & (~have | (view > best))
        best = np.where(take, view, best)
        best_tap = np.where(take, t, best_tap)
        have |= inside
    tap_coords = np.array(taps, dtype=np.int64).reshape(-1, rank)[best_tap]  # (..., rank)
    flat = np.zeros(best.shape, np.int64)
    axes = range(rank) if storage_order == 0 else reversed(range(rank))
    for axis in axes:
        pos = np.arange(win.out_sp[axis]) * win.strides[axis] - win.begin[axis]
        shape = [1] * rank
        shape[axis] = -1
        coord = pos.reshape(shape) + tap_coords[..., axis] * win.dilations[axis]
        coord = np.clip(coord, 0, win.in_sp[axis] - 1)
        flat = flat * win.in_sp[axis] + coord
    plane = math.prod(win.in_sp)
    flat += (np.arange(n * c, dtype=np.int64) * plane).reshape(n, c, *(1,) * rank)
    return best, flat


@kernel("MaxPool", since=1)
def max_pool(ctx, inputs, attrs):
    x = inputs[0]
    if x.dtype.kind not in "fiu" or x.dtype.itemsize > 8:
        raise ValueError(f"MaxPool: {x.dtype} input is not supported")
    win = _Windows("MaxPool", attrs, x)
    storage_order = int(attrs.get("storage_order", 0))
    if storage_order not in (0, 1):
        raise ValueError(f"MaxPool: storage_order must be 0 or 1, got {storage_order}")
    if ctx.num_outputs > 1 and ctx.wants(1):
        return _max_indices(win, x, storage_order)
    y = win.reduce(win.padded(x, _neutral_low(x.dtype), x.dtype), np.maximum)
    return (y, None) if ctx.num_outputs > 1 else y


@kernel("AveragePool", since=1)
def average_pool(ctx, inputs, attrs):
    x = inputs[0]
    dtype = _float_work("AveragePool", x)
    win = _Windows("AveragePool", attrs, x)
    total = win.reduce(win.padded(x, 0, dtype), np.add)
    count = np.maximum(win.counts(bool(attrs.get("count_include_pad", 0))), 1)
    return (total / count.astype(dtype)).astype(x.dtype, copy=False)


def _lp_power(x, p, dtype):
    x = x.astype(dtype, copy=False)
    return x * x if p == 2 else np.abs(x) ** p


def _lp_root(total, p):
    return np.sqrt(total) if p == 2 else total ** (1.0 / p)


@kernel("LpPool", since=1)
def lp_pool(ctx, inputs, attrs):
    x = inputs[0]
    dtype = _float_work("LpPool", x)
    p = attrs.get("p", 2)
    if p <= 0:
        raise ValueError(f"LpPool: p must be positive, got {p}")
    win = _Windows("LpPool", attrs, x)
    total = win.reduce(win.padded(_lp_power(x, p, dtype), 0, dtype), np.add)
    return _lp_root(total, p).astype(x.dtype, copy=False)


def _spatial_axes(op, x):
    if x.ndim < 3:
        raise ValueError(f"{op}: input must have at least 3 dimensions, got shape {x.shape}")
    return tuple(range(2, x.ndim))


@kernel("GlobalAveragePool", since=1)
def global_average_pool(ctx, inputs, attrs):
    x = inputs[0]
    dtype = _float_work("GlobalAveragePool", x)
    mean = x.mean(axis=_spatial_axes("GlobalAveragePool", x), keepdims=True, dtype=dtype)
    return mean.astype(x.dtype, copy=False)


@kernel("GlobalMaxPool", since=1)
def global_max_pool(ctx, inputs, attrs):
    x = inputs[0]
    _float_work("GlobalMaxPool", x)
    return x.max(axis=_spatial_axes("GlobalMaxPool", x), keepdims=True)


@kernel("GlobalLpPool", since=1)
def global_lp_pool(ctx, inputs, attrs):
    x = inputs[0]
    dtype = _float_work("GlobalLpPool", x)
    p = attrs.get("p", 2)
    if p <= 0:
        raise ValueError(f"GlobalLpPool: p must be positive, got {p}")
    total = _lp_power(x, p, dtype).sum(axis=_spatial_axes("GlobalLpPool", x), keepdims=True)
    return _lp_root(total, p).astype(x.dtype, copy=False)


@kernel("MaxUnpool", since=9)
def max_unpool(ctx, inputs, attrs):
    op = "MaxUnpool"
    x, indices = inputs[0], inputs[1]
    output_shape = inputs[2] if len(inputs) > 2 else None
    rank = x.ndim - 2
    if rank < 1 or indices.shape != x.shape:
        raise ValueError(f"{op}: X {x.shape} and I {indices.shape} must have the same shape of rank >= 3")
    kernel_shape = attrs.get("kernel_shape")
    if kernel_shape is None or len(kernel_shape) != rank:
        raise ValueError(f"{op}: kernel_shape needs one value per spatial axis ({rank})")
    strides = per_axis(op, attrs, "strides", rank, 1)
    begin, end = explicit_pads(op, attrs, rank)
    if output_shape is not None:
        shape = tuple(int(v) for v in np.asarray(output_shape).reshape(-1))
        if len(shape) != x.ndim or shape[:2] != x.shape[:2]:
            raise ValueError(f"{op}: output_shape {list(shape)} does not fit input of shape {x.shape}")
    else:
        shape = x.shape[:2] + tuple(
            (i - 1) * s + int(k) - b - e
            for i, s, k, b, e in zip(x.shape[2:], strides, kernel_shape, begin, end))
    # Indices address the output itself (MaxPool's input, which output_shape restores),
    # as in onnxruntime (onnx/onnx#2398); the ONNX reference instead unpools into the
    # inferred shape and pads that to output_shape, which breaks MaxPool round trips.
    out = np.zeros(math.prod(shape), x.dtype)
    flat = indices.reshape(-1).astype(np.int64)
    if flat.size and (flat.min() < 0 or flat.max() >= out.size):
        raise ValueError(f"{op}: indices must lie in [0, {out.size}) for output shape {list(shape)}")
    out[flat] = x.reshape(-1)
    return out.reshape(shape)


def _round_half_away(v):
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


@kernel("MaxRoiPool", since=1)
def max_roi_pool(ctx, inputs, attrs):
    op = "MaxRoiPool"
    x, rois = inputs[0], inputs[1]
    _float_work(op, x)
    pooled = attrs.get("pooled_shape")
    if pooled is None or len(pooled) != 2:
        raise ValueError(f"{op}: pooled_shape must give (height, width)")
    ph, pw = (int(v) for v in pooled)
    if x.ndim != 4 or rois.ndim != 2 or rois.shape[1] != 5:
        raise ValueError(
            f"{op}: X must be (N, C, H, W) and rois (num_rois, 5), got {x.shape} and {rois.shape}")
    scale = np.float32(attrs.get("spatial_scale", 1.0))
    n, c, height, width = x.shape
    out = np.zeros((rois.shape[0], c, ph, pw), x.dtype)
    # the usual ROI pooling arithmetic: corners rounded, bins in float32
    coords = _round_half_away(rois[:, 1:].astype(np.float32) * scale).astype(np.int64)
    for r in range(rois.shape[0]):
        batch = int(rois[r, 0])
        if not 0 <= batch < n:
            raise ValueError(f"{op}: roi {r} has batch index {batch} outside [0, {n})")
        x1, y1, x2, y2 = coords[r]
        bin_h = np.float32(max(y2 - y1 + 1, 1)) / np.float32(ph)
        bin_w = np.float32(max(x2 - x1 + 1, 1)) / np.float32(pw)
        hs = np.clip(np.floor(np.arange(ph, dtype=np.float32) * bin_h).astype(np.int64) + y1, 0, height)
        he = np.clip(np.ceil(np.arange(1, ph + 1, dtype=np.float32) * bin_h).astype(np.int64) + y1, 0, height)
        ws = np.clip(np.floor(np.arange(pw, dtype=np.float32) * bin_w).astype(np.int64) + x1, 0, width)
        we = np.clip(np.ceil(np.arange(1, pw + 1, dtype=np.float32) * bin_w).astype(np.int64) + x1, 0, width)
        image = x[batch]
        for i in range(ph):
            if he[i] <= hs[i]:
                continue
            rows = image[:, hs[i]:he[i], :].max(axis=1)
            for j in range(pw):
                if we[j] > ws[j]:
                    out[r, :, i, j] = rows[:, ws[j]:we[j]].max(axis=1)
    return out


def _roi_axis(start, size, bins, grid, limit, dtype):
    """Sampling along one axis of a RoI: for each of bins * grid sample points, the two
    neighbouring pixels and their bilinear weights (zero for points off the map)."""
    step = size / bins
    k = np.arange(bins * grid)
    pos = (start + (k // grid) * step + ((k % grid) + 0.5) * step / grid).astype(dtype)
    off_map = (pos < -1.0) | (pos > limit)
    pos = np.maximum(pos, 0)
    low = np.floor(pos).astype(np.int64)
    at_edge = low >= limit - 1
    low = np.where(at_edge, limit - 1, low)
    high = np.where(at_edge, limit - 1, low + 1)
    frac = np.where(at_edge, 0, pos - low).astype(dtype)
    w_low = np.where(off_map, 0, 1 - frac).astype(dtype)
    w_high = np.where(off_map, 0, frac).astype(dtype)
    return low, high, w_low, w_high


def _roi_align(inputs, attrs, half_pixel):
    op = "RoiAlign"
    x, rois, batch_indices = inputs[0], inputs[1], inputs[2]
    dtype = _float_work(op, x)
    if x.ndim != 4 or rois.ndim != 2 or rois.shape[1] != 4:
        raise ValueError(
            f"{op}: X must be (N, C, H, W) and rois (num_rois, 4), got {x.shape} and {rois.shape}")
    batch_indices = np.asarray(batch_indices).reshape(-1)
    if batch_indices.shape[0] != rois.shape[0]:
        raise ValueError(f"{op}: {rois.shape[0]} rois but {batch_indices.shape[0]} batch indices")
    mode = attrs.get("mode", "avg")
    if mode not in ("avg", "max"):
        raise ValueError(f"{op}: mode must be 'avg' or 'max', got {mode!r}")
    out_h = int(attrs.get("output_height", 1))
    out_w = int(attrs.get("output_width", 1))
    ratio = int(attrs.get("sampling_ratio", 0))
    scale = float(attrs.get("spatial_scale", 1.0))
    n, c, height, width = x.shape
    shift = 0.5 if half_pixel else 0.0
    boxes = rois.astype(np.float64) * scale - shift
    out = np.zeros((rois.shape[0], c, out_h, out_w), dtype)
    for r in range(rois.shape[0]):
        batch = int(batch_indices[r])
        if not 0 <= batch < n:
            raise ValueError(f"{op}: roi {r} has batch index {batch} outside [0, {n})")
        x1, y1, x2, y2 = boxes[r]
        roi_w, roi_h = x2 - x1, y2 - y1
        if not half_pixel:
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        grid_h = ratio if ratio > 0 else max(math.ceil(roi_h / out_h), 1)
        grid_w = ratio if ratio > 0 else max(math.ceil(roi_w / out_w), 1)
        ylo, yhi, wylo, wyhi = _roi_axis(y1, roi_h, out_h, grid_h, height, dtype)
        xlo, xhi, wxlo, wxhi = _roi_axis(x1, roi_w, out_w, grid_w, width, dtype)
        image = x[batch].astype(dtype, copy=False)
        if mode == "avg":
            # bilinear sampling is separable: rows then columns, as two matmuls
            rows = np.zeros((out_h, height), dtype)
            cols = np.zeros((out_w, width), dtype)
            bins_h = np.arange(ylo.size) // grid_h
            bins_w = np.arange(xlo.size) // grid_w
            np.add.at(rows, (bins_h, ylo), wylo)
            np.add.at(rows, (bins_h, yhi), wyhi)
            np.add.at(cols, (bins_w, xlo), wxlo)
            np.add.at(cols, (bins_w, xhi), wxhi)
            out[r] = rows @ (image @ cols.T) / dtype.type(grid_h * grid_w)
        else:
            # max mode takes the largest weighted corner of every sample point, as
            # onnxruntime and the ONNX reference do
            corners = [
                image[:, yi[:, None], xi[None, :]] * (wy[:, None] * wx[None, :])
                for yi, wy in ((ylo, wylo), (yhi, wyhi))
                for xi, wx in ((xlo, wxlo), (xhi, wxhi))
            ]
            best = np.maximum(np.maximum(corners[0], corners[1]), np.maximum(corners[2], corners[3]))
            out[r] = best.reshape(c, out_h, grid_h, out_w, grid_w).max(axis=(2, 4))
    return out.astype(x.dtype, copy=False)


@kernel("RoiAlign", since=10, until=15)
def roi_align_10(ctx, inputs, attrs):
    # before opset 16 the input coordinates are not shifted by half a pixel
    return _roi_align(inputs, attrs, half_pixel=False)


@kernel("RoiAlign", since=16)
def roi_align_16(ctx, inputs, attrs):
    mode = attrs.get("coordinate_transformation_mode", "half_pixel")
    if mode not in ("half_pixel", "output_half_pixel"):
        raise ValueError(f"RoiAlign: unknown coordinate_transformation_mode {mode!r}")
    return _roi_align(inputs, attrs, half_pixel=mode == "half_pixel")
