"""Tensors in WebGL2 float textures, and how each element type is held there.

Packing: every tensor is an RGBA32F texture holding its elements in flat (row-major)
order, four to a texel: texel ``t`` holds elements ``4t .. 4t+3`` in r, g, b, a, and
texel ``t`` sits at ``(t % width, t / width)`` of its texture, whose width is a power of
two (device.py), so shaders find it with a mask and a shift.  Why:

* a fragment shader computes one texel, so it writes four consecutive elements: a
  4M-element multiply-exp took about 30 ms a draw this way against 60 ms with one
  element a texel (R32F) on this project's SwiftShader, and a fetch brings in four values;
* the flat order is the tensor's own, so Reshape, Flatten, Squeeze and Unsqueeze are
  free (another shape over the same texture), and any texture with enough texels can
  hold any tensor (the pool reuses them across shapes);
* inner loops of MatMul, Conv and the row reductions read whole texels where a row is a
  multiple of four long (kernels pick those variants; others read element by element).

Element types ("kinds") and how they are held; every value is a float32 in a texel:

    f32   float32
    f16   float16: computed in float32, rounded to float16 at every store, so each op's
          result is what float16 arithmetic gives
    int   int32, int64, uint32, uint64: exact integers up to 2**24 (16777216) in
          magnitude, the integers float32 holds exactly.  A host tensor of these types is
          checked when it is written to a texture, and one with a larger value is refused
          with an error naming it (token ids, Gather indices and shape values are far
          below; int64 shape arithmetic such as Slice's INT64_MAX ends never reaches a
          texture: it stays on the host, see GLTensor.host)
    i8 u8 i16 u16   the narrow integers: wrap to their width at every store
    bool  0.0 or 1.0

float64, strings, complex numbers and the widened types (bfloat16, float8 ...) are not
held: nodes using them are declined at load.
"""
from __future__ import annotations

import numpy as np

from ... import dtypes

EXACT_INT = 1 << 24  # |integers| float32 holds exactly

_KINDS = {
    np.dtype(np.float32): "f32", np.dtype(np.float16): "f16",
    np.dtype(np.int32): "int", np.dtype(np.int64): "int",
    np.dtype(np.uint32): "int", np.dtype(np.uint64): "int",
    np.dtype(np.int8): "i8", np.dtype(np.uint8): "u8",
    np.dtype(np.int16): "i16", np.dtype(np.uint16): "u16",
    np.dtype(np.bool_): "bool",
}
FLOATS = frozenset({"f32", "f16"})
INTEGERS = frozenset({"int", "i8", "u8", "i16", "u16"})
NUMERIC = FLOATS | INTEGERS
ALL = NUMERIC | {"bool"}

# ONNX element types a texture holds
ONNX_KINDS = {dtypes.FLOAT: "f32", dtypes.FLOAT16: "f16", dtypes.INT32: "int",
              dtypes.INT64: "int", dtypes.UINT32: "int", dtypes.UINT64: "int",
              dtypes.INT8: "i8", dtypes.UINT8: "u8", dtypes.INT16: "i16",
              dtypes.UINT16: "u16", dtypes.BOOL: "bool"}


def kind_of(dtype) -> str:
    try:
        return _KINDS[np.dtype(dtype)]
    except (KeyError, TypeError):
        raise ValueError(f"webgl: tensors of element type {dtype} cannot be held in a WebGL2 "
                         f"float texture (held: {sorted(str(d) for d in _KINDS)})") from None


def texels(count: int) -> int:
    """Texels for ``count`` elements (at least one: a texture is never empty)."""
    return max(1, -(-int(count) // 4))


def to_texel_data(array: np.ndarray, capacity: int) -> np.ndarray:
    """The float32 values of ``array`` padded to ``capacity`` texels (4 floats each),
    after checking that integers fit float32 exactly."""
    kind = kind_of(array.dtype)
    if dtypes.widened_type(array) is not None:
        raise ValueError(f"webgl: {dtypes.name(dtypes.widened_type(array))} tensors are not held "
                         "in WebGL2 textures")
    if kind == "int" and array.size:
        low, high = int(array.min()), int(array.max())
        if high > EXACT_INT or low < -EXACT_INT:
            bad = high if high > EXACT_INT else low
            raise ValueError(
                f"webgl: a {array.dtype} tensor of shape {list(array.shape)} holds {bad}, beyond "
                f"+-2**24 ({EXACT_INT}): WebGL2 float textures hold integers exactly only up to "
                "2**24; run this model on another provider (wasm, numpy)")
    out = np.zeros(4 * capacity, np.float32)
    out[: array.size] = array.reshape(-1)
    return out


def from_texel_data(values: np.ndarray, dtype, shape) -> np.ndarray:
    """Host array of ``dtype`` from the floats read back from a texture."""
    count = int(np.prod(shape, dtype=np.int64))
    flat = values[:count]
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        out = flat != 0
    elif dtype.kind in "iu":
        out = np.rint(flat).astype(dtype)
    else:
        out = flat.astype(dtype)
    return out.reshape(shape)


class Texture:
    """One RGBA32F texture and who holds it.  ``refs`` counts the live tensors on it
    (views share their source's texture); it goes back to its owner (a memory-plan slot
    or the pool's free list) when the last is released."""

    __slots__ = ("handle", "width", "height", "refs", "id", "slot", "resident", "last_run")

    def __init__(self, handle, width: int, height: int, ident: int):
        self.handle = handle  # the JS WebGLTexture
        self.width = width
        self.height = height
        self.refs = 0
        self.id = ident
        self.slot = None  # the memory-plan slot it serves, if any
        self.resident = False  # a weight's or a kept output's: never recycled
        self.last_run = 0  # the run that last used it (the pool drops long-idle ones)

    @property
    def capacity(self) -> int:
        return self.width * self.height

    @property
    def nbytes(self) -> int:
        return 16 * self.capacity

    def rows(self, count: int) -> int:
        """Rows that hold the first ``count`` elements."""
        return -(-texels(count) // self.width)


class GLTensor:
    """A tensor of a session's WebGL backend.

    ``texture`` holds its data on the GPU; it is None while the values exist only on the
    host (``host``): a tensor uploaded from the host is written to a texture when a
    shader first reads it, and shape values (Shape's output, small integer constants and
    what is computed from those alone) usually never are.  ``host`` is also what kernels
    read shape-like inputs from (Reshape's shape, Slice's starts ...).  ``meta`` marks
    those shape values.  A tensor handed to the caller (preferred_output_location
    "gpu-buffer") is freed by ``dispose()`` or when its session closes.
    """

    __slots__ = ("backend", "shape", "dtype", "texture", "host", "meta", "constant", "live")

    def __init__(self, backend, shape, dtype, texture: Texture | None = None, host=None,
                 meta: bool = False, constant: bool = False):
        self.backend = backend
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.texture = texture
        self.host = host
        self.meta = meta
        self.constant = constant  # a weight, resident for the session: release() skips it
        self.live = True
        if texture is not None:
            texture.refs += 1

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def kind(self) -> str:
        return kind_of(self.dtype)

    def __repr__(self) -> str:
        where = "host" if self.texture is None else f"texture {self.texture.id}"
        return f"GLTensor(shape={list(self.shape)}, dtype={self.dtype}, {where})"

    async def numpy(self) -> np.ndarray:
        """Read the tensor back."""
        return (await self.backend.download([self]))[0]

    def dispose(self) -> None:
        """Free a tensor handed to the caller; later use is an error."""
        self.backend.release(self)
