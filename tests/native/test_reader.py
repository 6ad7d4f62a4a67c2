"""The pure-Python ONNX reader against models built and serialized by the onnx package."""
import io
import os
import random

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import pywebinfer
from pywebinfer import dtypes
from pywebinfer.errors import ModelError
from pywebinfer.onnx.importer import load_model, load_value

NATIVE_TYPES = [
    (TensorProto.FLOAT, np.float32), (TensorProto.DOUBLE, np.float64),
    (TensorProto.FLOAT16, np.float16), (TensorProto.INT8, np.int8), (TensorProto.INT16, np.int16),
    (TensorProto.INT32, np.int32), (TensorProto.INT64, np.int64), (TensorProto.UINT8, np.uint8),
    (TensorProto.UINT16, np.uint16), (TensorProto.UINT32, np.uint32), (TensorProto.UINT64, np.uint64),
    (TensorProto.BOOL, np.bool_), (TensorProto.COMPLEX64, np.complex64),
    (TensorProto.COMPLEX128, np.complex128),
]


def _model_with_initializers(tensors, opset=18):
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    nodes = [helper.make_node("Constant", [], ["y"], value=numpy_helper.from_array(np.ones(1, np.float32)))]
    graph = helper.make_graph(nodes, "g", [], [out], initializer=tensors)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _sample(np_type, shape=(2, 3), seed=0):
    rng = np.random.default_rng(seed)
    if np_type == np.bool_:
        return rng.random(shape) > 0.5
    if np.issubdtype(np_type, np.complexfloating):
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np_type)
    if np.issubdtype(np_type, np.floating):
        return rng.standard_normal(shape).astype(np_type)
    info = np.iinfo(np_type)
    return rng.integers(info.min, info.max, size=shape, dtype=np_type, endpoint=True)


@pytest.mark.parametrize("raw", [True, False], ids=["raw_data", "typed_fields"])
@pytest.mark.parametrize("onnx_type,np_type", NATIVE_TYPES, ids=[str(np.dtype(t)) for _, t in NATIVE_TYPES])
def test_native_dtypes_round_trip(onnx_type, np_type, raw):
    arr = _sample(np_type)
    if raw:
        t = numpy_helper.from_array(arr, "w")
    else:
        t = helper.make_tensor("w", onnx_type, arr.shape, arr.ravel().tolist(), raw=False)
    model = load_model(_model_with_initializers([t]).SerializeToString())
    got = model.graph.initializers["w"]
    assert got.dtype == np.dtype(np_type)
    np.testing.assert_array_equal(got, arr)


def test_string_tensor():
    arr = np.array(["a", "héllo", ""], dtype=object)
    model = load_model(_model_with_initializers([numpy_helper.from_array(arr, "s")]).SerializeToString())
    got = model.graph.initializers["s"]
    assert got.dtype == object and list(got) == ["a", "héllo", ""]


NARROW = [TensorProto.BFLOAT16, TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E4M3FNUZ,
          TensorProto.FLOAT8E5M2, TensorProto.FLOAT8E5M2FNUZ, TensorProto.INT4, TensorProto.UINT4,
          TensorProto.FLOAT4E2M1]


@pytest.mark.parametrize("raw", [True, False], ids=["raw_data", "typed_fields"])
@pytest.mark.parametrize("onnx_type", NARROW, ids=[dtypes.name(t) for t in NARROW])
def test_narrow_dtypes_are_widened_exactly(onnx_type, raw):
    if onnx_type in (TensorProto.INT4, TensorProto.UINT4):
        lo = -8 if onnx_type == TensorProto.INT4 else 0
        values = np.arange(lo, lo + 15, dtype=np.float32)  # odd count: tests the last nibble
    else:
        values = np.array([0.0, 0.5, -1.5, 2.0, 3.0, -4.0, 6.0], dtype=np.float32)
    t = helper.make_tensor("w", onnx_type, values.shape, values.tolist(), raw=False)
    if raw:  # re-encode the same bits as raw_data
        ref = numpy_helper.to_array(t)
        t = numpy_helper.from_array(ref, "w")
    model = load_model(_model_with_initializers([t]).SerializeToString())
    got = model.graph.initializers["w"]
    assert got.dtype == dtypes.storage_dtype(onnx_type)
    np.testing.assert_array_equal(got.astype(np.float32), values)
    assert model.graph.value_type("w").elem_type == onnx_type


def test_raw_data_is_a_view_not_a_copy():
    arr = np.arange(1024, dtype=np.float32)
    data = _model_with_initializers([numpy_helper.from_array(arr, "w")]).SerializeToString()
    got = load_model(data).graph.initializers["w"]
    np.testing.assert_array_equal(got, arr)
    # an aligned payload is used in place; a misaligned one is copied once
    assert got.base is not None or not got.flags.owndata


def test_attributes_subgraphs_value_info_and_opsets():
    then_out = helper.make_tensor_value_info("t", TensorProto.FLOAT, ["n"])
    then_g = helper.make_graph([helper.make_node("Neg", ["x"], ["t"])], "then", [], [then_out])
    else_g = helper.make_graph([helper.make_node("Abs", ["x"], ["t"])], "else", [], [then_out])
    node = helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)
    odd = helper.make_node("Custom", ["x"], ["z"], domain="com.example", f=1.5, i=-3, s="text",
                           floats=[1.0, 2.5], ints=[-1, 2 ** 40], strings=["a", "b"],
                           t=numpy_helper.from_array(np.arange(3, dtype=np.int64)))
    graph = helper.make_graph(
        [node, odd], "main",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
        value_info=[helper.make_tensor_value_info("q", TensorProto.INT64, [0, "m"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 2)])
    m = load_model(model.SerializeToString())
    g = m.graph
    assert m.opsets == {"": 17, "com.example": 2}
    assert [v.name for v in g.inputs] == ["c", "x"]
    assert g.inputs[1].shape == ("n", 3) and g.inputs[1].elem_type == TensorProto.FLOAT
    assert g.value_info["q"].shape == (0, "m")  # a zero dim stays 0, not unknown
    assert g.outputs[1].shape is None
    if_node, custom = g.nodes
    assert if_node.attrs["then_branch"].nodes[0].op_type == "Neg"
    assert if_node.attrs["else_branch"].outer_references() == {"x"}
    assert custom.domain == "com.example"
    a = custom.attrs
    assert a["f"] == 1.5 and a["i"] == -3 and a["s"] == "text"
    assert a["floats"] == [1.0, 2.5] and a["ints"] == [-1, 2 ** 40] and a["strings"] == ["a", "b"]
    np.testing.assert_array_equal(a["t"], np.arange(3))


def test_sources_path_bytes_and_file_object(tmp_path):
    model = _model_with_initializers([numpy_helper.from_array(np.ones(4, np.float32), "w")])
    data = model.SerializeToString()
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    for source in (str(path), path, data, bytearray(data), io.BytesIO(data), open(path, "rb")):
        g = load_model(source).graph
        np.testing.assert_array_equal(g.initializers["w"], np.ones(4, np.float32))


def test_external_data(tmp_path):
    w = np.arange(5000, dtype=np.float32).reshape(50, 100)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [50, 100])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [50, 100])
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y],
                              initializer=[numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    path = tmp_path / "ext.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    assert os.path.exists(tmp_path / "weights.bin")
    g = load_model(str(path)).graph
    np.testing.assert_array_equal(g.initializers["w"], w)
    # from bytes there is no directory to find weights.bin in: a clear error
    with pytest.raises(ModelError, match="weights.bin"):
        load_model(path.read_bytes())
    # a truncated weights file is caught, not read short
    (tmp_path / "weights.bin").write_bytes(b"\0" * 100)
    with pytest.raises(ModelError, match="past its end"):
        load_model(str(path))


def test_external_data_cannot_leave_the_model_directory(tmp_path):
    t = numpy_helper.from_array(np.ones(4, np.float32), "w")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value="../../etc/passwd")
    (tmp_path / "m.onnx").write_bytes(_model_with_initializers([t]).SerializeToString())
    with pytest.raises(ModelError, match="leaves the model directory"):
        load_model(str(tmp_path / "m.onnx"))


def test_model_local_functions_are_inlined():
    fn = helper.make_function(
        "local", "AddTwice", ["a", "b"], ["c"],
        [helper.make_node("Add", ["a", "b"], ["t"]), helper.make_node("Add", ["t", "b"], ["c"])],
        opset_imports=[helper.make_opsetid("", 18)])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])
    graph = helper.make_graph([helper.make_node("AddTwice", ["x", "x"], ["y"], domain="local")],
                              "g", [x], [y])
    model = helper.make_model(graph, functions=[fn], opset_imports=[
        helper.make_opsetid("", 18), helper.make_opsetid("local", 1)])
    sess = pywebinfer.InferenceSession(model.SerializeToString())
    xv = np.array([1, 2, 3], np.float32)
    np.testing.assert_array_equal(sess.run(None, {"x": xv})[0], 3 * xv)


def test_load_value_sequences_and_optionals():
    seq = numpy_helper.from_list([np.ones(2, np.float32), np.zeros(3, np.float32)], "s")
    got = load_value(seq.SerializeToString(), pywebinfer.graph.ValueType("sequence"))
    assert len(got) == 2 and got[1].shape == (3,)
    empty = numpy_helper.from_optional(None, "o", onnx.OptionalProto.TENSOR)
    assert load_value(empty.SerializeToString(), pywebinfer.graph.ValueType("optional")) is None


# ---- malformed files ------------------------------------------------------------------

def _valid_model_bytes():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])
    w = numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(2, 8), "w")
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["s"]),
                               helper.make_node("Relu", ["s"], ["y"], name="relu")],
                              "g", [x], [y], initializer=[w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]).SerializeToString()


def test_empty_and_garbage_files():
    with pytest.raises(ModelError, match="empty"):
        load_model(b"")
    with pytest.raises(ModelError) as e:
        load_model(b"\xff" * 20)
    assert e.value.offset is not None
    with pytest.raises(ModelError):
        load_model(b"this is not an onnx file at all")


def test_every_truncation_is_caught_or_loads_a_consistent_prefix():
    data = _valid_model_bytes()
    for cut in range(1, len(data)):
        try:
            pywebinfer.InferenceSession(data[:cut])
        except ModelError as e:
            assert e.offset is None or 0 <= e.offset <= cut
        except pywebinfer.UnsupportedOpError:
            pass


def test_lying_length_and_dims_do_not_allocate():
    # a tensor whose dims claim 10^12 elements over 64 bytes of data fails before allocating
    t = numpy_helper.from_array(np.zeros(16, np.float32), "w")
    del t.dims[:]
    t.dims.extend([1000000, 1000000])
    with pytest.raises(ModelError, match="raw_data holds 64 bytes"):
        load_model(_model_with_initializers([t]).SerializeToString())
    # a length prefix far past the end of the file
    bad = bytes([0x3A]) + bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x0F]) + b"\0" * 10  # field 7 (graph)
    with pytest.raises(ModelError, match="claims") as e:
        load_model(bad)
    assert e.value.offset == 0


def test_random_corruption_never_raises_anything_else():
    data = bytearray(_valid_model_bytes())
    rng = random.Random(1234)
    for _ in range(300):
        corrupt = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            corrupt[rng.randrange(len(corrupt))] = rng.randrange(256)
        try:
            pywebinfer.InferenceSession(bytes(corrupt))
        except (ModelError, pywebinfer.UnsupportedOpError):
            pass


def test_nesting_depth_is_bounded():
    # 30 nested If subgraphs = 90 nested messages: deeper than the reader allows (64)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    leaf = helper.make_graph([helper.make_node("Identity", ["c"], ["x"])], "leaf", [], [x])
    g = leaf
    for i in range(30):  # nest one branch only: nesting both would double the size each level
        g = helper.make_graph([helper.make_node("If", ["c"], ["x"], then_branch=g, else_branch=leaf)],
                              f"g{i}", [], [x])
    model = helper.make_model(g)
    with pytest.raises(ModelError, match="nested deeper"):
        load_model(model.SerializeToString())
