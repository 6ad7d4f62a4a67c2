"""Resize (opsets 10-19: nearest / linear / cubic, every coordinate transformation,
antialias, exclude_outside, tf_crop_and_resize with extrapolation, axes, sizes with
keep_aspect_ratio_policy) and Upsample, in resize.glsl.

Interpolation is separable, so a resize is one draw per resized axis.  The host maps the
axis's output positions back to the input with the reference's own coordinate
arithmetic (pywebinfer/ops/image.py), giving a small table of input indices and weights
per output position; the shader gathers and sums along the axis."""
from __future__ import annotations

import math

import numpy as np

from ....ops.image import _axis_taps, _legacy_options, _resize_options, _scaled_length
from ..tensor import INTEGERS, NUMERIC
from . import claim, kinds_rule
from .common import FLOAT, INT, Program, host
from .elementwise import elementwise

RESIZE_PARAMS = (("inner", INT, 1), ("in_len", INT, 1), ("out_len", INT, 1), ("taps", INT, 1),
                 ("extrapolation", FLOAT, 1))


def _present(t) -> bool:
    return t is not None and t.size > 0


def resize(op: str, x, opts: dict, out_shape, scales, roi, from_scales: bool):
    """x resized to ``out_shape`` (the reference's _resize, one axis a draw)."""
    be = x.backend
    mode = opts["mode"]
    if mode not in ("nearest", "linear", "cubic"):
        raise ValueError(f"{op}: unknown mode {mode!r}")
    out = be.output(0, out_shape, x.dtype)
    if out.size == 0:
        return out
    identity = opts["ctm"] not in ("tf_crop_and_resize", "tf_half_pixel_for_nn")
    plan = []
    for axis in range(x.ndim):
        in_len, out_len = x.shape[axis], out_shape[axis]
        if in_len == out_len and scales[axis] == 1.0 and identity:
            continue
        if in_len == 0:
            raise ValueError(f"{op}: cannot resize an empty axis {axis} to {out_len}")
        plan.append((out_len / max(in_len, 1), axis))
    plan.sort()  # shrinking axes first keeps the intermediate tensors small
    if not plan:
        elementwise(op, "op_identity", [x], out)
        return out
    current = x
    shape = list(x.shape)
    for step, (_, axis) in enumerate(plan):
        in_len, out_len = x.shape[axis], out_shape[axis]
        target = np.float32(in_len) * np.float32(scales[axis]) if from_scales else out_len
        idx, weights, outside = _axis_taps(opts, in_len, out_len, target, scales[axis],
                                           roi[0][axis], roi[1][axis])
        taps = idx.shape[1]
        table = np.zeros((out_len, 2 * taps + 1), np.float32)
        table[:, 0:2 * taps:2] = idx
        table[:, 1:2 * taps:2] = 1.0 if weights is None else weights
        if outside is not None:
            table[:, 2 * taps] = outside
        shape[axis] = out_len
        last = step == len(plan) - 1
        target_tensor = out if last else be.scratch(shape, np.float32)
        program = Program("resize.glsl", (("X", "any"), ("T", "any")), 0, RESIZE_PARAMS,
                          (("TRUNC", int(last and out.kind in INTEGERS and mode != "nearest")),),
                          target_tensor.kind)
        be.draw(program, target_tensor, [current, be.temporary_host(table)], {
            "inner": math.prod(shape[axis + 1:]), "in_len": in_len, "out_len": out_len,
            "taps": taps, "extrapolation": opts["extrapolation_value"]})
        current = target_tensor
    return out


def _legacy(op: str, x, opts, scales):
    out_shape = [_scaled_length(n, s) for n, s in zip(x.shape, scales)]
    roi = (np.zeros(x.ndim), np.ones(x.ndim))
    return resize(op, x, opts, out_shape, list(scales), roi, True)


def _check_scales(op: str, scales, minimum: float = 0.0) -> None:
    bad = ~(scales >= minimum) if minimum else ~(scales > 0)
    if np.any(bad):
        raise ValueError(f"{op}: scales must be {'at least %g' % minimum if minimum else 'positive'}, "
                         f"got {scales.tolist()}")


def _resize(ctx, inputs, attrs):
    x = inputs[0]
    if ctx.opset < 11:
        scales = host(inputs[1]).astype(np.float64).reshape(-1)
        if scales.size != x.ndim:
            raise ValueError(f"Resize: scales has {scales.size} values for a rank-{x.ndim} input")
        _check_scales("Resize", scales)
        return _legacy("Resize", x, _legacy_options("Resize", attrs), scales)
    rank = x.ndim
    roi_in, scales_in, sizes_in = (inputs[i] if len(inputs) > i else None for i in (1, 2, 3))
    opts = _resize_options(attrs, ctx.opset)
    axes = list(range(rank))
    if ctx.opset >= 18 and attrs.get("axes") is not None:
        axes = [int(a) + rank if int(a) < 0 else int(a) for a in attrs["axes"]]
        if any(not 0 <= a < rank for a in axes):
            raise ValueError(f"Resize: axes {list(attrs['axes'])} out of range for rank {rank}")
    starts, ends = np.zeros(rank), np.ones(rank)
    if _present(roi_in) and opts["ctm"] == "tf_crop_and_resize":
        roi = host(roi_in).astype(np.float64).reshape(-1)
        if roi.size != 2 * len(axes):
            raise ValueError(f"Resize: roi has {roi.size} values, expected {2 * len(axes)}")
        starts[axes] = roi[:len(axes)]
        ends[axes] = roi[len(axes):]
    scales = [1.0] * rank
    out_shape = list(x.shape)
    if _present(scales_in) and _present(sizes_in):
        raise ValueError("Resize: give either scales or sizes, not both")
    if _present(scales_in):
        given = host(scales_in).astype(np.float64).reshape(-1)
        if given.size != len(axes):
            raise ValueError(f"Resize: scales has {given.size} values, expected {len(axes)}")
        _check_scales("Resize", given)
        for a, s in zip(axes, given):
            scales[a] = float(s)
            extent = ends[a] - starts[a] if opts["ctm"] == "tf_crop_and_resize" else 1.0
            out_shape[a] = _scaled_length(x.shape[a], s, extent)
    elif _present(sizes_in):
        sizes = [int(v) for v in host(sizes_in).reshape(-1)]
        if len(sizes) != len(axes) or any(s < 0 for s in sizes):
            raise ValueError(f"Resize: sizes {sizes} must hold {len(axes)} non-negative values")
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
    return resize("Resize", x, opts, out_shape, scales, (starts, ends), _present(scales_in))


def _upsample(ctx, inputs, attrs):
    x = inputs[0]
    if ctx.opset < 7:
        if x.ndim != 4 or "height_scale" not in attrs or "width_scale" not in attrs:
            raise ValueError("Upsample: a 4-D input with height_scale and width_scale is required")
        scales = np.array([1.0, 1.0, attrs["height_scale"], attrs["width_scale"]])
        opts = _legacy_options("Upsample", attrs, bilinear_name="bilinear")
    else:
        if ctx.opset < 9:
            if "scales" not in attrs:
                raise ValueError("Upsample: the scales attribute is required")
            scales = np.asarray(attrs["scales"], dtype=np.float64).reshape(-1)
        else:
            scales = host(inputs[1]).astype(np.float64).reshape(-1)
        if scales.size != x.ndim:
            raise ValueError(f"Upsample: scales has {scales.size} values for a rank-{x.ndim} input")
        opts = _legacy_options("Upsample", attrs)
    _check_scales("Upsample", scales, minimum=1.0)
    return _legacy("Upsample", x, opts, scales)


claim("Resize", _resize, kinds_rule(NUMERIC))
claim("Upsample", _upsample, kinds_rule(NUMERIC))
