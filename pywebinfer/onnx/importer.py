"""Read an ONNX model (path, bytes or binary file object) into the graph IR."""
from __future__ import annotations

import dataclasses
import os

import numpy as np

from ..errors import ModelError
from ..graph.ir import Graph, Node, Value, ValueType
from ..ops.registry import normalize_domain
from . import proto
from .tensor import to_numpy

# IR versions this reader understands (ONNX 1.0 wrote 3; onnx 1.23 writes up to 14)
MIN_IR_VERSION, MAX_IR_VERSION = 3, 14


@dataclasses.dataclass
class Model:
    graph: Graph
    ir_version: int
    opsets: dict[str, int]
    producer: str = ""
    producer_version: str = ""
    doc: str = ""
    metadata: dict[str, str] = dataclasses.field(default_factory=dict)
    size_bytes: int = 0
    path: str | None = None


def read_bytes(source) -> tuple[bytes | memoryview, str | None]:
    """The model's bytes and the directory its external data lives in (if known)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return source, None
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ModelError(f"cannot read model file {path!r}: {e.strerror}") from None
        return data, os.path.dirname(os.path.abspath(path))
    if hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("the model file object must be opened in binary mode")
        name = getattr(source, "name", None)
        base = os.path.dirname(os.path.abspath(name)) if isinstance(name, str) else None
        return data, base
    raise TypeError(f"a model must be a path, bytes or a binary file object, not {type(source).__name__}")


def load_model(source) -> Model:
    data, base_dir = read_bytes(source)
    if len(data) == 0:
        raise ModelError("the model is empty (0 bytes)", 0)
    buf = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    try:
        mp = proto.parse(proto.Model, buf, 0, len(buf))
    except RecursionError:
        raise ModelError("the model nests messages too deeply") from None
    if mp.graph is None:
        raise ModelError("the model has no graph (is this an ONNX file?)", 0)
    if mp.ir_version and not MIN_IR_VERSION <= mp.ir_version <= MAX_IR_VERSION:
        raise ModelError(f"unsupported ONNX IR version {mp.ir_version} "
                         f"(this reader knows {MIN_IR_VERSION}..{MAX_IR_VERSION})", 0)
    opsets: dict[str, int] = {}
    for o in mp.opset_import:
        opsets[normalize_domain(o.domain)] = o.version
    if not opsets:  # IR version 3 models may omit it: ONNX says opset 1 then
        opsets[""] = 1
    functions = {(normalize_domain(f.domain), f.name): f for f in mp.functions}
    importer = _Importer(buf, base_dir, opsets, functions, mp.ir_version)
    graph = importer.graph(mp.graph)
    path = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
    return Model(graph=graph, ir_version=mp.ir_version, opsets=opsets,
                 producer=mp.producer_name, producer_version=mp.producer_version,
                 doc=mp.doc_string, metadata={e.key: e.value for e in mp.metadata_props},
                 size_bytes=len(buf), path=path)


def value_type(tp) -> ValueType:
    if tp is None:
        return ValueType()
    if tp.tensor_type is not None or tp.sparse_tensor_type is not None:
        tt = tp.tensor_type if tp.tensor_type is not None else tp.sparse_tensor_type
        shape = None
        if tt.shape is not None:
            shape = tuple(d.dim_value if d.dim_value is not None else (d.dim_param or None)
                          for d in tt.shape.dim)
        return ValueType("tensor" if tp.tensor_type is not None else "sparse", tt.elem_type, shape)
    if tp.sequence_type is not None:
        inner = value_type(tp.sequence_type.elem_type)
        return ValueType("sequence", inner.elem_type, None, inner)
    if tp.optional_type is not None:
        inner = value_type(tp.optional_type.elem_type)
        return ValueType("optional", inner.elem_type, None, inner)
    if tp.map_type is not None:
        return ValueType("map", tp.map_type.key_type, None, value_type(tp.map_type.value_type))
    return ValueType()


class _Importer:
    def __init__(self, buf, base_dir, opsets, functions, ir_version):
        self.ir_version = ir_version
        self.buf = buf
        self.base_dir = base_dir
        self.opsets = opsets
        self.functions = functions
        self._fresh = 0

    def tensor(self, tp) -> np.ndarray:
        return to_numpy(tp, self.base_dir)

    def sparse(self, sp) -> np.ndarray:
        if sp.values is None or sp.indices is None:
            raise ModelError("sparse tensor lacks values or indices")
        values = self.tensor(sp.values).reshape(-1)
        indices = self.tensor(sp.indices).astype(np.int64)
        shape = tuple(sp.dims)
        dense = np.zeros(shape, dtype=values.dtype)
        size = int(np.prod(shape)) if shape else 1
        if indices.ndim == 1:  # linearized indices
            flat = indices
        else:
            if indices.shape[-1] != len(shape):
                raise ModelError(f"sparse tensor indices have {indices.shape[-1]} columns for rank {len(shape)}")
            flat = np.ravel_multi_index(tuple(indices.T), shape) if indices.size else indices.reshape(0)
        if flat.size and (flat.min() < 0 or flat.max() >= size):
            raise ModelError("sparse tensor index out of range")
        if flat.size != values.size:
            raise ModelError(f"sparse tensor has {values.size} values for {flat.size} indices")
        dense.reshape(-1)[flat] = values
        return dense

    def attribute(self, a):
        t = a.type
        if t == 0:  # IR version < 3 files leave the type out: infer it from what is set
            t = _guess_attr_type(a)
        if t == proto.ATTR_FLOAT:
            return float(a.f)
        if t == proto.ATTR_INT:
            return int(a.i)
        if t == proto.ATTR_STRING:
            return _text(a.s)
        if t == proto.ATTR_TENSOR:
            return self.tensor(a.t) if a.t is not None else np.zeros(0, np.float32)
        if t == proto.ATTR_GRAPH:
            return self.graph(a.g, nested=True)
        if t == proto.ATTR_SPARSE_TENSOR:
            return self.sparse(a.sparse_tensor)
        if t == proto.ATTR_TYPE_PROTO:
            return value_type(a.tp)
        if t == proto.ATTR_FLOATS:
            return [float(x) for x in a.floats]
        if t == proto.ATTR_INTS:
            return [int(x) for x in a.ints]
        if t == proto.ATTR_STRINGS:
            return [_text(s) for s in a.strings]
        if t == proto.ATTR_TENSORS:
            return [self.tensor(x) for x in a.tensors]
        if t == proto.ATTR_GRAPHS:
            return [self.graph(g, nested=True) for g in a.graphs]
        if t == proto.ATTR_SPARSE_TENSORS:
            return [self.sparse(x) for x in a.sparse_tensors]
        if t == proto.ATTR_TYPE_PROTOS:
            return [value_type(x) for x in a.type_protos]
        raise ModelError(f"attribute {a.name!r} has unknown type {a.type}")

    def graph(self, gp, nested: bool = False) -> Graph:
        initializers: dict[str, np.ndarray] = {}
        value_info: dict[str, Value] = {}
        for tp in gp.initializer:
            if not tp.name:
                raise ModelError(f"graph {gp.name!r} has an initializer without a name")
            initializers[tp.name] = self.tensor(tp)
            value_info[tp.name] = Value(tp.name, ValueType("tensor", tp.data_type, tuple(tp.dims)))
        for sp in gp.sparse_initializer:
            name = sp.values.name if sp.values is not None else ""
            initializers[name] = self.sparse(sp)
            value_info[name] = Value(name, ValueType("tensor", sp.values.data_type, tuple(sp.dims)))
        for vi in gp.value_info:
            value_info.setdefault(vi.name, Value(vi.name, value_type(vi.type), vi.doc_string))
        nodes: list[Node] = []
        for i, np_ in enumerate(gp.node):
            nodes.extend(self.node(np_, i))
        inputs = [Value(v.name, value_type(v.type), v.doc_string) for v in gp.input]
        defaults = {}
        if not nested:
            # An input that shares an initializer's name is one a feed may override, with
            # the initializer as its default (IR >= 4).  IR 3 required every weight to be
            # listed as an input, so there they are plain constants.
            if self.ir_version >= 4:
                defaults = {v.name: initializers.pop(v.name) for v in inputs if v.name in initializers}
            else:
                inputs = [v for v in inputs if v.name not in initializers]
        outputs = [Value(v.name, value_type(v.type), v.doc_string) for v in gp.output]
        return Graph(nodes=nodes, inputs=inputs, outputs=outputs, initializers=initializers,
                     input_defaults=defaults, value_info=value_info, name=gp.name, opsets=self.opsets)

    def node(self, np_, index: int) -> list[Node]:
        domain = normalize_domain(np_.domain)
        if not np_.op_type:
            raise ModelError(f"node #{index} ({np_.name!r}) has no op_type")
        attrs = {}
        for a in np_.attribute:
            if not a.name:
                raise ModelError(f"node {np_.name or np_.op_type!r} has an attribute without a name")
            attrs[a.name] = self.attribute(a)
        node = Node(np_.op_type, list(np_.input), list(np_.output), attrs, domain,
                    np_.name or f"{np_.op_type}_{index}")
        fn = self.functions.get((domain, np_.op_type))
        if fn is not None:
            return self.inline(node, fn)
        return [node]

    def inline(self, call: Node, fn) -> list[Node]:
        """Replace a call of a model-local function by the function's body."""
        for o in fn.opset_import:
            dom = normalize_domain(o.domain)
            if self.opsets.setdefault(dom, o.version) != o.version:
                raise ModelError(f"function {fn.name!r} imports {dom or 'ai.onnx'} opset {o.version}, "
                                 f"the model uses {self.opsets[dom]}")
        self._fresh += 1
        prefix = f"{call.name}/{fn.name}#{self._fresh}/"
        rename = {formal: actual for formal, actual in zip(fn.input, call.inputs)}
        rename.update({formal: "" for formal in fn.input[len(call.inputs):]})
        rename.update({formal: actual for formal, actual in zip(fn.output, call.outputs)})
        defaults = {a.name: self.attribute(a) for a in fn.attribute_proto}
        bound = {**defaults, **call.attrs}
        body: list[Node] = []
        for i, np_ in enumerate(fn.node):
            attrs = {}
            for a in np_.attribute:
                if a.ref_attr_name:
                    if a.ref_attr_name in bound:
                        attrs[a.name] = bound[a.ref_attr_name]
                else:
                    attrs[a.name] = self.attribute(a)
            inner = Node(np_.op_type, [rename.get(x, prefix + x if x else "") for x in np_.input],
                         [rename.get(x, prefix + x if x else "") for x in np_.output],
                         attrs, normalize_domain(np_.domain), prefix + (np_.name or str(i)))
            fn_inner = self.functions.get((inner.domain, inner.op_type))
            body.extend(self.inline(inner, fn_inner) if fn_inner is not None else [inner])
        return body


def _text(b: bytes):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b


def _guess_attr_type(a) -> int:
    for kind, field in ((proto.ATTR_GRAPH, a.g), (proto.ATTR_TENSOR, a.t)):
        if field is not None:
            return kind
    for kind, field in ((proto.ATTR_FLOATS, a.floats), (proto.ATTR_INTS, a.ints),
                        (proto.ATTR_STRINGS, a.strings), (proto.ATTR_TENSORS, a.tensors),
                        (proto.ATTR_GRAPHS, a.graphs)):
        if field:
            return kind
    if a.s:
        return proto.ATTR_STRING
    if a.f:
        return proto.ATTR_FLOAT
    return proto.ATTR_INT


# ---- values stored in test-data files (.pb) --------------------------------------

def load_value(source, type_hint: ValueType | None = None):
    """Read a serialized TensorProto, SequenceProto or OptionalProto (.pb test data)."""
    data, base_dir = read_bytes(source)
    buf = data if isinstance(data, bytes) else bytes(data)
    kind = type_hint.kind if type_hint is not None else "tensor"
    if kind == "sequence":
        return _sequence(proto.parse(proto.SequenceValue, buf, 0, len(buf)), base_dir)
    if kind == "optional":
        return _optional(proto.parse(proto.OptionalValue, buf, 0, len(buf)), base_dir)
    return to_numpy(proto.parse(proto.Tensor, buf, 0, len(buf)), base_dir)


def _sequence(sp, base_dir):
    if sp.tensor_values:
        return [to_numpy(t, base_dir) for t in sp.tensor_values]
    if sp.sequence_values:
        return [_sequence(s, base_dir) for s in sp.sequence_values]
    if sp.optional_values:
        return [_optional(o, base_dir) for o in sp.optional_values]
    return []


def _optional(op, base_dir):
    if op.tensor_value is not None:
        return to_numpy(op.tensor_value, base_dir)
    if op.sequence_value is not None:
        return _sequence(op.sequence_value, base_dir)
    if op.optional_value is not None:
        return _optional(op.optional_value, base_dir)
    return None

