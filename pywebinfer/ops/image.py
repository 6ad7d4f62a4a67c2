"""image ops: numpy reference kernels.

Resize/Upsample work one axis at a time: for every resized axis the output coordinates are
mapped back to the input once, giving a small table of input indices and weights per output
position, and the tensor is gathered and summed along that axis.  N-linear and N-cubic
interpolation are separable, so this is exact and costs a few whole-array passes per axis.
"""
from __future__ import annotations

import itertools

import numpy as np

from .registry import kernel


def _str_attr(attrs, name, default):
    value = attrs.get(name, default)
    return value.decode() if isinstance(value, bytes) else value


def _int_list(value):
    return [int(v) for v in np.asarray(value).reshape(-1)]


def _present(x):
    """An optional tensor input counts as given only when it has elements."""
    return x is not None and np.asarray(x).size > 0


def _compute_dtype(dtype):
    """Arithmetic type for interpolating a tensor of ``dtype``."""
    if dtype.kind == "c":
        return dtype
    if dtype == np.float64 or dtype.kind in "iub":
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def _cast_back(values, dtype):
    """Interpolated values back to the input type: integers truncate and saturate."""
    if values.dtype == dtype:
        return values
    if dtype == np.bool_:
        return values != 0
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.trunc(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)


def _zero_of(dtype):
    return "" if dtype == object else dtype.type(0)


def _cubic_weight(distance, a):
    """Keys' cubic convolution kernel with coefficient ``a`` at ``|distance|``."""
    d = np.abs(distance)
    d2 = d * d
    d3 = d2 * d
    near = (a + 2) * d3 - (a + 3) * d2 + 1
    far = a * d3 - 5 * a * d2 + 8 * a * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


# ---------------------------------------------------------------------------- Resize


_NEAREST_ROUNDING = {
    "round_prefer_floor": lambda x: np.ceil(x - 0.5),
    "round_prefer_ceil": lambda x: np.floor(x + 0.5),
    "floor": np.floor,
    "ceil": np.ceil,
}


_COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                     "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize")


def _original_coords(ctm, in_len, out_len, target_len, scale, roi_start, roi_end):
    """Input coordinate of every output position along one axis.

    ``target_len`` is ``in_len * scale`` when scales were given (it may be fractional)
    and ``out_len`` when sizes were given.  The arithmetic is float32 in onnxruntime's
    order, so that coordinates landing exactly between two pixels round the same way."""
    f32 = np.float32
    x = np.arange(out_len, dtype=f32)
    length, scale, half, one = f32(in_len), f32(scale), f32(0.5), f32(1)
    if ctm == "half_pixel" or (ctm == "pytorch_half_pixel" and out_len > 1):
        coords = (x + half) / scale - half
    elif ctm == "pytorch_half_pixel":
        coords = np.zeros_like(x)
    elif ctm == "half_pixel_symmetric":
        adjustment = f32(out_len) / f32(target_len)
        offset = length / f32(2) * (one - adjustment)
        coords = offset + (x + half) / scale - half
    elif ctm == "align_corners":
        # the ONNX reference divides by the fractional target length, not the integer one
        if out_len > 1 and target_len != 1:
            coords = x * (length - one) / (f32(target_len) - one)
        else:
            coords = np.zeros_like(x)
    elif ctm == "asymmetric":
        coords = x / scale
    elif ctm == "tf_half_pixel_for_nn":
        coords = (x + half) / scale
    elif ctm == "tf_crop_and_resize":
        start, end = f32(roi_start), f32(roi_end)
        if out_len > 1:
            coords = start * (length - one) + x * (end - start) * (length - one) / f32(out_len - 1)
        else:
            coords = np.full_like(x, half * (start + end) * (length - one))
    else:
        raise ValueError(f"Resize: unknown coordinate_transformation_mode {ctm!r}")
    return coords.astype(np.float64)


def _axis_taps(opts, in_len, out_len, target_len, scale, roi_start, roi_end):
    """Input indices (out_len, K) and weights (out_len, K) or None for nearest, plus the
    mask of output positions that fall outside the input (tf_crop_and_resize) or None."""
    coords = _original_coords(opts["ctm"], in_len, out_len, target_len, scale, roi_start, roi_end)
    outside = None
    if opts["ctm"] == "tf_crop_and_resize":
        outside = (coords < 0) | (coords > in_len - 1)
    mode = opts["mode"]
    if mode == "nearest":
        if opts["nearest_mode"] == "simple":
            # Upsample and Resize-10: floor when enlarging, ceil when shrinking
            idx = np.ceil(coords) if scale < 1 else np.floor(coords)
        else:
            idx = _NEAREST_ROUNDING[opts["nearest_mode"]](coords)
        idx = np.clip(idx, 0, in_len - 1).astype(np.int64)
        return idx[:, None], None, outside

    base = np.floor(coords)
    # antialiasing widens the kernel by 1/scale when shrinking, so every input pixel counts
    stretch = min(scale, 1.0) if opts["antialias"] else 1.0
    support = 1 if mode == "linear" else 2
    first = int(np.floor(-support / stretch)) + 1
    offsets = np.arange(first, 2 - first)
    taps = base[:, None] + offsets[None, :]
    distance = (taps - coords[:, None]) * stretch
    if mode == "linear":
        weights = np.maximum(1 - np.abs(distance), 0.0)
    else:
        weights = _cubic_weight(distance, opts["cubic_coeff_a"])
    if opts["exclude_outside"]:
        weights = np.where((taps < 0) | (taps > in_len - 1), 0.0, weights)
    if opts["antialias"] or opts["exclude_outside"]:
        total = weights.sum(axis=1, keepdims=True)
        weights = weights / np.where(total == 0, 1.0, total)
    # taps beyond the edge read the edge pixel
    idx = np.clip(taps, 0, in_len - 1).astype(np.int64)
    return idx, weights, outside


def _gather_axis(x, axis, idx, weights, compute_dtype):
    """Sum over k of weights[:, k] * x[..., idx[:, k], ...] along ``axis``."""
    if weights is None:
        return np.take(x, idx[:, 0], axis=axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    weights = weights.astype(compute_dtype)
    out = None
    for k in range(idx.shape[1]):
        w = weights[:, k]
        if not w.any():
            continue
        term = np.take(x, idx[:, k], axis=axis)
        term *= w.reshape(shape)
        if out is None:
            out = term
        else:
            out += term
    if out is None:
        out_shape = list(x.shape)
        out_shape[axis] = idx.shape[0]
        out = np.zeros(out_shape, dtype=compute_dtype)
    return out


def _resize(x, opts, out_shape, scales, roi, from_scales):
    """Resize ``x`` to ``out_shape``; ``scales`` and ``roi`` (starts, ends) are per axis;
    ``from_scales`` tells whether the output shape came from scales (not sizes)."""
    x = np.asarray(x)
    rank = x.ndim
    mode = opts["mode"]
    if mode not in ("nearest", "linear", "cubic"):
        raise ValueError(f"Resize: unknown mode {mode!r}")
    if mode != "nearest" and x.dtype == object:
        raise ValueError(f"Resize: mode {mode!r} needs a numeric tensor, got strings")
    if 0 in out_shape:
        return np.empty(out_shape, dtype=x.dtype)
    identity_ctm = opts["ctm"] not in ("tf_crop_and_resize", "tf_half_pixel_for_nn")
    plan = []
    for axis in range(rank):
        in_len, out_len, scale = x.shape[axis], out_shape[axis], scales[axis]
        if in_len == out_len and scale == 1.0 and identity_ctm:
            continue
        if in_len == 0:
            raise ValueError(f"Resize: cannot resize an empty axis {axis} to {out_len}")
        plan.append((out_len / max(in_len, 1), axis))
    # shrinking axes first keeps the intermediate tensors small
    plan.sort()

    compute_dtype = None if mode == "nearest" else _compute_dtype(x.dtype)
    y = x if mode == "nearest" else x.astype(compute_dtype)
    outside = np.zeros([1] * rank, dtype=bool)
    for _, axis in plan:
        in_len, out_len = x.shape[axis], out_shape[axis]
        target_len = np.float32(in_len) * np.float32(scales[axis]) if from_scales else out_len
        idx, weights, axis_outside = _axis_taps(
            opts, in_len, out_len, target_len, scales[axis], roi[0][axis], roi[1][axis]
        )
        y = _gather_axis(y, axis, idx, weights, compute_dtype)
        if axis_outside is not None:
            shape = [1] * rank
            shape[axis] = -1
            outside = outside | axis_outside.reshape(shape)
    if mode != "nearest":
        y = _cast_back(y, x.dtype)
    elif y is x:
        y = x.copy()
    if outside.any():
        y = np.array(y, copy=True)
        y[np.broadcast_to(outside, y.shape)] = np.asarray(opts["extrapolation_value"]).astype(y.dtype)
    return y


def _resize_options(attrs, opset):
    ctm = _str_attr(attrs, "coordinate_transformation_mode", "half_pixel")
    if ctm not in _COORDINATE_MODES:
        raise ValueError(f"Resize: unknown coordinate_transformation_mode {ctm!r}")
    if ctm == "tf_half_pixel_for_nn" and opset >= 13:
        raise ValueError("Resize: coordinate_transformation_mode 'tf_half_pixel_for_nn' was removed in opset 13")
    if ctm == "half_pixel_symmetric" and opset < 19:
        raise ValueError("Resize: coordinate_transformation_mode 'half_pixel_symmetric' needs opset 19")
    nearest_mode = _str_attr(attrs, "nearest_mode", "round_prefer_floor")
    if nearest_mode not in _NEAREST_ROUNDING:
        raise ValueError(f"Resize: unknown nearest_mode {nearest_mode!r}")
    return {
        "mode": _str_attr(attrs, "mode", "nearest"),
        "ctm": ctm,
        "nearest_mode": nearest_mode,
        "cubic_coeff_a": float(attrs.get("cubic_coeff_a", -0.75)),
        "exclude_outside": int(attrs.get("exclude_outside", 0)),
        "extrapolation_value": float(attrs.get("extrapolation_value", 0.0)),
        "antialias": int(attrs.get("antialias", 0)),
    }


def _scaled_length(in_len, scale, extent=1.0):
    # float32 arithmetic like onnxruntime, so 10 * 0.7 gives 7 and not 6
    return int(np.floor(np.float32(in_len) * np.float32(extent) * np.float32(scale)))


def _check_scales(op, scales, minimum=0.0):
    """Scales must be positive (Resize) or at least 1 (Upsample only enlarges)."""
    bad = ~(scales >= minimum) if minimum else ~(scales > 0)
    if np.any(bad):
        limit = f"at least {minimum:g}" if minimum else "positive"
        raise ValueError(f"{op}: scales must be {limit}, got {scales.tolist()}")


@kernel("Resize", since=10, until=10)
def resize_10(ctx, inputs, attrs):
    x, scales = inputs[0], np.asarray(inputs[1], dtype=np.float64).reshape(-1)
    if scales.size != x.ndim:
        raise ValueError(f"Resize: scales has {scales.size} values for a rank-{x.ndim} input")
    _check_scales("Resize", scales)
    return _resize_legacy(x, _legacy_options("Resize", attrs), scales)


def _legacy_options(op, attrs, bilinear_name="linear"):
    """Upsample and Resize-10: asymmetric coordinates, nearest or (bi)linear."""
    mode = _str_attr(attrs, "mode", "nearest")
    if mode == bilinear_name:
        mode = "linear"
    elif mode != "nearest":
        raise ValueError(f"{op}: unknown mode {mode!r}")
    return {
        "mode": mode, "ctm": "asymmetric", "nearest_mode": "simple", "cubic_coeff_a": -0.75,
        "exclude_outside": 0, "extrapolation_value": 0.0, "antialias": 0,
    }


def _resize_legacy(x, opts, scales):
    out_shape = [_scaled_length(n, s) for n, s in zip(x.shape, scales)]
    roi = (np.zeros(x.ndim), np.ones(x.ndim))
    return _resize(x, opts, out_shape, list(scales), roi, True)


@kernel("Resize", since=11)
def resize(ctx, inputs, attrs):
    x = np.asarray(inputs[0])
    rank = x.ndim
    roi_in = inputs[1] if len(inputs) > 1 else None
    scales_in = inputs[2] if len(inputs) > 2 else None
    sizes_in = inputs[3] if len(inputs) > 3 else None
    opts = _resize_options(attrs, ctx.opset)

    axes = list(range(rank))
    if ctx.opset >= 18 and attrs.get("axes") is not None:
        axes = [a + rank if a < 0 else a for a in _int_list(attrs["axes"])]
        if any(not 0 <= a < rank for a in axes):
            raise ValueError(f"Resize: axes {attrs['axes']} out of range for rank {rank}")

    starts, ends = np.zeros(rank), np.ones(rank)
    if _present(roi_in) and opts["ctm"] == "tf_crop_and_resize":
        roi = np.asarray(roi_in, dtype=np.float64).reshape(-1)
        if roi.size != 2 * len(axes):
            raise ValueError(f"Resize: roi has {roi.size} values, expected {2 * len(axes)}")
        starts[axes] = roi[: len(axes)]
        ends[axes] = roi[len(axes):]

    scales = [1.0] * rank
    out_shape = list(x.shape)
    if _present(scales_in) and _present(sizes_in):
        raise ValueError("Resize: give either scales or sizes, not both")
    if _present(scales_in):
        given = np.asarray(scales_in, dtype=np.float64).reshape(-1)
        if given.size != len(axes):
            raise ValueError(f"Resize: scales has {given.size} values, expected {len(axes)}")
        _check_scales("Resize", given)
        for a, s in zip(axes, given):
            scales[a] = float(s)
            extent = ends[a] - starts[a] if opts["ctm"] == "tf_crop_and_resize" else 1.0
            out_shape[a] = _scaled_length(x.shape[a], s, extent)
    elif _present(sizes_in):
        sizes = _int_list(sizes_in)
        if len(sizes) != len(axes):
            raise ValueError(f"Resize: sizes has {len(sizes)} values, expected {len(axes)}")
        if any(s < 0 for s in sizes):
            raise ValueError(f"Resize: sizes must not be negative, got {sizes}")
        policy = _str_attr(attrs, "keep_aspect_ratio_policy", "stretch") if ctx.opset >= 18 else "stretch"
        if policy == "stretch":
            for a, s in zip(axes, sizes):
                out_shape[a] = s
                scales[a] = np.float32(s) / np.float32(x.shape[a]) if x.shape[a] else 1.0
        elif policy in ("not_larger", "not_smaller"):
            ratios = [np.float32(s) / np.float32(x.shape[a]) for a, s in zip(axes, sizes)]
            common = min(ratios) if policy == "not_larger" else max(ratios)
            for a in axes:
                out_shape[a] = int(np.floor(common * np.float32(x.shape[a]) + np.float32(0.5)))
                scales[a] = common
        else:
            raise ValueError(f"Resize: unknown keep_aspect_ratio_policy {policy!r}")
    else:
        raise ValueError("Resize: one of scales or sizes is required")
    return _resize(x, opts, out_shape, scales, (starts, ends), _present(scales_in))


@kernel("Upsample", since=1, until=6)
def upsample_1(ctx, inputs, attrs):
    x = inputs[0]
    if x.ndim != 4:
        raise ValueError(f"Upsample: opset {ctx.opset} takes a 4-D input, got rank {x.ndim}")
    if "height_scale" not in attrs or "width_scale" not in attrs:
        raise ValueError("Upsample: height_scale and width_scale are required")
    scales = np.array([1.0, 1.0, attrs["height_scale"], attrs["width_scale"]])
    _check_scales("Upsample", scales, minimum=1.0)
    return _resize_legacy(x, _legacy_options("Upsample", attrs, bilinear_name="bilinear"), scales)


@kernel("Upsample", since=7, until=8)
def upsample_7(ctx, inputs, attrs):
    x = inputs[0]
    if "scales" not in attrs:
        raise ValueError("Upsample: the scales attribute is required")
    scales = np.asarray(attrs["scales"], dtype=np.float64).reshape(-1)
    if scales.size != x.ndim:
        raise ValueError(f"Upsample: scales has {scales.size} values for a rank-{x.ndim} input")
    _check_scales("Upsample", scales, minimum=1.0)
    return _resize_legacy(x, _legacy_options("Upsample", attrs), scales)


@kernel("Upsample", since=9, until=9)
def upsample_9(ctx, inputs, attrs):
    x, scales = inputs[0], np.asarray(inputs[1], dtype=np.float64).reshape(-1)
    if scales.size != x.ndim:
        raise ValueError(f"Upsample: scales has {scales.size} values for a rank-{x.ndim} input")
    _check_scales("Upsample", scales, minimum=1.0)
    return _resize_legacy(x, _legacy_options("Upsample", attrs), scales)


# ---------------------------------------------------------------------------- GridSample


def _gs_denormalize(g, length, align_corners):
    """Pixel coordinate of normalized grid values, in the grid's own float type like
    onnxruntime, so that points halfway between pixels round the same way."""
    one, two, length = g.dtype.type(1), g.dtype.type(2), g.dtype.type(length)
    if align_corners:
        coord = (g + one) / two * (length - one)
    else:
        coord = ((g + one) * length - one) / two
    return coord.astype(np.float64)


def _gs_reflect(x, low, high):
    """Fold ``x`` back into [low, high] by repeated reflection at the borders."""
    span = high - low
    if span <= 0:
        return np.full_like(x, low)
    below = x < low
    dist = np.where(below, low - x, x - high)
    flips = np.floor(dist / span)
    rest = dist - flips * span
    even = flips % 2 == 0
    from_low = np.where(even, low + rest, high - rest)
    from_high = np.where(even, high - rest, low + rest)
    inside = (x >= low) & (x <= high)
    return np.where(inside, x, np.where(below, from_low, from_high))


def _gs_axis_taps(coord, length, mode, padding_mode, align_corners):
    """Per-axis taps: integer indices (..., K), weights (..., K) or None, validity (..., K)."""
    low, high = (0.0, length - 1.0) if align_corners else (-0.5, length - 0.5)
    if mode == "nearest":
        coord = np.rint(coord)
    if padding_mode == "border" and mode != "cubic":
        coord = np.clip(coord, 0, length - 1)
    elif padding_mode == "reflection":
        coord = _gs_reflect(coord, low, high)

    if mode == "nearest":
        taps = np.rint(coord)[..., None]
        weights = None
    else:
        base = np.floor(coord)
        offsets = np.array([0.0, 1.0]) if mode == "linear" else np.array([-1.0, 0.0, 1.0, 2.0])
        taps = base[..., None] + offsets
        distance = taps - coord[..., None]
        if mode == "linear":
            weights = np.maximum(1 - np.abs(distance), 0.0)
        else:
            weights = _cubic_weight(distance, -0.75)

    if padding_mode == "zeros":
        valid = (taps >= 0) & (taps <= length - 1)
    else:
        valid = np.ones(taps.shape, dtype=bool)
        if padding_mode == "border":
            taps = np.clip(taps, 0, length - 1)
        else:
            taps = np.clip(_gs_reflect(taps, low, high), 0, length - 1)
    idx = np.clip(taps, 0, max(length - 1, 0)).astype(np.int64)
    return idx, weights, valid


def _grid_sample(x, grid, mode, padding_mode, align_corners):
    x = np.asarray(x)
    grid = np.asarray(grid)
    r = x.ndim - 2
    if r < 1:
        raise ValueError(f"GridSample: X must have rank 3 or more, got {x.ndim}")
    if grid.ndim != r + 2 or grid.shape[-1] != r or grid.shape[0] != x.shape[0]:
        raise ValueError(f"GridSample: grid shape {grid.shape} does not fit X shape {x.shape}")
    if mode != "nearest" and x.dtype == object:
        raise ValueError(f"GridSample: mode {mode!r} needs a numeric tensor, got strings")
    n, c = x.shape[:2]
    in_spatial = x.shape[2:]
    out_spatial = grid.shape[1:-1]
    points = int(np.prod(out_spatial, dtype=np.int64))
    flat_x = x.reshape(n, c, -1)
    g = grid.reshape(n, points, r)
    if g.dtype != np.float64:
        g = g.astype(np.float32)

    per_axis = []
    for d, length in enumerate(in_spatial):
        # the grid lists coordinates innermost axis first (x, y, z ...)
        coord = _gs_denormalize(g[..., r - 1 - d], length, align_corners)
        per_axis.append(_gs_axis_taps(coord, length, mode, padding_mode, align_corners))
    strides = [int(np.prod(in_spatial[d + 1:], dtype=np.int64)) for d in range(r)]

    batch = np.arange(n)[:, None]
    k = per_axis[0][0].shape[-1]
    if mode == "nearest":
        flat = sum(per_axis[d][0][..., 0] * strides[d] for d in range(r))
        valid = np.logical_and.reduce([per_axis[d][2][..., 0] for d in range(r)])
        values = flat_x[batch, :, flat]  # (n, points, c)
        values = np.where(valid[..., None], values, _zero_of(x.dtype))
        out = np.moveaxis(values, -1, 1)
    else:
        compute_dtype = _compute_dtype(x.dtype)
        source = flat_x.astype(compute_dtype)
        out = np.zeros((n, points, c), dtype=compute_dtype)
        for combo in itertools.product(range(k), repeat=r):
            flat = sum(per_axis[d][0][..., combo[d]] * strides[d] for d in range(r))
            weight = np.ones((n, points))
            for d in range(r):
                idx, weights, valid = per_axis[d]
                weight = weight * weights[..., combo[d]] * valid[..., combo[d]]
            out += source[batch, :, flat] * weight[..., None].astype(compute_dtype)
        out = _cast_back(np.moveaxis(out, -1, 1), x.dtype)
    return np.ascontiguousarray(out).reshape((n, c) + tuple(out_spatial))


_GRID_MODES = {"bilinear": "linear", "bicubic": "cubic", "linear": "linear", "cubic": "cubic",
               "nearest": "nearest"}


def _grid_sample_kernel(ctx, inputs, attrs, default_mode, allowed_modes, spatial_only):
    mode = _str_attr(attrs, "mode", default_mode)
    if mode not in allowed_modes:
        raise ValueError(f"GridSample: unknown mode {mode!r} at opset {ctx.opset}")
    padding_mode = _str_attr(attrs, "padding_mode", "zeros")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"GridSample: unknown padding_mode {padding_mode!r}")
    x = inputs[0]
    if spatial_only and x.ndim != 4:
        raise ValueError(f"GridSample: opset {ctx.opset} takes a 4-D X, got rank {x.ndim}")
    return _grid_sample(x, inputs[1], _GRID_MODES[mode], padding_mode,
                        bool(attrs.get("align_corners", 0)))


@kernel("GridSample", since=16, until=19)
def grid_sample_16(ctx, inputs, attrs):
    return _grid_sample_kernel(ctx, inputs, attrs, "bilinear", ("bilinear", "nearest", "bicubic"), True)


@kernel("GridSample", since=20)
def grid_sample(ctx, inputs, attrs):
    return _grid_sample_kernel(ctx, inputs, attrs, "linear", ("linear", "nearest", "cubic"), False)


# ---------------------------------------------------------------------------- AffineGrid


def _affine_axis(length, align_corners):
    """Normalized positions in [-1, 1] of the pixels along one axis."""
    if length <= 1:
        return np.zeros(length)
    if align_corners:
        return np.linspace(-1.0, 1.0, length)
    return (np.arange(length) * 2 + 1) / length - 1


@kernel("AffineGrid", since=20)
def affine_grid(ctx, inputs, attrs):
    theta, size = np.asarray(inputs[0]), _int_list(inputs[1])
    align_corners = bool(attrs.get("align_corners", 0))
    r = len(size) - 2
    if r not in (2, 3):
        raise ValueError(f"AffineGrid: size must have 4 or 5 values, got {size}")
    if theta.shape != (size[0], r, r + 1):
        raise ValueError(f"AffineGrid: theta shape {theta.shape} does not fit size {size}")
    spatial = size[2:]
    axes = [_affine_axis(n, align_corners) for n in spatial]
    mesh = np.meshgrid(*axes, indexing="ij")
    # homogeneous positions, innermost axis first: (x, y[, z], 1)
    positions = np.stack(list(mesh[::-1]) + [np.ones(spatial)], axis=-1).reshape(-1, r + 1)
    grid = np.einsum("pk,nck->npc", positions, theta.astype(np.float64))
    return grid.reshape([size[0]] + spatial + [r]).astype(theta.dtype)


# ---------------------------------------------------------------------------- DepthToSpace / SpaceToDepth


def _block_mode(attrs, op):
    mode = _str_attr(attrs, "mode", "DCR")
    if mode not in ("DCR", "CRD"):
        raise ValueError(f"{op}: unknown mode {mode!r}")
    return mode


def _blocksize(attrs, op):
    if "blocksize" not in attrs:
        raise ValueError(f"{op}: the blocksize attribute is required")
    b = int(attrs["blocksize"])
    if b <= 0:
        raise ValueError(f"{op}: blocksize must be positive, got {b}")
    return b


@kernel("DepthToSpace", since=1)
def depth_to_space(ctx, inputs, attrs):
    x = inputs[0]
    b = _blocksize(attrs, "DepthToSpace")
    mode = _block_mode(attrs, "DepthToSpace")
    if x.ndim != 4:
        raise ValueError(f"DepthToSpace: input must be 4-D, got rank {x.ndim}")
    n, c, h, w = x.shape
    if c % (b * b):
        raise ValueError(f"DepthToSpace: channels {c} not divisible by blocksize^2 = {b * b}")
    depth = c // (b * b)
    if mode == "DCR":
        t = x.reshape(n, b, b, depth, h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        t = x.reshape(n, depth, b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return t.reshape(n, depth, h * b, w * b)


@kernel("SpaceToDepth", since=1)
def space_to_depth(ctx, inputs, attrs):
    x = inputs[0]
    b = _blocksize(attrs, "SpaceToDepth")
    mode = _block_mode(attrs, "SpaceToDepth")
    if x.ndim != 4:
        raise ValueError(f"SpaceToDepth: input must be 4-D, got rank {x.ndim}")
    n, c, h, w = x.shape
    if h % b or w % b:
        raise ValueError(f"SpaceToDepth: height {h} and width {w} must be divisible by blocksize {b}")
    t = x.reshape(n, c, h // b, b, w // b, b)
    if mode == "DCR":
        t = t.transpose(0, 3, 5, 1, 2, 4)
    else:
        t = t.transpose(0, 1, 3, 5, 2, 4)
    return t.reshape(n, c * b * b, h // b, w // b)


# ---------------------------------------------------------------------------- CenterCropPad


@kernel("CenterCropPad", since=18)
def center_crop_pad(ctx, inputs, attrs):
    x = np.asarray(inputs[0])
    shape = _int_list(inputs[1])
    rank = x.ndim
    axes = _int_list(attrs["axes"]) if attrs.get("axes") is not None else list(range(rank))
    axes = [a + rank if a < 0 else a for a in axes]
    if any(not 0 <= a < rank for a in axes):
        raise ValueError(f"CenterCropPad: axes {axes} out of range for rank {rank}")
    if len(shape) != len(axes):
        raise ValueError(f"CenterCropPad: shape has {len(shape)} values for {len(axes)} axes")
    if any(s < 0 for s in shape):
        raise ValueError(f"CenterCropPad: shape must not be negative, got {shape}")

    out_shape = list(x.shape)
    src = [slice(None)] * rank
    dst = [slice(None)] * rank
    for a, target in zip(axes, shape):
        size = x.shape[a]
        out_shape[a] = target
        if size >= target:
            start = (size - target) // 2
            src[a] = slice(start, start + target)
        else:
            # an odd padding puts the extra element at the end
            start = (target - size) // 2
            dst[a] = slice(start, start + size)
    out = np.full(out_shape, _zero_of(x.dtype), dtype=x.dtype)
    out[tuple(dst)] = x[tuple(src)]
    return out
