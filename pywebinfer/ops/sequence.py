"""Sequence and optional ops: numpy reference kernels.

A sequence is a Python list of arrays and the empty optional is ``None``.  Kernels
never modify an input list in place: the same list may be read by other nodes.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from .registry import kernel


def _sequence(op, value):
    if not isinstance(value, list):
        raise ValueError(f"{op}: expected a sequence, got {type(value).__name__}")
    return value


def _position(op, position, length, *, inserting=False):
    """A non-negative index from a scalar position tensor, checked against the length."""
    pos = np.asarray(position)
    if pos.size != 1 or pos.dtype.kind not in "iu":
        raise ValueError(f"{op}: position must be an integer scalar, got {pos.dtype} shape {pos.shape}")
    pos = int(pos.reshape(-1)[0])
    high = length if inserting else length - 1
    if not -length <= pos <= high:
        raise ValueError(f"{op}: position {pos} is out of range for a sequence of length {length}")
    return pos + length if pos < 0 else pos


def _check_same_dtype(op, seq, tensor):
    # compare ONNX types: a widened bfloat16 and a float32 share their numpy dtype
    if seq and dtypes.onnx_type_of(seq[0]) != dtypes.onnx_type_of(tensor):
        raise ValueError(f"{op}: tensor of type {dtypes.name(dtypes.onnx_type_of(tensor))} does not "
                         f"match the sequence's {dtypes.name(dtypes.onnx_type_of(seq[0]))}")


@kernel("SequenceConstruct", since=11)
def sequence_construct(ctx, inputs, attrs):
    if not inputs or any(x is None for x in inputs):
        raise ValueError("SequenceConstruct: needs one or more tensors")
    if len({dtypes.onnx_type_of(x) for x in inputs}) > 1:
        raise ValueError("SequenceConstruct: tensors must all have the same type")
    return [list(inputs)]


@kernel("SequenceEmpty", since=11)
def sequence_empty(ctx, inputs, attrs):
    dtype = int(attrs.get("dtype", dtypes.FLOAT))
    if dtype not in dtypes.STORAGE or dtype == dtypes.UNDEFINED:
        raise ValueError(f"SequenceEmpty: unknown element type {dtype}")
    return [[]]


@kernel("SequenceAt", since=11)
def sequence_at(ctx, inputs, attrs):
    seq = _sequence("SequenceAt", inputs[0])
    return seq[_position("SequenceAt", inputs[1], len(seq))]


@kernel("SequenceInsert", since=11)
def sequence_insert(ctx, inputs, attrs):
    seq = _sequence("SequenceInsert", inputs[0])
    tensor = inputs[1]
    _check_same_dtype("SequenceInsert", seq, tensor)
    position = inputs[2] if len(inputs) > 2 else None
    pos = len(seq) if position is None else _position("SequenceInsert", position, len(seq), inserting=True)
    return [seq[:pos] + [tensor] + seq[pos:]]


@kernel("SequenceErase", since=11)
def sequence_erase(ctx, inputs, attrs):
    seq = _sequence("SequenceErase", inputs[0])
    if not seq:
        raise ValueError("SequenceErase: the sequence is empty")
    position = inputs[1] if len(inputs) > 1 else None
    pos = len(seq) - 1 if position is None else _position("SequenceErase", position, len(seq))
    return [seq[:pos] + seq[pos + 1:]]


@kernel("SequenceLength", since=11)
def sequence_length(ctx, inputs, attrs):
    return np.array(len(_sequence("SequenceLength", inputs[0])), np.int64)


@kernel("SplitToSequence", since=11)
def split_to_sequence(ctx, inputs, attrs):
    x = inputs[0]
    split = inputs[1] if len(inputs) > 1 else None
    axis = int(attrs.get("axis", 0))
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"SplitToSequence: axis {axis} is out of range for rank {x.ndim}")
    axis %= x.ndim
    dim = x.shape[axis]
    if split is None:
        parts = np.split(x, dim, axis=axis) if dim else []
        if not attrs.get("keepdims", 1):
            parts = [np.squeeze(p, axis=axis) for p in parts]
        return [parts]
    split = np.asarray(split)
    if split.dtype.kind not in "iu":
        raise ValueError(f"SplitToSequence: split must be integer, got {split.dtype}")
    if split.ndim == 0:
        size = int(split)
        if size <= 0:
            raise ValueError(f"SplitToSequence: split must be positive, got {size}")
        sizes = [size] * (dim // size) + ([dim % size] if dim % size else [])
    elif split.ndim == 1:
        sizes = [int(s) for s in split]
        if any(s < 0 for s in sizes) or sum(sizes) != dim:
            raise ValueError(f"SplitToSequence: split {sizes} must be non-negative and sum to {dim}")
    else:
        raise ValueError(f"SplitToSequence: split must be a scalar or 1-D, got shape {split.shape}")
    bounds = np.cumsum(sizes)[:-1]
    return [np.split(x, bounds, axis=axis)]


@kernel("ConcatFromSequence", since=11)
def concat_from_sequence(ctx, inputs, attrs):
    seq = _sequence("ConcatFromSequence", inputs[0])
    if not seq:
        raise ValueError("ConcatFromSequence: the sequence is empty")
    if "axis" not in attrs:
        raise ValueError("ConcatFromSequence: attribute axis is required")
    axis = int(attrs["axis"])
    new_axis = attrs.get("new_axis", 0)
    rank = seq[0].ndim + (1 if new_axis else 0)
    if not -rank <= axis < rank:
        raise ValueError(f"ConcatFromSequence: axis {axis} is out of range for rank {rank}")
    try:
        out = np.stack(seq, axis=axis) if new_axis else np.concatenate(seq, axis=axis)
    except ValueError as e:
        raise ValueError(f"ConcatFromSequence: {e}") from None
    # numpy drops a widened type's dtype tag when joining; put it back
    return out.view(seq[0].dtype) if out.dtype == seq[0].dtype else out


@kernel("SequenceMap", since=17)
def sequence_map(ctx, inputs, attrs):
    seq = _sequence("SequenceMap", inputs[0])
    n = len(seq)
    for i, x in enumerate(inputs[1:], start=1):
        if isinstance(x, list) and len(x) != n:
            raise ValueError(f"SequenceMap: input {i} has {len(x)} elements, the first has {n}")
    results = [[] for _ in range(ctx.num_outputs)]
    for j in range(n):
        args = [x[j] if isinstance(x, list) else x for x in inputs]
        outs = list(ctx.run_graph(attrs["body"], args, ctx.outer_scope))
        if len(outs) != ctx.num_outputs:
            raise ValueError(f"SequenceMap: body returned {len(outs)} outputs, expected {ctx.num_outputs}")
        for acc, v in zip(results, outs):
            acc.append(v)
    return results


@kernel("Optional", since=15)
def optional(ctx, inputs, attrs):
    # without an input, the type attribute only types the empty optional
    return [inputs[0] if inputs else None]


@kernel("OptionalGetElement", since=15)
def optional_get_element(ctx, inputs, attrs):
    if not inputs or inputs[0] is None:
        raise ValueError("OptionalGetElement: the optional is empty")
    return [inputs[0]]


@kernel("OptionalHasElement", since=15)
def optional_has_element(ctx, inputs, attrs):
    return np.array(bool(inputs) and inputs[0] is not None)
