"""What the kernel families share: shapes, strides and broadcasting on the host, and
reading shape-like inputs (the values of small host-known tensors)."""
from __future__ import annotations

import numpy as np

from ..shaders import F32, I32, U32, Program
from ..tensor import COMPUTE_TYPE, GPUTensor

MAX_RANK = 8  # dimensions the index helpers take (uniform arrays of 8)


def backend_of(inputs):
    for t in inputs:
        if isinstance(t, GPUTensor):
            return t.backend
    raise ValueError("webgpu: a kernel got no GPU tensor among its inputs")


def present(inputs, i: int):
    """Input i, or None when omitted (absent, empty name or an empty optional)."""
    return inputs[i] if len(inputs) > i and inputs[i] is not None else None


def host(op: str, t, what: str) -> np.ndarray:
    """The values of a shape-like input, known on the host (see GPUTensor.known)."""
    if t is None:
        return None
    if isinstance(t, np.ndarray):
        return t
    if t.known is None:
        raise ValueError(
            f"{op}: the webgpu kernel reads its {what} input on the host, but that value was "
            f"computed on the GPU from tensor data (a data-dependent shape); place this node "
            f"on a CPU provider (providers=['webgpu', 'numpy'])")
    return np.asarray(t.known)


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
        raise ValueError(f"webgpu: tensors of more than {MAX_RANK} (merged) dimensions are not supported")
    return [n for n, _ in merged], [[st[i] for _, st in merged] for i in range(len(stride_lists))]


def compute_kind(kind: str) -> str:
    """The compute family of a kind: "f" (f32), "i" (i32) or "u" (u32)."""
    return {"f32": "f", "i32": "i", "u32": "u"}[COMPUTE_TYPE[kind]]


def elementwise_program(file: str, tensors, params, subst=(), libs=()) -> Program:
    return Program(file, tuple(tensors), tuple(params), tuple(subst), 64, tuple(libs))


def float_bits(value: float) -> int:
    return int(np.array(value, np.float32).view(np.uint32))


def value_words(value, dtype) -> tuple[int, int]:
    """The (low, high) words of one element of ``dtype`` as the GPU holds it."""
    from ..tensor import to_gpu_words  # noqa: PLC0415

    words = to_gpu_words(np.asarray([value], dtype=dtype)).view(np.uint32)
    return int(words[0]), int(words[1]) if words.size > 1 else 0


__all__ = ["F32", "I32", "U32", "MAX_RANK", "Program", "backend_of", "present", "host",
           "strides", "broadcast_shape", "broadcast_strides", "coalesce",
           "compute_kind", "elementwise_program", "float_bits", "value_words"]
