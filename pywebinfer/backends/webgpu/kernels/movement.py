"""Data movement through one strided-copy shader (copy.wgsl): Transpose, Slice, Concat,
Split, Expand, Tile, Pad, DepthToSpace and SpaceToDepth.  The host turns each op's
attributes into per-dimension start, step, input size and strides (uniforms); elements
move as raw words, so every element type works, 64-bit ones exactly."""
from __future__ import annotations

import math

from ....ops.shape import int_list, normalize_axes, normalize_axis, scalar_int
from ..tensor import ALL
from . import claim, kinds_rule
from .common import (
    I32, MAX_RANK, U32, backend_of, broadcast_shape, broadcast_strides, coalesce,
    elementwise_program, host, present, strides, value_words,
)

ANY = kinds_rule(ALL)
COPY_PARAMS = (("n", U32, 1), ("run", U32, 1), ("rank", U32, 1), ("mode", U32, 1), ("src_base", U32, 1),
               ("dst_base", U32, 1), ("pad_lo", U32, 1), ("pad_hi", U32, 1), ("shape", U32, 8),
               ("start", I32, 8), ("step", I32, 8), ("in_dim", U32, 8), ("in_stride", U32, 8),
               ("dst_stride", U32, 8))
PAD_MODES = {"constant": 0, "reflect": 1, "edge": 2, "wrap": 3}


def strided_copy(x, y, shape, start, step, in_dim, in_stride, dst_stride, src_base=0,
                 dst_base=0, mode=0, pad=(0, 0)) -> None:
    """Write y[dst] = x[src] over ``shape`` (see copy.wgsl for the coordinates)."""
    n = math.prod(shape)
    if n == 0:
        return
    dims = []
    for d in range(len(shape)):
        if shape[d] == 1 and 0 <= start[d] < in_dim[d]:
            src_base += start[d] * in_stride[d]  # a single position inside: a constant offset
            continue
        dims.append((shape[d], start[d], step[d], in_dim[d], in_stride[d], dst_stride[d]))
    run = 1
    if dims and dims[-1][1:3] == (0, 1) and dims[-1][4:] == (1, 1) and dims[-1][0] <= dims[-1][3]:
        # the innermost dimension reads and writes one contiguous run: copy it whole
        run = dims.pop()[0]
    if not dims:
        dims = [(1, 0, 1, 1, 0, 0)]
    if len(dims) > MAX_RANK:
        raise ValueError(f"webgpu: copies over more than {MAX_RANK} dimensions are not supported")
    columns = list(zip(*dims))
    program = elementwise_program("copy.wgsl", (("X", x.kind, False), ("Y", y.kind, True)), COPY_PARAMS)
    x.backend.dispatch(program, [x, y], {
        "n": n // run, "run": run, "rank": len(dims), "mode": mode, "src_base": src_base, "dst_base": dst_base,
        "pad_lo": pad[0], "pad_hi": pad[1], "shape": columns[0], "start": columns[1],
        "step": columns[2], "in_dim": columns[3], "in_stride": columns[4], "dst_stride": columns[5],
    }, threads=n // run)


def plain_copy(x, y, shape, in_stride, dst_stride, src_base=0, dst_base=0) -> None:
    """y[dst_base + c . dst_stride] = x[src_base + c . in_stride] for c over ``shape``."""
    if math.prod(shape) == 0:
        return
    dims, (ins, dsts) = coalesce(shape, in_stride, dst_stride)
    if len(dims) == 1 and ins[0] == 1 and dsts[0] == 1:
        x.backend.copy(x, y, src_base, dst_base, dims[0])  # one contiguous run
        return
    strided_copy(x, y, dims, [0] * len(dims), [1] * len(dims), dims, ins, dsts, src_base, dst_base)


def transpose(ctx, inputs, attrs):
    x = inputs[0]
    perm = attrs.get("perm")
    perm = list(range(x.ndim))[::-1] if perm is None else [int(p) for p in perm]
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"Transpose: perm {perm} is not a permutation of the {x.ndim} input axes")
    shape = [x.shape[p] for p in perm]
    y = x.backend.empty(shape, x.dtype, 0)
    xs = strides(x.shape)
    plain_copy(x, y, shape, [xs[p] for p in perm], strides(shape))
    return y


claim("Transpose", transpose, ANY)


# ---- Concat / Split --------------------------------------------------------------------

def concat(ctx, inputs, attrs):
    tensors = [t for t in inputs if t is not None]
    if not tensors:
        raise ValueError("Concat: needs at least one input")
    if ctx.opset >= 4 and "axis" not in attrs:
        raise ValueError("Concat: the axis attribute is required")
    rank = tensors[0].ndim
    axis = normalize_axis("Concat", attrs.get("axis", 1), rank)
    for t in tensors[1:]:
        if t.ndim != rank or any(a != b for i, (a, b) in enumerate(zip(t.shape, tensors[0].shape))
                                 if i != axis):
            raise ValueError(f"Concat: input shapes {[t.shape for t in tensors]} differ outside axis {axis}")
    shape = list(tensors[0].shape)
    shape[axis] = sum(t.shape[axis] for t in tensors)
    y = backend_of(tensors).empty(shape, tensors[0].dtype, 0)
    ys = strides(shape)
    offset = 0
    for t in tensors:
        plain_copy(t, y, t.shape, strides(t.shape), ys, 0, offset * ys[axis])
        offset += t.shape[axis]
    return y


def _concat_rule(kinds_in, kinds_out, attrs, node=None):
    known = {k for k in kinds_in if k is not None}
    if len(known) > 1:
        return f"inputs of different element types {sorted(known)}"
    return None


claim("Concat", concat, _concat_rule)


def _split_sizes(ctx, dim, axis, split, num_outputs):
    if split is not None:
        if any(s < 0 for s in split) or sum(split) != dim:
            raise ValueError(f"Split: split {split} must be non-negative and sum to the size {dim} of axis {axis}")
        sizes = list(split)
    elif num_outputs is not None:
        if num_outputs < 1:
            raise ValueError(f"Split: num_outputs must be positive, got {num_outputs}")
        chunk = -(-dim // num_outputs)
        sizes = [min(chunk, max(dim - i * chunk, 0)) for i in range(num_outputs)]
    else:
        n = max(ctx.num_outputs, 1)
        if dim % n:
            raise ValueError(f"Split: axis {axis} of size {dim} does not split into {n} equal parts")
        sizes = [dim // n] * n
    if ctx.num_outputs and len(sizes) != ctx.num_outputs:
        raise ValueError(f"Split: {len(sizes)} parts for {ctx.num_outputs} outputs")
    return sizes


def split(ctx, inputs, attrs):
    x = inputs[0]
    axis = normalize_axis("Split", attrs.get("axis", 0), x.ndim)
    given = present(inputs, 1)
    if ctx.opset == 1 and given is None:
        given_list = attrs.get("split")
    elif 2 <= ctx.opset <= 12:
        given_list = attrs.get("split")
    else:
        given_list = None if given is None else int_list("Split", "split", host("Split", given, "split"))
    num_outputs = attrs.get("num_outputs") if ctx.opset >= 18 else None
    if given_list is not None and num_outputs is not None:
        raise ValueError("Split: give either the split input or num_outputs, not both")
    sizes = _split_sizes(ctx, x.shape[axis], axis, None if given_list is None else list(given_list), num_outputs)
    xs = strides(x.shape)
    outs = []
    offset = 0
    for i, size in enumerate(sizes):
        shape = list(x.shape)
        shape[axis] = size
        y = x.backend.empty(shape, x.dtype, i)
        plain_copy(x, y, shape, xs, strides(shape), offset * xs[axis], 0)
        offset += size
        outs.append(y)
    return tuple(outs)


claim("Split", split, ANY)


# ---- Slice -----------------------------------------------------------------------------

def slice_(ctx, inputs, attrs):
    x = inputs[0]
    if ctx.opset < 10:
        if "starts" not in attrs or "ends" not in attrs:
            raise ValueError("Slice: the starts and ends attributes are required")
        starts, ends = list(attrs["starts"]), list(attrs["ends"])
        axes = attrs.get("axes")
        axes = None if axes is None else list(axes)
        steps = None
    else:
        def ints(i, name):
            t = present(inputs, i)
            return None if t is None else int_list("Slice", name, host("Slice", t, name))
        starts, ends, axes, steps = ints(1, "starts"), ints(2, "ends"), ints(3, "axes"), ints(4, "steps")
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ValueError(f"Slice: starts {starts}, ends {ends}, axes {axes} and steps {steps} "
                         "must have the same length")
    begin = [0] * x.ndim
    step = [1] * x.ndim
    shape = list(x.shape)
    for s, e, axis, st in zip(starts, ends, normalize_axes("Slice", axes, x.ndim), steps):
        dim = x.shape[axis]
        if st == 0:
            raise ValueError(f"Slice: step for axis {axis} is 0")
        s = s + dim if s < 0 else s
        e = e + dim if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), dim), min(max(e, 0), dim)
            count = max(0, -(-(e - s) // st))
        else:
            s, e = max(min(s, dim - 1), 0), max(min(e, dim - 1), -1)
            count = max(0, -(-(s - e) // -st))
        begin[axis], step[axis], shape[axis] = s, st, count
    y = x.backend.empty(shape, x.dtype, 0)
    strided_copy(x, y, shape, begin, step, list(x.shape), strides(x.shape), strides(shape))
    return y


claim("Slice", slice_, ANY)


# ---- Expand / Tile ---------------------------------------------------------------------

def expand(ctx, inputs, attrs):
    x = inputs[0]
    dims = int_list("Expand", "shape", host("Expand", inputs[1], "shape"))
    shape = broadcast_shape("Expand", x.shape, dims)
    y = x.backend.empty(shape, x.dtype, 0)
    plain_copy(x, y, shape, broadcast_strides(x.shape, shape), strides(shape))
    return y


claim("Expand", expand, ANY)


def tile(ctx, inputs, attrs):
    x = inputs[0]
    if ctx.opset < 6:
        axis = normalize_axis("Tile", scalar_int("Tile", "axis", host("Tile", inputs[2], "axis")), x.ndim)
        repeats = [1] * x.ndim
        repeats[axis] = scalar_int("Tile", "tiles", host("Tile", inputs[1], "tiles"))
    else:
        repeats = int_list("Tile", "repeats", host("Tile", inputs[1], "repeats"))
    if len(repeats) != x.ndim or any(r < 0 for r in repeats):
        raise ValueError(f"Tile: repeats {repeats} must be one non-negative entry per input axis (rank {x.ndim})")
    shape = [d * r for d, r in zip(x.shape, repeats)]
    y = x.backend.empty(shape, x.dtype, 0)
    strided_copy(x, y, shape, [0] * x.ndim, [1] * x.ndim, list(x.shape), strides(x.shape),
                 strides(shape), mode=PAD_MODES["wrap"])
    return y


claim("Tile", tile, ANY)


# ---- Pad -------------------------------------------------------------------------------

def pad(ctx, inputs, attrs):
    x = inputs[0]
    mode = attrs.get("mode", "constant")
    if isinstance(mode, bytes):
        mode = mode.decode()
    modes = ("constant", "reflect", "edge", "wrap") if ctx.opset >= 19 else ("constant", "reflect", "edge")
    if mode not in modes:
        raise ValueError(f"Pad: unsupported mode {mode!r} (expected one of {list(modes)})")
    axes = None
    if ctx.opset < 11:
        name = "paddings" if ctx.opset == 1 else "pads"
        if name not in attrs:
            raise ValueError(f"Pad: the {name} attribute is required")
        pads = [int(p) for p in attrs[name]]
        value = float(attrs.get("value", 0.0))
    else:
        pads = int_list("Pad", "pads", host("Pad", inputs[1], "pads"))
        given = present(inputs, 2)
        value = 0 if given is None else host("Pad", given, "constant_value").reshape(-1)[0]
        if present(inputs, 3) is not None:
            axes = int_list("Pad", "axes", host("Pad", inputs[3], "axes"))
    axes = list(range(x.ndim)) if axes is None else normalize_axes("Pad", axes, x.ndim)
    if len(pads) != 2 * len(axes):
        raise ValueError(f"Pad: pads {pads} must have 2 entries per padded axis ({len(axes)} axes)")
    begin, end = [0] * x.ndim, [0] * x.ndim
    for i, a in enumerate(axes):
        begin[a], end[a] = pads[i], pads[i + len(axes)]
    xs = strides(x.shape)
    src_base = 0
    kept, shape, start = [], [], []
    for d in range(x.ndim):
        # negative pads crop first; the rest is padded around what is left
        lo, hi = max(-begin[d], 0), x.shape[d] - max(-end[d], 0)
        if hi < lo:
            raise ValueError(f"Pad: pads {pads} remove more than the {x.shape[d]} elements of axis {d}")
        if mode != "constant" and hi == lo and (begin[d] > 0 or end[d] > 0):
            raise ValueError(f"Pad: cannot {mode}-pad axis {d}, which is empty")
        src_base += lo * xs[d]
        kept.append(hi - lo)
        shape.append(hi - lo + max(begin[d], 0) + max(end[d], 0))
        start.append(-max(begin[d], 0))
    y = x.backend.empty(shape, x.dtype, 0)
    words = value_words(value, x.dtype) if x.kind != "bool" else (int(bool(value)), 0)
    strided_copy(x, y, shape, start, [1] * x.ndim, kept, xs, strides(shape), src_base, 0,
                 PAD_MODES[mode], words)
    return y


claim("Pad", pad, ANY)


# ---- DepthToSpace / SpaceToDepth ---------------------------------------------------------

def _block(op, attrs):
    mode = attrs.get("mode", "DCR")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode not in ("DCR", "CRD"):
        raise ValueError(f"{op}: unknown mode {mode!r}")
    if "blocksize" not in attrs or int(attrs["blocksize"]) <= 0:
        raise ValueError(f"{op}: a positive blocksize attribute is required")
    return int(attrs["blocksize"]), mode


def _reshape_transpose(x, view_shape, perm, out_shape):
    """y (out_shape) = x viewed as view_shape, transposed by perm."""
    y = x.backend.empty(out_shape, x.dtype, 0)
    vs = strides(view_shape)
    shape = [view_shape[p] for p in perm]
    plain_copy(x, y, shape, [vs[p] for p in perm], strides(shape))
    return y


def depth_to_space(ctx, inputs, attrs):
    x = inputs[0]
    b, mode = _block("DepthToSpace", attrs)
    if x.ndim != 4 or x.shape[1] % (b * b):
        raise ValueError(f"DepthToSpace: needs a 4-D input whose channels divide by {b * b}, got {x.shape}")
    n, c, h, w = x.shape
    depth = c // (b * b)
    if mode == "DCR":
        view, perm = (n, b, b, depth, h, w), (0, 3, 4, 1, 5, 2)
    else:
        view, perm = (n, depth, b, b, h, w), (0, 1, 4, 2, 5, 3)
    return _reshape_transpose(x, view, perm, (n, depth, h * b, w * b))


def space_to_depth(ctx, inputs, attrs):
    x = inputs[0]
    b, mode = _block("SpaceToDepth", attrs)
    if x.ndim != 4 or x.shape[2] % b or x.shape[3] % b:
        raise ValueError(f"SpaceToDepth: needs a 4-D input whose height and width divide by {b}, got {x.shape}")
    n, c, h, w = x.shape
    perm = (0, 3, 5, 1, 2, 4) if mode == "DCR" else (0, 1, 3, 5, 2, 4)
    return _reshape_transpose(x, (n, c, h // b, b, w // b, b), perm, (n, c * b * b, h // b, w // b))


claim("DepthToSpace", depth_to_space, ANY)
claim("SpaceToDepth", space_to_depth, ANY)
