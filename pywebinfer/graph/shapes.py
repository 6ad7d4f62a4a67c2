"""Element type and shape inference over the graph IR, with symbolic dimensions.

:func:`infer_shapes` walks a graph's nodes in order and records the type of every node
output in ``graph.value_info`` (and the same for the graphs nested in If/Loop/Scan
nodes).  What the model declares is kept where it says more than inference can: a
declared dimension is only replaced by a more precise inferred one, and a declared
static dimension that contradicts an inferred one (or a different rank or element
type) raises ValueError naming the node, the value and both types, since such a model
is corrupt.

Each op type has a dtype rule and, where its output shape can be derived, a shape rule:
one small function per op or op family, put in the rule tables by the decorators below
(@dtype_rule, @shape_rule, and @type_rule for outputs that are not plain tensors or come
from subgraphs).  An op without a rule gets a dtype guess (its first input's type) and
an unknown shape; inference never fails on an op it does not know.

Dimensions are ints (static), strings (symbolic: "batch" from the model, or made here)
or None (unknown).  The arithmetic on them is deliberately simple:

* ints compute;
* identities keep a symbol: ``d + 0``, ``d * 1``, ``d / 1``, broadcasting ``d`` with 1 or
  with ``d``, a window that keeps the size (stride 1 with "same" padding), a reshape
  whose ``-1`` cancels against the same symbols on both sides;
* anything else with a symbolic or unknown operand gives a *fresh* symbol ``unk__N``
  (unique in the graph), so that the values computed from it later still agree with
  each other (broadcasting two copies of ``unk__3`` gives ``unk__3``);
* None is only passed through from the model's declarations, never made.

Inference also tracks the *contents* of small tensors where they are known: constants,
and the shape tensors that exporters compute with Shape -> Gather -> Unsqueeze ->
Concat chains.  Entries of such a tensor may be symbolic too (the value of Shape of a
``("batch", 128)`` tensor is ``["batch", 128]``), so that a Reshape by a computed shape
still gets ``("batch", 128, 12, 32)``.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .. import dtypes
from .ir import Graph, Node, Value, ValueType, elem_type_of

# tensors computed here (not constants of the model) are tracked up to this many elements
CONTENT_LIMIT = 1024

# a Slice end at or beyond this means "to the end" (exporters write INT_MAX or INT64_MAX)
_INT32_MAX = 2**31 - 1


def infer_shapes(graph: Graph) -> dict[str, ValueType]:
    """Infer the type of every node output of ``graph``, record it in
    ``graph.value_info`` (merged with what the model declares) and return it by name.

    Graphs nested in If/Loop/Scan nodes are inferred too (into their own value_info);
    the result maps only the outer graph's node outputs.  Raises ValueError where the
    model contradicts itself (a declared static shape or element type that differs
    from the inferred one, shapes that cannot broadcast, a Reshape that changes the
    number of elements ...)."""
    symbols = _Symbols(_symbols_used(graph))
    return _infer_graph(graph, None, symbols, {}, commit=True)[0]


def static_size_bytes(vtype: ValueType | None) -> int | None:
    """Bytes of a tensor whose element type and every dimension are known (in its numpy
    storage type: bfloat16 and float8 count as float32), else None."""
    if vtype is None or vtype.kind != "tensor" or vtype.shape is None:
        return None
    if not vtype.elem_type or vtype.elem_type == dtypes.STRING:
        return None
    if not all(type(d) is int and d >= 0 for d in vtype.shape):
        return None
    try:
        itemsize = dtypes.storage_dtype(vtype.elem_type).itemsize
    except ValueError:
        return None
    return math.prod(vtype.shape) * itemsize


# ---- inference driver ------------------------------------------------------------------


class _Unknown(Exception):
    """A shape rule lacks what it needs (an input's shape, a constant input)."""


class _NoRule(Exception):
    """The op has no rules here."""


class _Symbols:
    """Makes fresh symbolic dimensions unk__1, unk__2 ... that the graph does not use."""

    def __init__(self, taken: set[str]):
        self._taken = taken
        self._count = 0

    def fresh(self) -> str:
        while True:
            self._count += 1
            name = f"unk__{self._count}"
            if name not in self._taken:
                return name


def _symbols_used(graph: Graph) -> set[str]:
    names: set[str] = set()

    def collect(vtype: ValueType | None) -> None:
        while vtype is not None:
            if vtype.shape is not None:
                names.update(d for d in vtype.shape if isinstance(d, str))
            vtype = vtype.inner

    for values in (graph.inputs, graph.outputs, graph.value_info.values()):
        for v in values:
            collect(v.type)
    for node in graph.nodes:
        for sub in node.subgraphs():
            names |= _symbols_used(sub)
    return names


class _Env:
    """The types and known contents of the values visible in one graph."""

    def __init__(self, graph: Graph, outer: "_Env | None", symbols: _Symbols,
                 input_types: dict[str, ValueType]):
        self.graph = graph
        self.outer = outer
        self.symbols = symbols
        self.types: dict[str, ValueType] = {}
        self.contents: dict[str, np.ndarray] = {}
        self.declared_outputs = {v.name: v.type for v in graph.outputs}
        self.inputs = set()
        for v in graph.inputs:
            declared = _clean(v.type)
            given = input_types.get(v.name)
            self.types[v.name] = declared if given is None else _merge_loose(declared, given)
            self.inputs.add(v.name)
        self.local = set(graph.initializers) | self.inputs

    def type(self, name: str) -> ValueType | None:
        t = self.types.get(name)
        if t is not None:
            return t
        if name in self.graph.initializers:
            declared = self.graph.value_info.get(name)
            arr = self.graph.initializers[name]
            elem = declared.type.elem_type if declared is not None else elem_type_of(arr)
            t = self.types[name] = ValueType("tensor", elem, tuple(arr.shape))
            return t
        if name not in self.local:
            declared = self.declared(name)
            if declared is not None:
                return declared
            if self.outer is not None:
                return self.outer.type(name)
        return None

    def declared(self, name: str) -> ValueType | None:
        """What the model (or an earlier inference) says of a node output."""
        info = self.graph.value_info.get(name)
        out = self.declared_outputs.get(name)
        if info is None:
            return _clean(out) if out is not None else None
        if out is None:
            return _clean(info.type)
        return _merge_loose(_clean(info.type), _clean(out))

    def content(self, name: str) -> np.ndarray | None:
        c = self.contents.get(name)
        if c is not None:
            return c
        if name in self.inputs:
            return None
        if name in self.graph.initializers:
            arr = self.graph.initializers[name]
            # string tensors are no shape material (and object arrays here hold symbols)
            return arr if isinstance(arr, np.ndarray) and arr.dtype.kind not in "OUS" else None
        if name not in self.local and self.outer is not None:
            return self.outer.content(name)
        return None

    def define(self, name: str, vtype: ValueType, content: np.ndarray | None) -> None:
        self.local.add(name)
        self.types[name] = vtype
        if content is not None:
            self.contents[name] = content


def _infer_graph(graph: Graph, outer: _Env | None, symbols: _Symbols, input_types: dict[str, ValueType],
                 commit: bool) -> tuple[dict[str, ValueType], _Env]:
    """The types of the node outputs and graph outputs of ``graph``, and what it knows."""
    env = _Env(graph, outer, symbols, input_types)
    result: dict[str, ValueType] = {}
    for node in graph.nodes:
        ctx = _Ctx(env, node, commit)
        try:
            inferred, contents = _infer_node(ctx)
            guessed = False
        except _NoRule:
            # an op without rules: its first input's element type is the likeliest guess,
            # used only where the model declares nothing
            inferred, contents = [ValueType("tensor", ctx.dtype(0), None)] * len(node.outputs), {}
            guessed = True
        for i, name in enumerate(node.outputs):
            if not name:
                continue
            declared = env.declared(name)
            found = inferred[i] if i < len(inferred) else None
            if found is None:
                merged = declared if declared is not None else ValueType()
            elif guessed:
                merged = found if declared is None else _merge_loose(declared, found)
            else:
                merged = _merge_declared(declared, found, node, name)
            content = contents.get(i)
            if content is not None and (merged.shape is None or len(merged.shape) != content.ndim):
                content = None
            env.define(name, merged, content)
            result[name] = merged
            if commit:
                old = graph.value_info.get(name)
                graph.value_info[name] = Value(name, merged, old.doc if old is not None else "")
    for v in graph.outputs:  # what the graph's outputs hold (If/Loop/Scan bodies need it)
        result.setdefault(v.name, env.type(v.name) or ValueType())
    return result, env


def _infer_node(ctx: "_Ctx") -> tuple[list[ValueType | None], dict[int, np.ndarray]]:
    node = ctx.node
    key = (node.domain, node.op_type)
    type_rule = _TYPE_RULES.get(key)
    try:
        if type_rule is not None:
            return type_rule(ctx), ctx.out_contents
        dtype_rule = _DTYPE_RULES.get(key)
        shape_rule = _SHAPE_RULES.get(key)
        if dtype_rule is None and shape_rule is None:
            raise _NoRule
        n = len(node.outputs)
        elem = (dtype_rule or _same_as_input0)(ctx)
        elems = elem if isinstance(elem, list) else [elem] * n
        shapes: list = []
        if shape_rule is not None:
            try:
                found = shape_rule(ctx)
            except _Unknown:
                found = None
            shapes = found if isinstance(found, list) else [found]
        return [ValueType("tensor", elems[i] if i < len(elems) else 0,
                          shapes[i] if i < len(shapes) else None) for i in range(n)], ctx.out_contents
    except (ValueError, _NoRule):
        raise
    except Exception as e:  # a malformed node (bad attribute types ...): name it
        raise ValueError(f"{ctx.where}: cannot infer its output types: {type(e).__name__}: {e}") from e


class _Ctx:
    """One node as its rules see it."""

    def __init__(self, env: _Env, node: Node, commit: bool):
        self.env = env
        self.node = node
        self.attrs = node.attrs
        self.opset = env.graph.opset(node.domain)
        self.commit = commit
        self.out_contents: dict[int, np.ndarray] = {}

    @property
    def where(self) -> str:
        return f"{self.node.op_type} node {self.node.name!r}"

    def fail(self, problem: str):
        raise ValueError(f"{self.where}: {problem}")

    def present(self, i: int) -> bool:
        return i < len(self.node.inputs) and self.node.inputs[i] != ""

    def type(self, i: int) -> ValueType | None:
        return self.env.type(self.node.inputs[i]) if self.present(i) else None

    def dtype(self, i: int) -> int:
        t = self.type(i)
        return t.elem_type if t is not None else 0

    def shape(self, i: int) -> tuple:
        t = self.type(i)
        if t is None or t.kind != "tensor" or t.shape is None:
            raise _Unknown
        return t.shape

    def content(self, i: int) -> np.ndarray | None:
        return self.env.content(self.node.inputs[i]) if self.present(i) else None

    def const(self, i: int) -> np.ndarray | None:
        """The value of input i when it is fully known (no symbolic entries)."""
        c = self.content(i)
        return c if c is not None and c.dtype != object else None

    def ints(self, i: int) -> list[int]:
        c = self.const(i)
        if c is None:
            raise _Unknown
        return [int(x) for x in c.reshape(-1)]

    def dims_of(self, i: int) -> list:
        """The entries of a 1-D (or scalar) int input used as a shape: int, symbol or
        None each; raises _Unknown when not even its length is known."""
        c = self.content(i)
        if c is not None:
            return [_entry(x) for x in c.reshape(-1)]
        shape = self.shape(i)
        if len(shape) == 1 and type(shape[0]) is int:
            return [None] * shape[0]
        if len(shape) == 0:
            return [None]
        raise _Unknown

    def attr(self, name: str, default=None):
        return self.attrs.get(name, default)

    def fresh(self) -> str:
        return self.env.symbols.fresh()

    def axis(self, axis: int, rank: int, what: str = "axis") -> int:
        if not -rank <= axis < rank:
            self.fail(f"{what} {axis} is out of range for rank {rank}")
        return axis + rank if axis < 0 else axis

    def set_content(self, arr: np.ndarray, out: int = 0) -> None:
        if arr.size <= CONTENT_LIMIT:
            self.out_contents[out] = _normalize(arr)


def _entry(x):
    """One entry of a tracked shape tensor as a dimension: int, symbol or None."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
        return int(x)
    if isinstance(x, str):
        return x
    if isinstance(x, (float, np.floating)) and float(x).is_integer():
        return int(x)
    return None


def _normalize(arr: np.ndarray) -> np.ndarray:
    """An object array whose entries all became ints is stored as int64."""
    if arr.dtype == object and all(type(x) is int for x in arr.flat):
        return np.array(arr.tolist(), dtype=np.int64).reshape(arr.shape)
    return arr


def _clean(vtype: ValueType) -> ValueType:
    """A declared type with negative (meaning unknown) dimensions made None."""
    shape = vtype.shape
    if shape is not None and any(type(d) is int and d < 0 for d in shape):
        shape = tuple(None if type(d) is int and d < 0 else d for d in shape)
        return ValueType(vtype.kind, vtype.elem_type, shape, vtype.inner)
    return vtype


def _better_dim(a, b):
    """The more precise of two dimensions of the same value (int > symbol > None);
    the first wins a tie."""
    if type(a) is int or (a is not None and type(b) is not int):
        return a
    return b


def _merge_loose(first: ValueType, second: ValueType) -> ValueType:
    """Two descriptions of one value, combined without checking that they agree."""
    kind = first.kind if first.kind == second.kind or first.elem_type else second.kind
    elem = first.elem_type or second.elem_type
    shape = first.shape
    if shape is None:
        shape = second.shape
    elif second.shape is not None and len(second.shape) == len(shape):
        shape = tuple(_better_dim(a, b) for a, b in zip(shape, second.shape))
    return ValueType(kind, elem, shape, first.inner or second.inner)


def _merge_declared(declared: ValueType | None, inferred: ValueType, node: Node, name: str) -> ValueType:
    if declared is None:
        return inferred
    where = f"{node.op_type} node {node.name!r}: output {name!r}"
    if declared.kind != inferred.kind and declared.elem_type and inferred.elem_type:
        raise ValueError(f"{where} is declared {declared.describe()} but inferred {inferred.describe()}")
    if declared.elem_type and inferred.elem_type and declared.elem_type != inferred.elem_type:
        raise ValueError(f"{where} is declared {declared.describe()} but inferred {inferred.describe()}")
    shape = declared.shape
    if shape is None:
        shape = inferred.shape
    elif inferred.shape is not None:
        if len(shape) != len(inferred.shape) or any(
                type(a) is int and type(b) is int and a != b for a, b in zip(shape, inferred.shape)):
            raise ValueError(f"{where} is declared with shape {_show(declared.shape)} but inferred "
                             f"{_show(inferred.shape)}")
        shape = tuple(_better_dim(a, b) for a, b in zip(shape, inferred.shape))
    kind = declared.kind if declared.elem_type or not inferred.elem_type else inferred.kind
    return ValueType(kind, declared.elem_type or inferred.elem_type, shape,
                     declared.inner or inferred.inner)


def _show(shape) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


# ---- dimension arithmetic ----------------------------------------------------------------


def _broadcast(ctx: _Ctx, shapes: list[tuple]) -> tuple:
    """Multidirectional (numpy) broadcasting of several shapes."""
    rank = max(len(s) for s in shapes)
    out = []
    for k in range(rank):
        dims = [s[len(s) - rank + k] for s in shapes if len(s) - rank + k >= 0]
        out.append(_broadcast_dim(ctx, dims, shapes))
    return tuple(out)


def _broadcast_dim(ctx: _Ctx, dims: list, shapes) -> object:
    static = {d for d in dims if type(d) is int and d != 1}
    if len(static) > 1:
        ctx.fail(f"shapes {', '.join(_show(s) for s in shapes)} cannot broadcast")
    if static:
        return static.pop()  # a symbol there must equal it (or be 1)
    rest = [d for d in dims if d != 1]
    if not rest:
        return 1
    if all(d == rest[0] for d in rest):
        return rest[0]
    return ctx.fresh()


def _add(ctx: _Ctx, a, b):
    if type(a) is int and type(b) is int:
        return a + b
    if b == 0:
        return a
    if a == 0:
        return b
    return ctx.fresh()


def _mul(ctx: _Ctx, a, b):
    if type(a) is int and type(b) is int:
        return a * b
    if b == 1:
        return a
    if a == 1:
        return b
    if a == 0 or b == 0:
        return 0
    return ctx.fresh()


def _product(ctx: _Ctx, dims) -> object:
    out = 1
    for d in dims:
        out = _mul(ctx, out, d)
    return out


def _exact_div(ctx: _Ctx, a, b, what: str):
    if b == 1:
        return a
    if type(a) is int and type(b) is int:
        if b == 0 or a % b:
            ctx.fail(f"{what}: {a} is not a multiple of {b}")
        return a // b
    return ctx.fresh()


# ---- rule tables ---------------------------------------------------------------------------

_DTYPE_RULES: dict[tuple[str, str], Callable] = {}
_SHAPE_RULES: dict[tuple[str, str], Callable] = {}
_TYPE_RULES: dict[tuple[str, str], Callable] = {}

FUSED = "pywebinfer"


def _register(table: dict, ops, domain: str = ""):
    def wrap(fn):
        for op in ([ops] if isinstance(ops, str) else ops):
            table[(domain, op)] = fn
        return fn
    return wrap


def dtype_rule(ops, domain: str = ""):
    """fn(ctx) -> element type of every output, or a list with one per output."""
    return _register(_DTYPE_RULES, ops, domain)


def shape_rule(ops, domain: str = ""):
    """fn(ctx) -> shape of the (single) output, or a list of shapes, one per output; a
    shape is a tuple, or None when unknown.  Raise _Unknown when something needed is
    unknown."""
    return _register(_SHAPE_RULES, ops, domain)


def type_rule(ops, domain: str = ""):
    """fn(ctx) -> list of ValueType, one per output (ops whose outputs are not plain
    tensors, or whose types come from subgraphs)."""
    return _register(_TYPE_RULES, ops, domain)


# ---- dtype rules ---------------------------------------------------------------------------


def _same_as_input0(ctx: _Ctx) -> int:
    return ctx.dtype(0)


def _fixed(elem: int):
    return lambda ctx: elem


dtype_rule(["Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Not", "And", "Or",
            "Xor", "IsNaN", "IsInf", "RegexFullMatch"])(_fixed(dtypes.BOOL))
dtype_rule(["Shape", "Size", "ArgMax", "ArgMin", "NonZero", "NonMaxSuppression"])(_fixed(dtypes.INT64))
dtype_rule(["ConvInteger", "MatMulInteger"])(_fixed(dtypes.INT32))
dtype_rule(["StringNormalizer", "StringConcat"])(_fixed(dtypes.STRING))
dtype_rule("TfIdfVectorizer")(_fixed(dtypes.FLOAT))
dtype_rule("ImageDecoder")(_fixed(dtypes.UINT8))


@dtype_rule(["TopK"])
def _values_and_int64(ctx: _Ctx):
    return [ctx.dtype(0), dtypes.INT64]


@dtype_rule("MaxPool")
def _maxpool_dtype(ctx: _Ctx):
    return [ctx.dtype(0), dtypes.INT64]


@dtype_rule("Unique")
def _unique_dtype(ctx: _Ctx):
    return [ctx.dtype(0), dtypes.INT64, dtypes.INT64, dtypes.INT64]


@dtype_rule("StringSplit")
def _string_split_dtype(ctx: _Ctx):
    return [dtypes.STRING, dtypes.INT64]


@dtype_rule(["Cast", "BitCast"])
def _cast_dtype(ctx: _Ctx):
    return int(ctx.attr("to", 0))


@dtype_rule("CastLike")
def _cast_like_dtype(ctx: _Ctx):
    return ctx.dtype(1)


@dtype_rule(["Where"])
def _input1_dtype(ctx: _Ctx):
    return ctx.dtype(1)


@dtype_rule("OneHot")
def _input2_dtype(ctx: _Ctx):
    return ctx.dtype(2)


@dtype_rule(["QLinearConv", "QLinearMatMul"])
def _input7_dtype(ctx: _Ctx):
    return ctx.dtype(7)


@dtype_rule("ConstantOfShape")
def _constant_of_shape_dtype(ctx: _Ctx):
    value = ctx.attr("value")
    return elem_type_of(value) if isinstance(value, np.ndarray) else dtypes.FLOAT


@dtype_rule(["EyeLike", "RandomNormalLike", "RandomUniformLike", "Bernoulli"])
def _dtype_attr_or_input(ctx: _Ctx):
    return int(ctx.attr("dtype", 0)) or ctx.dtype(0)


@dtype_rule(["RandomNormal", "RandomUniform"])
def _dtype_attr_float(ctx: _Ctx):
    return int(ctx.attr("dtype", dtypes.FLOAT))


@dtype_rule("Multinomial")
def _multinomial_dtype(ctx: _Ctx):
    return int(ctx.attr("dtype", dtypes.INT32))


@dtype_rule("Dropout")
def _dropout_dtype(ctx: _Ctx):
    return [ctx.dtype(0), dtypes.BOOL if ctx.opset >= 10 else ctx.dtype(0)]


@dtype_rule("BatchNormalization")
def _batchnorm_dtype(ctx: _Ctx):
    return [ctx.dtype(0)] + [ctx.dtype(3)] * 4


@dtype_rule("LayerNormalization")
def _layernorm_dtype(ctx: _Ctx):
    stash = int(ctx.attr("stash_type", dtypes.FLOAT))
    return [ctx.dtype(0), stash, stash]


@dtype_rule("QuantizeLinear")
def _quantize_dtype(ctx: _Ctx):
    out = int(ctx.attr("output_dtype", 0)) if ctx.opset >= 21 else 0
    if out:
        return out
    if ctx.present(2):
        return ctx.dtype(2)
    return dtypes.UINT8


@dtype_rule("DequantizeLinear")
def _dequantize_dtype(ctx: _Ctx):
    out = int(ctx.attr("output_dtype", 0)) if ctx.opset >= 23 else 0
    if out:
        return out
    return ctx.dtype(1) if ctx.opset >= 19 else dtypes.FLOAT


@dtype_rule(["HannWindow", "HammingWindow", "BlackmanWindow", "MelWeightMatrix"])
def _output_datatype(ctx: _Ctx):
    return int(ctx.attr("output_datatype", dtypes.FLOAT))


@dtype_rule("LabelEncoder", domain="ai.onnx.ml")
def _label_encoder_dtype(ctx: _Ctx):
    if "values_tensor" in ctx.attrs:
        return elem_type_of(ctx.attrs["values_tensor"])
    if "values_strings" in ctx.attrs:
        return dtypes.STRING
    return dtypes.INT64 if "values_int64s" in ctx.attrs else dtypes.FLOAT


@dtype_rule("DynamicQuantizeLinear")
def _dynamic_quantize_dtype(ctx: _Ctx):
    return [dtypes.UINT8, dtypes.FLOAT, dtypes.UINT8]


# ---- elementwise ---------------------------------------------------------------------------

_UNARY = [
    "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "BitwiseNot", "Ceil", "Celu", "Clip",
    "Cos", "Cosh", "CumSum", "Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid", "HardSwish",
    "Hardmax", "IsInf", "IsNaN", "LeakyRelu", "Log", "LogSoftmax", "LpNormalization", "LRN",
    "MeanVarianceNormalization", "Mish", "Neg", "Not", "Reciprocal", "Relu", "ReverseSequence",
    "Round", "Selu", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Softmax", "Softplus", "Softsign",
    "Sqrt", "Swish", "Tan", "Tanh", "ThresholdedRelu", "Trilu", "Scatter", "ScatterElements",
    "ScatterND", "TensorScatter", "EyeLike", "RandomNormalLike", "RandomUniformLike", "Bernoulli",
    "InstanceNormalization", "GroupNormalization", "RMSNormalization", "QuantizeLinear",
    "DequantizeLinear", "RegexFullMatch", "RotaryEmbedding", "CumProd", "BitCast",
]
_BROADCAST = [
    "Add", "Sub", "Mul", "Div", "Pow", "Mod", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor",
    "And", "Or", "Xor", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Max", "Min",
    "Mean", "Sum", "Where", "PRelu", "StringConcat",
]
_LEGACY_BROADCAST = {"Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater",
                     "Less", "PRelu"}  # before opset 7: B broadcasts to A's shape


_NUMPY_UNARY = {"Neg": np.negative, "Abs": np.abs, "Not": np.logical_not, "Floor": np.floor,
                "Ceil": np.ceil, "Sign": np.sign}


@shape_rule(_UNARY)
def _unary_shape(ctx: _Ctx):
    fn = _NUMPY_UNARY.get(ctx.node.op_type)
    c = ctx.const(0) if fn is not None else None
    if c is not None and c.size <= CONTENT_LIMIT:
        ctx.set_content(np.asarray(fn(c)).astype(c.dtype))
    return ctx.shape(0)


@shape_rule(_BROADCAST)
def _broadcast_shape(ctx: _Ctx):
    if ctx.opset < 7 and ctx.node.op_type in _LEGACY_BROADCAST:
        return ctx.shape(0)
    shapes = [ctx.shape(i) for i in range(len(ctx.node.inputs)) if ctx.present(i)]
    if not shapes:
        raise _Unknown
    out = _broadcast(ctx, shapes)
    _elementwise_content(ctx, out)
    return out


@shape_rule("StringNormalizer")
def _string_normalizer_shape(ctx: _Ctx):
    x = ctx.shape(0)
    if not ctx.attr("stopwords") or not x:
        return x
    return x[:-1] + (ctx.fresh(),)  # stop words are dropped


@shape_rule("LabelEncoder", domain="ai.onnx.ml")
def _label_encoder_shape(ctx: _Ctx):
    return ctx.shape(0)


@shape_rule("Binarizer", domain="ai.onnx.ml")
def _binarizer_shape(ctx: _Ctx):
    return ctx.shape(0)


@shape_rule("TfIdfVectorizer")
def _tfidf_shape(ctx: _Ctx):
    x = ctx.shape(0)
    width = max(int(i) for i in ctx.attr("ngram_indexes", [-1])) + 1
    return x[:-1] + (width,)


# optimizers: inputs R, T, then groups X..., G..., (V..., H...); outputs every group but G
_OPTIMIZER_GROUPS = {"Adagrad": 3, "Momentum": 3, "Adam": 4}


@shape_rule(list(_OPTIMIZER_GROUPS), domain="ai.onnx.preview.training")
def _optimizer_shape(ctx: _Ctx):
    groups = _OPTIMIZER_GROUPS[ctx.node.op_type]
    n = (len(ctx.node.inputs) - 2) // groups
    states = [2 + g * n + i for g in range(groups) if g != 1 for i in range(n)]
    return [ctx.type(j).shape if ctx.type(j) is not None else None for j in states]


@dtype_rule(list(_OPTIMIZER_GROUPS), domain="ai.onnx.preview.training")
def _optimizer_dtype(ctx: _Ctx):
    groups = _OPTIMIZER_GROUPS[ctx.node.op_type]
    n = (len(ctx.node.inputs) - 2) // groups
    return [ctx.dtype(2 + g * n + i) for g in range(groups) if g != 1 for i in range(n)]


@shape_rule("StringSplit")
def _string_split_shape(ctx: _Ctx):
    x = ctx.shape(0)
    return [x + (ctx.fresh(),), x]


@shape_rule(["HannWindow", "HammingWindow", "BlackmanWindow"])
def _window_shape(ctx: _Ctx):
    size = ctx.const(0)
    return (int(size.reshape(-1)[0]) if size is not None and size.size == 1 else ctx.fresh(),)


@shape_rule("MelWeightMatrix")
def _mel_weight_matrix_shape(ctx: _Ctx):
    bins, length = ctx.const(0), ctx.const(1)
    rows = int(length.reshape(-1)[0]) // 2 + 1 if length is not None and length.size == 1 else ctx.fresh()
    return (rows, int(bins.reshape(-1)[0]) if bins is not None and bins.size == 1 else ctx.fresh())


@shape_rule("ImageDecoder")
def _image_decoder_shape(ctx: _Ctx):
    channels = 1 if ctx.attr("pixel_format", "RGB") == "Grayscale" else 3
    return (ctx.fresh(), ctx.fresh(), channels)


@shape_rule("Dropout")
def _dropout_shape(ctx: _Ctx):
    return [ctx.shape(0), ctx.shape(0)]


@shape_rule("BatchNormalization")
def _batchnorm_shape(ctx: _Ctx):
    stats = ctx.type(3).shape if ctx.type(3) is not None else None
    return [ctx.shape(0)] + [stats] * 4


@shape_rule("LayerNormalization")
def _layernorm_shape(ctx: _Ctx):
    x = ctx.shape(0)
    axis = ctx.axis(int(ctx.attr("axis", -1)), len(x))
    stats = x[:axis] + (1,) * (len(x) - axis)
    return [x, stats, stats]


@shape_rule("DynamicQuantizeLinear")
def _dynamic_quantize_shape(ctx: _Ctx):
    return [ctx.shape(0), (), ()]


# ---- convolution and pooling ----------------------------------------------------------------


def _window_out(ctx: _Ctx, size, kernel: int, stride: int, dilation: int, pad_begin: int,
                pad_end: int, auto_pad: str, ceil_mode: bool):
    """Output length of a sliding window along one axis."""
    effective = (kernel - 1) * dilation + 1
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        if stride == 1:
            return size
        return -(-size // stride) if type(size) is int else ctx.fresh()
    if auto_pad == "VALID":
        # the spec's VALID length, ceil((size - effective + 1) / stride), is the floor
        # formula below whatever ceil_mode says (onnxruntime lets ceil_mode add a
        # partial window here; the spec and pywebinfer's kernels do not)
        pad_begin = pad_end = 0
        ceil_mode = False
    if type(size) is not int:
        keeps = stride == 1 and pad_begin + pad_end == effective - 1
        return size if keeps else ctx.fresh()
    span = size + pad_begin + pad_end - effective
    if span < 0:
        ctx.fail(f"window of {effective} does not fit an axis of {size} padded by "
                 f"{pad_begin}+{pad_end}")
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pad_begin:  # the last window would start in the end padding
        out -= 1
    return out


def _spatial(ctx: _Ctx, sizes: tuple, kernel: list[int], ceil_mode: bool = False,
             has_dilations: bool = True) -> tuple:
    n = len(sizes)
    if len(kernel) != n:
        ctx.fail(f"kernel has {len(kernel)} spatial dimensions, the input {n}")
    strides = ctx.attr("strides") or [1] * n
    dilations = (ctx.attr("dilations") if has_dilations else None) or [1] * n
    pads = ctx.attr("pads") or [0] * (2 * n)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if len(strides) != n or len(dilations) != n or len(pads) != 2 * n:
        ctx.fail(f"strides {strides}, dilations {dilations} or pads {pads} do not match "
                 f"{n} spatial dimensions")
    return tuple(_window_out(ctx, sizes[i], int(kernel[i]), int(strides[i]), int(dilations[i]),
                             int(pads[i]), int(pads[i + n]), auto_pad, ceil_mode) for i in range(n))


def _conv(ctx: _Ctx, x_index: int, w_index: int) -> tuple:
    x = ctx.shape(x_index)
    if len(x) < 3:
        ctx.fail(f"input has rank {len(x)}, needs at least 3 (N, C, spatial...)")
    kernel = ctx.attr("kernel_shape")
    w = ctx.type(w_index).shape if ctx.type(w_index) is not None else None
    if w is not None and len(w) != len(x):
        ctx.fail(f"weight has rank {len(w)}, the input {len(x)}")
    if kernel is None:
        if w is None or not all(type(d) is int for d in w[2:]):
            raise _Unknown
        kernel = list(w[2:])
    channels = w[0] if w is not None else ctx.fresh()
    group = int(ctx.attr("group", 1))
    if w is not None and type(x[1]) is int and type(w[1]) is int and x[1] != w[1] * group:
        ctx.fail(f"input has {x[1]} channels, the weight {_show(w)} with group={group} takes {w[1] * group}")
    return (x[0], channels) + _spatial(ctx, x[2:], kernel)


@shape_rule(["Conv", "ConvInteger"])
@shape_rule("FusedConv", domain=FUSED)
def _conv_shape(ctx: _Ctx):
    return _conv(ctx, 0, 1)


@shape_rule("QLinearConv")
def _qlinear_conv_shape(ctx: _Ctx):
    return _conv(ctx, 0, 3)


@shape_rule("DeformConv")
def _deform_conv_shape(ctx: _Ctx):
    x, w, offset = ctx.shape(0), ctx.shape(1), ctx.shape(2)
    return (x[0], w[0]) + tuple(offset[2:])


@shape_rule("ConvTranspose")
def _conv_transpose_shape(ctx: _Ctx):
    x, w = ctx.shape(0), ctx.shape(1)
    n = len(x) - 2
    if n < 1 or len(w) != len(x):
        ctx.fail(f"input rank {len(x)} and weight rank {len(w)} do not fit")
    group = int(ctx.attr("group", 1))
    channels = _mul(ctx, w[1], group)
    output_shape = ctx.attr("output_shape")
    if output_shape:
        return (x[0], channels) + tuple(int(d) for d in output_shape[-n:])
    kernel = ctx.attr("kernel_shape") or list(w[2:])
    if not all(type(k) is int for k in kernel):
        raise _Unknown
    strides = ctx.attr("strides") or [1] * n
    dilations = ctx.attr("dilations") or [1] * n
    pads = ctx.attr("pads") or [0] * (2 * n)
    out_pad = ctx.attr("output_padding") or [0] * n
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    out = []
    for i in range(n):
        size, s = x[2 + i], int(strides[i])
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out.append(_mul(ctx, size, s))
            continue
        extra = int(out_pad[i]) + (int(kernel[i]) - 1) * int(dilations[i]) + 1
        if auto_pad != "VALID":
            extra -= int(pads[i]) + int(pads[i + n])
        if type(size) is int:
            out.append(s * (size - 1) + extra)
        else:
            out.append(size if s == 1 and extra == 1 else ctx.fresh())
    return (x[0], channels) + tuple(out)


@shape_rule(["AveragePool", "MaxPool", "LpPool"])
def _pool_shape(ctx: _Ctx):
    x = ctx.shape(0)
    kernel = ctx.attr("kernel_shape")
    if kernel is None:
        ctx.fail("has no kernel_shape")
    op = ctx.node.op_type
    has_dilations = (op == "MaxPool" and ctx.opset >= 10) or (op == "AveragePool" and ctx.opset >= 19) \
        or (op == "LpPool" and ctx.opset >= 18)
    ceil_mode = bool(ctx.attr("ceil_mode", 0)) and ctx.opset >= 10
    y = (x[0], x[1]) + _spatial(ctx, x[2:], kernel, ceil_mode, has_dilations)
    return [y, y] if op == "MaxPool" else y


@shape_rule(["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
def _global_pool_shape(ctx: _Ctx):
    x = ctx.shape(0)
    return tuple(x[:2]) + (1,) * (len(x) - 2)


@shape_rule("MaxUnpool")
def _max_unpool_shape(ctx: _Ctx):
    x = ctx.shape(0)
    if ctx.present(2):
        dims = ctx.dims_of(2)
        return tuple(d if d is not None else ctx.fresh() for d in dims)
    n = len(x) - 2
    kernel = ctx.attr("kernel_shape")
    strides = ctx.attr("strides") or [1] * n
    pads = ctx.attr("pads") or [0] * (2 * n)
    out = []
    for i in range(n):
        size = x[2 + i]
        extra = int(kernel[i]) - int(pads[i]) - int(pads[i + n])
        out.append(int(strides[i]) * (size - 1) + extra if type(size) is int else ctx.fresh())
    return (x[0], x[1]) + tuple(out)


# ---- matrix products -------------------------------------------------------------------------


def _matmul(ctx: _Ctx, a: tuple, b: tuple) -> tuple:
    if not a or not b:
        ctx.fail("MatMul inputs must have rank >= 1")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    k1, k2 = a2[-1], b2[-2]
    if type(k1) is int and type(k2) is int and k1 != k2:
        ctx.fail(f"inner dimensions differ: {_show(a)} x {_show(b)}")
    out = _broadcast(ctx, [a2[:-2], b2[:-2]]) + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


@shape_rule(["MatMul", "MatMulInteger"])
@shape_rule("FusedMatMul", domain=FUSED)
def _matmul_shape(ctx: _Ctx):
    return _matmul(ctx, ctx.shape(0), ctx.shape(1))


@shape_rule("QLinearMatMul")
def _qlinear_matmul_shape(ctx: _Ctx):
    return _matmul(ctx, ctx.shape(0), ctx.shape(3))


@shape_rule("Gemm")
@shape_rule("FusedGemm", domain=FUSED)
def _gemm_shape(ctx: _Ctx):
    a, b = ctx.shape(0), ctx.shape(1)
    if len(a) != 2 or len(b) != 2:
        ctx.fail(f"inputs must be matrices, not {_show(a)} and {_show(b)}")
    m, k1 = (a[1], a[0]) if ctx.attr("transA", 0) else a
    k2, n = (b[1], b[0]) if ctx.attr("transB", 0) else b
    if type(k1) is int and type(k2) is int and k1 != k2:
        ctx.fail(f"inner dimensions differ: {_show(a)} x {_show(b)} (transA={ctx.attr('transA', 0)}, "
                 f"transB={ctx.attr('transB', 0)})")
    return (m, n)


@shape_rule("Einsum")
def _einsum_shape(ctx: _Ctx):
    equation = str(ctx.attr("equation", "")).replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ctx.node.inputs):
        ctx.fail(f"equation {equation!r} has {len(terms)} operands for {len(ctx.node.inputs)} inputs")
    letters: dict[str, object] = {}
    ellipsis_shapes = []
    for i, term in enumerate(terms):
        shape = ctx.shape(i)
        named = term.replace("...", "")
        n_ellipsis = len(shape) - len(named)
        if n_ellipsis < 0 or (n_ellipsis and "..." not in term):
            ctx.fail(f"operand {term!r} does not fit shape {_show(shape)}")
        before, _, after = term.partition("...")
        for j, c in enumerate(before):
            letters[c] = _broadcast_dim(ctx, [letters.get(c, 1), shape[j]], [shape])
        if "..." in term:
            ellipsis_shapes.append(shape[len(before):len(before) + n_ellipsis])
        for j, c in enumerate(after):
            letters[c] = _broadcast_dim(ctx, [letters.get(c, 1), shape[len(shape) - len(after) + j]],
                                        [shape])
    ellipsis = _broadcast(ctx, ellipsis_shapes) if ellipsis_shapes else ()
    if not arrow:
        counts = {c: lhs.count(c) for c in letters}
        rhs = ("..." if ellipsis_shapes else "") + "".join(sorted(c for c, n in counts.items() if n == 1))
    out: list = []
    before, dots, after = rhs.partition("...")
    out.extend(letters[c] for c in before)
    if dots:
        out.extend(ellipsis)
    out.extend(letters[c] for c in after)
    return tuple(out)


# ---- shapes and indexing ---------------------------------------------------------------------


def _static(shape) -> bool:
    return shape is not None and all(type(d) is int for d in shape)


def _reshaped_content(ctx: _Ctx, out_shape: tuple, i: int = 0) -> None:
    """Content of an op that only rearranges its input's elements, in C order."""
    c = ctx.content(i)
    if c is not None and _static(out_shape) and math.prod(out_shape) == c.size:
        ctx.set_content(c.reshape(out_shape))


def _minus_one(ctx: _Ctx, x: tuple | None, others: list):
    """The dimension a Reshape's -1 stands for: input elements / the other dimensions,
    cancelling symbols that appear on both sides."""
    if x is None or any(d is None for d in x) or any(d is None for d in others):
        return ctx.fresh()
    in_symbols = [d for d in x if type(d) is not int]
    in_count = math.prod(d for d in x if type(d) is int)
    out_count = math.prod(d for d in others if type(d) is int)
    for d in others:
        if type(d) is not int:
            if d not in in_symbols:
                return ctx.fresh()
            in_symbols.remove(d)
    if out_count == 0:
        return ctx.fresh()
    if not in_symbols:
        if in_count % out_count:
            ctx.fail(f"cannot reshape {_show(x)} to {_show(tuple(others))} with a -1")
        return in_count // out_count
    if len(in_symbols) == 1 and in_count == out_count:
        return in_symbols[0]
    return ctx.fresh()


@shape_rule("Reshape")
def _reshape_shape(ctx: _Ctx):
    target = [int(d) for d in ctx.attr("shape", [])] if ctx.opset < 5 else ctx.dims_of(1)
    allowzero = ctx.opset >= 14 and ctx.attr("allowzero", 0)
    xt = ctx.type(0)
    x = xt.shape if xt is not None else None
    out: list = []
    minus = -1
    for i, t in enumerate(target):
        if t == 0 and not allowzero:
            if x is None:
                t = ctx.fresh()
            elif i >= len(x):
                ctx.fail(f"shape {target} copies dimension {i} of a rank {len(x)} input")
            else:
                t = x[i]
        elif t == -1:
            if minus >= 0:
                ctx.fail(f"shape {target} has more than one -1")
            minus = i
        elif type(t) is int and t < -1:
            ctx.fail(f"shape {target} has a negative dimension")
        elif t is None:
            t = ctx.fresh()
        out.append(t)
    if minus >= 0:
        out[minus] = _minus_one(ctx, x, out[:minus] + out[minus + 1:])
    elif _static(x) and _static(out) and math.prod(x) != math.prod(out):
        ctx.fail(f"cannot reshape {_show(x)} to {_show(tuple(out))}")
    out_shape = tuple(out)
    _reshaped_content(ctx, out_shape)
    return out_shape


@shape_rule("Flatten")
def _flatten_shape(ctx: _Ctx):
    x = ctx.shape(0)
    axis = int(ctx.attr("axis", 1))
    if not -len(x) <= axis <= len(x):
        ctx.fail(f"axis {axis} is out of range for rank {len(x)}")
    if axis < 0:
        axis += len(x)
    out = (_product(ctx, x[:axis]), _product(ctx, x[axis:]))
    _reshaped_content(ctx, out)
    return out


@shape_rule("Transpose")
def _transpose_shape(ctx: _Ctx):
    x = ctx.shape(0)
    perm = ctx.attr("perm")
    perm = list(range(len(x)))[::-1] if perm is None else [int(p) for p in perm]
    if sorted(perm) != list(range(len(x))):
        ctx.fail(f"perm {perm} is not a permutation of the {len(x)} axes")
    c = ctx.content(0)
    if c is not None:
        ctx.set_content(np.transpose(c, perm))
    return tuple(x[p] for p in perm)


def _axes_input_or_attr(ctx: _Ctx, since: int) -> list[int] | None:
    """Axes given as an attribute before opset ``since``, as input 1 from it on (None
    when not given)."""
    if ctx.opset < since:
        axes = ctx.attr("axes")
        return None if axes is None else [int(a) for a in axes]
    return ctx.ints(1) if ctx.present(1) else None


@shape_rule("Unsqueeze")
def _unsqueeze_shape(ctx: _Ctx):
    x = ctx.shape(0)
    axes = _axes_input_or_attr(ctx, 13)
    if axes is None:
        ctx.fail("has no axes")
    rank = len(x) + len(axes)
    positions = {ctx.axis(a, rank, "axes entry") for a in axes}
    if len(positions) != len(axes):
        ctx.fail(f"axes {axes} repeat an axis")
    rest = iter(x)
    out = tuple(1 if i in positions else next(rest) for i in range(rank))
    _reshaped_content(ctx, out)
    return out


@shape_rule("Squeeze")
def _squeeze_shape(ctx: _Ctx):
    x = ctx.shape(0)
    axes = _axes_input_or_attr(ctx, 13)
    if axes is None:
        if not _static(x):
            raise _Unknown  # a symbolic dimension may or may not be 1
        out = tuple(d for d in x if d != 1)
    else:
        picked = {ctx.axis(a, len(x), "axes entry") for a in axes}
        for a in picked:
            if type(x[a]) is int and x[a] != 1:
                ctx.fail(f"cannot squeeze axis {a} of size {x[a]}")
        out = tuple(d for i, d in enumerate(x) if i not in picked)
    _reshaped_content(ctx, out)
    return out


@shape_rule("Concat")
def _concat_shape(ctx: _Ctx):
    present = [i for i in range(len(ctx.node.inputs)) if ctx.present(i)]
    shapes = [ctx.shape(i) for i in present]
    if not shapes:
        raise _Unknown
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        ctx.fail(f"inputs of ranks {[len(s) for s in shapes]} cannot concatenate")
    axis = ctx.axis(int(ctx.attr("axis", 1 if ctx.opset < 4 else 0)), rank)
    out = []
    for k in range(rank):
        dims = [s[k] for s in shapes]
        if k == axis:
            total = 0
            for d in dims:
                total = _add(ctx, total, d)
            out.append(total)
            continue
        static = {d for d in dims if type(d) is int}
        if len(static) > 1:
            ctx.fail(f"shapes {', '.join(_show(s) for s in shapes)} differ outside axis {axis}")
        out.append(static.pop() if static else next((d for d in dims if d is not None), None))
    contents = [ctx.content(i) for i in present]
    if all(c is not None for c in contents):
        objects = any(c.dtype == object for c in contents)
        ctx.set_content(np.concatenate([c.astype(object) if objects else c for c in contents], axis=axis))
    return tuple(out)


@shape_rule("Split")
def _split_shape(ctx: _Ctx):
    x = ctx.shape(0)
    axis = ctx.axis(int(ctx.attr("axis", 0)), len(x))
    n = len(ctx.node.outputs)
    if ctx.opset >= 13 or (ctx.opset < 2 and ctx.present(1)):
        given = ctx.const(1) if ctx.present(1) else None
        if ctx.present(1) and given is None:
            return [x[:axis] + (ctx.fresh(),) + x[axis + 1:] for _ in range(n)]
        sizes = None if given is None else [int(v) for v in given.reshape(-1)]
    else:
        sizes = ctx.attr("split")
    dim = x[axis]
    if sizes:
        sizes = [int(s) for s in sizes]
        if len(sizes) != n:
            ctx.fail(f"split {sizes} has {len(sizes)} parts for {n} outputs")
        if type(dim) is int and sum(sizes) != dim:
            ctx.fail(f"split {sizes} does not add up to dimension {dim}")
    elif type(dim) is not int:
        sizes = [dim] if n == 1 else [ctx.fresh() for _ in range(n)]
    elif ctx.opset >= 18 and ctx.attr("num_outputs") is not None:
        chunk = -(-dim // n)  # the last part is smaller when the dimension does not divide
        sizes = [chunk] * (n - 1) + [dim - chunk * (n - 1)]
        if sizes[-1] < 0:
            ctx.fail(f"cannot split {dim} into {n} parts")
    else:
        sizes = [_exact_div(ctx, dim, n, f"splitting axis {axis} in {n} equal parts")] * n
    c = ctx.content(0)
    if c is not None and all(type(s) is int for s in sizes):
        for i, part in enumerate(np.split(c, np.cumsum(sizes)[:-1], axis=axis)):
            ctx.set_content(part, i)
    return [x[:axis] + (s,) + x[axis + 1:] for s in sizes]


def _slice_axis(ctx: _Ctx, dim, start: int, end: int, step: int):
    """(length, python slice) of one sliced axis; the slice is None for a symbolic dim."""
    if step == 0:
        ctx.fail("a step is 0")
    if type(dim) is not int:
        # only "all of it" is known without the size: [0, INT_MAX) forward, or from the
        # last element (-1 or INT_MAX) down past INT_MIN backward
        if step == 1:
            whole = start == 0 and end >= _INT32_MAX
        else:
            whole = step == -1 and (start == -1 or start >= _INT32_MAX) and end <= -_INT32_MAX - 1
        return (dim if whole else ctx.fresh()), None
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        start = min(max(start, 0), dim)
        end = min(max(end, 0), dim)
        length = max(0, -(-(end - start) // step))
    else:
        start = min(max(start, 0), dim - 1)
        end = min(max(end, -1), dim - 1)
        length = max(0, -(-(start - end) // -step))
    return length, slice(start, end if end >= 0 else None, step)


@shape_rule("Slice")
def _slice_shape(ctx: _Ctx):
    x = ctx.shape(0)
    rank = len(x)
    if ctx.opset < 10:
        starts = [int(v) for v in ctx.attr("starts", [])]
        ends = [int(v) for v in ctx.attr("ends", [])]
        axes = ctx.attr("axes")
        steps = None
    else:
        given = {i: ctx.const(i) for i in (1, 2, 3, 4) if ctx.present(i)}
        axes = [int(a) for a in given[3].reshape(-1)] if given.get(3) is not None else None
        if any(v is None for v in given.values()) or 1 not in given or 2 not in given:
            if 3 in given and axes is None:
                return tuple(ctx.fresh() for _ in x)
            picked = range(rank) if axes is None else {ctx.axis(a, rank, "axes entry") for a in axes}
            return tuple(ctx.fresh() if i in picked else d for i, d in enumerate(x))
        starts, ends = ([int(v) for v in given[i].reshape(-1)] for i in (1, 2))
        steps = [int(v) for v in given[4].reshape(-1)] if 4 in given else None
    axes = list(range(len(starts))) if axes is None else [int(a) for a in axes]
    steps = [1] * len(starts) if steps is None else steps
    if not len(starts) == len(ends) == len(axes) == len(steps):
        ctx.fail(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} differ in length")
    out = list(x)
    index: list = [slice(None)] * rank
    for start, end, a, step in zip(starts, ends, axes, steps):
        a = ctx.axis(a, rank, "axes entry")
        out[a], index[a] = _slice_axis(ctx, x[a], start, end, step)
    c = ctx.content(0)
    if c is not None and all(s is not None for s in index):
        ctx.set_content(c[tuple(index)])
    return tuple(out)


@shape_rule("Gather")
def _gather_shape(ctx: _Ctx):
    data, indices = ctx.shape(0), ctx.shape(1)
    axis = ctx.axis(int(ctx.attr("axis", 0)), len(data))
    out = data[:axis] + indices + data[axis + 1:]
    c, idx = ctx.content(0), ctx.const(1)
    if c is not None and idx is not None and idx.dtype.kind in "iu" and _static(out) \
            and math.prod(out) <= CONTENT_LIMIT:
        size = c.shape[axis]
        if np.all((idx >= -size) & (idx < size)):
            picked = np.take(c, np.where(idx < 0, idx + size, idx), axis=axis)
            ctx.set_content(np.array(picked, dtype=c.dtype))  # a scalar index gives an element
    return out


@shape_rule("GatherElements")
def _gather_elements_shape(ctx: _Ctx):
    return ctx.shape(1)


@shape_rule("GatherND")
def _gather_nd_shape(ctx: _Ctx):
    data, indices = ctx.shape(0), ctx.shape(1)
    batch = int(ctx.attr("batch_dims", 0))
    last = indices[-1] if indices else None
    if type(last) is not int:
        raise _Unknown
    return indices[:-1] + data[batch + last:]


@shape_rule("Shape")
def _shape_shape(ctx: _Ctx):
    x = ctx.shape(0)
    rank = len(x)
    start, end = 0, rank
    if ctx.opset >= 15:
        start = int(ctx.attr("start", 0))
        end = int(ctx.attr("end", rank))
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    dims = list(x[start:end])
    ctx.set_content(np.array(dims, dtype=object) if dims else np.zeros(0, np.int64))
    return (len(dims),)


@shape_rule("Size")
def _size_shape(ctx: _Ctx):
    x = ctx.shape(0)
    if all(d is not None for d in x):
        size = _product(ctx, x)
        ctx.set_content(np.array(size, dtype=np.int64 if type(size) is int else object))
    return ()


@shape_rule("Expand")
def _expand_shape(ctx: _Ctx):
    x = ctx.shape(0)
    target = tuple(d if d is not None else ctx.fresh() for d in ctx.dims_of(1))
    out = _broadcast(ctx, [x, target])
    c = ctx.content(0)
    if c is not None and _static(out) and math.prod(out) <= CONTENT_LIMIT:
        ctx.set_content(np.broadcast_to(c, out).copy())
    return out


@shape_rule("Tile")
def _tile_shape(ctx: _Ctx):
    x = ctx.shape(0)
    repeats = ctx.dims_of(1)
    if len(repeats) != len(x):
        ctx.fail(f"repeats has {len(repeats)} entries for rank {len(x)}")
    out = tuple(_mul(ctx, d, r if r is not None else ctx.fresh()) for d, r in zip(x, repeats))
    c = ctx.content(0)
    if c is not None and _static(out) and math.prod(out) <= CONTENT_LIMIT:
        ctx.set_content(np.tile(c, [int(r) for r in repeats]))
    return out


@shape_rule("Pad")
def _pad_shape(ctx: _Ctx):
    x = ctx.shape(0)
    rank = len(x)
    if ctx.opset < 11:
        pads = ctx.attr("pads" if ctx.opset >= 2 else "paddings")
        axes = list(range(rank))
        if pads is None:
            ctx.fail("has no pads")
    else:
        axes = [ctx.axis(a, rank, "axes entry") for a in ctx.ints(3)] \
            if ctx.opset >= 18 and ctx.present(3) else list(range(rank))
        pads = ctx.const(1)
        if pads is None:
            return tuple(ctx.fresh() if i in axes else d for i, d in enumerate(x))
        pads = [int(p) for p in pads.reshape(-1)]
    n = len(axes)
    if len(pads) != 2 * n:
        ctx.fail(f"pads {list(pads)} should have {2 * n} entries")
    out = list(x)
    for j, a in enumerate(axes):
        out[a] = _add(ctx, x[a], int(pads[j]) + int(pads[j + n]))
        if type(out[a]) is int and out[a] < 0:
            ctx.fail(f"pads {list(pads)} remove more than axis {a} holds")
    return tuple(out)


def _scaled(ctx: _Ctx, dim, scale: float):
    if scale == 1.0:
        return dim
    if type(dim) is not int:
        return ctx.fresh()
    # float32 products, as the runtimes compute them
    return int(math.floor(float(np.float32(dim) * np.float32(scale))))


@shape_rule("Resize")
def _resize_shape(ctx: _Ctx):
    x = ctx.shape(0)
    rank = len(x)
    if ctx.opset < 11:
        scales = ctx.const(1)
        sizes = None
        if scales is None:
            return tuple(ctx.fresh() for _ in x)
    else:
        scales = ctx.const(2) if ctx.present(2) else None
        sizes = ctx.const(3) if ctx.present(3) else None
        if scales is not None and scales.size == 0:
            scales = None
        if sizes is not None and sizes.size == 0:
            sizes = None
        if scales is None and sizes is None:
            if (ctx.present(2) and ctx.content(2) is None) or (ctx.present(3) and ctx.content(3) is None):
                return tuple(ctx.fresh() for _ in x)
            ctx.fail("has neither scales nor sizes")
    axes = [ctx.axis(int(a), rank, "axes entry") for a in ctx.attr("axes")] \
        if ctx.opset >= 18 and ctx.attr("axes") is not None else list(range(rank))
    out = list(x)
    if sizes is not None:
        sizes = [int(s) for s in sizes.reshape(-1)]
        if len(sizes) != len(axes):
            ctx.fail(f"sizes {sizes} do not match {len(axes)} axes")
        policy = ctx.attr("keep_aspect_ratio_policy", "stretch") if ctx.opset >= 18 else "stretch"
        if policy == "stretch":
            for a, s in zip(axes, sizes):
                out[a] = s
            return tuple(out)
        if not all(type(x[a]) is int for a in axes):
            return tuple(ctx.fresh() if i in axes else d for i, d in enumerate(x))
        ratios = [s / x[a] for a, s in zip(axes, sizes)]
        scale = min(ratios) if policy == "not_larger" else max(ratios)
        for a in axes:
            out[a] = int(math.floor(scale * x[a] + 0.5))
        return tuple(out)
    scales = [float(s) for s in scales.reshape(-1)]
    if len(scales) != len(axes):
        ctx.fail(f"scales {scales} do not match {len(axes)} axes")
    crop = None
    if ctx.attr("coordinate_transformation_mode") == "tf_crop_and_resize":
        roi = ctx.const(1)
        if roi is None:
            return tuple(d if s == 1.0 else ctx.fresh() for d, s in zip(x, scales))
        crop = [float(r) for r in roi.reshape(-1)]
    for j, (a, s) in enumerate(zip(axes, scales)):
        if crop is not None:
            s = s * (crop[j + len(axes)] - crop[j])
        out[a] = _scaled(ctx, x[a], s)
    return tuple(out)


@shape_rule("Upsample")
def _upsample_shape(ctx: _Ctx):
    x = ctx.shape(0)
    if ctx.opset < 7:
        if len(x) != 4:
            ctx.fail("needs a 4-D input")
        scales = [1.0, 1.0, float(ctx.attr("height_scale", 1.0)), float(ctx.attr("width_scale", 1.0))]
    elif ctx.opset < 9:
        scales = [float(s) for s in ctx.attr("scales", [])]
    else:
        c = ctx.const(1)
        if c is None:
            return tuple(ctx.fresh() for _ in x)
        scales = [float(s) for s in c.reshape(-1)]
    if len(scales) != len(x):
        ctx.fail(f"scales {scales} do not match rank {len(x)}")
    return tuple(_scaled(ctx, d, s) for d, s in zip(x, scales))


@shape_rule(["DepthToSpace", "SpaceToDepth"])
def _depth_space_shape(ctx: _Ctx):
    x = ctx.shape(0)
    if len(x) != 4:
        ctx.fail(f"needs a 4-D input, not {_show(x)}")
    b = int(ctx.attr("blocksize", 0))
    if b <= 0:
        ctx.fail("needs a positive blocksize")
    n, c, h, w = x
    if ctx.node.op_type == "DepthToSpace":
        return (n, _exact_div(ctx, c, b * b, "channels by blocksize squared"), _mul(ctx, h, b),
                _mul(ctx, w, b))
    return (n, _mul(ctx, c, b * b), _exact_div(ctx, h, b, "height by blocksize"),
            _exact_div(ctx, w, b, "width by blocksize"))


@shape_rule("OneHot")
def _one_hot_shape(ctx: _Ctx):
    indices = ctx.shape(0)
    depth = ctx.const(1)
    d = int(depth.reshape(-1)[0]) if depth is not None and depth.size == 1 else ctx.fresh()
    rank = len(indices) + 1
    axis = ctx.axis(int(ctx.attr("axis", -1)), rank)
    return indices[:axis] + (d,) + indices[axis:]


@shape_rule("Compress")
def _compress_shape(ctx: _Ctx):
    x = ctx.shape(0)
    axis = ctx.attr("axis")
    cond = ctx.const(1)
    kept = int(np.count_nonzero(cond)) if cond is not None and cond.dtype == np.bool_ else ctx.fresh()
    if axis is None:
        return (kept,)
    a = ctx.axis(int(axis), len(x))
    return x[:a] + (kept,) + x[a + 1:]


@shape_rule("NonZero")
def _nonzero_shape(ctx: _Ctx):
    return (len(ctx.shape(0)), ctx.fresh())


@shape_rule("Unique")
def _unique_shape(ctx: _Ctx):
    x = ctx.shape(0)
    count = ctx.fresh()
    axis = ctx.attr("axis")
    if axis is None:
        return [(count,), (count,), (_product(ctx, x),), (count,)]
    a = ctx.axis(int(axis), len(x))
    return [x[:a] + (count,) + x[a + 1:], (count,), (x[a],), (count,)]


@shape_rule("TopK")
def _topk_shape(ctx: _Ctx):
    x = ctx.shape(0)
    axis = ctx.axis(int(ctx.attr("axis", -1)), len(x))
    if ctx.opset >= 10:
        k_value = ctx.const(1)
        k = int(k_value.reshape(-1)[0]) if k_value is not None and k_value.size == 1 else ctx.fresh()
    else:
        k = int(ctx.attr("k", 0))
    if type(k) is int and type(x[axis]) is int and k > x[axis]:
        ctx.fail(f"k={k} exceeds axis {axis} of size {x[axis]}")
    out = x[:axis] + (k,) + x[axis + 1:]
    return [out, out]


_REDUCE = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
           "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]


def _reduced(x: tuple, axes, keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes)


@shape_rule(_REDUCE)
def _reduce_shape(ctx: _Ctx):
    x = ctx.shape(0)
    keepdims = bool(ctx.attr("keepdims", 1))
    axes_as_input = ctx.opset >= (13 if ctx.node.op_type == "ReduceSum" else 18)
    noop = axes_as_input and bool(ctx.attr("noop_with_empty_axes", 0))
    if axes_as_input:
        if ctx.present(1) and ctx.const(1) is None:
            if keepdims:
                return tuple(1 if d == 1 else ctx.fresh() for d in x)
            count = ctx.shape(1)
            if len(count) != 1 or type(count[0]) is not int or count[0] == 0:
                raise _Unknown
            return tuple(ctx.fresh() for _ in range(len(x) - count[0]))
        axes = ctx.ints(1) if ctx.present(1) else []
    else:
        axes = [int(a) for a in ctx.attr("axes", [])]
    if not axes:
        if noop:
            return x
        axes = range(len(x))
    picked = {ctx.axis(a, len(x), "axes entry") for a in axes}
    return _reduced(x, picked, keepdims)


@shape_rule(["ArgMax", "ArgMin"])
def _arg_reduce_shape(ctx: _Ctx):
    x = ctx.shape(0)
    axis = ctx.axis(int(ctx.attr("axis", 0)), len(x))
    return _reduced(x, {axis}, bool(ctx.attr("keepdims", 1)))


@shape_rule("Det")
def _det_shape(ctx: _Ctx):
    x = ctx.shape(0)
    if len(x) < 2:
        ctx.fail(f"needs a matrix or a batch of them, not {_show(x)}")
    return x[:-2]


@shape_rule("CenterCropPad")
def _center_crop_pad_shape(ctx: _Ctx):
    x = ctx.shape(0)
    sizes = ctx.dims_of(1)
    axes = ctx.attr("axes") or list(range(len(x)))
    out = list(x)
    for a, s in zip(axes, sizes):
        out[ctx.axis(int(a), len(x))] = s if s is not None else ctx.fresh()
    return tuple(out)


@shape_rule("GridSample")
def _grid_sample_shape(ctx: _Ctx):
    x, grid = ctx.shape(0), ctx.shape(1)
    return (x[0], x[1]) + grid[1:-1]


@shape_rule("RoiAlign")
def _roi_align_shape(ctx: _Ctx):
    x, rois = ctx.shape(0), ctx.shape(1)
    return (rois[0], x[1], int(ctx.attr("output_height", 1)), int(ctx.attr("output_width", 1)))


@shape_rule("NonMaxSuppression")
def _nms_shape(ctx: _Ctx):
    return (ctx.fresh(), 3)


@shape_rule(["LSTM", "GRU", "RNN"])
def _rnn_shape(ctx: _Ctx):
    x, w = ctx.shape(0), ctx.shape(1)
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[ctx.node.op_type]
    hidden = ctx.attr("hidden_size")
    if hidden is None:
        hidden = _exact_div(ctx, w[1], gates, "weight rows by gates") if len(w) == 3 else ctx.fresh()
    directions = 2 if ctx.attr("direction", "forward") == "bidirectional" else 1
    if ctx.opset >= 14 and ctx.attr("layout", 0):
        batch, seq = x[0], x[1]
        y, state = (batch, seq, directions, hidden), (batch, directions, hidden)
    else:
        seq, batch = x[0], x[1]
        y, state = (seq, directions, batch, hidden), (directions, batch, hidden)
    return [y, state, state]


@dtype_rule("Attention")
def _attention_dtype(ctx: _Ctx):
    return [ctx.dtype(0), ctx.dtype(0), ctx.dtype(2), ctx.dtype(0)]


@shape_rule("Attention")
def _attention_shape(ctx: _Ctx):
    q, k, v = ctx.shape(0), ctx.shape(1), ctx.shape(2)
    if len(q) == 4:
        if len(k) != 4 or len(v) != 4:
            ctx.fail("Q is 4-D, so K and V must be too")
        batch, q_heads, q_len = q[0], q[1], q[2]
        kv_heads, kv_len, head, v_head = k[1], k[2], k[3], v[3]
    elif len(q) == 3:
        q_heads, kv_heads = ctx.attr("q_num_heads"), ctx.attr("kv_num_heads")
        if q_heads is None or kv_heads is None:
            ctx.fail("3-D inputs need q_num_heads and kv_num_heads")
        batch, q_len, kv_len = q[0], q[1], k[1]
        head = _exact_div(ctx, k[2], kv_heads, "K hidden size by kv_num_heads")
        v_head = _exact_div(ctx, v[2], kv_heads, "V hidden size by kv_num_heads")
    else:
        ctx.fail(f"Q must be 3-D or 4-D, not {_show(q)}")
    past = ctx.shape(4)[2] if ctx.present(4) else 0
    total = _add(ctx, past, kv_len)
    y = (batch, q_heads, q_len, v_head) if len(q) == 4 else (batch, q_len, _mul(ctx, q_heads, v_head))
    return [y, (batch, kv_heads, total, head), (batch, kv_heads, total, v_head),
            (batch, q_heads, q_len, total)]


@shape_rule(["SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss"])
def _loss_shape(ctx: _Ctx):
    scores, target = ctx.shape(0), ctx.shape(1)
    loss = target if ctx.attr("reduction", "mean") == "none" else ()
    return [loss, scores]


# ---- values: constants, casts, ranges -----------------------------------------------------------


def _constant_value(ctx: _Ctx) -> np.ndarray:
    a = ctx.attrs
    if "value" in a or "sparse_value" in a:
        return np.asarray(a.get("value", a.get("sparse_value")))
    if "value_float" in a:
        return np.array(a["value_float"], dtype=np.float32)
    if "value_floats" in a:
        return np.array(a["value_floats"], dtype=np.float32)
    if "value_int" in a:
        return np.array(a["value_int"], dtype=np.int64)
    if "value_ints" in a:
        return np.array(a["value_ints"], dtype=np.int64)
    if "value_string" in a:
        return np.array(a["value_string"], dtype=object)
    if "value_strings" in a:
        return np.array(a["value_strings"], dtype=object)
    ctx.fail("has no value attribute")


@dtype_rule("Constant")
def _constant_dtype(ctx: _Ctx):
    return elem_type_of(_constant_value(ctx))


@shape_rule("Constant")
def _constant_shape(ctx: _Ctx):
    value = _constant_value(ctx)
    if value.dtype != object:  # string constants are not shape material
        ctx.out_contents[0] = value  # the model's own tensor, whatever its size
    return tuple(value.shape)


@shape_rule("ConstantOfShape")
def _constant_of_shape_shape(ctx: _Ctx):
    out = tuple(d if d is not None else ctx.fresh() for d in ctx.dims_of(0))
    if any(type(d) is int and d < 0 for d in out):
        ctx.fail(f"shape {_show(out)} has a negative dimension")
    value = ctx.attr("value")
    if _static(out) and math.prod(out) <= CONTENT_LIMIT:
        fill = value.reshape(-1)[:1] if isinstance(value, np.ndarray) else np.zeros(1, np.float32)
        ctx.set_content(np.full(out, fill[0], dtype=fill.dtype))
    return out


@shape_rule(["Cast", "CastLike"])
def _cast_shape(ctx: _Ctx):
    c = ctx.content(0)
    to = _cast_dtype(ctx) if ctx.node.op_type == "Cast" else ctx.dtype(1)
    if c is not None and to not in dtypes.WIDENED and to in dtypes.STORAGE and to != dtypes.STRING:
        if c.dtype != object:
            if c.size <= CONTENT_LIMIT:
                with np.errstate(all="ignore"):
                    ctx.set_content(c.astype(dtypes.storage_dtype(to)))
        elif to not in (dtypes.BOOL,):
            ctx.set_content(c)  # symbolic entries are the same numbers in any numeric type
    return ctx.shape(0)


@shape_rule("Range")
def _range_shape(ctx: _Ctx):
    start, limit, delta = (ctx.content(i) for i in range(3))
    if start is None or limit is None or delta is None or start.size != 1 or limit.size != 1 \
            or delta.size != 1:
        return (ctx.fresh(),)
    s, l, d = (v.reshape(-1)[0] for v in (start, limit, delta))
    if isinstance(l, str) and _entry(s) == 0 and _entry(d) == 1:
        return (l,)  # Range(0, n, 1) of a symbolic n
    if start.dtype == object or limit.dtype == object or delta.dtype == object:
        return (ctx.fresh(),)
    if d == 0:
        ctx.fail("delta is 0")
    with np.errstate(all="ignore"):
        n = int(max(math.ceil(float((l - s) / d)), 0)) if start.dtype.kind == "f" else \
            max(-(-(int(l) - int(s)) // int(d)), 0)
    if n <= CONTENT_LIMIT:
        ctx.set_content((s + np.arange(n, dtype=start.dtype) * d).astype(start.dtype))
    return (n,)


@shape_rule(["RandomNormal", "RandomUniform"])
def _random_shape(ctx: _Ctx):
    shape = ctx.attr("shape")
    if shape is None:
        ctx.fail("has no shape")
    return tuple(int(d) for d in shape)


@shape_rule("Multinomial")
def _multinomial_shape(ctx: _Ctx):
    x = ctx.shape(0)
    return (x[0], int(ctx.attr("sample_size", 1)))


# ---- contents of elementwise ops on small tensors --------------------------------------------

_NUMPY_OPS = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Max": np.maximum, "Min": np.minimum,
    "Equal": np.equal, "Less": np.less, "Greater": np.greater, "LessOrEqual": np.less_equal,
    "GreaterOrEqual": np.greater_equal, "And": np.logical_and, "Or": np.logical_or,
    "Xor": np.logical_xor,
}


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer division truncating toward zero (what the runtimes do)."""
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q).astype(a.dtype)


def _symbolic_binary(ctx: _Ctx, op: str, a, b):
    if op == "Add":
        return _add(ctx, a, b)
    if op == "Mul":
        return _mul(ctx, a, b)
    if op == "Sub":
        if type(a) is int and type(b) is int:
            return a - b
        return a if b == 0 else (0 if a == b and a is not None else ctx.fresh())
    if type(a) is int and type(b) is int and b:  # Div
        q = abs(a) // abs(b)
        return -q if (a < 0) != (b < 0) else q
    return a if b == 1 else (1 if a == b and a is not None else ctx.fresh())


def _elementwise_content(ctx: _Ctx, out: tuple) -> None:
    op = ctx.node.op_type
    if op not in _NUMPY_OPS and op not in ("Div", "Where") or not _static(out) \
            or math.prod(out) > CONTENT_LIMIT:
        return
    values = [ctx.content(i) for i in range(len(ctx.node.inputs))]
    if not values or any(v is None for v in values):
        return
    if any(v.dtype == object for v in values):
        if op == "Where":
            if values[0].dtype == np.bool_:
                ctx.set_content(np.where(values[0], values[1], values[2]))
        elif op in ("Add", "Sub", "Mul", "Div") and len(values) == 2:
            a, b = np.broadcast_arrays(*values)
            flat = [_symbolic_binary(ctx, op, _entry(x), _entry(y)) for x, y in zip(a.flat, b.flat)]
            ctx.set_content(np.array(flat, dtype=object).reshape(out))
        return
    with np.errstate(all="ignore"):
        if op == "Where":
            result = np.where(values[0], values[1], values[2])
        elif op == "Div":
            if values[0].dtype.kind in "iu":
                if np.any(values[1] == 0):
                    return
                result = _int_div(*np.broadcast_arrays(values[0], values[1]))
            else:
                result = np.true_divide(values[0], values[1]).astype(values[0].dtype)
        else:
            result = values[0]
            for v in values[1:]:
                result = _NUMPY_OPS[op](result, v)
            if result.dtype != np.bool_:
                result = result.astype(values[0].dtype)
    ctx.set_content(np.asarray(result))



# ---- types beyond plain tensors: identity, sequences, optionals, subgraphs ---------------------


def _tensor(elem: int, shape) -> ValueType:
    return ValueType("tensor", elem, shape)


def _join(ctx: _Ctx, a: ValueType | None, b: ValueType | None) -> ValueType:
    """A type that covers both ``a`` and ``b`` (If branches; a loop's first and later
    iterations): equal dimensions stay, differing ones become fresh symbols."""
    if a is None or b is None or a.kind != b.kind:
        return ValueType()
    shape = None
    if a.shape is not None and b.shape is not None and len(a.shape) == len(b.shape):
        shape = tuple(x if x == y else ctx.fresh() for x, y in zip(a.shape, b.shape))
    inner = _join(ctx, a.inner, b.inner) if a.inner is not None and b.inner is not None else None
    return ValueType(a.kind, a.elem_type or b.elem_type, shape, inner)


@type_rule("Identity")
def _identity_type(ctx: _Ctx):
    content = ctx.content(0)
    if content is not None:
        ctx.out_contents[0] = content
    t = ctx.type(0)
    return [t] if t is not None else []


@type_rule("SequenceConstruct")
def _sequence_construct_type(ctx: _Ctx):
    items = [ctx.type(i) for i in range(len(ctx.node.inputs))]
    inner = items[0] if items else None
    for t in items[1:]:
        inner = _join(ctx, inner, t)
    inner = inner if inner is not None else ValueType()
    return [ValueType("sequence", inner.elem_type, None, inner)]


@type_rule("SequenceEmpty")
def _sequence_empty_type(ctx: _Ctx):
    elem = int(ctx.attr("dtype", dtypes.FLOAT))
    return [ValueType("sequence", elem, None, _tensor(elem, None))]


@type_rule("SequenceAt")
def _sequence_at_type(ctx: _Ctx):
    seq = ctx.type(0)
    if seq is None or seq.inner is None:
        return [_tensor(seq.elem_type if seq is not None else 0, None)]
    return [seq.inner]


@type_rule("SequenceInsert")
def _sequence_insert_type(ctx: _Ctx):
    seq, item = ctx.type(0), ctx.type(1)
    if seq is None:
        return []
    inner = item if seq.inner is None or seq.inner.elem_type == 0 else _join(ctx, seq.inner, item)
    return [ValueType("sequence", seq.elem_type or (item.elem_type if item else 0), None, inner)]


@type_rule("SequenceErase")
def _sequence_erase_type(ctx: _Ctx):
    t = ctx.type(0)
    return [t] if t is not None else []


@type_rule("SequenceLength")
def _sequence_length_type(ctx: _Ctx):
    return [_tensor(dtypes.INT64, ())]


@type_rule("SplitToSequence")
def _split_to_sequence_type(ctx: _Ctx):
    elem = ctx.dtype(0)
    t = ctx.type(0)
    shape = None
    if t is not None and t.shape is not None:
        x = t.shape
        axis = ctx.axis(int(ctx.attr("axis", 0)), len(x))
        split = ctx.const(1) if ctx.present(1) else None
        if not ctx.present(1):
            keep = bool(ctx.attr("keepdims", 1))
            shape = x[:axis] + ((1,) if keep else ()) + x[axis + 1:]
        elif split is not None:
            parts = [int(s) for s in split.reshape(-1)]
            if split.ndim == 0:
                size = parts[0] if type(x[axis]) is int and x[axis] % parts[0] == 0 else ctx.fresh()
            else:
                size = parts[0] if len(set(parts)) == 1 else ctx.fresh()
            shape = x[:axis] + (size,) + x[axis + 1:]
        else:
            shape = x[:axis] + (ctx.fresh(),) + x[axis + 1:]
    return [ValueType("sequence", elem, None, _tensor(elem, shape))]


@type_rule("ConcatFromSequence")
def _concat_from_sequence_type(ctx: _Ctx):
    seq = ctx.type(0)
    inner = seq.inner if seq is not None else None
    elem = seq.elem_type if seq is not None else 0
    if inner is None or inner.shape is None:
        return [_tensor(elem, None)]
    x = inner.shape
    new_axis = bool(ctx.attr("new_axis", 0))
    axis = ctx.axis(int(ctx.attr("axis", 0)), len(x) + new_axis)
    if new_axis:
        return [_tensor(elem, x[:axis] + (ctx.fresh(),) + x[axis:])]
    return [_tensor(elem, x[:axis] + (ctx.fresh(),) + x[axis + 1:])]


@type_rule("Optional")
def _optional_type(ctx: _Ctx):
    inner = ctx.type(0) if ctx.present(0) else ctx.attr("type")
    if not isinstance(inner, ValueType):
        return [ValueType("optional")]
    return [ValueType("optional", inner.elem_type, None, inner)]


@type_rule("OptionalGetElement")
def _optional_get_element_type(ctx: _Ctx):
    t = ctx.type(0)
    if t is None:
        return []
    return [t.inner if t.kind == "optional" and t.inner is not None else t]


@type_rule("OptionalHasElement")
def _optional_has_element_type(ctx: _Ctx):
    return [_tensor(dtypes.BOOL, ())]


def _generalize(ctx: _Ctx, given: ValueType, returned: ValueType | None) -> ValueType:
    """``given`` with the dimensions that ``returned`` does not keep made fresh symbols."""
    if returned is None or returned.kind != given.kind:
        return ValueType(given.kind, given.elem_type, None, given.inner)
    shape = given.shape
    if shape is not None:
        if returned.shape is None or len(returned.shape) != len(shape):
            shape = None
        else:
            shape = tuple(d if d == r else ctx.fresh() for d, r in zip(shape, returned.shape))
    inner = given.inner
    if inner is not None:
        inner = _generalize(ctx, inner, returned.inner)
    return ValueType(given.kind, given.elem_type, shape, inner)


def _subgraph_outputs(ctx: _Ctx, graph: Graph, input_types: dict[str, ValueType],
                      carried: list[tuple[str, int]]) -> tuple[list[ValueType | None], _Env]:
    """Infer a body graph (into its value_info when committing) and return its output
    types.  ``carried`` pairs the body inputs that change from one iteration to the
    next with the body outputs that feed them: where the body returns one with other
    dimensions, the body is inferred again with those dimensions made fresh symbols, so
    that what it says holds for every iteration."""
    env = ctx.env
    if carried:
        trial, _ = _infer_graph(graph, env, env.symbols, input_types, commit=False)
        for name, k in carried:
            returned = trial.get(graph.outputs[k].name) if k < len(graph.outputs) else None
            input_types[name] = _generalize(ctx, input_types[name], returned)
    result, body_env = _infer_graph(graph, env, env.symbols, input_types, commit=ctx.commit)
    return [result.get(v.name) for v in graph.outputs], body_env


@type_rule("If")
def _if_type(ctx: _Ctx):
    cond = ctx.const(0)
    if cond is not None and cond.size == 1:  # the other branch never runs: it may not even fit
        taken: Graph = ctx.attrs["then_branch" if cond.reshape(-1)[0] else "else_branch"]
        types, body_env = _subgraph_outputs(ctx, taken, {}, [])
        for i, v in enumerate(taken.outputs):
            content = body_env.content(v.name)
            if content is not None:
                ctx.out_contents[i] = content
        return types
    branches = []
    for name in ("then_branch", "else_branch"):
        try:
            branches.append(_subgraph_outputs(ctx, ctx.attrs[name], {}, [])[0])
        except ValueError:
            # a branch that cannot work with these shapes is one the condition rules out
            # (exporters guard rank-specific code this way); the other one decides
            branches.append(None)
    then_out, else_out = branches
    if then_out is None or else_out is None:
        if then_out is None and else_out is None:
            ctx.fail("neither branch fits its inputs")
        return then_out if then_out is not None else else_out
    return [_join(ctx, t, e) for t, e in zip(then_out, else_out)]


@type_rule("Loop")
def _loop_type(ctx: _Ctx):
    body: Graph = ctx.attrs["body"]
    names = [v.name for v in body.inputs]
    n_carried = len(ctx.node.inputs) - 2
    if len(names) != n_carried + 2:
        ctx.fail(f"body has {len(names)} inputs for {n_carried} loop-carried values")
    input_types = {names[0]: _tensor(dtypes.INT64, ()), names[1]: _tensor(dtypes.BOOL, ())}
    initial = [ctx.type(2 + j) or ValueType() for j in range(n_carried)]
    for j in range(n_carried):
        input_types[names[2 + j]] = initial[j]
    outs, _ = _subgraph_outputs(ctx, body, input_types, [(names[2 + j], 1 + j) for j in range(n_carried)])
    results = [_join(ctx, initial[j], outs[1 + j]) for j in range(n_carried)]
    trip = ctx.const(0)
    iterations = int(trip.reshape(-1)[0]) if trip is not None and trip.size == 1 and not ctx.present(1) \
        else ctx.fresh()
    for t in outs[1 + n_carried:]:
        if t is None:
            results.append(ValueType())
        else:
            shape = (iterations,) + t.shape if t.shape is not None else None
            results.append(ValueType(t.kind, t.elem_type, shape, t.inner))
    return results


@type_rule("Scan")
def _scan_type(ctx: _Ctx):
    if ctx.opset < 9:
        return []  # opset 8 Scan has a batch axis and sequence_lens: left to the model
    body: Graph = ctx.attrs["body"]
    names = [v.name for v in body.inputs]
    n_scan = int(ctx.attr("num_scan_inputs", 0))
    n_states = len(ctx.node.inputs) - n_scan
    if len(names) != len(ctx.node.inputs):
        ctx.fail(f"body has {len(names)} inputs for {len(ctx.node.inputs)} Scan inputs")
    in_axes = [int(a) for a in ctx.attr("scan_input_axes", [0] * n_scan)]
    initial = [ctx.type(j) or ValueType() for j in range(n_states)]
    input_types = dict(zip(names, initial))
    length = None
    for k in range(n_scan):
        t = ctx.type(n_states + k)
        if t is None or t.shape is None:
            input_types[names[n_states + k]] = ValueType("tensor", t.elem_type if t else 0, None)
            continue
        axis = ctx.axis(in_axes[k], len(t.shape), "scan_input_axes entry")
        if length is None:
            length = t.shape[axis]
        input_types[names[n_states + k]] = _tensor(t.elem_type, t.shape[:axis] + t.shape[axis + 1:])
    outs, _ = _subgraph_outputs(ctx, body, input_types, [(names[j], j) for j in range(n_states)])
    results = [_join(ctx, initial[j], outs[j]) for j in range(n_states)]
    scan_outs = outs[n_states:]
    out_axes = [int(a) for a in ctx.attr("scan_output_axes", [0] * len(scan_outs))]
    for k, t in enumerate(scan_outs):
        if t is None or t.shape is None:
            results.append(_tensor(t.elem_type if t else 0, None))
            continue
        axis = ctx.axis(out_axes[k], len(t.shape) + 1, "scan_output_axes entry")
        steps = length if length is not None else ctx.fresh()
        results.append(_tensor(t.elem_type, t.shape[:axis] + (steps,) + t.shape[axis:]))
    return results
