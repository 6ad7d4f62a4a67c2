"""Resize (nearest, linear, cubic; every coordinate transformation mode, antialias,
exclude_outside, tf_crop_and_resize) and Upsample.

The sampling geometry is the numpy reference's (ops/image.py): for each resized axis the
host computes, per output position, the input indices and weights of its taps - a table
of out_len x taps entries, made from the shapes and attributes only - and resize.wgsl
combines the taps of every resized axis over the tensor data on the GPU."""
from __future__ import annotations

import numpy as np

from ....ops import image as reference
from ..tensor import NUMERIC
from . import claim, kinds_rule
from .common import F32, U32, Program, host, present, strides

RESIZE_PARAMS = (("n", U32, 1), ("rank", U32, 1), ("resized", U32, 1), ("extrapolation", F32, 1),
                 ("out_shape", U32, 8), ("in_stride", U32, 8), ("axis_slot", U32, 8),
                 ("taps", U32, 4), ("axis_of", U32, 4), ("table_at", U32, 4))
KINDS = kinds_rule(NUMERIC - {"i64", "u64"})


def resize_to(x, opts, out_shape, scales, roi, from_scales):
    """The reference's _resize, with the tap tables made here and the sums on the GPU."""
    be = x.backend
    if x.ndim > 8:
        raise ValueError("Resize: more than 8 dimensions are not supported on webgpu")
    if opts["mode"] not in ("nearest", "linear", "cubic"):
        raise ValueError(f"Resize: unknown mode {opts['mode']!r}")
    y = be.empty(out_shape, x.dtype, 0)
    if y.size == 0:
        return y
    identity_ctm = opts["ctm"] not in ("tf_crop_and_resize", "tf_half_pixel_for_nn")
    tables, axes, taps, offsets = [], [], [], []
    at = 0
    for axis in range(x.ndim):
        in_len, out_len = x.shape[axis], out_shape[axis]
        if in_len == out_len and scales[axis] == 1.0 and identity_ctm:
            continue
        if in_len == 0:
            raise ValueError(f"Resize: cannot resize an empty axis {axis} to {out_len}")
        target = np.float32(in_len) * np.float32(scales[axis]) if from_scales else out_len
        idx, weights, outside = reference._axis_taps(opts, in_len, out_len, target, scales[axis],
                                                     roi[0][axis], roi[1][axis])
        if weights is None:
            weights = np.ones(idx.shape)
        idx = idx.astype(np.int32)
        if outside is not None:
            idx[outside] = -1
        entry = np.empty(idx.shape + (2,), np.uint32)
        entry[..., 0] = idx.view(np.uint32)
        entry[..., 1] = weights.astype(np.float32).view(np.uint32)
        tables.append(entry.reshape(-1))
        axes.append(axis)
        taps.append(idx.shape[1])
        offsets.append(at)
        at += entry.size
    if len(axes) > 4:
        raise ValueError("Resize: more than 4 resized axes are not supported on webgpu")
    table = be.scratch(np.concatenate(tables) if tables else np.zeros(2, np.uint32))
    slot = [1 if d in axes else 0 for d in range(x.ndim)]
    program = Program("resize.wgsl", (("X", x.kind, False), ("T", "u32", False), ("Y", y.kind, True)),
                      RESIZE_PARAMS)
    be.dispatch(program, [x, table, y], {
        "n": y.size, "rank": x.ndim, "resized": len(axes),
        "extrapolation": float(opts["extrapolation_value"]), "out_shape": list(out_shape),
        "in_stride": strides(x.shape), "axis_slot": slot, "taps": taps, "axis_of": axes,
        "table_at": offsets}, threads=y.size)
    return y


def _legacy(x, opts, scales):
    out_shape = [reference._scaled_length(n, s) for n, s in zip(x.shape, scales)]
    return resize_to(x, opts, out_shape, list(scales), (np.zeros(x.ndim), np.ones(x.ndim)), True)


def resize(ctx, inputs, attrs):
    x = inputs[0]
    rank = x.ndim
    if ctx.opset < 11:
        scales = np.asarray(host("Resize", inputs[1], "scales"), np.float64).reshape(-1)
        if scales.size != rank:
            raise ValueError(f"Resize: scales has {scales.size} values for a rank-{rank} input")
        reference._check_scales("Resize", scales)
        return _legacy(x, reference._legacy_options("Resize", attrs), scales)
    opts = reference._resize_options(attrs, ctx.opset)
    roi_in, scales_in, sizes_in = (host("Resize", present(inputs, i), name)
                                   for i, name in ((1, "roi"), (2, "scales"), (3, "sizes")))
    axes = list(range(rank))
    if ctx.opset >= 18 and attrs.get("axes") is not None:
        axes = [a + rank if a < 0 else a for a in reference._int_list(attrs["axes"])]
        if any(not 0 <= a < rank for a in axes):
            raise ValueError(f"Resize: axes {attrs['axes']} out of range for rank {rank}")
    starts, ends = np.zeros(rank), np.ones(rank)
    if reference._present(roi_in) and opts["ctm"] == "tf_crop_and_resize":
        roi = np.asarray(roi_in, np.float64).reshape(-1)
        if roi.size != 2 * len(axes):
            raise ValueError(f"Resize: roi has {roi.size} values, expected {2 * len(axes)}")
        starts[axes] = roi[: len(axes)]
        ends[axes] = roi[len(axes):]
    scales = [1.0] * rank
    out_shape = list(x.shape)
    has_scales, has_sizes = reference._present(scales_in), reference._present(sizes_in)
    if has_scales and has_sizes:
        raise ValueError("Resize: give either scales or sizes, not both")
    if has_scales:
        given = np.asarray(scales_in, np.float64).reshape(-1)
        if given.size != len(axes):
            raise ValueError(f"Resize: scales has {given.size} values, expected {len(axes)}")
        reference._check_scales("Resize", given)
        for a, s in zip(axes, given):
            scales[a] = float(s)
            extent = ends[a] - starts[a] if opts["ctm"] == "tf_crop_and_resize" else 1.0
            out_shape[a] = reference._scaled_length(x.shape[a], s, extent)
    elif has_sizes:
        sizes = reference._int_list(sizes_in)
        if len(sizes) != len(axes) or any(s < 0 for s in sizes):
            raise ValueError(f"Resize: sizes {sizes} must be {len(axes)} non-negative values")
        policy = attrs.get("keep_aspect_ratio_policy", "stretch") if ctx.opset >= 18 else "stretch"
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
    return resize_to(x, opts, out_shape, scales, (starts, ends), has_scales)


def upsample(ctx, inputs, attrs):
    x = inputs[0]
    if ctx.opset < 7:
        if x.ndim != 4 or "height_scale" not in attrs or "width_scale" not in attrs:
            raise ValueError("Upsample: opsets 1-6 take a 4-D input, height_scale and width_scale")
        scales = np.array([1.0, 1.0, attrs["height_scale"], attrs["width_scale"]])
        opts = reference._legacy_options("Upsample", attrs, bilinear_name="bilinear")
    else:
        if ctx.opset < 9:
            if "scales" not in attrs:
                raise ValueError("Upsample: the scales attribute is required")
            scales = np.asarray(attrs["scales"], np.float64).reshape(-1)
        else:
            scales = np.asarray(host("Upsample", inputs[1], "scales"), np.float64).reshape(-1)
        if scales.size != x.ndim:
            raise ValueError(f"Upsample: scales has {scales.size} values for a rank-{x.ndim} input")
        opts = reference._legacy_options("Upsample", attrs)
    reference._check_scales("Upsample", scales, minimum=1.0)
    return _legacy(x, opts, scales)


claim("Resize", resize, KINDS)
claim("Upsample", upsample, KINDS)
