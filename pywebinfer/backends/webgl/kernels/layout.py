"""Shapes and data movement: Reshape, Flatten, Squeeze, Unsqueeze (free views of the
same texture, tensor.py), Shape and Size (host values), Transpose, Slice, Split, Expand,
Tile, DepthToSpace, SpaceToDepth (one affine-map shader, strided.glsl), Concat, Pad,
and the tensors made from coordinates: ConstantOfShape, Range, EyeLike, Trilu.

The host turns each op's attributes into a base offset and per-dimension strides (and
wrap lengths for Tile); merged dimensions keep the shader's rank low."""
from __future__ import annotations

import math

import numpy as np

from .... import dtypes
from ....ops.shape import normalize_axes
from ..tensor import ALL, EXACT_INT, NUMERIC
from . import claim, kinds_rule
from .common import (
    FLOAT, INT, Program, backend_of, broadcast_shape, broadcast_strides, host, host_ints,
    host_scalar, normalize_axis, present, strides,
)

ANY = kinds_rule(ALL)
MOVE_PARAMS = lambda rank: (("base", INT, 1), ("estride", INT, rank), ("wrap", INT, rank))  # noqa: E731


def affine_copy(x, out, base: int, dims) -> None:
    """out[c] = x[base + sum_d (c_d mod wrap_d) * estride_d] over out's flat order;
    ``dims``: (size, estride, wrap) per output dimension, wrap 0 for none."""
    if out.size == 0:
        return
    merged: list = []
    for size, estride, wrap in dims:
        if size == 1:
            continue
        if wrap >= size:
            wrap = 0
        if merged and not wrap and not merged[-1][2] and merged[-1][1] == size * estride:
            merged[-1] = (merged[-1][0] * size, estride, 0)
            continue
        merged.append((size, estride, wrap))
    if not merged:
        merged = [(1, 0, 0)]
    rank = len(merged)
    program = Program("strided.glsl", (("X", "any"),), rank, MOVE_PARAMS(rank), (), out.kind)
    out.backend.draw(program, out, [x], {
        "base": base, "oshape": [m[0] for m in merged], "estride": [m[1] for m in merged],
        "wrap": [m[2] for m in merged]})


def transposed_copy(x, out, view_shape, perm) -> None:
    """out = transpose(x viewed as ``view_shape``, ``perm``), written flat."""
    st = strides(view_shape)
    affine_copy(x, out, 0, [(view_shape[p], st[p], 0) for p in perm])


# ---- views ------------------------------------------------------------------------

def reshape_target(op: str, in_shape, shape, allowzero: bool) -> list[int]:
    shape = list(shape)
    if allowzero and 0 in shape and -1 in shape:
        raise ValueError(f"{op}: with allowzero=1 the shape {shape} may not hold both 0 and -1")
    if shape.count(-1) > 1:
        raise ValueError(f"{op}: shape {shape} has more than one -1")
    out = []
    for i, d in enumerate(shape):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                raise ValueError(f"{op}: shape {shape} copies dimension {i} of a rank-{len(in_shape)} input")
            d = in_shape[i]
        elif d < -1:
            raise ValueError(f"{op}: shape {shape} has a negative dimension {d}")
        out.append(d)
    total = math.prod(in_shape)
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        if known == 0 or total % known:
            raise ValueError(f"{op}: cannot infer the -1 in shape {shape} for an input of shape {list(in_shape)}")
        out[out.index(-1)] = total // known
    if math.prod(out) != total:
        raise ValueError(f"{op}: cannot reshape an input of shape {list(in_shape)} to {shape}")
    return out


def _reshape(ctx, inputs, attrs):
    x = inputs[0]
    if ctx.opset < 5:
        if "shape" not in attrs:
            raise ValueError("Reshape: the shape attribute is required")
        shape, allowzero = [int(d) for d in attrs["shape"]], False
    else:
        shape, allowzero = host_ints(inputs[1]), bool(attrs.get("allowzero", 0))
    return x.backend.view(x, reshape_target("Reshape", x.shape, shape, allowzero))


def _flatten(ctx, inputs, attrs):
    x = inputs[0]
    axis = int(attrs.get("axis", 1))
    if not -x.ndim <= axis <= x.ndim:
        raise ValueError(f"Flatten: axis {axis} is out of range for rank {x.ndim}")
    axis = axis + x.ndim if axis < 0 else axis
    return x.backend.view(x, (math.prod(x.shape[:axis]), math.prod(x.shape[axis:])))


def _squeeze(ctx, inputs, attrs):
    x = inputs[0]
    axes = attrs.get("axes") if ctx.opset < 13 else host_ints(present(inputs, 1))
    if axes is None:
        shape = [d for d in x.shape if d != 1]
    else:
        axes = normalize_axes("Squeeze", [int(a) for a in axes], x.ndim)
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"Squeeze: axis {a} has size {x.shape[a]}, not 1 (input shape {x.shape})")
        shape = [d for i, d in enumerate(x.shape) if i not in axes]
    return x.backend.view(x, shape)


def _unsqueeze(ctx, inputs, attrs):
    x = inputs[0]
    axes = attrs.get("axes") if ctx.opset < 13 else host_ints(present(inputs, 1))
    if axes is None:
        raise ValueError("Unsqueeze: axes are required")
    rank = x.ndim + len(axes)
    axes = set(normalize_axes("Unsqueeze", [int(a) for a in axes], rank))
    dims = iter(x.shape)
    return x.backend.view(x, [1 if i in axes else next(dims) for i in range(rank)])


def _shape(ctx, inputs, attrs):
    x = inputs[0]
    start, end = int(attrs.get("start", 0)), attrs.get("end")
    return x.backend.host_tensor(np.array(x.shape[start:None if end is None else int(end)], np.int64))


def _size(ctx, inputs, attrs):
    x = inputs[0]
    return x.backend.host_tensor(np.asarray(x.size, np.int64))


claim("Reshape", _reshape, ANY)
claim("Flatten", _flatten, ANY)
claim("Squeeze", _squeeze, ANY)
claim("Unsqueeze", _unsqueeze, ANY)
claim("Shape", _shape, kinds_rule(ALL, inputs=()))
claim("Size", _size, kinds_rule(ALL, inputs=()))


# ---- affine copies ------------------------------------------------------------------

def _transpose(ctx, inputs, attrs):
    x = inputs[0]
    perm = attrs.get("perm")
    perm = list(range(x.ndim))[::-1] if perm is None else [int(p) for p in perm]
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"Transpose: perm {perm} is not a permutation of the {x.ndim} input axes")
    out = x.backend.output(0, [x.shape[p] for p in perm], x.dtype)
    transposed_copy(x, out, x.shape, perm)
    return out


def slice_ranges(op: str, shape, starts, ends, axes, steps) -> list[range]:
    """Per axis the range of indices a Slice keeps (clamped as the spec says)."""
    if axes is None:
        axes = list(range(len(starts)))
    if steps is None:
        steps = [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ValueError(f"{op}: starts {starts}, ends {ends}, axes {axes} and steps {steps} "
                         "must have the same length")
    ranges = [range(d) for d in shape]
    for start, end, axis, step in zip(starts, ends, normalize_axes(op, list(axes), len(shape)), steps):
        dim = shape[axis]
        if step == 0:
            raise ValueError(f"{op}: step for axis {axis} is 0")
        start = start + dim if start < 0 else start
        end = end + dim if end < 0 else end
        if step > 0:
            start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        else:
            start, end = max(min(start, dim - 1), 0), max(min(end, dim - 1), -1)
        ranges[axis] = range(start, end, step)
    return ranges


def copy_ranges(x, out, ranges) -> None:
    st = strides(x.shape)
    base = sum(r.start * s for r, s in zip(ranges, st) if len(r))
    affine_copy(x, out, base, [(len(r), r.step * s, 0) for r, s in zip(ranges, st)])


def _slice(ctx, inputs, attrs):
    x = inputs[0]
    if ctx.opset < 10:
        if "starts" not in attrs or "ends" not in attrs:
            raise ValueError("Slice: the starts and ends attributes are required")
        axes = attrs.get("axes")
        starts, ends, axes, steps = (list(attrs["starts"]), list(attrs["ends"]),
                                     None if axes is None else list(axes), None)
    else:
        starts, ends = host_ints(inputs[1]), host_ints(inputs[2])
        axes, steps = host_ints(present(inputs, 3)), host_ints(present(inputs, 4))
    ranges = slice_ranges("Slice", x.shape, starts, ends, axes, steps)
    out = x.backend.output(0, [len(r) for r in ranges], x.dtype)
    copy_ranges(x, out, ranges)
    return out


def _split(ctx, inputs, attrs):
    x = inputs[0]
    axis = normalize_axis("Split", int(attrs.get("axis", 0)), x.ndim)
    dim = x.shape[axis]
    given = present(inputs, 1)
    split = None
    if ctx.opset < 13:
        split = host_ints(given) if given is not None else attrs.get("split")
    elif given is not None:
        split = host_ints(given)
    num_outputs = attrs.get("num_outputs") if ctx.opset >= 18 else None
    if split is not None and num_outputs is not None:
        raise ValueError("Split: give either the split input or num_outputs, not both")
    if split is not None:
        split = [int(s) for s in split]
        if any(s < 0 for s in split) or sum(split) != dim:
            raise ValueError(f"Split: split {split} must be non-negative and sum to the size {dim} of axis {axis}")
        sizes = split
    elif num_outputs is not None:
        chunk = -(-dim // int(num_outputs))
        sizes = [min(chunk, max(dim - i * chunk, 0)) for i in range(int(num_outputs))]
    else:
        n = max(ctx.num_outputs, 1)
        if dim % n:
            raise ValueError(f"Split: axis {axis} of size {dim} does not split into {n} equal parts")
        sizes = [dim // n] * n
    if ctx.num_outputs and len(sizes) != ctx.num_outputs:
        raise ValueError(f"Split: {len(sizes)} parts for {ctx.num_outputs} outputs")
    outs = []
    offset = 0
    for i, size in enumerate(sizes):
        ranges = [range(d) for d in x.shape]
        ranges[axis] = range(offset, offset + size)
        out = x.backend.output(i, [len(r) for r in ranges], x.dtype)
        copy_ranges(x, out, ranges)
        outs.append(out)
        offset += size
    return outs


def _expand(ctx, inputs, attrs):
    x = inputs[0]
    dims = host_ints(inputs[1])
    shape = broadcast_shape("Expand", x.shape, dims)
    out = x.backend.output(0, shape, x.dtype)
    affine_copy(x, out, 0, [(n, s, 0) for n, s in zip(shape, broadcast_strides(x.shape, shape))])
    return out


def _tile(ctx, inputs, attrs):
    x = inputs[0]
    if ctx.opset < 6:
        axis = normalize_axis("Tile", int(host_scalar(inputs[2])), x.ndim)
        repeats = [1] * x.ndim
        repeats[axis] = int(host_scalar(inputs[1]))
    else:
        repeats = host_ints(inputs[1])
    if len(repeats) != x.ndim or any(r < 0 for r in repeats):
        raise ValueError(f"Tile: repeats {repeats} must be non-negative, one per input axis (rank {x.ndim})")
    shape = [d * r for d, r in zip(x.shape, repeats)]
    out = x.backend.output(0, shape, x.dtype)
    affine_copy(x, out, 0, [(n, s, d) for n, s, d in zip(shape, strides(x.shape), x.shape)])
    return out


def _depth_to_space(ctx, inputs, attrs):
    x = inputs[0]
    if x.ndim != 4:
        raise ValueError(f"DepthToSpace: input must be 4-D, got shape {x.shape}")
    bs = int(attrs.get("blocksize", 0))
    n, c, h, w = x.shape
    if bs <= 0 or c % (bs * bs):
        raise ValueError(f"DepthToSpace: blocksize {bs} does not divide the {c} channels into blocks")
    out = x.backend.output(0, (n, c // (bs * bs), h * bs, w * bs), x.dtype)
    if _block_mode("DepthToSpace", attrs) == "CRD":
        transposed_copy(x, out, (n, c // (bs * bs), bs, bs, h, w), (0, 1, 4, 2, 5, 3))
    else:
        transposed_copy(x, out, (n, bs, bs, c // (bs * bs), h, w), (0, 3, 4, 1, 5, 2))
    return out


def _space_to_depth(ctx, inputs, attrs):
    x = inputs[0]
    if x.ndim != 4:
        raise ValueError(f"SpaceToDepth: input must be 4-D, got shape {x.shape}")
    bs = int(attrs.get("blocksize", 0))
    n, c, h, w = x.shape
    if bs <= 0 or h % bs or w % bs:
        raise ValueError(f"SpaceToDepth: blocksize {bs} does not divide the spatial size {h}x{w}")
    out = x.backend.output(0, (n, c * bs * bs, h // bs, w // bs), x.dtype)
    perm = (0, 1, 3, 5, 2, 4) if _block_mode("SpaceToDepth", attrs) == "CRD" else (0, 3, 5, 1, 2, 4)
    transposed_copy(x, out, (n, c, h // bs, bs, w // bs, bs), perm)
    return out


def _block_mode(op: str, attrs) -> str:
    mode = attrs.get("mode", "DCR")
    if mode not in ("DCR", "CRD"):
        raise ValueError(f"{op}: unknown mode {mode!r}")
    return mode


claim("Transpose", _transpose, ANY)
claim("Slice", _slice, ANY)
claim("Split", _split, ANY)
claim("Expand", _expand, ANY)
claim("Tile", _tile, ANY)
claim("DepthToSpace", _depth_to_space, ANY)
claim("SpaceToDepth", _space_to_depth, ANY)


# ---- Concat -------------------------------------------------------------------------

CONCAT_WIDTH = 8  # inputs one draw reads; more are joined in stages


def _concat(ctx, inputs, attrs):
    tensors = [t for t in inputs if t is not None]
    if not tensors:
        raise ValueError("Concat: needs at least one input")
    if ctx.opset >= 4 and "axis" not in attrs:
        raise ValueError("Concat: the axis attribute is required")
    rank = tensors[0].ndim
    axis = normalize_axis("Concat", int(attrs.get("axis", 1)), rank)
    for t in tensors[1:]:
        if t.ndim != rank or any(a != b for i, (a, b) in enumerate(zip(t.shape, tensors[0].shape)) if i != axis):
            raise ValueError(f"Concat: input shapes {[list(x.shape) for x in tensors]} differ outside axis {axis}")
    be = backend_of(tensors)
    shape = list(tensors[0].shape)
    shape[axis] = sum(t.shape[axis] for t in tensors)
    out = be.output(0, shape, tensors[0].dtype)
    parts = [t for t in tensors if t.size]
    inner = math.prod(shape[axis + 1:])
    while len(parts) > CONCAT_WIDTH:  # join the first ones into a scratch tensor
        head = parts[:CONCAT_WIDTH]
        staged = list(shape)
        staged[axis] = sum(t.shape[axis] for t in head)
        joined = be.scratch(staged, out.dtype)
        _concat_draw(head, joined, axis, inner)
        parts = [joined] + parts[CONCAT_WIDTH:]
    if parts:
        _concat_draw(parts, out, axis, inner)
    return out


def _concat_draw(parts, out, axis, inner) -> None:
    offsets = [0]
    for t in parts:
        offsets.append(offsets[-1] + t.shape[axis])
    program = Program("concat.glsl", tuple((f"X{i}", "any") for i in range(len(parts))), 0,
                      (("inner", INT, 1), ("offset", INT, CONCAT_WIDTH + 1)),
                      (("COUNT", len(parts)),), out.kind)
    out.backend.draw(program, out, parts, {"inner": max(inner, 1), "offset": offsets})


claim("Concat", _concat, kinds_rule(ALL, inputs=None))


# ---- Pad ----------------------------------------------------------------------------

PAD_MODES = {"constant": 0, "reflect": 1, "edge": 2, "wrap": 3}


def _pad(ctx, inputs, attrs):
    x = inputs[0]
    mode = attrs.get("mode", "constant")
    if mode not in PAD_MODES or (mode == "wrap" and ctx.opset < 19):
        raise ValueError(f"Pad: unsupported mode {mode!r}")
    axes = None
    if ctx.opset < 11:
        name = "paddings" if ctx.opset < 2 else "pads"
        if name not in attrs:
            raise ValueError(f"Pad: the {name} attribute is required")
        pads, value = [int(p) for p in attrs[name]], float(attrs.get("value", 0.0))
    else:
        pads = host_ints(inputs[1])
        value = host_scalar(present(inputs, 2), 0)
        axes = host_ints(present(inputs, 3))
    axes = list(range(x.ndim)) if axes is None else normalize_axes("Pad", axes, x.ndim)
    if len(pads) != 2 * len(axes):
        raise ValueError(f"Pad: pads {pads} must have 2 entries per padded axis ({len(axes)} axes)")
    begin, end = [0] * x.ndim, [0] * x.ndim
    for i, a in enumerate(axes):
        begin[a], end[a] = pads[i], pads[i + len(axes)]
    shape = [d + b + e for d, b, e in zip(x.shape, begin, end)]
    if any(s < 0 for s in shape):
        raise ValueError(f"Pad: pads {pads} remove more than the input's shape {list(x.shape)}")
    if mode != "constant" and x.size == 0 and math.prod(shape):
        raise ValueError(f"Pad: cannot {mode}-pad an empty input")
    out = x.backend.output(0, shape, x.dtype)
    rank = max(x.ndim, 1)
    program = Program("pad.glsl", (("X", "any"),), rank,
                      (("in_dim", INT, rank), ("in_stride", INT, rank), ("begin", INT, rank),
                       ("value", FLOAT, 1)), (("MODE", PAD_MODES[mode]),), out.kind)
    x.backend.draw(program, out, [x], {
        "oshape": shape or [1], "in_dim": list(x.shape) or [1], "in_stride": strides(x.shape) or [0],
        "begin": begin or [0], "value": float(value)})
    return out


claim("Pad", _pad, ANY)


# ---- made from coordinates ------------------------------------------------------------

FILL_PARAMS = (("value", FLOAT, 1), ("delta", FLOAT, 1), ("rows", INT, 1), ("cols", INT, 1),
               ("k", INT, 1), ("upper", INT, 1))


def fill(out, mode: int, x=None, **values) -> None:
    params = dict(value=0.0, delta=0.0, rows=1, cols=1, k=0, upper=0)
    params.update(values)
    inputs = (("X", "any"),) if x is not None else ()
    program = Program("fill.glsl", inputs, 0, FILL_PARAMS, (("MODE", mode),), out.kind)
    out.backend.draw(program, out, [x] if x is not None else [], params)


def _constant_of_shape(ctx, inputs, attrs):
    dims = host_ints(inputs[0])
    if any(d < 0 for d in dims):
        raise ValueError(f"ConstantOfShape: shape {dims} has a negative dimension")
    value = attrs.get("value")
    value = np.zeros(1, np.float32) if value is None else np.asarray(value)
    if value.size != 1:
        raise ValueError(f"ConstantOfShape: value must hold one element, got shape {value.shape}")
    out = inputs[0].backend.output(0, dims, value.dtype)
    fill(out, 0, value=_exact(value.reshape(-1)[0], "ConstantOfShape"))
    return out


def _exact(value, op: str) -> float:
    """A fill value as the float a texture holds, refusing integers it cannot hold."""
    if isinstance(value, (np.integer, int)) and abs(int(value)) > EXACT_INT:
        raise ValueError(f"{op}: the value {int(value)} is beyond +-2**24, which WebGL2 float "
                         "textures hold exactly")
    return float(value)


def _range(ctx, inputs, attrs):
    start, limit, delta = (host(t).reshape(-1)[0] for t in inputs[:3])
    dtype = host(inputs[0]).dtype
    if delta == 0:
        raise ValueError("Range: delta is 0")
    if dtype.kind in "iu":
        count = max(-((int(start) - int(limit)) // int(delta)), 0)
    else:
        count = max(math.ceil((float(limit) - float(start)) / float(delta)), 0)
    out = inputs[0].backend.output(0, (count,), dtype)
    fill(out, 1, value=_exact(start, "Range"), delta=_exact(delta, "Range"))
    return out


def _eye_like(ctx, inputs, attrs):
    x = inputs[0]
    if x.ndim != 2:
        raise ValueError(f"EyeLike: input must be 2-D, got shape {x.shape}")
    dtype = dtypes.storage_dtype(attrs["dtype"]) if "dtype" in attrs else x.dtype
    out = x.backend.output(0, x.shape, dtype)
    fill(out, 2, rows=x.shape[0], cols=x.shape[1], k=int(attrs.get("k", 0)))
    return out


def _trilu(ctx, inputs, attrs):
    x = inputs[0]
    if x.ndim < 2:
        raise ValueError(f"Trilu: input must have rank >= 2, got shape {x.shape}")
    k = int(host_scalar(present(inputs, 1), 0))
    out = x.backend.output(0, x.shape, x.dtype)
    fill(out, 3, x, rows=x.shape[-2], cols=x.shape[-1], k=k, upper=int(attrs.get("upper", 1)))
    return out


claim("ConstantOfShape", _constant_of_shape, kinds_rule(ALL, inputs=()))
claim("Range", _range, kinds_rule(NUMERIC, inputs=None))
claim("EyeLike", _eye_like, ANY)
claim("Trilu", _trilu, ANY)
