"""ONNX protobuf messages, decoded by a small declarative schema.

Each message class lists its fields as ``number: (attribute, kind, repeated)``.  Kinds:
``int`` (varint as int64), ``enum`` (varint as int32), ``str`` (UTF-8), ``bytes``,
``float`` (fixed32), ``span`` (the field's (start, end) in the buffer, decoded later
without copying, e.g. tensor payloads), ``ints`` (packed or unpacked int64),
``floats`` (packed or unpacked float32) or a message class.

Unknown fields are skipped, as protobuf requires, so models from newer exporters load.
"""
from __future__ import annotations

import struct

from ..errors import ModelError
from . import wire

_FLOAT = struct.Struct("<f")


class Message:
    FIELDS: dict = {}
    __slots__ = ("_buf",)

    def __init__(self, **kw):
        for number, (attr, kind, repeated) in self.FIELDS.items():
            setattr(self, attr, [] if repeated else _DEFAULTS.get(kind))
        for k, v in kw.items():
            setattr(self, k, v)

    def __repr__(self):
        shown = {f[0]: getattr(self, f[0]) for f in self.FIELDS.values() if getattr(self, f[0]) not in (None, [], "")}
        return f"{type(self).__name__}({shown})"


_DEFAULTS = {"opt_int": None, "int": 0, "enum": 0, "str": "", "bytes": b"", "float": 0.0, "span": None}


def _decode_str(buf, start, end, offset):
    try:
        return bytes(buf[start:end]).decode("utf-8")
    except UnicodeDecodeError:
        raise ModelError("string field is not valid UTF-8", offset) from None


def parse(cls, buf, start: int, end: int, depth: int = 0):
    """Decode buf[start:end] as a message of type ``cls``."""
    if depth > wire.MAX_DEPTH:
        raise ModelError(f"messages nested deeper than {wire.MAX_DEPTH} levels", start)
    msg = cls.__new__(cls)
    fields = cls.FIELDS
    for number, (attr, kind, repeated) in fields.items():
        object.__setattr__(msg, attr, [] if repeated else _DEFAULTS.get(kind))
    msg._buf = buf
    for f in wire.iter_fields(buf, start, end):
        spec = fields.get(f.number)
        if spec is None:
            continue
        attr, kind, repeated = spec
        value = _field_value(buf, f, kind, cls, depth)
        if repeated:
            if isinstance(value, list):
                getattr(msg, attr).extend(value)
            else:
                getattr(msg, attr).append(value)
        else:
            setattr(msg, attr, value)
    return msg


def _expect(f, wire_type, cls, kind):
    if f.wire_type != wire_type:
        raise ModelError(
            f"{cls.__name__} field {f.number} has wire type {f.wire_type}, expected {wire_type} for {kind}",
            f.offset,
        )


def _field_value(buf, f, kind, cls, depth):
    if kind in ("int", "enum", "opt_int"):
        _expect(f, wire.VARINT, cls, kind)
        return wire.signed32(f.value) if kind == "enum" else wire.signed64(f.value)
    if kind == "ints":
        if f.wire_type == wire.LENGTH:  # packed
            return [wire.signed64(v) for v in wire.read_packed_varints(buf, *f.value)]
        _expect(f, wire.VARINT, cls, kind)
        return wire.signed64(f.value)
    if kind == "floats":
        if f.wire_type == wire.LENGTH:
            start, end = f.value
            if (end - start) % 4:
                raise ModelError("packed float field length is not a multiple of 4", f.offset)
            return list(struct.unpack_from(f"<{(end - start) // 4}f", buf, start))
        _expect(f, wire.FIXED32, cls, kind)
        return _FLOAT.unpack_from(buf, f.value)[0]
    if kind == "float":
        _expect(f, wire.FIXED32, cls, kind)
        return _FLOAT.unpack_from(buf, f.value)[0]
    _expect(f, wire.LENGTH, cls, kind)
    start, end = f.value
    if kind == "str":
        return _decode_str(buf, start, end, f.offset)
    if kind == "bytes":
        return bytes(buf[start:end])
    if kind == "span":
        return (start, end)
    return parse(kind, buf, start, end, depth + 1)


# ---- the messages -------------------------------------------------------------------

class StringStringEntry(Message):
    FIELDS = {1: ("key", "str", False), 2: ("value", "str", False)}


class OperatorSetId(Message):
    FIELDS = {1: ("domain", "str", False), 2: ("version", "int", False)}


class Dimension(Message):
    # dim_value 0 is a real (empty) dimension, so absence must stay distinguishable
    FIELDS = {1: ("dim_value", "opt_int", False), 2: ("dim_param", "str", False),
              3: ("denotation", "str", False)}


class TensorShape(Message):
    FIELDS = {1: ("dim", Dimension, True)}


class Segment(Message):
    FIELDS = {1: ("begin", "int", False), 2: ("end", "int", False)}


class Tensor(Message):
    """TensorProto.  Payload fields are spans into the file, decoded by onnx.tensor."""

    FIELDS = {
        1: ("dims", "ints", True),
        2: ("data_type", "enum", False),
        3: ("segment", Segment, False),
        4: ("float_data", "span", True),
        5: ("int32_data", "span", True),
        6: ("string_data", "bytes", True),
        7: ("int64_data", "span", True),
        8: ("name", "str", False),
        12: ("doc_string", "str", False),
        9: ("raw_data", "span", False),
        13: ("external_data", StringStringEntry, True),
        14: ("data_location", "enum", False),
        10: ("double_data", "span", True),
        11: ("uint64_data", "span", True),
        16: ("metadata_props", StringStringEntry, True),
    }


class SparseTensor(Message):
    FIELDS = {1: ("values", Tensor, False), 2: ("indices", Tensor, False), 3: ("dims", "ints", True)}


class TypeProto(Message):
    FIELDS = {}  # filled below: it refers to itself


class TensorType(Message):
    FIELDS = {1: ("elem_type", "enum", False), 2: ("shape", TensorShape, False)}


class SequenceType(Message):
    FIELDS = {1: ("elem_type", TypeProto, False)}


class MapType(Message):
    FIELDS = {1: ("key_type", "enum", False), 2: ("value_type", TypeProto, False)}


class OptionalType(Message):
    FIELDS = {1: ("elem_type", TypeProto, False)}


TypeProto.FIELDS = {
    1: ("tensor_type", TensorType, False),
    4: ("sequence_type", SequenceType, False),
    5: ("map_type", MapType, False),
    9: ("optional_type", OptionalType, False),
    8: ("sparse_tensor_type", TensorType, False),
    6: ("denotation", "str", False),
}


class ValueInfo(Message):
    FIELDS = {1: ("name", "str", False), 2: ("type", TypeProto, False),
              3: ("doc_string", "str", False), 4: ("metadata_props", StringStringEntry, True)}


class Attribute(Message):
    FIELDS = {}  # filled below (refers to Graph)


class Node(Message):
    FIELDS = {
        1: ("input", "str", True),
        2: ("output", "str", True),
        3: ("name", "str", False),
        4: ("op_type", "str", False),
        7: ("domain", "str", False),
        8: ("overload", "str", False),
        5: ("attribute", Attribute, True),
        6: ("doc_string", "str", False),
        9: ("metadata_props", StringStringEntry, True),
    }


class Graph(Message):
    FIELDS = {
        1: ("node", Node, True),
        2: ("name", "str", False),
        5: ("initializer", Tensor, True),
        15: ("sparse_initializer", SparseTensor, True),
        10: ("doc_string", "str", False),
        11: ("input", ValueInfo, True),
        12: ("output", ValueInfo, True),
        13: ("value_info", ValueInfo, True),
        16: ("metadata_props", StringStringEntry, True),
    }


Attribute.FIELDS = {
    1: ("name", "str", False),
    21: ("ref_attr_name", "str", False),
    13: ("doc_string", "str", False),
    20: ("type", "enum", False),
    2: ("f", "float", False),
    3: ("i", "int", False),
    4: ("s", "bytes", False),
    5: ("t", Tensor, False),
    6: ("g", Graph, False),
    22: ("sparse_tensor", SparseTensor, False),
    14: ("tp", TypeProto, False),
    7: ("floats", "floats", True),
    8: ("ints", "ints", True),
    9: ("strings", "bytes", True),
    10: ("tensors", Tensor, True),
    11: ("graphs", Graph, True),
    23: ("sparse_tensors", SparseTensor, True),
    15: ("type_protos", TypeProto, True),
}


class Function(Message):
    FIELDS = {
        1: ("name", "str", False),
        4: ("input", "str", True),
        5: ("output", "str", True),
        6: ("attribute", "str", True),
        11: ("attribute_proto", Attribute, True),
        7: ("node", Node, True),
        8: ("doc_string", "str", False),
        9: ("opset_import", OperatorSetId, True),
        10: ("domain", "str", False),
        13: ("overload", "str", False),
        12: ("value_info", ValueInfo, True),
        14: ("metadata_props", StringStringEntry, True),
    }


class Model(Message):
    FIELDS = {
        1: ("ir_version", "int", False),
        8: ("opset_import", OperatorSetId, True),
        2: ("producer_name", "str", False),
        3: ("producer_version", "str", False),
        4: ("domain", "str", False),
        5: ("model_version", "int", False),
        6: ("doc_string", "str", False),
        7: ("graph", Graph, False),
        14: ("metadata_props", StringStringEntry, True),
        25: ("functions", Function, True),
    }


# Test-data containers (the ONNX backend tests store sequences and optionals this way).
class SequenceValue(Message):
    FIELDS = {}


class OptionalValue(Message):
    FIELDS = {}


SequenceValue.FIELDS = {
    1: ("name", "str", False),
    2: ("elem_type", "enum", False),
    3: ("tensor_values", Tensor, True),
    4: ("sparse_tensor_values", SparseTensor, True),
    5: ("sequence_values", SequenceValue, True),
    7: ("optional_values", OptionalValue, True),
}
OptionalValue.FIELDS = {
    1: ("name", "str", False),
    2: ("elem_type", "enum", False),
    3: ("tensor_value", Tensor, False),
    4: ("sparse_tensor_value", SparseTensor, False),
    5: ("sequence_value", SequenceValue, False),
    7: ("optional_value", OptionalValue, False),
}

# AttributeProto.AttributeType
ATTR_FLOAT, ATTR_INT, ATTR_STRING, ATTR_TENSOR, ATTR_GRAPH = 1, 2, 3, 4, 5
ATTR_FLOATS, ATTR_INTS, ATTR_STRINGS, ATTR_TENSORS, ATTR_GRAPHS = 6, 7, 8, 9, 10
ATTR_SPARSE_TENSOR, ATTR_SPARSE_TENSORS, ATTR_TYPE_PROTO, ATTR_TYPE_PROTOS = 11, 12, 13, 14
