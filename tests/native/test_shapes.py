"""Dtype and shape inference (pywebinfer.graph.shapes) against onnx's own inference.

Every small graph below is inferred by both; wherever onnx infers a fully static shape,
ours must be that shape, and element types must agree.  Symbolic results (which onnx
names differently) are checked against hand-written expectations.  The onnx wheel's
light models and the real models in models/ are compared the same way, value by value;
MiniLM is also run through onnxruntime to check that every symbolic dimension stands for
one size throughout the graph.
"""
from __future__ import annotations

import glob
import os
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pywebinfer import dtypes
from pywebinfer.graph.ir import Graph, Node, Value, ValueType
from pywebinfer.graph.shapes import infer_shapes, static_size_bytes
from pywebinfer.onnx.importer import load_model

F, I64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
MODELS_DIR = Path(os.environ.get("PYWEBINFER_MODELS", Path(__file__).resolve().parents[2] / "models"))
LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


# ---- helpers ---------------------------------------------------------------------------------


def inp(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def init(name, values, dtype=np.int64):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def model(nodes, inputs, outputs, initializers=(), opset=18, value_info=(), extra_opsets=()):
    """A model whose outputs carry no type (what they are is left to inference)."""
    outs = [o if isinstance(o, onnx.ValueInfoProto) else onnx.ValueInfoProto(name=o) for o in outputs]
    graph = helper.make_graph(nodes, "g", inputs, outs, initializer=list(initializers),
                              value_info=list(value_info))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    m = helper.make_model(graph, opset_imports=opsets)
    m.ir_version = 10
    return m


def onnx_types(m: onnx.ModelProto) -> dict[str, tuple[int, tuple | None]]:
    inferred = onnx.shape_inference.infer_shapes(m)
    out = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        t = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            continue
        shape = None
        if t.HasField("shape"):
            shape = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                          for d in t.shape.dim)
        out[vi.name] = (t.elem_type, shape)
    return out


def is_static(shape) -> bool:
    return shape is not None and all(type(d) is int and d >= 0 for d in shape)


def compare_with_onnx(mine: dict[str, ValueType], m: onnx.ModelProto) -> int:
    """Assert agreement wherever onnx knows the static shape; returns how many values
    were compared."""
    compared = 0
    for name, (elem, shape) in onnx_types(m).items():
        if name not in mine:
            continue  # initializers listed in value_info
        got = mine[name]
        if elem:
            assert got.elem_type == elem, f"{name}: element type {got.elem_type}, onnx says {elem}"
        if is_static(shape):
            assert got.shape == shape, f"{name}: shape {got.shape}, onnx says {shape}"
            compared += 1
    return compared


def infer(m: onnx.ModelProto, check_onnx: bool = True) -> dict[str, ValueType]:
    graph = load_model(m.SerializeToString()).graph
    mine = infer_shapes(graph)
    if check_onnx:
        compare_with_onnx(mine, m)
    return mine


def one(op, inputs, initializers=(), outputs=("y",), opset=18, domain="", in_names=None, **attrs):
    """Infer a one-node graph; inputs are ValueInfos, initializers TensorProtos."""
    names = in_names or [v.name for v in inputs] + [t.name for t in initializers]
    node = helper.make_node(op, names, list(outputs), domain=domain or None, **attrs)
    extra = [(domain, 1)] if domain else []
    m = model([node], list(inputs), [o for o in outputs if o], initializers, opset, extra_opsets=extra)
    return infer(m, check_onnx=not domain)


def shape_of(result, name="y"):
    return result[name].shape


def fresh(d) -> bool:
    return isinstance(d, str) and d.startswith("unk__")


# ---- elementwise --------------------------------------------------------------------------------


def test_broadcast_static_and_symbolic():
    r = one("Add", [inp("a", ["N", 3, 1, 5]), inp("b", [4, 1])])
    assert shape_of(r) == ("N", 3, 4, 5)
    assert shape_of(one("Mul", [inp("a", ["N", 1]), inp("b", [1, "M"])])) == ("N", "M")
    assert shape_of(one("Sub", [inp("a", ["N", 3]), inp("b", ["N", 3])])) == ("N", 3)
    a, b = shape_of(one("Add", [inp("a", ["N", 3]), inp("b", ["K", 3])]))
    assert fresh(a) and b == 3  # N and K broadcast to one of them: unknown which
    assert shape_of(one("Add", [inp("a", ["N", 1]), inp("b", [7, 1])])) == (7, 1)


def test_broadcast_incompatible_raises():
    with pytest.raises(ValueError, match="cannot broadcast"):
        one("Add", [inp("a", [2, 3]), inp("b", [4])])


def test_unary_comparison_and_where():
    assert shape_of(one("Erf", [inp("x", ["N", 8])])) == ("N", 8)
    r = one("Equal", [inp("a", ["N", 4], I64), inp("b", [1], I64)])
    assert r["y"].elem_type == dtypes.BOOL and shape_of(r) == ("N", 4)
    r = one("Where", [inp("c", ["N", 1], BOOL), inp("x", [1, 4]), inp("z", ["N", 4])])
    assert r["y"].elem_type == dtypes.FLOAT and shape_of(r) == ("N", 4)
    r = one("Sum", [inp("a", [3, 1]), inp("b", [1, 4]), inp("c", [4])])
    assert shape_of(r) == (3, 4)


def test_legacy_broadcast_attribute():
    r = one("Add", [inp("a", [2, 3, 4]), inp("b", [3])], opset=6, broadcast=1, axis=1)
    assert shape_of(r) == (2, 3, 4)


# ---- convolution and pooling -------------------------------------------------------------------


@pytest.mark.parametrize("attrs, expected", [
    (dict(strides=[2, 2], pads=[1, 1, 1, 1]), ("N", 32, 112, 112)),
    (dict(auto_pad="SAME_UPPER", strides=[2, 2]), ("N", 32, 113, 113)),
    (dict(auto_pad="SAME_LOWER", strides=[2, 2]), ("N", 32, 113, 113)),
    (dict(auto_pad="VALID", strides=[2, 2]), ("N", 32, 112, 112)),
    (dict(dilations=[2, 2], pads=[0, 1, 2, 3]), ("N", 32, 222, 224)),
])
def test_conv(attrs, expected):
    size = 225 if attrs.get("auto_pad") else 224
    r = one("Conv", [inp("x", ["N", 3, size, size])], [init("w", np.zeros((32, 3, 3, 3)), np.float32)],
            **attrs)
    assert shape_of(r) == expected


def test_conv_depthwise_1d_3d_and_symbolic_spatial():
    r = one("Conv", [inp("x", [1, 8, 20])], [init("w", np.zeros((8, 1, 5)), np.float32)], group=8,
            strides=[3])
    assert shape_of(r) == (1, 8, 6)
    r = one("Conv", [inp("x", [2, 4, 9, 10, 11])], [init("w", np.zeros((6, 4, 3, 3, 3)), np.float32)])
    assert shape_of(r) == (2, 6, 7, 8, 9)
    # stride 1 with the padding a 3x3 kernel needs keeps symbolic sizes; stride 2 cannot
    r = one("Conv", [inp("x", ["N", 3, "H", "W"])], [init("w", np.zeros((16, 3, 3, 3)), np.float32)],
            pads=[1, 1, 1, 1])
    assert shape_of(r) == ("N", 16, "H", "W")
    n, c, h, w = shape_of(one("Conv", [inp("x", ["N", 3, "H", "W"])],
                              [init("w", np.zeros((16, 3, 3, 3)), np.float32)], strides=[2, 2]))
    assert (n, c) == ("N", 16) and fresh(h) and fresh(w) and h != w


def test_conv_channel_mismatch_raises():
    with pytest.raises(ValueError, match="channels"):
        one("Conv", [inp("x", [1, 4, 8, 8])], [init("w", np.zeros((8, 3, 3, 3)), np.float32)])


@pytest.mark.parametrize("attrs, expected", [
    (dict(strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]), (1, 16, 20, 20)),
    (dict(strides=[2, 2], output_shape=[21, 21]), (1, 16, 21, 21)),
    (dict(strides=[2, 2], auto_pad="SAME_UPPER"), (1, 16, 20, 20)),
    (dict(strides=[3, 2], dilations=[2, 1], group=2), (1, 32, 32, 21)),
])
def test_conv_transpose(attrs, expected):
    r = one("ConvTranspose", [inp("x", [1, 8, 10, 10])], [init("w", np.zeros((8, 16, 3, 3)), np.float32)],
            **attrs)
    assert shape_of(r) == expected


@pytest.mark.parametrize("op, attrs, size, expected", [
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2]), 112, 55),
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1), 112, 56),
    # the last window would start inside the end padding: it is dropped
    ("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1), 4, 3),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1), 8, 5),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), 8, 4),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"), 7, 4),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_LOWER", ceil_mode=1), 8, 4),
    ("MaxPool", dict(kernel_shape=[3, 3], dilations=[2, 2]), 10, 6),
    ("LpPool", dict(kernel_shape=[2, 2], strides=[2, 2]), 9, 4),
])
def test_pooling(op, attrs, size, expected):
    r = one(op, [inp("x", ["N", 3, size, size])], **attrs)
    assert shape_of(r) == ("N", 3, expected, expected)


def test_pooling_valid_ignores_ceil_mode():
    """The spec's VALID length is ceil((8 - 3 + 1) / 2) = 3 with or without ceil_mode (as
    pywebinfer's kernels compute it); onnx's inference and onnxruntime give 4 there."""
    m = model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3], strides=[2], auto_pad="VALID",
                                ceil_mode=1)], [inp("x", [1, 1, 8])], ["y"])
    assert shape_of(infer(m, check_onnx=False)) == (1, 1, 3)


def test_maxpool_indices_and_global_pool():
    r = one("MaxPool", [inp("x", [1, 2, 6, 6])], outputs=("y", "idx"), kernel_shape=[2, 2], strides=[2, 2])
    assert r["idx"].elem_type == dtypes.INT64 and shape_of(r, "idx") == (1, 2, 3, 3)
    assert shape_of(one("GlobalAveragePool", [inp("x", ["N", 7, "H", "W"])])) == ("N", 7, 1, 1)


# ---- matrix products --------------------------------------------------------------------------


@pytest.mark.parametrize("a, b, expected", [
    ([2, 3, 4], [4, 5], (2, 3, 5)),
    ([4], ["N", 4, 5], ("N", 5)),
    (["N", 3, 4], [4], ("N", 3)),
    ([2, 1, 3, 4], [5, 4, 6], (2, 5, 3, 6)),
    (["B", 12, "S", 32], ["B", 12, 32, "S"], ("B", 12, "S", "S")),
])
def test_matmul(a, b, expected):
    assert shape_of(one("MatMul", [inp("a", a), inp("b", b)])) == expected


def test_matmul_inner_mismatch_raises():
    with pytest.raises(ValueError, match="inner"):
        one("MatMul", [inp("a", [2, 3]), inp("b", [4, 5])])


def test_gemm():
    r = one("Gemm", [inp("a", [4, "M"]), inp("b", [10, 4]), inp("c", [10])], transA=1, transB=1)
    assert shape_of(r) == ("M", 10)


def test_fused_ops():
    w = init("w", np.zeros((8, 3, 3, 3)), np.float32)
    r = one("FusedConv", [inp("x", ["N", 3, 32, 32])], [w], domain="pywebinfer", strides=[2, 2],
            pads=[1, 1, 1, 1], activation="Relu")
    assert shape_of(r) == ("N", 8, 16, 16)
    r = one("FusedGemm", [inp("a", ["N", 16]), inp("b", [16, 4])], domain="pywebinfer")
    assert shape_of(r) == ("N", 4)
    r = one("FusedMatMul", [inp("a", ["B", "S", 16]), inp("b", [16, 4]), inp("c", [4])], domain="pywebinfer")
    assert shape_of(r) == ("B", "S", 4)


def test_einsum():
    r = one("Einsum", [inp("a", ["B", 3, 4]), inp("b", ["B", 4, 5])], equation="bij,bjk->bik")
    assert shape_of(r) == ("B", 3, 5)
    assert shape_of(one("Einsum", [inp("a", [2, 3]), inp("b", [3, 4])], equation="ij,jk")) == (2, 4)
    assert shape_of(one("Einsum", [inp("a", [7, 2, 3])], equation="...ij->...ji")) == (7, 3, 2)


# ---- reshaping ---------------------------------------------------------------------------------


def test_reshape_constant_shapes():
    assert shape_of(one("Reshape", [inp("x", [2, 3, 4])], [init("s", [0, -1])])) == (2, 12)
    assert shape_of(one("Reshape", [inp("x", [2, 3, 4])], [init("s", [4, -1, 2])])) == (4, 3, 2)
    assert shape_of(one("Reshape", [inp("x", [0, 3])], [init("s", [3, 0])], allowzero=1)) == (3, 0)
    assert shape_of(one("Reshape", [inp("x", [4, 3])], [init("s", [2, 0, -1])], opset=13)) == (2, 3, 2)
    assert shape_of(one("Reshape", [inp("x", ["N", 12, 64])], [init("s", [0, 0, 4, -1])])) == ("N", 12, 4, 16)
    # -1 cancels a symbol that appears on both sides, else it is a fresh one
    assert shape_of(one("Reshape", [inp("x", ["N", 12, 64])], [init("s", [0, -1])])) == ("N", 768)
    first, last = shape_of(one("Reshape", [inp("x", ["N", 12, 64])], [init("s", [-1, 64])]))
    assert fresh(first) and last == 64
    assert shape_of(one("Reshape", [inp("x", [2, 3, 4])], [], opset=4, shape=[6, -1])) == (6, 4)


def test_reshape_bad_shapes_raise():
    with pytest.raises(ValueError, match="reshape"):
        one("Reshape", [inp("x", [2, 3])], [init("s", [4, -1])])
    with pytest.raises(ValueError, match="reshape"):
        one("Reshape", [inp("x", [2, 3])], [init("s", [5])])
    with pytest.raises(ValueError, match="more than one -1"):
        one("Reshape", [inp("x", [2, 3])], [init("s", [-1, -1])])


def test_reshape_by_computed_shape_keeps_symbols():
    """The Shape -> Gather -> Unsqueeze -> Concat -> Reshape chain of a BERT export."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Gather", ["shape", "one"], ["seq"], axis=0),
        helper.make_node("Unsqueeze", ["batch", "axes0"], ["batch1"]),
        helper.make_node("Unsqueeze", ["seq", "axes0"], ["seq1"]),
        helper.make_node("Concat", ["batch1", "seq1", "heads"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["split_heads"]),
        helper.make_node("Transpose", ["split_heads"], ["t"], perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["t"], ["back"], perm=[0, 2, 1, 3]),
        helper.make_node("Concat", ["batch1", "seq1", "minus1"], ["merge"], axis=0),
        helper.make_node("Reshape", ["back", "merge"], ["merged"]),
        helper.make_node("Size", ["x"], ["size"]),
    ]
    inits = [init("zero", 0), init("one", 1), init("axes0", [0]), init("heads", [12, 32]),
             init("minus1", [-1])]
    m = model(nodes, [inp("x", ["B", "S", 384])], ["merged", "size"], inits)
    r = infer(m)
    assert r["shape"].shape == (3,) and r["batch"].shape == ()
    assert r["split_heads"].shape == ("B", "S", 12, 32)
    assert r["t"].shape == ("B", 12, "S", 32)
    assert r["merged"].shape == ("B", "S", 384)
    assert r["size"].shape == () and r["size"].elem_type == dtypes.INT64


def test_flatten_transpose():
    assert shape_of(one("Flatten", [inp("x", ["N", 3, 4, 5])])) == ("N", 60)
    assert shape_of(one("Flatten", [inp("x", ["N", 1, 1])], axis=0)) == (1, "N")
    one_, rest = shape_of(one("Flatten", [inp("x", ["N", 3, 4, 5])], axis=0))
    assert one_ == 1 and fresh(rest)
    assert shape_of(one("Flatten", [inp("x", [2, 3, 4, 5])], axis=-1)) == (24, 5)
    assert shape_of(one("Transpose", [inp("x", ["N", 3, 4])])) == (4, 3, "N")
    assert shape_of(one("Transpose", [inp("x", ["N", 3, 4])], perm=[0, 2, 1])) == ("N", 4, 3)
    with pytest.raises(ValueError, match="perm"):
        one("Transpose", [inp("x", [2, 3])], perm=[0, 0])


def test_squeeze_unsqueeze_attribute_and_input():
    assert shape_of(one("Unsqueeze", [inp("x", ["N", 3])], opset=11, axes=[0, -1])) == (1, "N", 3, 1)
    assert shape_of(one("Unsqueeze", [inp("x", ["N", 3])], [init("a", [1])], opset=13)) == ("N", 1, 3)
    assert shape_of(one("Squeeze", [inp("x", ["N", 1, 3, 1])], opset=11, axes=[1])) == ("N", 3, 1)
    assert shape_of(one("Squeeze", [inp("x", ["N", 1, 3, 1])], [init("a", [-1, 1])], opset=13)) == ("N", 3)
    assert shape_of(one("Squeeze", [inp("x", [1, 3, 1])], opset=13)) == (3,)
    with pytest.raises(ValueError, match="squeeze"):
        one("Squeeze", [inp("x", [2, 3])], [init("a", [0])], opset=13)


def test_concat_split():
    assert shape_of(one("Concat", [inp("a", ["N", 3]), inp("b", ["N", 5])], axis=1)) == ("N", 8)
    a, b = shape_of(one("Concat", [inp("a", ["N", 3]), inp("b", ["M", 3])], axis=0))
    assert fresh(a) and b == 3
    r = one("Split", [inp("x", ["N", 10])], [init("s", [3, 7])], outputs=("p", "q"), opset=13, axis=1)
    assert (shape_of(r, "p"), shape_of(r, "q")) == (("N", 3), ("N", 7))
    r = one("Split", [inp("x", [5, 2])], outputs=("p", "q"), num_outputs=2)
    assert (shape_of(r, "p"), shape_of(r, "q")) == ((3, 2), (2, 2))
    r = one("Split", [inp("x", [6, 2])], outputs=("p", "q", "u"), opset=11, axis=-2)
    assert [shape_of(r, n) for n in "pqu"] == [(2, 2)] * 3
    r = one("Split", [inp("x", [6])], outputs=("p", "q"), opset=11, split=[1, 5])
    assert (shape_of(r, "p"), shape_of(r, "q")) == ((1,), (5,))


@pytest.mark.parametrize("starts, ends, axes, steps, expected", [
    ([1], [3], [1], None, ("N", 2, 10)),
    ([0, -3], [2**63 - 1, -1], [0, 2], None, ("N", 5, 2)),
    ([-1], [-2**63], [2], [-2], ("N", 5, 5)),
    ([9], [0], [2], [-3], ("N", 5, 3)),
    ([20], [30], [2], None, ("N", 5, 0)),
])
def test_slice(starts, ends, axes, steps, expected):
    inits = [init("st", starts), init("en", ends), init("ax", axes)] + ([init("sp", steps)] if steps else [])
    assert shape_of(one("Slice", [inp("x", ["N", 5, 10])], inits)) == expected


def test_slice_symbolic_and_attribute_forms():
    r = one("Slice", [inp("x", ["N", "S"])], [init("st", [1]), init("en", [2**31 - 1]), init("ax", [1])])
    n, s = shape_of(r)
    assert n == "N" and fresh(s)
    r = one("Slice", [inp("x", ["N", "S"])], [init("st", [0]), init("en", [2**63 - 1]), init("ax", [1])])
    assert shape_of(r) == ("N", "S")
    assert shape_of(one("Slice", [inp("x", [4, 6])], opset=9, starts=[1, 2], ends=[3, 100])) == (2, 4)


def test_gather_shape_size_expand_tile():
    r = one("Gather", [inp("x", ["N", 5, 7]), inp("i", [2, 3], I64)], axis=1)
    assert shape_of(r) == ("N", 2, 3, 7)
    assert shape_of(one("Gather", [inp("x", [9, 4])], [init("i", 3)])) == (4,)
    r = one("Shape", [inp("x", ["N", 3, 4, 5])], start=1, end=-1)
    assert shape_of(r) == (2,) and r["y"].elem_type == dtypes.INT64
    assert shape_of(one("Shape", [inp("x", ["N", 3, 4, 5])], opset=13)) == (4,)
    assert shape_of(one("Size", [inp("x", ["N", 3])])) == ()
    assert shape_of(one("Expand", [inp("x", ["N", 1, 4])], [init("s", [3, 1, 5, 1])])) == (3, "N", 5, 4)
    assert shape_of(one("Tile", [inp("x", ["N", 2, 3])], [init("r", [1, 3, 2])])) == ("N", 6, 6)
    r = one("GatherElements", [inp("x", [4, 5]), inp("i", [4, 2], I64)], axis=1)
    assert shape_of(r) == (4, 2)
    r = one("GatherND", [inp("x", [2, 3, 4]), inp("i", [2, 1, 2], I64)], batch_dims=1)
    assert shape_of(r) == (2, 1)


def test_pad():
    assert shape_of(one("Pad", [inp("x", ["N", 3, 4])], [init("p", [0, 1, 2, 0, 1, 3])], opset=11)) == \
        ("N", 5, 9)
    assert shape_of(one("Pad", [inp("x", [1, 3, 4])], [init("p", [1, 2]), init("a", [-1])],
                        in_names=["x", "p", "", "a"])) == (1, 3, 7)
    assert shape_of(one("Pad", [inp("x", [2, 3])], opset=2, pads=[1, 0, 1, 2])) == (4, 5)


def test_resize_and_upsample():
    scales = init("sc", [1, 1, 2, 1.5], np.float32)
    r = one("Resize", [inp("x", ["N", 3, 10, 11])], [scales], in_names=["x", "", "sc"], opset=13)
    assert shape_of(r) == ("N", 3, 20, 16)
    r = one("Resize", [inp("x", [1, 3, 10, 20])], [init("sz", [1, 3, 5, 7])], in_names=["x", "", "", "sz"])
    assert shape_of(r) == (1, 3, 5, 7)
    r = one("Resize", [inp("x", [1, 3, 10, 20])], [init("sz", [5, 5])], in_names=["x", "", "", "sz"],
            axes=[2, 3], keep_aspect_ratio_policy="not_larger")
    assert shape_of(r) == (1, 3, 3, 5)  # scale 0.25: 2.5 rounds up, 5
    r = one("Resize", [inp("x", [1, 3, 10, 20])], [init("sz", [5, 5])], in_names=["x", "", "", "sz"],
            axes=[2, 3], keep_aspect_ratio_policy="not_smaller")
    assert shape_of(r) == (1, 3, 5, 10)
    r = one("Resize", [inp("x", [1, 1, 4, 4])], [init("sc", [1, 1, 0.6, 0.6], np.float32)], opset=10)
    assert shape_of(r) == (1, 1, 2, 2)
    r = one("Upsample", [inp("x", [1, 1, 4, 4])], [init("sc", [1, 1, 2, 3], np.float32)], opset=9)
    assert shape_of(r) == (1, 1, 8, 12)


def test_reductions():
    r = one("ReduceMean", [inp("x", ["N", "S", 384])], opset=13, axes=[-1])
    assert shape_of(r) == ("N", "S", 1)
    r = one("ReduceMean", [inp("x", ["N", "S", 384])], [init("a", [1])], keepdims=0)
    assert shape_of(r) == ("N", 384)
    assert shape_of(one("ReduceSum", [inp("x", [2, 3, 4])], [init("a", [0, 2])], opset=13)) == (1, 3, 1)
    assert shape_of(one("ReduceMax", [inp("x", [2, 3, 4])], keepdims=0)) == ()
    assert shape_of(one("ReduceMax", [inp("x", [2, 3, 4])], [init("a", np.zeros(0))],
                        noop_with_empty_axes=1)) == (2, 3, 4)
    r = one("ArgMax", [inp("x", ["N", 10])], axis=1, keepdims=0)
    assert shape_of(r) == ("N",) and r["y"].elem_type == dtypes.INT64
    r = one("TopK", [inp("x", ["N", 10])], [init("k", [3])], outputs=("v", "i"))
    assert shape_of(r, "v") == ("N", 3) and r["i"].elem_type == dtypes.INT64


def test_values_casts_and_constants():
    r = one("Cast", [inp("x", ["N", 2])], to=TensorProto.FLOAT16)
    assert r["y"].elem_type == dtypes.FLOAT16 and shape_of(r) == ("N", 2)
    r = one("CastLike", [inp("x", ["N", 2]), inp("t", [], I64)])
    assert r["y"].elem_type == dtypes.INT64
    r = one("Constant", [], value_ints=[1, 2, 3])
    assert shape_of(r) == (3,) and r["y"].elem_type == dtypes.INT64
    seven = numpy_helper.from_array(np.array([7], np.int32))
    r = one("ConstantOfShape", [], [init("s", [2, 3])], value=seven)
    assert shape_of(r) == (2, 3) and r["y"].elem_type == dtypes.INT32
    r = one("Range", [], [init("a", 1.0, np.float32), init("b", 3.0, np.float32), init("c", 0.5, np.float32)])
    assert shape_of(r) == (4,) and r["y"].elem_type == dtypes.FLOAT
    assert shape_of(one("Range", [], [init("a", 10), init("b", 0), init("c", -3)])) == (4,)


def test_range_of_a_symbolic_length():
    nodes = [helper.make_node("Shape", ["x"], ["s"], start=1),
             helper.make_node("Squeeze", ["s"], ["n"]),
             helper.make_node("Range", ["zero", "n", "one"], ["pos"]),
             helper.make_node("ConstantOfShape", ["s"], ["ones"],
                              value=numpy_helper.from_array(np.ones(1, np.float32)))]
    r = infer(model(nodes, [inp("x", ["B", "S"])], ["pos", "ones"], [init("zero", 0), init("one", 1)]))
    assert r["pos"].shape == ("S",) and r["ones"].shape == ("S",)


def test_normalizations_dropout_and_space_ops():
    r = one("LayerNormalization", [inp("x", ["N", "S", 8]), inp("g", [8])], outputs=("y", "mean", "inv"),
            opset=17, axis=-1)
    assert shape_of(r) == ("N", "S", 8) and shape_of(r, "mean") == ("N", "S", 1)
    r = one("BatchNormalization", [inp("x", ["N", 4, 5, 5])] + [inp(n, [4]) for n in "sbmv"])
    assert shape_of(r) == ("N", 4, 5, 5)
    r = one("InstanceNormalization", [inp("x", [2, 4, 5]), inp("s", [4]), inp("b", [4])])
    assert shape_of(r) == (2, 4, 5)
    r = one("Dropout", [inp("x", ["N", 4])], outputs=("y", "mask"), opset=12)
    assert r["mask"].elem_type == dtypes.BOOL and shape_of(r, "mask") == ("N", 4)
    assert shape_of(one("DepthToSpace", [inp("x", ["N", 8, 3, 4])], blocksize=2)) == ("N", 2, 6, 8)
    assert shape_of(one("SpaceToDepth", [inp("x", ["N", 2, 6, 8])], blocksize=2)) == ("N", 8, 3, 4)
    assert shape_of(one("Softmax", [inp("x", ["N", 10])], axis=-1)) == ("N", 10)


def test_quantization_types():
    x = inp("x", ["N", 4])
    assert one("QuantizeLinear", [x, inp("s", [])])["y"].elem_type == dtypes.UINT8
    r = one("QuantizeLinear", [x, inp("s", []), inp("z", [], TensorProto.INT8)])
    assert r["y"].elem_type == dtypes.INT8 and shape_of(r) == ("N", 4)
    r = one("DequantizeLinear", [inp("q", ["N", 4], TensorProto.INT8), inp("s", [], TensorProto.FLOAT16)],
            opset=19)
    assert r["y"].elem_type == dtypes.FLOAT16
    r = one("DequantizeLinear", [inp("q", ["N", 4], TensorProto.INT8), inp("s", [])], opset=13)
    assert r["y"].elem_type == dtypes.FLOAT


def test_misc_ops():
    r = one("OneHot", [inp("i", ["N", 3], I64)], [init("d", 10), init("v", [0, 1], np.float32)], axis=1)
    assert shape_of(r) == ("N", 10, 3)
    r = one("NonZero", [inp("x", [3, 4])])
    assert r["y"].elem_type == dtypes.INT64 and shape_of(r)[0] == 2
    r = one("LSTM", [inp("x", ["T", "N", 8]), inp("w", [2, 64, 8]), inp("r", [2, 64, 16])],
            outputs=("y", "h", "c"), direction="bidirectional", hidden_size=16)
    assert shape_of(r) == ("T", 2, "N", 16) and shape_of(r, "c") == (2, "N", 16)


# ---- subgraphs -----------------------------------------------------------------------------------


def test_if_branches_merge():
    then = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [], [inp("t", None)])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [inp("e", None)])
    node = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)
    r = infer(model([node], [inp("c", [], BOOL), inp("x", ["N", 3])], ["y"]))
    assert shape_of(r) == ("N", 3) and r["y"].elem_type == dtypes.FLOAT


def test_loop_scan_output_and_carried_value():
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["acc_in", "x"], ["acc_out"]),
         helper.make_node("Concat", ["grow_in", "x"], ["grow_out"], axis=0),
         helper.make_node("Relu", ["acc_out"], ["scan_out"])],
        "body", [inp("i", [], I64), inp("cond_in", [], BOOL), inp("acc_in", None), inp("grow_in", None)],
        [inp("cond_out", [], BOOL), inp("acc_out", None), inp("grow_out", None), inp("scan_out", None)])
    node = helper.make_node("Loop", ["m", "", "acc0", "grow0"], ["acc", "grow", "scan"], body=body)
    m = model([node], [inp("x", [2, 3]), inp("acc0", [2, 3]), inp("grow0", [0, 3])], ["acc", "grow", "scan"],
              [init("m", 5)])
    r = infer(m)
    assert r["acc"].shape == (2, 3)
    grown, width = r["grow"].shape
    assert fresh(grown) and width == 3  # grows every iteration: no static length
    assert r["scan"].shape == (5, 2, 3)


def test_scan_state_and_scan_output():
    body = helper.make_graph(
        [helper.make_node("Add", ["state_in", "row"], ["state_out"]),
         helper.make_node("Identity", ["state_out"], ["scan_out"])],
        "body", [inp("state_in", None), inp("row", None)], [inp("state_out", None), inp("scan_out", None)])
    node = helper.make_node("Scan", ["s0", "xs"], ["s", "ys"], body=body, num_scan_inputs=1,
                            scan_input_axes=[1], scan_output_axes=[-1])
    r = infer(model([node], [inp("s0", ["N", 4]), inp("xs", ["N", 7, 4])], ["s", "ys"]))
    assert r["s"].shape == ("N", 4) and r["ys"].shape == ("N", 4, 7)


def test_sequences():
    nodes = [helper.make_node("SplitToSequence", ["x"], ["seq"], axis=1, keepdims=0),
             helper.make_node("SequenceAt", ["seq", "zero"], ["item"]),
             helper.make_node("SequenceLength", ["seq"], ["count"]),
             helper.make_node("ConcatFromSequence", ["seq"], ["stacked"], axis=0, new_axis=1)]
    r = infer(model(nodes, [inp("x", ["N", 5, 3])], ["item", "count", "stacked"], [init("zero", 0)]))
    assert r["seq"].kind == "sequence" and r["item"].shape == ("N", 3)
    assert r["count"].shape == () and r["count"].elem_type == dtypes.INT64
    first, *rest = r["stacked"].shape
    assert fresh(first) and rest == ["N", 3]


# ---- declared types, unknown ops ----------------------------------------------------------------


def test_declared_static_shape_conflict_raises():
    m = model([helper.make_node("Relu", ["x"], ["y"], name="act")], [inp("x", [1, 32])], ["y"],
              value_info=[inp("y", [1, 64])])
    with pytest.raises(ValueError, match=r"Relu node 'act'.*'y'.*\(1, 64\).*\(1, 32\)"):
        infer(m, check_onnx=False)
    m = model([helper.make_node("Relu", ["x"], ["y"])], [inp("x", [1, 32])], [inp("y", [1, 32, 1])])
    with pytest.raises(ValueError, match="declared with shape"):
        infer(m, check_onnx=False)
    m = model([helper.make_node("Relu", ["x"], ["y"])], [inp("x", [1, 32])], [inp("y", [1, 32], I64)])
    with pytest.raises(ValueError, match="declared tensor.int64. but inferred tensor.float."):
        infer(m, check_onnx=False)


def test_declared_types_are_only_made_more_precise():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Mul", ["a", "b"], ["y"])]
    m = model(nodes, [inp("x", ["N", 3]), inp("b", ["K", 3])], [inp("y", ["batch", None])],
              value_info=[inp("a", [None, None])])
    graph = load_model(m.SerializeToString()).graph
    r = infer_shapes(graph)
    assert r["a"].shape == ("N", 3) and graph.value_info["a"].type.shape == ("N", 3)
    assert r["y"].shape == ("batch", 3)  # the model's name beats a fresh symbol


def test_unknown_op_does_not_raise():
    nodes = [helper.make_node("Mystery", ["x"], ["m"], domain="example.com"),
             helper.make_node("Mystery", ["x"], ["d"], domain="example.com"),
             helper.make_node("Relu", ["d"], ["y"])]
    m = model(nodes, [inp("x", ["N", 3])], ["m", "y"], value_info=[inp("d", ["N", 5], I64)],
              extra_opsets=[("example.com", 1)])
    graph = load_model(m.SerializeToString()).graph
    r = infer_shapes(graph)
    assert r["m"].elem_type == dtypes.FLOAT and r["m"].shape is None  # a guess, shape unknown
    assert r["d"].elem_type == dtypes.INT64 and r["d"].shape == ("N", 5)  # declared wins over the guess
    assert r["y"].shape == ("N", 5)


def test_inference_is_repeatable():
    m = model([helper.make_node("Conv", ["x", "w"], ["c"], strides=[2, 2]),
               helper.make_node("Add", ["c", "c"], ["y"])],
              [inp("x", ["N", 3, "H", 8])], ["y"], [init("w", np.zeros((4, 3, 3, 3)), np.float32)])
    graph = load_model(m.SerializeToString()).graph
    first = {k: v.shape for k, v in infer_shapes(graph).items()}
    second = {k: v.shape for k, v in infer_shapes(graph).items()}
    assert first == second
    assert first["y"][:2] == ("N", 4) and first["y"][3] == 3 and fresh(first["y"][2])


def test_overridable_initializer_is_not_a_constant():
    """From IR 4 on, an input sharing an initializer's name may be fed: its value (here
    a Reshape's shape) is unknown, its declared type still holds.  (onnx's inference
    takes the default for the value.)"""
    node = helper.make_node("Reshape", ["x", "s"], ["y"])
    m = model([node], [inp("x", [2, 6]), inp("s", [2], I64)], ["y"], [init("s", [3, 4])])
    a, b = shape_of(infer(m, check_onnx=False))
    assert fresh(a) and fresh(b)
    m.ir_version = 3
    assert shape_of(infer(m)) == (3, 4)


def test_static_size_bytes():
    assert static_size_bytes(ValueType("tensor", dtypes.FLOAT, (2, 3))) == 24
    assert static_size_bytes(ValueType("tensor", dtypes.BFLOAT16, (4,))) == 16  # held as float32
    assert static_size_bytes(ValueType("tensor", dtypes.BOOL, ())) == 1
    assert static_size_bytes(ValueType("tensor", dtypes.FLOAT, ("N", 3))) is None
    assert static_size_bytes(ValueType("tensor", dtypes.FLOAT, None)) is None
    assert static_size_bytes(ValueType("tensor", dtypes.STRING, (2,))) is None
    assert static_size_bytes(ValueType("sequence", dtypes.FLOAT, None)) is None
    assert static_size_bytes(ValueType("tensor", 0, (2,))) is None


def test_graph_built_in_python():
    """A graph made directly in the IR (as the passes make them), with a fused op."""
    w = np.zeros((8, 3, 3, 3), np.float32)
    graph = Graph(nodes=[Node("FusedConv", ["x", "w"], ["y"], {"pads": [1, 1, 1, 1]}, domain="pywebinfer")],
                  inputs=[Value("x", ValueType("tensor", dtypes.FLOAT, (1, 3, 16, 16)))],
                  outputs=[Value("y")], initializers={"w": w}, opsets={"": 18, "pywebinfer": 1})
    r = infer_shapes(graph)
    assert r["y"] == ValueType("tensor", dtypes.FLOAT, (1, 8, 16, 16))
    assert graph.value_type("y").shape == (1, 8, 16, 16)
    assert static_size_bytes(graph.value_type("y")) == 8 * 16 * 16 * 4


# ---- whole models ---------------------------------------------------------------------------------


def node_output_coverage(graph: Graph, result: dict[str, ValueType]) -> float:
    outs = [o for n in graph.nodes for o in n.outputs if o]
    return sum(1 for o in outs if is_static(result[o].shape)) / len(outs)


@pytest.mark.parametrize("path", sorted(glob.glob(str(LIGHT_DIR / "light_*.onnx"))), ids=os.path.basename)
def test_light_models_match_onnx(path):
    m = onnx.load(path)
    graph = load_model(path).graph
    result = infer_shapes(graph)
    assert compare_with_onnx(result, m) > 0
    assert node_output_coverage(graph, result) == 1.0


def real_model(name: str) -> Path:
    path = MODELS_DIR / name
    if not path.is_file():
        pytest.skip(f"{path} is missing (build it with scripts/build_models.py)")
    return path


@pytest.mark.parametrize("name", ["efficientnet_lite0_dynamo.onnx", "efficientnet_lite0_torchscript.onnx"])
def test_efficientnet_matches_onnx(name):
    path = real_model(name)
    m = onnx.load(str(path), load_external_data=False)
    for strip in (False, True):  # with and without the exporter's value_info
        graph = load_model(path).graph
        if strip:
            del m.graph.value_info[:]
            graph.value_info = {k: v for k, v in graph.value_info.items() if k in graph.initializers}
        result = infer_shapes(graph)
        assert compare_with_onnx(result, m) > 0
        assert node_output_coverage(graph, result) == 1.0
        assert result[graph.outputs[0].name].shape == (1, 1000)


@pytest.fixture(scope="module")
def minilm():
    path = real_model("minilm_l6_v2.onnx")
    return path, onnx.load(str(path))


def test_minilm_matches_onnx_fast(minilm):
    path, m = minilm
    graph = load_model(path).graph
    graph.value_info = {k: v for k, v in graph.value_info.items() if k in graph.initializers}
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        result = infer_shapes(graph)
        seconds.append(time.perf_counter() - start)
    assert min(seconds) < 0.1, f"inference of MiniLM took {min(seconds) * 1000:.0f} ms"
    stripped = onnx.ModelProto()
    stripped.CopyFrom(m)
    del stripped.graph.value_info[:]
    assert compare_with_onnx(result, stripped) > 0
    assert result["last_hidden_state"].shape == ("batch", "sequence", 384)
    assert all(result[o].shape is not None for n in graph.nodes for o in n.outputs if o)


def test_minilm_symbols_are_consistent_at_run_time(minilm):
    """Run with batch 2, sequence 7 in onnxruntime, every node output exposed: static
    dimensions must be exact, and each symbol must stand for one size everywhere."""
    import onnxruntime as ort

    path, m = minilm
    result = infer_shapes(load_model(path).graph)
    probe = onnx.ModelProto()
    probe.CopyFrom(m)
    del probe.graph.output[:]
    names = list(result)
    probe.graph.output.extend(helper.make_empty_tensor_value_info(n) for n in names)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: np.ones((2, 7), np.int64) for i in session.get_inputs()}
    sizes: dict[str, int] = {}
    for name, value in zip(names, session.run(None, feeds)):
        shape = result[name].shape
        assert len(shape) == np.ndim(value), name
        for dim, actual in zip(shape, np.shape(value)):
            if type(dim) is int:
                assert dim == actual, f"{name}: {shape} vs {np.shape(value)}"
            else:
                assert sizes.setdefault(dim, actual) == actual, f"{name}: {dim} is {actual}, was {sizes[dim]}"
        assert onnx.helper.tensor_dtype_to_np_dtype(result[name].elem_type) == np.asarray(value).dtype, name
    assert sizes["batch"] == 2 and sizes["sequence"] == 7
