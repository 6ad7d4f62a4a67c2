"""Tensors in GPU buffers, and how each element type is laid out there.

Every buffer is an ``array<u32>`` to the shaders: an element is one 32-bit word, or two
for the 64-bit types (little-endian low word first, as numpy lays them out, so int64
data moves between host and GPU byte for byte).  Types narrower than 32 bits are
widened to a word on upload and narrowed back on download; float16 is held as f32
(this adapter has no shader-f16) and rounded to float16 at every store, so each op's
result is what a float16 computation gives.

The "kind" of a type selects the load/store helpers the shaders get (shaders.py):

    f32   float32                  i32  int32, int16, int8   (stores wrap to the width)
    f16   float16, held as f32     u32  uint32, uint16, uint8, bool
    i64   int64: arithmetic on the low word (values within int32 range); data moves exactly
    u64   uint64: likewise, values within uint32 range
    f64   float64: data movement only (WGSL has no f64)
"""
from __future__ import annotations

import numpy as np

from ... import dtypes

# numpy dtype -> (kind, words per element, numpy dtype of the words on the GPU)
_LAYOUT = {
    np.dtype(np.float32): ("f32", 1, np.float32),
    np.dtype(np.float16): ("f16", 1, np.float32),
    np.dtype(np.int32): ("i32", 1, np.int32),
    np.dtype(np.int16): ("i16", 1, np.int32),
    np.dtype(np.int8): ("i8", 1, np.int32),
    np.dtype(np.uint32): ("u32", 1, np.uint32),
    np.dtype(np.uint16): ("u16", 1, np.uint32),
    np.dtype(np.uint8): ("u8", 1, np.uint32),
    np.dtype(np.bool_): ("bool", 1, np.uint32),
    np.dtype(np.int64): ("i64", 2, np.int64),
    np.dtype(np.uint64): ("u64", 2, np.uint64),
    np.dtype(np.float64): ("f64", 2, np.float64),
}

# the WGSL type a kernel computes in for each kind
COMPUTE_TYPE = {"f32": "f32", "f16": "f32", "i32": "i32", "i16": "i32", "i8": "i32",
                "u32": "u32", "u16": "u32", "u8": "u32", "bool": "u32", "i64": "i32",
                "u64": "u32", "f64": ""}

FLOATS = frozenset({"f32", "f16"})
SIGNED = frozenset({"i32", "i16", "i8", "i64"})
UNSIGNED = frozenset({"u32", "u16", "u8", "u64"})
INTEGERS = SIGNED | UNSIGNED
NUMERIC = FLOATS | INTEGERS
ALL = NUMERIC | {"bool", "f64"}

# ONNX element types the backend holds (others are declined at load)
ONNX_KINDS = {dtypes.FLOAT: "f32", dtypes.FLOAT16: "f16", dtypes.INT32: "i32",
              dtypes.INT16: "i16", dtypes.INT8: "i8", dtypes.UINT32: "u32",
              dtypes.UINT16: "u16", dtypes.UINT8: "u8", dtypes.BOOL: "bool",
              dtypes.INT64: "i64", dtypes.UINT64: "u64", dtypes.DOUBLE: "f64"}


def layout(dtype) -> tuple[str, int, type]:
    """(kind, words per element, GPU word dtype) of a numpy dtype; ValueError if none."""
    try:
        return _LAYOUT[np.dtype(dtype)]
    except (KeyError, TypeError):
        raise ValueError(f"webgpu: tensors of element type {dtype} cannot be held on the GPU "
                         f"(supported: {sorted(str(d) for d in _LAYOUT)})") from None


def to_gpu_words(array: np.ndarray) -> np.ndarray:
    """The array as the contiguous words the GPU holds (a view where no widening is needed)."""
    if dtypes.widened_type(array) is not None:
        raise ValueError(f"webgpu: {dtypes.name(dtypes.widened_type(array))} tensors are not "
                         "supported on the GPU")
    _, _, word_dtype = layout(array.dtype)
    return np.ascontiguousarray(array, dtype=word_dtype)


def from_gpu_words(raw: np.ndarray, dtype, shape) -> np.ndarray:
    """Host array of ``dtype`` from the GPU words (``raw``: uint8 bytes, at least enough)."""
    _, _, word_dtype = layout(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    words = raw[: count * np.dtype(word_dtype).itemsize].view(word_dtype)
    if np.dtype(dtype) == np.bool_:
        out = words != 0
    elif np.dtype(word_dtype) == np.dtype(dtype):
        out = words.copy() if not words.flags.owndata else words
    else:
        out = words.astype(dtype)
    return out.reshape(shape)


def gpu_nbytes(dtype, count: int) -> int:
    """Bytes the GPU uses for ``count`` elements: at least one word (a binding cannot be
    empty), rounded up to whole words."""
    _, words, _ = layout(dtype)
    return max(4, 4 * words * int(count))


class Storage:
    """One GPU buffer and who holds it.  ``refs`` counts the live tensors on it (views
    share their source's storage); it goes back to its owner (a memory-plan slot or the
    pool's free list) when the last is released."""

    __slots__ = ("buffer", "nbytes", "refs", "owner", "id", "constant", "slot")

    def __init__(self, buffer, nbytes: int, owner, ident: int, constant: bool = False):
        self.buffer = buffer  # the JS GPUBuffer
        self.nbytes = nbytes
        self.refs = 0
        self.owner = owner  # the pool that made it
        self.id = ident  # stable key for bind-group caches
        self.constant = constant  # resident for the session (weights): never recycled
        self.slot = None  # the memory-plan slot it serves, if any


class GPUTensor:
    """A tensor whose data lives in a GPU buffer of a session's WebGPU backend.

    ``known`` holds the values on the host too when they are known there without a
    readback (small tensors uploaded from the host, Shape's output and small results
    computed from such values): kernels read shape-like inputs (Reshape's shape, Slice's
    starts ...) from it.  Tensors handed to the caller (preferred_output_location
    "gpu-buffer") are freed by ``dispose()`` or when their session closes.
    """

    __slots__ = ("backend", "shape", "dtype", "storage", "known", "constant", "_pending", "_live")

    def __init__(self, backend, shape, dtype, storage: Storage | None, known=None,
                 constant: bool = False):
        self.backend = backend
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.storage = storage
        self.known = known
        self.constant = constant  # a resident weight: release() leaves it alone
        self._pending = None  # host data to upload when a shader first binds the tensor
        self._live = True
        if storage is not None:
            storage.refs += 1

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def kind(self) -> str:
        return layout(self.dtype)[0]

    @property
    def words_per_element(self) -> int:
        return layout(self.dtype)[1]

    def __repr__(self) -> str:
        where = "host-known" if self.storage is None else f"buffer {self.storage.id}"
        return f"GPUTensor(shape={list(self.shape)}, dtype={self.dtype}, {where})"

    async def numpy(self) -> np.ndarray:
        """Read the tensor back (awaits the GPU)."""
        return (await self.backend.download([self]))[0]

    def dispose(self) -> None:
        """Free a tensor handed to the caller (a kept output); later use is an error."""
        self.backend.release(self)
