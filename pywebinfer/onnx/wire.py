"""Protocol-buffer wire format, read without the protobuf library.

Only what ONNX needs: varints, fixed 32/64-bit values and length-delimited fields.
Every read is bounds-checked against the enclosing message, so a malformed file fails
with :class:`ModelError` carrying the byte offset, never reads past its end, never
allocates more than the file's own size and never loops without consuming bytes.
"""
from __future__ import annotations

from ..errors import ModelError

VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5
MAX_DEPTH = 64  # nested messages (subgraphs inside subgraphs ...)


class Field:
    """One field occurrence: number, wire type, value, and where it sits in the buffer.

    For LENGTH fields ``value`` is (start, end) absolute offsets into the buffer; for
    VARINT it is the unsigned integer; for FIXED32/FIXED64 the start offset.
    """

    __slots__ = ("number", "wire_type", "value", "offset")

    def __init__(self, number: int, wire_type: int, value, offset: int):
        self.number = number
        self.wire_type = wire_type
        self.value = value
        self.offset = offset


def read_varint(buf, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    start = pos
    while True:
        if pos >= end:
            raise ModelError("truncated varint", start)
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ModelError("varint longer than 10 bytes", start)


def iter_fields(buf, start: int, end: int):
    """Yield the fields of the message occupying buf[start:end]."""
    pos = start
    while pos < end:
        field_offset = pos
        key, pos = read_varint(buf, pos, end)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ModelError("field number 0 is invalid", field_offset)
        if wire_type == VARINT:
            value, pos = read_varint(buf, pos, end)
        elif wire_type == LENGTH:
            length, pos = read_varint(buf, pos, end)
            if length > end - pos:
                raise ModelError(
                    f"field {number} claims {length} bytes but only {end - pos} remain",
                    field_offset,
                )
            value = (pos, pos + length)
            pos += length
        elif wire_type == FIXED32:
            if pos + 4 > end:
                raise ModelError(f"truncated 32-bit field {number}", field_offset)
            value = pos
            pos += 4
        elif wire_type == FIXED64:
            if pos + 8 > end:
                raise ModelError(f"truncated 64-bit field {number}", field_offset)
            value = pos
            pos += 8
        else:
            raise ModelError(f"unsupported wire type {wire_type} in field {number}", field_offset)
        yield Field(number, wire_type, value, field_offset)


def signed64(value: int) -> int:
    """Reinterpret an unsigned varint as int64 (how protobuf encodes negative ints)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def read_packed_varints(buf, start: int, end: int) -> list[int]:
    out = []
    pos = start
    while pos < end:
        v, pos = read_varint(buf, pos, end)
        out.append(v)
    return out
