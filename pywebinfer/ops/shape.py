"""Tensor-manipulation ops: numpy reference kernels.

Reshape, Transpose, Concat, Split, Slice, Squeeze, Unsqueeze, Flatten, Shape, Size,
ConstantOfShape, Constant, Expand, Tile, Pad, Range, EyeLike, Trilu, OneHot, NonZero,
Compress and ReverseSequence.  Kernels that only rearrange data return numpy views where
numpy gives one (kernels never write into their inputs, so sharing memory is safe).

The small axis/attribute helpers at the top are shared with the indexing, reduction
and matrix kernels.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from .registry import kernel


# ---- helpers shared by the tensor op modules ----------------------------------------

def optional_input(inputs, i):
    """Input ``i``, or None when the node leaves it out."""
    return inputs[i] if i < len(inputs) else None


def int_list(op, name, value):
    """A list of Python ints from an attribute list or a 0-D/1-D integer tensor."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iub":
        raise ValueError(f"{op}: {name} must hold integers, got {arr.dtype}")
    if arr.ndim > 1:
        raise ValueError(f"{op}: {name} must be a 1-D tensor, got shape {arr.shape}")
    return [int(v) for v in arr.reshape(-1)]


def scalar_int(op, name, value):
    """The single integer held by a 0-D (or one-element) tensor."""
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"{op}: {name} must hold exactly one value, got shape {arr.shape}")
    return int(arr.reshape(-1)[0])


def normalize_axis(op, axis, rank, name="axis"):
    """Map ``axis`` from [-rank, rank-1] to [0, rank-1]."""
    axis = int(axis)
    if not -rank <= axis < rank:
        raise ValueError(f"{op}: {name} {axis} is out of range for rank {rank} "
                         f"(expected [{-rank}, {rank - 1}])")
    return axis + rank if axis < 0 else axis


def normalize_axes(op, axes, rank, name="axes"):
    """Normalized axes; a repeated axis is an error."""
    out = [normalize_axis(op, a, rank, name) for a in axes]
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: {name} {list(axes)} repeat an axis")
    return out


def multi_output(ctx, outputs):
    """Trim a full set of outputs to the number the node declares."""
    return tuple(outputs[:max(ctx.num_outputs, 1)])


def _zero_of(dtype):
    """The padding/fill value ONNX uses for 'zero' of a type (0, False or '')."""
    if dtype == object:
        return ""
    return np.zeros((), dtype=dtype)


# ---- Reshape / Transpose / Squeeze / Unsqueeze / Flatten ----------------------------

def _reshape(op, data, shape, allowzero):
    shape = list(shape)
    if allowzero and 0 in shape and -1 in shape:
        raise ValueError(f"{op}: with allowzero=1 the shape {shape} may not hold both 0 and -1")
    if shape.count(-1) > 1:
        raise ValueError(f"{op}: shape {shape} has more than one -1")
    out = []
    for i, d in enumerate(shape):
        if d == 0 and not allowzero:
            if i >= data.ndim:
                raise ValueError(f"{op}: shape {shape} copies dimension {i} (0) but the "
                                 f"input has rank {data.ndim}")
            d = data.shape[i]
        elif d < -1:
            raise ValueError(f"{op}: shape {shape} has a negative dimension {d}")
        out.append(d)
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        if known == 0 or data.size % known:
            raise ValueError(f"{op}: cannot infer the -1 in shape {shape} for an input of "
                             f"shape {data.shape}")
        out[out.index(-1)] = data.size // known
    if math.prod(out) != data.size:
        raise ValueError(f"{op}: cannot reshape an input of shape {data.shape} "
                         f"({data.size} elements) to {shape}")
    return data.reshape(out)


@kernel("Reshape", since=1, until=4)
def reshape_v1(ctx, inputs, attrs):
    if "shape" not in attrs:
        raise ValueError("Reshape: the shape attribute is required")
    return _reshape("Reshape", inputs[0], int_list("Reshape", "shape", attrs["shape"]), False)


@kernel("Reshape", since=5)
def reshape(ctx, inputs, attrs):
    # allowzero only exists from opset 14; earlier nodes cannot carry it
    return _reshape("Reshape", inputs[0], int_list("Reshape", "shape", inputs[1]),
                    bool(attrs.get("allowzero", 0)))


@kernel("Transpose", since=1)
def transpose(ctx, inputs, attrs):
    x = inputs[0]
    perm = attrs.get("perm")
    if perm is None:
        return np.transpose(x)
    perm = [int(p) for p in perm]
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"Transpose: perm {perm} is not a permutation of the "
                         f"{x.ndim} input axes")
    return np.transpose(x, perm)


def _squeeze(x, axes):
    if axes is None:
        return x.reshape([d for d in x.shape if d != 1])
    axes = normalize_axes("Squeeze", axes, x.ndim)
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"Squeeze: axis {a} has size {x.shape[a]}, not 1 "
                             f"(input shape {x.shape})")
    return x.reshape([d for i, d in enumerate(x.shape) if i not in axes])


@kernel("Squeeze", since=1, until=12)
def squeeze_v1(ctx, inputs, attrs):
    axes = attrs.get("axes")
    return _squeeze(inputs[0], None if axes is None else list(axes))


@kernel("Squeeze", since=13)
def squeeze(ctx, inputs, attrs):
    axes = optional_input(inputs, 1)
    return _squeeze(inputs[0], None if axes is None else int_list("Squeeze", "axes", axes))


def _unsqueeze(x, axes):
    out_rank = x.ndim + len(axes)
    axes = set(normalize_axes("Unsqueeze", axes, out_rank))
    dims = iter(x.shape)
    return x.reshape([1 if i in axes else next(dims) for i in range(out_rank)])


@kernel("Unsqueeze", since=1, until=12)
def unsqueeze_v1(ctx, inputs, attrs):
    if "axes" not in attrs:
        raise ValueError("Unsqueeze: the axes attribute is required")
    return _unsqueeze(inputs[0], list(attrs["axes"]))


@kernel("Unsqueeze", since=13)
def unsqueeze(ctx, inputs, attrs):
    axes = optional_input(inputs, 1)
    if axes is None:
        raise ValueError("Unsqueeze: the axes input is required")
    return _unsqueeze(inputs[0], int_list("Unsqueeze", "axes", axes))


@kernel("Flatten", since=1)
def flatten(ctx, inputs, attrs):
    x = inputs[0]
    axis = int(attrs.get("axis", 1))
    if not -x.ndim <= axis <= x.ndim:
        raise ValueError(f"Flatten: axis {axis} is out of range for rank {x.ndim} "
                         f"(expected [{-x.ndim}, {x.ndim}])")
    if axis < 0:
        axis += x.ndim
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


# ---- Concat / Split / Slice ----------------------------------------------------------

def _concat(inputs, axis):
    tensors = [t for t in inputs if t is not None]
    if not tensors:
        raise ValueError("Concat: needs at least one input")
    rank = tensors[0].ndim
    axis = normalize_axis("Concat", axis, rank)
    for t in tensors[1:]:
        if t.ndim != rank or any(a != b for i, (a, b) in enumerate(zip(t.shape, tensors[0].shape))
                                 if i != axis):
            raise ValueError(f"Concat: input shapes {[x.shape for x in tensors]} differ "
                             f"outside axis {axis}")
    return np.concatenate(tensors, axis=axis)


@kernel("Concat", since=1, until=3)
def concat_v1(ctx, inputs, attrs):
    return _concat(inputs, attrs.get("axis", 1))


@kernel("Concat", since=4)
def concat(ctx, inputs, attrs):
    if "axis" not in attrs:
        raise ValueError("Concat: the axis attribute is required")
    return _concat(inputs, attrs["axis"])


def _split(ctx, x, axis, split, num_outputs=None):
    axis = normalize_axis("Split", axis, x.ndim)
    dim = x.shape[axis]
    if split is not None:
        if any(s < 0 for s in split) or sum(split) != dim:
            raise ValueError(f"Split: split {split} must be non-negative and sum to the "
                             f"size {dim} of axis {axis}")
        sizes = split
    elif num_outputs is not None:
        if num_outputs < 1:
            raise ValueError(f"Split: num_outputs must be positive, got {num_outputs}")
        chunk = -(-dim // num_outputs)
        sizes = [min(chunk, max(dim - i * chunk, 0)) for i in range(num_outputs)]
    else:
        n = max(ctx.num_outputs, 1)
        if dim % n:
            raise ValueError(f"Split: axis {axis} of size {dim} does not split into "
                             f"{n} equal parts")
        sizes = [dim // n] * n
    if ctx.num_outputs and len(sizes) != ctx.num_outputs:
        raise ValueError(f"Split: {len(sizes)} parts for {ctx.num_outputs} outputs")
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


@kernel("Split", since=1, until=1)
def split_v1(ctx, inputs, attrs):
    split = optional_input(inputs, 1)
    split = int_list("Split", "split", split) if split is not None else attrs.get("split")
    return _split(ctx, inputs[0], attrs.get("axis", 0), split)


@kernel("Split", since=2, until=12)
def split_v2(ctx, inputs, attrs):
    return _split(ctx, inputs[0], attrs.get("axis", 0), attrs.get("split"))


@kernel("Split", since=13, until=17)
def split_v13(ctx, inputs, attrs):
    split = optional_input(inputs, 1)
    split = int_list("Split", "split", split) if split is not None else None
    return _split(ctx, inputs[0], attrs.get("axis", 0), split)


@kernel("Split", since=18)
def split(ctx, inputs, attrs):
    split = optional_input(inputs, 1)
    num_outputs = attrs.get("num_outputs")
    if split is not None and num_outputs is not None:
        raise ValueError("Split: give either the split input or num_outputs, not both")
    split = int_list("Split", "split", split) if split is not None else None
    return _split(ctx, inputs[0], attrs.get("axis", 0), split, num_outputs)


def _slice(data, starts, ends, axes, steps):
    if axes is None:
        axes = list(range(len(starts)))
    if steps is None:
        steps = [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ValueError(f"Slice: starts {starts}, ends {ends}, axes {axes} and steps "
                         f"{steps} must have the same length")
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, normalize_axes("Slice", axes, data.ndim),
                                      steps):
        dim = data.shape[axis]
        if step == 0:
            raise ValueError(f"Slice: step for axis {axis} is 0")
        if start < 0:
            start += dim
        if end < 0:
            end += dim
        if step > 0:
            index[axis] = slice(min(max(start, 0), dim), min(max(end, 0), dim), step)
        else:
            start = max(min(start, dim - 1), 0)
            end = max(min(end, dim - 1), -1)
            # -1 means 'past the front', which a Python slice spells as None
            index[axis] = slice(start, end if end >= 0 else None, step)
    return data[tuple(index)]


@kernel("Slice", since=1, until=9)
def slice_v1(ctx, inputs, attrs):
    if "starts" not in attrs or "ends" not in attrs:
        raise ValueError("Slice: the starts and ends attributes are required")
    axes = attrs.get("axes")
    return _slice(inputs[0], list(attrs["starts"]), list(attrs["ends"]),
                  None if axes is None else list(axes), None)


@kernel("Slice", since=10)
def slice_(ctx, inputs, attrs):
    def ints(i, name):
        v = optional_input(inputs, i)
        return None if v is None else int_list("Slice", name, v)
    return _slice(inputs[0], ints(1, "starts"), ints(2, "ends"), ints(3, "axes"),
                  ints(4, "steps"))


# ---- Shape / Size / Constant / ConstantOfShape ---------------------------------------

@kernel("Shape", since=1)
def shape(ctx, inputs, attrs):
    # start/end exist from opset 15; Python slicing clamps exactly as the spec asks
    start = int(attrs.get("start", 0))
    end = attrs.get("end")
    dims = inputs[0].shape[start:None if end is None else int(end)]
    return np.array(dims, dtype=np.int64)


@kernel("Size", since=1)
def size(ctx, inputs, attrs):
    return np.asarray(inputs[0].size, dtype=np.int64)


_CONSTANT_ATTRS = ("value", "sparse_value", "value_float", "value_floats", "value_int",
                   "value_ints", "value_string", "value_strings")


@kernel("Constant", since=1)
def constant(ctx, inputs, attrs):
    given = [name for name in _CONSTANT_ATTRS if name in attrs]
    if len(given) != 1:
        raise ValueError(f"Constant: exactly one of {', '.join(_CONSTANT_ATTRS)} must be "
                         f"set, got {given or 'none'}")
    name = given[0]
    v = attrs[name]
    if name in ("value", "sparse_value"):
        # the model reader decodes sparse tensors to dense arrays
        if not isinstance(v, np.ndarray):
            raise ValueError(f"Constant: {name} was not decoded to a tensor ({type(v).__name__})")
        return v
    if name == "value_float":
        return np.asarray(v, dtype=np.float32)
    if name == "value_floats":
        return np.asarray(list(v), dtype=np.float32).reshape(-1)
    if name == "value_int":
        return np.asarray(v, dtype=np.int64)
    if name == "value_ints":
        return np.asarray(list(v), dtype=np.int64).reshape(-1)
    out = np.empty(() if name == "value_string" else (len(v),), dtype=object)
    if name == "value_string":
        out[()] = v
    else:
        out[:] = list(v)
    return out


@kernel("ConstantOfShape", since=9)
def constant_of_shape(ctx, inputs, attrs):
    dims = int_list("ConstantOfShape", "input", inputs[0])
    if any(d < 0 for d in dims):
        raise ValueError(f"ConstantOfShape: shape {dims} has a negative dimension")
    value = attrs.get("value")
    if value is None:
        return np.zeros(dims, dtype=np.float32)
    value = np.asarray(value)
    if value.size != 1:
        raise ValueError(f"ConstantOfShape: value must hold one element, got shape {value.shape}")
    return np.full(dims, value.reshape(-1)[0], dtype=value.dtype)


# ---- Expand / Tile / Pad --------------------------------------------------------------

@kernel("Expand", since=8)
def expand(ctx, inputs, attrs):
    x = inputs[0]
    dims = tuple(int_list("Expand", "shape", inputs[1]))
    try:
        out_shape = np.broadcast_shapes(x.shape, dims)
    except ValueError:
        raise ValueError(f"Expand: input shape {x.shape} does not broadcast with "
                         f"shape {list(dims)}") from None
    # materialized: a broadcast view is read-only and shares one element many times
    return np.broadcast_to(x, out_shape).copy()


def _tile(x, repeats):
    if any(r < 0 for r in repeats):
        raise ValueError(f"Tile: repeats {repeats} must be non-negative")
    return np.tile(x, repeats)


@kernel("Tile", since=1, until=5)
def tile_v1(ctx, inputs, attrs):
    x = inputs[0]
    axis = normalize_axis("Tile", scalar_int("Tile", "axis", inputs[2]), x.ndim)
    repeats = [1] * x.ndim
    repeats[axis] = scalar_int("Tile", "tiles", inputs[1])
    return _tile(x, repeats)


@kernel("Tile", since=6)
def tile(ctx, inputs, attrs):
    x = inputs[0]
    repeats = int_list("Tile", "repeats", inputs[1])
    if len(repeats) != x.ndim:
        raise ValueError(f"Tile: repeats {repeats} must have one entry per input axis "
                         f"(rank {x.ndim})")
    return _tile(x, repeats)


_PAD_MODES = ("constant", "reflect", "edge")
_PAD_MODES_19 = _PAD_MODES + ("wrap",)  # wrap arrived in opset 19


def _pad(x, pads, mode, value, axes=None, modes=_PAD_MODES):
    if mode not in modes:
        raise ValueError(f"Pad: unsupported mode {mode!r} (expected one of {list(modes)})")
    axes = list(range(x.ndim)) if axes is None else normalize_axes("Pad", axes, x.ndim)
    if len(pads) != 2 * len(axes):
        raise ValueError(f"Pad: pads {pads} must have 2 entries per padded axis "
                         f"({len(axes)} axes)")
    begin = [0] * x.ndim
    end = [0] * x.ndim
    for i, a in enumerate(axes):
        begin[a], end[a] = pads[i], pads[i + len(axes)]
    # negative pads remove elements: crop first, then pad what is left
    crop = []
    for d, (b, e) in enumerate(zip(begin, end)):
        lo, hi = max(-b, 0), x.shape[d] - max(-e, 0)
        if hi < lo:
            raise ValueError(f"Pad: pads {pads} remove more than the {x.shape[d]} elements "
                             f"of axis {d}")
        crop.append(slice(lo, hi))
    x = x[tuple(crop)]
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
    if not any(b or e for b, e in widths):
        return x
    if mode == "constant":
        out = np.full([d + b + e for d, (b, e) in zip(x.shape, widths)], value, dtype=x.dtype)
        out[tuple(slice(b, b + d) for d, (b, _) in zip(x.shape, widths))] = x
        return out
    for d, (b, e) in enumerate(widths):
        if (b or e) and x.shape[d] == 0:
            raise ValueError(f"Pad: cannot {mode}-pad axis {d}, which is empty")
    return np.pad(x, widths, mode=mode)


def _pad_value(x, value):
    if value is None:
        return _zero_of(x.dtype)
    return np.asarray(value).astype(x.dtype)


def _pad_attrs(inputs, attrs, pads_name):
    x = inputs[0]
    if pads_name not in attrs:
        raise ValueError(f"Pad: the {pads_name} attribute is required")
    return _pad(x, [int(p) for p in attrs[pads_name]], attrs.get("mode", "constant"),
                _pad_value(x, attrs.get("value", 0.0)))


@kernel("Pad", since=1, until=1)
def pad_v1(ctx, inputs, attrs):
    return _pad_attrs(inputs, attrs, "paddings")


@kernel("Pad", since=2, until=10)
def pad_v2(ctx, inputs, attrs):
    return _pad_attrs(inputs, attrs, "pads")


def _pad_inputs(inputs, attrs, modes):
    x = inputs[0]
    value = optional_input(inputs, 2)
    if value is not None and value.size != 1:
        raise ValueError(f"Pad: constant_value must be a scalar, got shape {value.shape}")
    axes = optional_input(inputs, 3)  # opset 18+
    return _pad(x, int_list("Pad", "pads", inputs[1]), attrs.get("mode", "constant"),
                _pad_value(x, None if value is None else value.reshape(-1)[0]),
                None if axes is None else int_list("Pad", "axes", axes), modes)


@kernel("Pad", since=11, until=18)
def pad_v11(ctx, inputs, attrs):
    return _pad_inputs(inputs, attrs, _PAD_MODES)


@kernel("Pad", since=19)
def pad(ctx, inputs, attrs):
    return _pad_inputs(inputs, attrs, _PAD_MODES_19)


# ---- Range / EyeLike / Trilu / OneHot -------------------------------------------------

def _range(start, limit, delta, work_dtype=None):
    out_dtype = np.asarray(start).dtype
    vals = []
    for name, v in (("start", start), ("limit", limit), ("delta", delta)):
        v = np.asarray(v)
        if v.size != 1:
            raise ValueError(f"Range: {name} must be a scalar, got shape {v.shape}")
        vals.append(v.reshape(()).astype(work_dtype or v.dtype))
    start, limit, delta = vals
    if delta == 0:
        raise ValueError("Range: delta is 0")
    if out_dtype.kind in "iu":
        s, l, d = int(start), int(limit), int(delta)
        count = max(-((s - l) // d), 0)  # ceil((l - s) / d) in exact integer arithmetic
        return (s + np.arange(count, dtype=np.int64) * d).astype(out_dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        steps = float(limit - start) / float(delta)
    if not math.isfinite(steps):
        raise ValueError(f"Range: start {start}, limit {limit} and delta {delta} do not "
                         "give a finite number of elements")
    count = max(math.ceil(steps), 0)
    return (start + np.arange(count, dtype=start.dtype) * delta).astype(out_dtype)


@kernel("Range", since=11, until=26)
def range_v11(ctx, inputs, attrs):
    return _range(*inputs[:3])


@kernel("Range", since=27)
def range_(ctx, inputs, attrs):
    # stash_type=1 (the default) computes half-precision ranges in float32
    stash_float = attrs.get("stash_type", dtypes.FLOAT) == dtypes.FLOAT
    work = np.float32 if stash_float and inputs[0].dtype == np.float16 else None
    return _range(*inputs[:3], work_dtype=work)


@kernel("EyeLike", since=9)
def eye_like(ctx, inputs, attrs):
    x = inputs[0]
    if x.ndim != 2:
        raise ValueError(f"EyeLike: input must be 2-D, got shape {x.shape}")
    dtype = dtypes.storage_dtype(attrs["dtype"]) if "dtype" in attrs else x.dtype
    return np.eye(x.shape[0], x.shape[1], k=int(attrs.get("k", 0)), dtype=dtype)


@kernel("Trilu", since=14)
def trilu(ctx, inputs, attrs):
    x = inputs[0]
    if x.ndim < 2:
        raise ValueError(f"Trilu: input must have rank >= 2, got shape {x.shape}")
    k_in = optional_input(inputs, 1)
    k = 0 if k_in is None else scalar_int("Trilu", "k", k_in)
    diag = np.arange(x.shape[-1])[None, :] - np.arange(x.shape[-2])[:, None]
    keep = diag >= k if attrs.get("upper", 1) else diag <= k
    return np.where(keep, x, _zero_of(x.dtype)).astype(x.dtype, copy=False)


def _one_hot(inputs, attrs, negative_indices):
    indices, depth, values = inputs[:3]
    depth = np.asarray(depth)
    if depth.size != 1:
        raise ValueError(f"OneHot: depth must hold one value, got shape {depth.shape}")
    depth = int(depth.reshape(-1)[0])  # non-integer depths are cast to int64
    if depth < 0:
        raise ValueError(f"OneHot: depth {depth} is negative")
    values = np.asarray(values).reshape(-1)
    if values.size != 2:
        raise ValueError(f"OneHot: values must hold [off_value, on_value], got {values.size} values")
    idx = np.asarray(indices).astype(np.int64)
    rank = idx.ndim
    axis = int(attrs.get("axis", -1))
    if not -rank - 1 <= axis <= rank:
        raise ValueError(f"OneHot: axis {axis} is out of range for output rank {rank + 1}")
    if axis < 0:
        axis += rank + 1
    if negative_indices:
        idx = np.where(idx < 0, idx + depth, idx)
    # indices outside [0, depth) match no position and give all off_value
    hot = idx[..., None] == np.arange(depth, dtype=np.int64)
    hot = np.moveaxis(hot, -1, axis)
    return np.where(hot, values[1], values[0]).astype(values.dtype, copy=False)


@kernel("OneHot", since=9, until=10)
def one_hot_v9(ctx, inputs, attrs):
    return _one_hot(inputs, attrs, negative_indices=False)


@kernel("OneHot", since=11)
def one_hot(ctx, inputs, attrs):
    return _one_hot(inputs, attrs, negative_indices=True)


# ---- NonZero / Compress / ReverseSequence ----------------------------------------------

@kernel("NonZero", since=9)
def non_zero(ctx, inputs, attrs):
    x = inputs[0]
    if x.ndim == 0:  # the spec gives shape (0, N) for a scalar, unlike numpy
        return np.zeros((0, int(bool(x))), dtype=np.int64)
    return np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)


@kernel("Compress", since=9)
def compress(ctx, inputs, attrs):
    x, condition = inputs[:2]
    if condition.ndim != 1:
        raise ValueError(f"Compress: condition must be 1-D, got shape {condition.shape}")
    condition = condition.astype(bool, copy=False)
    if "axis" in attrs:
        axis = normalize_axis("Compress", attrs["axis"], x.ndim)
    else:
        x, axis = x.reshape(-1), 0
    n = x.shape[axis]
    if condition.size > n:
        if condition[n:].any():
            raise ValueError(f"Compress: condition selects index {n + int(np.argmax(condition[n:]))}"
                             f" beyond the size {n} of the axis")
        condition = condition[:n]
    return np.compress(condition, x, axis=axis)


@kernel("ReverseSequence", since=10)
def reverse_sequence(ctx, inputs, attrs):
    x, lens = inputs[:2]
    time_axis = int(attrs.get("time_axis", 0))
    batch_axis = int(attrs.get("batch_axis", 1))
    if {time_axis, batch_axis} != {0, 1}:
        raise ValueError(f"ReverseSequence: time_axis {time_axis} and batch_axis {batch_axis} "
                         "must be 0 and 1 in some order")
    if x.ndim < 2:
        raise ValueError(f"ReverseSequence: input must have rank >= 2, got shape {x.shape}")
    steps, batch = x.shape[time_axis], x.shape[batch_axis]
    lens = np.asarray(lens).astype(np.int64).reshape(-1)
    if lens.size != batch:
        raise ValueError(f"ReverseSequence: sequence_lens has {lens.size} entries for a batch "
                         f"of {batch}")
    if lens.size and (lens.min() < 0 or lens.max() > steps):
        raise ValueError(f"ReverseSequence: sequence_lens {lens.tolist()} must lie in "
                         f"[0, {steps}]")
    t = np.arange(steps, dtype=np.int64)[:, None]
    source = np.where(t < lens[None, :], lens[None, :] - 1 - t, t)  # (time, batch)
    if time_axis == 1:
        source = source.T
    source = source.reshape(source.shape + (1,) * (x.ndim - 2))
    return np.take_along_axis(x, source, axis=time_axis)
