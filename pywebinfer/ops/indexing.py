"""Indexing, scatter, sorting and scan ops: numpy reference kernels.

Gather, GatherElements, GatherND, Scatter, ScatterElements, ScatterND, TensorScatter,
TopK, Unique, CumSum, CumProd, ArgMax and ArgMin.  Index tensors may hold negative
values (counted from the end of their axis); any index outside [-size, size-1] is an
error.  Scatter kernels copy ``data`` and never write into their inputs.
"""
from __future__ import annotations

import numpy as np

from .registry import kernel
from .shape import multi_output, normalize_axis, optional_input, scalar_int


def _check_indices(op, indices, size, what):
    """``indices`` as int64 in [0, size), negative ones counted from the end."""
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise ValueError(f"{op}: indices must be integers, got {idx.dtype}")
    idx = idx.astype(np.int64, copy=False)
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < -size or hi >= size:
            bad = lo if lo < -size else hi
            raise ValueError(f"{op}: index {bad} is out of range for {what} of size {size} "
                             f"(expected [{-size}, {size - 1}])")
        if lo < 0:
            idx = np.where(idx < 0, idx + size, idx)
    # numpy indexes with intp: on wasm32 (Pyodide) that is int32, and np.take refuses to
    # cast int64 down; the range check above makes the cast exact
    return idx.astype(np.intp, copy=False)


def _check_tuple_indices(op, indices, dims):
    """Index tuples along the last axis of ``indices``, each column checked against ``dims``."""
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise ValueError(f"{op}: indices must be integers, got {idx.dtype}")
    idx = idx.astype(np.int64)  # a fresh copy: columns are normalized in place
    for j, size in enumerate(dims):
        idx[..., j] = _check_indices(op, idx[..., j], size, f"data axis {j}")
    return idx


# ---- Gather family ------------------------------------------------------------------

@kernel("Gather", since=1)
def gather(ctx, inputs, attrs):
    data, indices = inputs[:2]
    axis = normalize_axis("Gather", attrs.get("axis", 0), data.ndim)
    idx = _check_indices("Gather", indices, data.shape[axis], f"axis {axis}")
    return np.take(data, idx, axis=axis)


@kernel("GatherElements", since=11)
def gather_elements(ctx, inputs, attrs):
    data, indices = inputs[:2]
    if indices.ndim != data.ndim:
        raise ValueError(f"GatherElements: indices rank {indices.ndim} differs from data "
                         f"rank {data.ndim}")
    axis = normalize_axis("GatherElements", attrs.get("axis", 0), data.ndim)
    for d, (n, m) in enumerate(zip(indices.shape, data.shape)):
        if d != axis and n > m:
            raise ValueError(f"GatherElements: indices shape {indices.shape} exceeds data "
                             f"shape {data.shape} on axis {d}")
    idx = _check_indices("GatherElements", indices, data.shape[axis], f"axis {axis}")
    # the other axes take the position of each index, so only their leading part counts
    data = data[tuple(slice(None) if d == axis else slice(0, n)
                      for d, n in enumerate(indices.shape))]
    return np.take_along_axis(data, idx, axis=axis)


def _gather_nd(data, indices, batch_dims):
    op = "GatherND"
    b = int(batch_dims)
    if indices.ndim < 1 or data.ndim < 1:
        raise ValueError(f"{op}: data and indices need rank >= 1")
    if not 0 <= b < min(data.ndim, indices.ndim):
        raise ValueError(f"{op}: batch_dims {b} must be in [0, {min(data.ndim, indices.ndim) - 1}]")
    if data.shape[:b] != indices.shape[:b]:
        raise ValueError(f"{op}: batch dimensions differ: data {data.shape}, indices {indices.shape}")
    k = indices.shape[-1]
    if k > data.ndim - b:
        raise ValueError(f"{op}: index tuples of length {k} exceed data rank {data.ndim} "
                         f"minus batch_dims {b}")
    idx = _check_tuple_indices(op, indices, data.shape[b:b + k])
    batch = int(np.prod(data.shape[:b], dtype=np.int64))
    flat_data = data.reshape((batch,) + data.shape[b:])
    flat_idx = idx.reshape(batch, -1, k)
    rows = np.arange(batch)[:, None]
    picked = flat_data[(rows,) + tuple(flat_idx[..., j] for j in range(k))]
    if k == 0:  # every (empty) tuple selects the whole batch entry
        picked = np.broadcast_to(picked, (batch, flat_idx.shape[1]) + data.shape[b:])
    return picked.reshape(indices.shape[:-1] + data.shape[b + k:])


@kernel("GatherND", since=11, until=11)
def gather_nd_v11(ctx, inputs, attrs):
    return _gather_nd(inputs[0], inputs[1], 0)


@kernel("GatherND", since=12)
def gather_nd(ctx, inputs, attrs):
    return _gather_nd(inputs[0], inputs[1], attrs.get("batch_dims", 0))


# ---- Scatter family -----------------------------------------------------------------

_REDUCE_UFUNCS = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def _reduction(op, attrs, allowed):
    reduction = attrs.get("reduction", "none")
    if reduction not in allowed:
        raise ValueError(f"{op}: unsupported reduction {reduction!r} (expected one of "
                         f"{list(allowed)})")
    return reduction


def _scatter_elements(op, data, indices, updates, axis, reduction):
    if not data.ndim == indices.ndim == updates.ndim:
        raise ValueError(f"{op}: data, indices and updates must have the same rank, got "
                         f"{data.shape}, {indices.shape}, {updates.shape}")
    if indices.shape != updates.shape:
        raise ValueError(f"{op}: indices shape {indices.shape} differs from updates shape "
                         f"{updates.shape}")
    axis = normalize_axis(op, axis, data.ndim)
    for d, (n, m) in enumerate(zip(indices.shape, data.shape)):
        if d != axis and n > m:
            raise ValueError(f"{op}: indices shape {indices.shape} exceeds data shape "
                             f"{data.shape} on axis {d}")
    idx = _check_indices(op, indices, data.shape[axis], f"axis {axis}")
    target = list(np.indices(indices.shape, sparse=True))
    target[axis] = idx
    target = tuple(target)
    out = data.copy()
    updates = updates.astype(data.dtype, copy=False)
    if reduction == "none":
        out[target] = updates
    else:
        _REDUCE_UFUNCS[reduction].at(out, target, updates)
    return out


@kernel("Scatter", since=9, until=10)
def scatter(ctx, inputs, attrs):
    return _scatter_elements("Scatter", *inputs[:3], attrs.get("axis", 0), "none")


@kernel("ScatterElements", since=11, until=15)
def scatter_elements_v11(ctx, inputs, attrs):
    return _scatter_elements("ScatterElements", *inputs[:3], attrs.get("axis", 0), "none")


@kernel("ScatterElements", since=16, until=17)
def scatter_elements_v16(ctx, inputs, attrs):
    reduction = _reduction("ScatterElements", attrs, ("none", "add", "mul"))
    return _scatter_elements("ScatterElements", *inputs[:3], attrs.get("axis", 0), reduction)


@kernel("ScatterElements", since=18)
def scatter_elements(ctx, inputs, attrs):
    reduction = _reduction("ScatterElements", attrs, ("none", "add", "mul", "max", "min"))
    return _scatter_elements("ScatterElements", *inputs[:3], attrs.get("axis", 0), reduction)


def _scatter_nd(data, indices, updates, reduction):
    op = "ScatterND"
    if indices.ndim < 1:
        raise ValueError(f"{op}: indices need rank >= 1")
    k = indices.shape[-1]
    if k > data.ndim:
        raise ValueError(f"{op}: index tuples of length {k} exceed data rank {data.ndim}")
    expected = indices.shape[:-1] + data.shape[k:]
    if updates.shape != expected:
        raise ValueError(f"{op}: updates shape {updates.shape} must be {expected} "
                         f"(indices {indices.shape}, data {data.shape})")
    idx = _check_tuple_indices(op, indices, data.shape[:k]).reshape(-1, k)
    updates = updates.astype(data.dtype, copy=False).reshape((idx.shape[0],) + data.shape[k:])
    out = data.copy()
    if k == 0:  # each empty tuple addresses the whole tensor
        for u in updates:
            out[...] = u if reduction == "none" else _REDUCE_UFUNCS[reduction](out, u)
        return out
    target = tuple(idx[:, j] for j in range(k))
    if reduction == "none":
        out[target] = updates
    else:
        _REDUCE_UFUNCS[reduction].at(out, target, updates)
    return out


@kernel("ScatterND", since=11, until=15)
def scatter_nd_v11(ctx, inputs, attrs):
    return _scatter_nd(*inputs[:3], "none")


@kernel("ScatterND", since=16, until=17)
def scatter_nd_v16(ctx, inputs, attrs):
    return _scatter_nd(*inputs[:3], _reduction("ScatterND", attrs, ("none", "add", "mul")))


@kernel("ScatterND", since=18)
def scatter_nd(ctx, inputs, attrs):
    return _scatter_nd(*inputs[:3],
                       _reduction("ScatterND", attrs, ("none", "add", "mul", "max", "min")))


@kernel("TensorScatter", since=24)
def tensor_scatter(ctx, inputs, attrs):
    op = "TensorScatter"
    past, update = inputs[:2]
    write = optional_input(inputs, 2)
    mode = attrs.get("mode", "linear")
    if mode not in ("linear", "circular"):
        raise ValueError(f"{op}: unsupported mode {mode!r} (expected 'linear' or 'circular')")
    if past.ndim < 2 or update.ndim != past.ndim:
        raise ValueError(f"{op}: past_cache {past.shape} and update {update.shape} must have "
                         "the same rank >= 2")
    axis = normalize_axis(op, attrs.get("axis", -2), past.ndim)
    if axis == 0:
        raise ValueError(f"{op}: axis may not be the batch axis 0")
    if any(p != u for d, (p, u) in enumerate(zip(past.shape, update.shape)) if d != axis):
        raise ValueError(f"{op}: update shape {update.shape} differs from past_cache shape "
                         f"{past.shape} outside axis {axis}")
    batch, max_len, seq_len = past.shape[0], past.shape[axis], update.shape[axis]
    if seq_len > max_len:
        raise ValueError(f"{op}: update sequence length {seq_len} exceeds the cache length {max_len}")
    if write is None:
        write = np.zeros(batch, dtype=np.int64)
    write = np.asarray(write).astype(np.int64).reshape(-1)
    if write.size != batch:
        raise ValueError(f"{op}: write_indices has {write.size} entries for a batch of {batch}")
    if write.size and write.min() < 0:
        raise ValueError(f"{op}: write_indices {write.tolist()} must be non-negative")
    positions = write[:, None] + np.arange(seq_len, dtype=np.int64)[None, :]  # (batch, seq)
    if mode == "circular":
        positions %= max_len
    elif positions.size and positions.max() >= max_len:
        raise ValueError(f"{op}: write_indices {write.tolist()} plus {seq_len} updates run past "
                         f"the cache length {max_len} (mode 'linear')")
    out = past.copy()
    # with the sequence axis moved next to the batch axis both can be indexed together
    view = np.moveaxis(out, axis, 1)
    view[np.arange(batch)[:, None], positions] = np.moveaxis(update, axis, 1)
    return out


# ---- TopK / Unique --------------------------------------------------------------------

def _top_k_candidates(moved, k, largest):
    """Indices (ascending, along the last axis) of the k winners of each row.

    A partition finds each row's k-th value; every value beyond it wins, and of the
    values equal to it the ones with the lowest indices fill the remaining places.
    Linear time, so picking a few entries from a large axis skips the full sort."""
    n = moved.shape[-1]
    pivot_at = n - k if largest else k - 1
    pivot = np.partition(moved, pivot_at, axis=-1)[..., pivot_at:pivot_at + 1]
    beyond = moved > pivot if largest else moved < pivot
    tied = moved == pivot
    room = k - np.count_nonzero(beyond, axis=-1, keepdims=True)
    chosen = beyond | (tied & (np.cumsum(tied, axis=-1) <= room))
    # every row holds exactly k winners, found in row-major (ascending index) order
    return (np.flatnonzero(chosen) % n).reshape(moved.shape[:-1] + (k,))


def _top_k(x, k, axis, largest):
    op = "TopK"
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have rank >= 1")
    axis = normalize_axis(op, axis, x.ndim)
    n = x.shape[axis]
    if not 0 <= k <= n:
        raise ValueError(f"{op}: k {k} must be in [0, {n}] (size of axis {axis})")
    moved = np.moveaxis(x, axis, -1)
    if 0 < k < n and not (moved.dtype.kind == "f" and np.isnan(moved).any()):
        candidates = _top_k_candidates(moved, k, largest)
        values = np.take_along_axis(moved, candidates, axis=-1)
    else:  # NaNs defeat the partition's comparisons: sort everything
        candidates = None
        values = moved
    m = values.shape[-1]
    if largest:
        # a stable ascending sort of the reversed axis, read backwards, orders values
        # descending with equal values by ascending index
        order = (m - 1) - np.argsort(values[..., ::-1], axis=-1, kind="stable")[..., ::-1]
    else:
        order = np.argsort(values, axis=-1, kind="stable")
    order = order[..., :k]
    indices = order if candidates is None else np.take_along_axis(candidates, order, axis=-1)
    values = np.take_along_axis(values, order, axis=-1)
    return np.moveaxis(values, -1, axis), np.moveaxis(indices.astype(np.int64), -1, axis)


@kernel("TopK", since=1, until=9)
def top_k_v1(ctx, inputs, attrs):
    if "k" not in attrs:
        raise ValueError("TopK: the k attribute is required")
    return multi_output(ctx, _top_k(inputs[0], int(attrs["k"]), attrs.get("axis", -1), True))


@kernel("TopK", since=10, until=10)
def top_k_v10(ctx, inputs, attrs):
    return multi_output(ctx, _top_k(inputs[0], scalar_int("TopK", "K", inputs[1]),
                                    attrs.get("axis", -1), True))


@kernel("TopK", since=11)
def top_k(ctx, inputs, attrs):
    # sorted=0 leaves the order unspecified; the sorted order is one valid answer
    return multi_output(ctx, _top_k(inputs[0], scalar_int("TopK", "K", inputs[1]),
                                    attrs.get("axis", -1), bool(attrs.get("largest", 1))))


def _unique_rows(rows):
    """Sorted unique rows of a 2-D array: (first index, inverse, counts) per unique row."""
    if rows.dtype != object and rows.shape[1] > 0:
        if rows.shape[1] == 1:
            _, first, inverse, counts = np.unique(rows[:, 0], return_index=True,
                                                  return_inverse=True, return_counts=True)
        else:
            _, first, inverse, counts = np.unique(rows, axis=0, return_index=True,
                                                  return_inverse=True, return_counts=True)
        return first, inverse.reshape(-1), counts
    # strings (and zero-width rows) compare as Python tuples
    keys = [tuple(r) for r in rows.tolist()]
    first_of = {}
    for i, key in enumerate(keys):
        first_of.setdefault(key, i)
    ordered = sorted(first_of)
    slot = {key: j for j, key in enumerate(ordered)}
    inverse = np.array([slot[key] for key in keys], dtype=np.int64)
    first = np.array([first_of[key] for key in ordered], dtype=np.int64)
    counts = np.bincount(inverse, minlength=len(ordered))
    return first, inverse, counts


@kernel("Unique", since=11)
def unique(ctx, inputs, attrs):
    x = inputs[0]
    if "axis" in attrs:
        axis = normalize_axis("Unique", attrs["axis"], x.ndim)
        rows = np.moveaxis(x, axis, 0)
        rows = rows.reshape(rows.shape[0], -1)
    else:
        axis = None
        x = x.reshape(-1)
        rows = x.reshape(-1, 1)
    first, inverse, counts = _unique_rows(rows)
    if not attrs.get("sorted", 1):
        # order of first occurrence instead of ascending order
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        first, counts, inverse = first[order], counts[order], rank[inverse]
    y = np.take(x, first, axis=0 if axis is None else axis)
    return multi_output(ctx, (y, first.astype(np.int64), inverse.astype(np.int64),
                              counts.astype(np.int64)))


# ---- CumSum / CumProd -----------------------------------------------------------------

def _cumulate(op, inputs, attrs, ufunc, identity):
    x = inputs[0]
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have rank >= 1")
    axis = normalize_axis(op, scalar_int(op, "axis", inputs[1]), x.ndim)
    out_dtype = x.dtype
    if x.dtype == np.float16:  # accumulate half precision in float32
        x = x.astype(np.float32)
    reverse = bool(attrs.get("reverse", 0))
    if reverse:
        x = np.flip(x, axis)
    if attrs.get("exclusive", 0) and x.shape[axis]:
        # shift by one along the axis, entering the identity
        head = np.full(x.shape[:axis] + (1,) + x.shape[axis + 1:], identity, dtype=x.dtype)
        x = np.concatenate([head, np.delete(x, -1, axis=axis)], axis=axis)
    out = ufunc.accumulate(x, axis=axis, dtype=x.dtype)
    if reverse:
        out = np.flip(out, axis)
    return out.astype(out_dtype, copy=False)


@kernel("CumSum", since=11)
def cum_sum(ctx, inputs, attrs):
    return _cumulate("CumSum", inputs, attrs, np.add, 0)


@kernel("CumProd", since=26)
def cum_prod(ctx, inputs, attrs):
    return _cumulate("CumProd", inputs, attrs, np.multiply, 1)


# ---- ArgMax / ArgMin ------------------------------------------------------------------

def _arg_reduce(op, fn, x, attrs, select_last):
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have rank >= 1")
    axis = normalize_axis(op, attrs.get("axis", 0), x.ndim)
    n = x.shape[axis]
    if n == 0:
        raise ValueError(f"{op}: axis {axis} is empty (input shape {x.shape})")
    if select_last:
        idx = (n - 1) - fn(np.flip(x, axis), axis=axis)
    else:
        idx = fn(x, axis=axis)
    idx = np.asarray(idx, dtype=np.int64)
    return np.expand_dims(idx, axis) if attrs.get("keepdims", 1) else idx


@kernel("ArgMax", since=1, until=11)
def arg_max_v1(ctx, inputs, attrs):
    return _arg_reduce("ArgMax", np.argmax, inputs[0], attrs, False)


@kernel("ArgMax", since=12)
def arg_max(ctx, inputs, attrs):
    return _arg_reduce("ArgMax", np.argmax, inputs[0], attrs,
                       bool(attrs.get("select_last_index", 0)))


@kernel("ArgMin", since=1, until=11)
def arg_min_v1(ctx, inputs, attrs):
    return _arg_reduce("ArgMin", np.argmin, inputs[0], attrs, False)


@kernel("ArgMin", since=12)
def arg_min(ctx, inputs, attrs):
    return _arg_reduce("ArgMin", np.argmin, inputs[0], attrs,
                       bool(attrs.get("select_last_index", 0)))
