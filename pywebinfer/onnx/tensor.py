"""TensorProto -> numpy, for every ONNX element type.

raw_data becomes a numpy view of the model's bytes when its alignment allows (no copy);
the typed fields (float_data, int32_data, ...) are decoded with numpy in one step each.
The element count is checked against the payload size *before* anything is allocated, so
a corrupt dims field cannot make the reader allocate more than the file holds.
"""
from __future__ import annotations

import os

import numpy as np

from .. import dtypes as T
from ..errors import ModelError
from . import wire

# bits per element of the sub-byte types, packed low bits first
_SUBBYTE_BITS = {T.INT4: 4, T.UINT4: 4, T.FLOAT4E2M1: 4, T.INT2: 2, T.UINT2: 2}
# raw little-endian layout of each type whose storage is not what raw_data holds
_RAW_CARRIER = {T.BFLOAT16: np.uint16, T.FLOAT8E4M3FN: np.uint8, T.FLOAT8E4M3FNUZ: np.uint8,
                T.FLOAT8E5M2: np.uint8, T.FLOAT8E5M2FNUZ: np.uint8, T.FLOAT8E8M0: np.uint8}


def _float8_table(exp_bits: int, mant_bits: int, bias: int, kind: str) -> np.ndarray:
    """float32 value of each of the 256 bit patterns of a float8 format."""
    table = np.empty(256, dtype=np.float32)
    for b in range(256):
        sign = -1.0 if b & 0x80 else 1.0
        e = (b >> mant_bits) & ((1 << exp_bits) - 1)
        m = b & ((1 << mant_bits) - 1)
        if kind == "uz" and b == 0x80:
            table[b] = np.nan
            continue
        if kind == "fn" and e == (1 << exp_bits) - 1 and m == (1 << mant_bits) - 1:
            table[b] = np.nan
            continue
        if kind == "ieee" and e == (1 << exp_bits) - 1:
            table[b] = sign * np.inf if m == 0 else np.nan
            continue
        if e == 0:
            v = m / (1 << mant_bits) * 2.0 ** (1 - bias)
        else:
            v = (1 + m / (1 << mant_bits)) * 2.0 ** (e - bias)
        table[b] = sign * v
    return table


_F8_TABLES: dict[int, np.ndarray] = {}


def _f8_table(t: int) -> np.ndarray:
    if t not in _F8_TABLES:
        if t == T.FLOAT8E8M0:
            table = np.exp2(np.arange(256, dtype=np.float64) - 127).astype(np.float32)
            table[255] = np.nan
            _F8_TABLES[t] = table
        else:
            params = {T.FLOAT8E4M3FN: (4, 3, 7, "fn"), T.FLOAT8E4M3FNUZ: (4, 3, 8, "uz"),
                      T.FLOAT8E5M2: (5, 2, 15, "ieee"), T.FLOAT8E5M2FNUZ: (5, 2, 16, "uz")}[t]
            _F8_TABLES[t] = _float8_table(*params)
    return _F8_TABLES[t]


_F4_VALUES = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6],
                      dtype=np.float32)


def widen_bits(bits: np.ndarray, t: int) -> np.ndarray:
    """Values of a narrow type given its bit patterns (any unsigned int array)."""
    if t == T.BFLOAT16:
        return (bits.astype(np.uint32) << 16).view(np.float32)
    if t in _RAW_CARRIER:
        return _f8_table(t)[bits.astype(np.uint8)]
    if t == T.FLOAT4E2M1:
        return _F4_VALUES[bits & 0xF]
    if t in (T.INT4, T.INT2):
        width = _SUBBYTE_BITS[t]
        v = (bits.astype(np.int16) & ((1 << width) - 1))
        return np.where(v >= 1 << (width - 1), v - (1 << width), v).astype(np.int8)
    if t in (T.UINT4, T.UINT2):
        return (bits & ((1 << _SUBBYTE_BITS[t]) - 1)).astype(np.uint8)
    raise ValueError(f"not a narrow type: {T.name(t)}")


def _unpack_subbyte(packed: np.ndarray, t: int, count: int) -> np.ndarray:
    width = _SUBBYTE_BITS[t]
    per_byte = 8 // width
    shifts = np.arange(per_byte, dtype=np.uint8) * width
    parts = (packed[:, None] >> shifts[None, :]) & ((1 << width) - 1)
    return widen_bits(parts.reshape(-1)[:count], t)


def _count(dims) -> int:
    n = 1
    for d in dims:
        if d < 0:
            raise ValueError(f"negative dimension {d}")
        n *= d
    return n


def _payload_bytes(t: int, count: int) -> int:
    if t in _SUBBYTE_BITS:
        per_byte = 8 // _SUBBYTE_BITS[t]
        return (count + per_byte - 1) // per_byte
    if t in _RAW_CARRIER:
        return count * np.dtype(_RAW_CARRIER[t]).itemsize
    return count * T.storage_dtype(t).itemsize


def _from_raw(raw, t: int, count: int, where: int) -> np.ndarray:
    expected = _payload_bytes(t, count)
    if len(raw) != expected:
        raise ModelError(
            f"tensor raw_data holds {len(raw)} bytes, its dims and type ({T.name(t)}) need {expected}",
            where,
        )
    if t in _SUBBYTE_BITS:
        return _unpack_subbyte(np.frombuffer(raw, dtype=np.uint8), t, count)
    if t in _RAW_CARRIER:
        return widen_bits(np.frombuffer(raw, dtype=np.dtype(_RAW_CARRIER[t]).newbyteorder("<")), t)
    dt = T.storage_dtype(t).newbyteorder("<")
    arr = np.frombuffer(raw, dtype=dt)
    if not arr.flags.aligned:  # a misaligned view would slow every kernel that reads it
        arr = arr.copy()
    return arr.astype(dt.newbyteorder("="), copy=False)


def _packed(tp, spans, dtype, where) -> np.ndarray:
    """Concatenate the packed payloads of a repeated numeric field."""
    buf = tp._buf
    chunks = [np.frombuffer(buf, dtype=dtype, count=(e - s) // np.dtype(dtype).itemsize, offset=s)
              for s, e in spans if (e - s) % np.dtype(dtype).itemsize == 0]
    if len(chunks) != len(spans):
        raise ModelError("packed tensor field length is not a multiple of its element size", where)
    return np.concatenate(chunks) if len(chunks) != 1 else chunks[0]


def _varints(tp, spans, signed: bool) -> np.ndarray:
    values = []
    for s, e in spans:
        values.extend(wire.read_packed_varints(tp._buf, s, e))
    if signed:
        return np.array([wire.signed64(v) for v in values], dtype=np.int64)
    return np.array(values, dtype=np.uint64)


def to_numpy(tp, base_dir: str | None = None, where: int = 0) -> np.ndarray:
    """Decode a TensorProto into a numpy array (widened for narrow types)."""
    t = tp.data_type
    if t not in T.NAMES:
        raise ModelError(f"tensor {tp.name!r} has unknown data type {t}", where)
    try:
        shape = tuple(int(d) for d in tp.dims)
        count = _count(shape)
    except ValueError as e:
        raise ModelError(f"tensor {tp.name!r}: {e}", where) from None
    if tp.data_location == 1:
        arr = _external(tp, t, count, base_dir, where)
    elif tp.raw_data is not None:
        s, e = tp.raw_data
        arr = _from_raw(memoryview(tp._buf)[s:e], t, count, where)
    elif t == T.STRING:
        arr = np.empty(len(tp.string_data), dtype=object)
        for i, b in enumerate(tp.string_data):
            try:
                arr[i] = b.decode("utf-8")
            except UnicodeDecodeError:
                arr[i] = b
    else:
        arr = _typed_fields(tp, t, count, where)
    if arr.size != count:
        raise ModelError(
            f"tensor {tp.name!r} has {arr.size} values but its dims {list(shape)} need {count}", where
        )
    if t in T.WIDENED:  # tag the storage with the ONNX type (see dtypes.py)
        arr = arr.view(T.storage_dtype(t))
    return arr.reshape(shape)


def _typed_fields(tp, t, count, where):
    if t in (T.FLOAT, T.COMPLEX64):
        arr = _packed(tp, tp.float_data, "<f4", where) if tp.float_data else np.zeros(0, np.float32)
        return arr.astype(np.float32).view(np.complex64) if t == T.COMPLEX64 else arr.astype(np.float32)
    if t in (T.DOUBLE, T.COMPLEX128):
        arr = _packed(tp, tp.double_data, "<f8", where) if tp.double_data else np.zeros(0, np.float64)
        return arr.astype(np.float64).view(np.complex128) if t == T.COMPLEX128 else arr.astype(np.float64)
    if t == T.INT64:
        return _varints(tp, tp.int64_data, signed=True)
    if t in (T.UINT32, T.UINT64):
        return _varints(tp, tp.uint64_data, signed=False).astype(T.storage_dtype(t))
    # everything else travels in int32_data, one element (or a packed byte) per entry
    vals = _varints(tp, tp.int32_data, signed=True)
    if t == T.FLOAT16:
        return vals.astype(np.uint16).view(np.float16)
    if t in _RAW_CARRIER:
        return widen_bits(vals.astype(np.uint16 if t == T.BFLOAT16 else np.uint8), t)
    if t in _SUBBYTE_BITS:
        return _unpack_subbyte(vals.astype(np.uint8), t, count)
    return vals.astype(T.storage_dtype(t))


def _external(tp, t, count, base_dir, where):
    info = {e.key: e.value for e in tp.external_data}
    location = info.get("location")
    if not location:
        raise ModelError(f"tensor {tp.name!r} is stored externally but names no location", where)
    if base_dir is None:
        raise ModelError(
            f"tensor {tp.name!r} is stored in external file {location!r}; load the model from a "
            "path so that the file can be found beside it", where)
    # the location must stay inside the model's directory
    norm = os.path.normpath(location)
    if os.path.isabs(norm) or norm.startswith(".."):
        raise ModelError(f"tensor {tp.name!r}: external data location {location!r} leaves the model directory", where)
    path = os.path.join(base_dir, norm)
    try:
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else None
    except ValueError:
        raise ModelError(f"tensor {tp.name!r}: bad external data offset/length {info}", where) from None
    try:
        size = os.path.getsize(path)
    except OSError:
        raise ModelError(f"tensor {tp.name!r}: external data file {path!r} not found", where) from None
    need = _payload_bytes(t, count) if length is None else length
    if offset < 0 or offset + need > size:
        raise ModelError(
            f"tensor {tp.name!r}: external data {location!r} has {size} bytes, "
            f"offset {offset} + length {need} is past its end", where)
    with open(path, "rb") as f:
        f.seek(offset)
        raw = f.read(need)
    return _from_raw(raw, t, count, where)
