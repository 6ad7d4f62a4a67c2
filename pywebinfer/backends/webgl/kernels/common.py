"""What the kernel families share: shapes, strides and broadcasting on the host, and
reading shape-like inputs."""
from __future__ import annotations

import math

import numpy as np

from ..shaders import FLOAT, INT, Program
from ..tensor import FLOATS, GLTensor

MAX_RANK = 8  # dimensions the generated index helpers take


def backend_of(inputs):
    for t in inputs:
        if isinstance(t, GLTensor):
            return t.backend
    raise ValueError("webgl: a kernel got no WebGL tensor among its inputs")


def present(inputs, i: int):
    """Input i, or None when omitted (absent, empty name or an empty optional)."""
    return inputs[i] if len(inputs) > i and inputs[i] is not None else None


def host(t) -> np.ndarray | None:
    """The values of a shape-like input (its host copy, or read back)."""
    if t is None:
        return None
    return t.backend.values(t)


def host_ints(t) -> list[int] | None:
    values = host(t)
    return None if values is None else [int(v) for v in np.asarray(values).reshape(-1)]


def host_scalar(t, default=None):
    values = host(t)
    if values is None or values.size == 0:
        return default
    return values.reshape(-1)[0].item()


def strides(shape) -> list[int]:
    out = [1] * len(shape)
    for k in range(len(shape) - 2, -1, -1):
        out[k] = out[k + 1] * int(shape[k + 1])
    return out


def broadcast_shape(op: str, *shapes) -> tuple:
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        raise ValueError(f"{op}: shapes {[list(s) for s in shapes]} cannot be broadcast together") from None


def broadcast_strides(shape, out_shape) -> list[int]:
    """Strides of a contiguous tensor of ``shape`` read at ``out_shape``'s coordinates
    (right-aligned, 0 along broadcast dimensions)."""
    full = [1] * (len(out_shape) - len(shape)) + list(shape)
    st = strides(full)
    return [0 if d == 1 and o != 1 else s for d, s, o in zip(full, st, out_shape)]


def coalesce(out_shape, *stride_lists) -> tuple[list[int], list[list[int]]]:
    """Merge neighbouring dimensions that every operand walks contiguously (and drop
    size-1 ones), so equal shapes index with rank 1.  Returns (shape, strides lists)."""
    dims = [(int(n), [int(s[k]) for s in stride_lists]) for k, n in enumerate(out_shape) if n != 1]
    merged: list = []
    for n, st in dims:
        if merged:
            pn, pst = merged[-1]
            if all(p == s * n for p, s in zip(pst, st)):
                merged[-1] = (pn * n, st)
                continue
        merged.append((n, st))
    if not merged:
        merged = [(1, [0] * len(stride_lists))]
    if len(merged) > MAX_RANK:
        raise ValueError(f"webgl: tensors of more than {MAX_RANK} (merged) dimensions are not supported")
    return [n for n, _ in merged], [[st[i] for _, st in merged] for i in range(len(stride_lists))]


def access_of(shape, out_shape) -> str:
    """How an operand of ``shape`` is read at the output's texels (shaders.py)."""
    if tuple(shape) == tuple(out_shape):
        return "same"
    if math.prod(shape) == 1:
        return "scalar"
    return "bcast"


def mapped_inputs(op: str, tensors, out_shape, names=None):
    """(inputs spec, rank, parameter values) for operands read elementwise at the
    output's coordinates with numpy broadcasting."""
    names = names or [f"X{i}" for i in range(len(tensors))]
    modes = [access_of(t.shape, out_shape) for t in tensors]
    params: dict = {}
    rank = 0
    if "bcast" in modes:
        bstrides = [broadcast_strides(t.shape, out_shape) for t in tensors]
        shape, merged = coalesce(out_shape, *bstrides)
        rank = len(shape)
        params["oshape"] = shape
        for name, mode, st in zip(names, modes, merged):
            if mode == "bcast":
                params[f"{name}_bstride"] = st
    return tuple(zip(names, modes)), rank, params


def is_float(kind: str) -> bool:
    return kind in FLOATS


def normalize_axis(op: str, axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"{op}: axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


__all__ = ["FLOAT", "INT", "MAX_RANK", "Program", "backend_of", "present", "host", "host_ints",
           "host_scalar", "strides", "broadcast_shape", "broadcast_strides", "coalesce",
           "access_of", "mapped_inputs", "is_float", "normalize_axis"]
