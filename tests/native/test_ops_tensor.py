"""Edge cases of the tensor-manipulation, indexing, reduction and matrix kernels that the
ONNX node tests leave out, checked against onnxruntime (or numpy where onnxruntime lacks
the op or opset)."""
from __future__ import annotations

import numpy as np
import pytest

from nodeutil import run_kernel, run_onnxruntime

RNG = np.random.default_rng(0)
F32 = np.float32


def rand(*shape, dtype=F32):
    return RNG.standard_normal(shape).astype(dtype)


def i64(*values):
    return np.array(values, dtype=np.int64)


def check(op, inputs, attrs=None, *, opset=21, num_outputs=1, rtol=1e-5, atol=1e-6):
    """Run ``op`` through pywebinfer and onnxruntime and compare every output."""
    got = run_kernel(op, inputs, attrs, opset=opset, num_outputs=num_outputs)
    want = run_onnxruntime(op, inputs, attrs, opset=opset, num_outputs=num_outputs)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert isinstance(g, np.ndarray), f"output {i} is {type(g).__name__}, not an ndarray"
        assert g.dtype == w.dtype, f"output {i}: dtype {g.dtype} != {w.dtype}"
        assert g.shape == w.shape, f"output {i}: shape {g.shape} != {w.shape}"
        if w.dtype.kind in "fc":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"output {i}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"output {i}")
    return got


# ---- shape ops ------------------------------------------------------------------------

@pytest.mark.parametrize("x_shape, shape", [
    ((1, 3, 4), i64(0, -1)),
    ((2, 3, 4), i64(4, 0, 2)),
    ((2, 3, 4), i64(-1)),
    ((1, 1, 1), np.zeros(0, np.int64)),
])
def test_reshape(x_shape, shape):
    check("Reshape", [rand(*x_shape), shape], opset=14)


def test_reshape_allowzero_keeps_zero():
    x = np.zeros((0, 3), F32)
    check("Reshape", [x, i64(3, 0)], {"allowzero": 1}, opset=14)


def test_reshape_legacy_attribute():
    x = rand(2, 3, 4)
    out, = run_kernel("Reshape", [x], {"shape": [0, -1]}, opset=4)
    np.testing.assert_array_equal(out, x.reshape(2, 12))


def test_reshape_bad_size():
    with pytest.raises(ValueError, match="Reshape"):
        run_kernel("Reshape", [rand(2, 3), i64(4, 2)])


def test_transpose_strings_and_error():
    x = np.array([["a", "b"], ["c", "d"]], dtype=object)
    out, = run_kernel("Transpose", [x], {})
    assert out.tolist() == [["a", "c"], ["b", "d"]]
    with pytest.raises(ValueError, match="Transpose"):
        run_kernel("Transpose", [rand(2, 3)], {"perm": [0, 0]})


@pytest.mark.parametrize("opset, inputs_fn, attrs", [
    (9, lambda x: [x], {"starts": [-100, 1], "ends": [1000, -1], "axes": [0, 2]}),
    (13, lambda x: [x, i64(-1, 9), i64(-1000, -1000), i64(1, 2), i64(-1, -2)], {}),
    (13, lambda x: [x, i64(9223372036854775807), i64(0), i64(0), i64(-1)], {}),
    (13, lambda x: [x, i64(1), i64(-9223372036854775808), i64(-1), i64(-3)], {}),
    (13, lambda x: [x, i64(2, 0), i64(1, 3), None, None], {}),
    (13, lambda x: [x, i64(0), i64(100), i64(1), i64(3)], {}),
])
def test_slice(opset, inputs_fn, attrs):
    x = rand(4, 5, 6)
    check("Slice", inputs_fn(x), attrs, opset=opset)


@pytest.mark.parametrize("opset, inputs_fn, attrs, n", [
    (11, lambda x: [x], {"axis": -1, "split": [1, 6]}, 2),
    (11, lambda x: [x], {"axis": 1}, 2),
    (13, lambda x: [x, i64(0, 7)], {"axis": 2}, 2),
    (18, lambda x: [x], {"axis": 2, "num_outputs": 4}, 4),
    (18, lambda x: [x], {"axis": -1, "num_outputs": 3}, 3),
])
def test_split(opset, inputs_fn, attrs, n):
    check("Split", inputs_fn(rand(2, 4, 7)), attrs, opset=opset, num_outputs=n)


def test_split_num_outputs_may_leave_empty_chunks():
    # ceil(4 / 3) = 2 per chunk leaves nothing for the last one, as ONNX shape inference
    # says (onnxruntime refuses this case)
    outs = run_kernel("Split", [rand(4)], {"num_outputs": 3}, opset=18, num_outputs=3)
    assert [o.shape for o in outs] == [(2,), (2,), (0,)]


def test_split_uneven_before_18_is_an_error():
    with pytest.raises(ValueError, match="Split"):
        run_kernel("Split", [rand(5)], {}, opset=13, num_outputs=2)


@pytest.mark.parametrize("opset, inputs_fn, attrs", [
    (11, lambda x: [x], {"axes": [-1, 0]}),
    (11, lambda x: [x], {}),
    (13, lambda x: [x], {}),
    (13, lambda x: [x, i64(-4, 2)], {}),
])
def test_squeeze(opset, inputs_fn, attrs):
    check("Squeeze", inputs_fn(rand(1, 3, 1, 1)), attrs, opset=opset)


def test_squeeze_non_unit_axis_is_an_error():
    with pytest.raises(ValueError, match="Squeeze"):
        run_kernel("Squeeze", [rand(1, 3), i64(1)])


@pytest.mark.parametrize("opset, inputs_fn, attrs", [
    (11, lambda x: [x], {"axes": [-1, 0]}),
    (13, lambda x: [x, i64(4, 1, -5)], {}),
])
def test_unsqueeze(opset, inputs_fn, attrs):
    check("Unsqueeze", inputs_fn(rand(3, 2)), attrs, opset=opset)


def test_unsqueeze_scalar_and_duplicates():
    check("Unsqueeze", [np.array(2.0, F32), i64(0, 1)])
    with pytest.raises(ValueError, match="Unsqueeze"):
        run_kernel("Unsqueeze", [rand(3), i64(0, 0)])


@pytest.mark.parametrize("axis", [0, 2, -3, 3])
def test_flatten_zero_sized(axis):
    check("Flatten", [np.zeros((2, 0, 3), F32)], {"axis": axis})


@pytest.mark.parametrize("attrs", [{}, {"start": -2}, {"end": -10}, {"start": 1, "end": 100}])
def test_shape_and_size(attrs):
    x = rand(2, 3, 4, 5)
    check("Shape", [x], attrs, opset=21)
    out, = run_kernel("Size", [x])
    assert out.dtype == np.int64 and out.shape == () and out == 120


def test_concat_legacy_default_axis_and_empty_inputs():
    a, b = rand(2, 3), rand(2, 0)
    out, = run_kernel("Concat", [a, b], {}, opset=1)
    np.testing.assert_array_equal(out, a)
    check("Concat", [rand(0, 3), rand(2, 3), rand(1, 3)], {"axis": -2})
    with pytest.raises(ValueError, match="Concat"):
        run_kernel("Concat", [rand(2, 3), rand(3, 3)], {"axis": 1})


def test_constant_variants():
    assert run_kernel("Constant", [], {"value_float": 1.5})[0].dtype == np.float32
    out, = run_kernel("Constant", [], {"value_ints": [1, 2, 3]})
    assert out.dtype == np.int64 and out.tolist() == [1, 2, 3]
    out, = run_kernel("Constant", [], {"value_int": 7})
    assert out.shape == () and out.dtype == np.int64
    out, = run_kernel("Constant", [], {"value_floats": []})
    assert out.shape == (0,) and out.dtype == np.float32
    out, = run_kernel("Constant", [], {"value_strings": ["a", "bc"]})
    assert out.dtype == object and out.tolist() == ["a", "bc"]
    out, = run_kernel("Constant", [], {"value_string": "hi"})
    assert out.shape == () and out[()] == "hi"
    dense = np.array([[0, 2], [0, 0]], np.int32)  # the reader densifies sparse_value
    assert run_kernel("Constant", [], {"sparse_value": dense})[0] is dense
    with pytest.raises(ValueError, match="Constant"):
        run_kernel("Constant", [], {"value_int": 1, "value_float": 2.0})


def test_constant_of_shape():
    out, = run_kernel("ConstantOfShape", [i64(2, 3)], {"value": np.array([7], np.int32)})
    assert out.dtype == np.int32 and out.shape == (2, 3) and (out == 7).all()
    out, = run_kernel("ConstantOfShape", [np.zeros(0, np.int64)], {})
    assert out.dtype == np.float32 and out.shape == ()


@pytest.mark.parametrize("x_shape, shape", [((3, 1), (2, 1, 6)), ((1, 4), (3, 1)), ((2, 1), (0, 1, 1))])
def test_expand_bidirectional(x_shape, shape):
    check("Expand", [rand(*x_shape), i64(*shape)])


def test_tile():
    check("Tile", [rand(2, 3), i64(2, 0)])
    x = rand(2, 3)
    out, = run_kernel("Tile", [x, i64(3), i64(1)], opset=1)  # the opset 1 form: tiles + axis
    np.testing.assert_array_equal(out, np.tile(x, (1, 3)))


@pytest.mark.parametrize("opset, mode, pads, axes", [
    (11, "constant", i64(1, -1, 2, 0), None),
    (11, "reflect", i64(2, 1, 1, 2), None),
    (11, "edge", i64(-1, 3, 2, -2), None),
    (18, "constant", i64(2, 3), i64(-1)),
    (19, "wrap", i64(2, 1, 3, 4), None),
    (19, "reflect", i64(0, 2, 0, 2), None),
])
def test_pad(opset, mode, pads, axes):
    x = np.arange(20, dtype=np.int32).reshape(4, 5)
    inputs = [x, pads] + ([None, axes] if axes is not None else [])
    check("Pad", inputs, {"mode": mode}, opset=opset)


def test_pad_constant_value_and_legacy_attributes():
    x = rand(2, 3)
    check("Pad", [x, i64(1, 0, 0, 2), np.array(2.5, F32)], {"mode": "constant"}, opset=13)
    check("Pad", [x], {"pads": [0, 1, 1, 0], "value": 3.0}, opset=2)
    out, = run_kernel("Pad", [x], {"paddings": [1, 0, 0, 0]}, opset=1)
    assert out.shape == (3, 3) and (out[0] == 0).all()
    out, = run_kernel("Pad", [np.array(["a", "b"], dtype=object), i64(1, 1)], {})
    assert out.tolist() == ["", "a", "b", ""]


def test_pad_wrap_needs_opset_19():
    with pytest.raises(ValueError, match="Pad"):
        run_kernel("Pad", [rand(3), i64(1, 1)], {"mode": "wrap"}, opset=18)


@pytest.mark.parametrize("start, limit, delta", [
    (np.array(1, np.int64), np.array(-8, np.int64), np.array(-3, np.int64)),
    (np.array(5, np.int32), np.array(5, np.int32), np.array(2, np.int32)),
    (np.array(0.5, F32), np.array(2.0, F32), np.array(0.1, F32)),
    (np.array(3.0, np.float64), np.array(-1.0, np.float64), np.array(-0.7, np.float64)),
    (np.array(1, np.int16), np.array(9, np.int16), np.array(4, np.int16)),
])
def test_range(start, limit, delta):
    check("Range", [start, limit, delta], opset=11)


def test_range_float16_stash():
    out, = run_kernel("Range", [np.array(2040, np.float16), np.array(2050, np.float16),
                                np.array(1, np.float16)], {}, opset=27)
    assert out.dtype == np.float16 and out.shape == (10,)
    with pytest.raises(ValueError, match="Range"):
        run_kernel("Range", [np.array(0, np.int64), np.array(3, np.int64), np.array(0, np.int64)])


def test_eyelike():
    check("EyeLike", [np.zeros((3, 5), np.int32)], {"k": -1, "dtype": 11})
    check("EyeLike", [np.zeros((4, 2), F32)], {"k": 1})


@pytest.mark.parametrize("upper, k", [(1, None), (0, 2), (1, -1), (0, -7)])
def test_trilu_batched(upper, k):
    inputs = [rand(2, 3, 4)] + ([] if k is None else [np.array(k, np.int64)])
    check("Trilu", inputs, {"upper": upper}, opset=14)


def test_trilu_bool_and_strings():
    check("Trilu", [np.ones((3, 3), bool)], {"upper": 0}, opset=14)
    out, = run_kernel("Trilu", [np.full((2, 2), "s", dtype=object)], {})
    assert out.tolist() == [["s", "s"], ["", "s"]]


@pytest.mark.parametrize("axis", [0, -1, 1])
def test_onehot(axis):
    indices = np.array([[0, -1, 3], [5, -4, 2]], np.int64)
    check("OneHot", [indices, np.array(4, np.int64), np.array([0, 9], np.int64)],
          {"axis": axis}, opset=11)


def test_onehot_opset9_negative_is_off():
    out, = run_kernel("OneHot", [i64(-1, 1), np.array(3.0, F32), np.array([0, 1], F32)], {},
                      opset=9)
    np.testing.assert_array_equal(out, [[0, 0, 0], [0, 1, 0]])


def test_nonzero():
    check("NonZero", [np.array([[0, 1.5], [-2, 0]], F32)], opset=13)
    out, = run_kernel("NonZero", [np.array(3, np.int32)])
    assert out.shape == (0, 1) and out.dtype == np.int64
    out, = run_kernel("NonZero", [np.array(["", "a"], dtype=object)])
    assert out.tolist() == [[1]]


@pytest.mark.parametrize("cond, attrs", [
    (np.array([True, False], bool), {"axis": 1}),
    (np.array([False, True, True], bool), {}),
    (np.array([True, False, True, False, False], bool), {"axis": -2}),
])
def test_compress(cond, attrs):
    x = rand(3, 4)
    if cond.size == 5:
        with pytest.raises(ValueError, match="Compress"):
            run_kernel("Compress", [x, np.array([0, 0, 0, 1, 0], bool)], attrs)
        cond = cond[:3]
    check("Compress", [x, cond], attrs)


@pytest.mark.parametrize("time_axis, batch_axis", [(0, 1), (1, 0)])
def test_reverse_sequence(time_axis, batch_axis):
    x = rand(4, 3, 2) if time_axis == 0 else rand(3, 4, 2)
    check("ReverseSequence", [x, i64(4, 1, 3)],
          {"time_axis": time_axis, "batch_axis": batch_axis}, opset=10)


# ---- indexing ops ---------------------------------------------------------------------

@pytest.mark.parametrize("axis, indices", [
    (0, np.array(-1, np.int64)),
    (1, np.array([[-4, 3], [0, -1]], np.int32)),
    (-1, np.zeros((0, 2), np.int64)),
])
def test_gather(axis, indices):
    check("Gather", [rand(3, 4, 2), indices], {"axis": axis}, opset=13)


@pytest.mark.parametrize("op, inputs, attrs", [
    ("Gather", [np.arange(5.0, dtype=F32), i64(5)], {}),
    ("Gather", [np.arange(5.0, dtype=F32), i64(-6)], {}),
    ("GatherElements", [np.ones((2, 2), F32), np.array([[0, 2]], np.int64)], {"axis": 1}),
    ("GatherND", [np.ones((2, 2), F32), np.array([[0, -3]], np.int64)], {}),
    ("ScatterElements", [np.ones((2, 2), F32), np.array([[3]], np.int64),
                         np.ones((1, 1), F32)], {}),
    ("ScatterND", [np.ones((2, 2), F32), np.array([[2]], np.int64), np.ones((1, 2), F32)], {}),
])
def test_out_of_range_indices_name_the_op(op, inputs, attrs):
    with pytest.raises(ValueError, match=f"^{op}: index"):
        run_kernel(op, inputs, attrs)


def test_gather_strings():
    out, = run_kernel("Gather", [np.array(["a", "b", "c"], dtype=object), i64(2, -3)], {})
    assert out.tolist() == ["c", "a"]


def test_gather_elements_smaller_indices():
    indices = np.array([[[1, -2]], [[0, 2]]], np.int64)  # shape (2, 1, 2) into (2, 3, 3)
    check("GatherElements", [rand(2, 3, 3), indices], {"axis": 2}, opset=13)


@pytest.mark.parametrize("data_shape, indices, batch_dims", [
    ((2, 3, 4), np.array([[[1], [-1]], [[0], [2]]], np.int64), 1),
    ((2, 3, 4, 5), np.array([[[1, 2], [0, -1]], [[2, 3], [1, 0]]], np.int64), 1),
    ((2, 3, 4), np.array([[[1], [-2], [3]], [[0], [0], [2]]], np.int64), 2),
    ((3, 4), np.array([[[-1, 0]], [[2, 3]]], np.int64), 0),
])
def test_gather_nd_batch_dims(data_shape, indices, batch_dims):
    check("GatherND", [rand(*data_shape), indices], {"batch_dims": batch_dims}, opset=13)


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_elements_duplicates(reduction):
    data = rand(3, 4)
    indices = np.array([[1, 1, -1], [0, 3, 3]], np.int64)
    updates = rand(2, 3)
    if reduction == "none":
        indices = np.array([[1, 0, -1], [0, 3, 2]], np.int64)
    check("ScatterElements", [data, indices, updates], {"axis": -1, "reduction": reduction},
          opset=18)


def test_scatter_legacy():
    data, indices, updates = rand(3, 3), np.array([[1, 0, 2]], np.int64), rand(1, 3)
    check("Scatter", [data, indices, updates], {"axis": 0}, opset=9)


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_nd_slices(reduction):
    data = rand(4, 3, 2)
    indices = np.array([[[1, 2]], [[-3, 2]], [[0, -1]]], np.int64)  # duplicates: rows 0 and 1
    if reduction == "none":
        indices = np.array([[[1, 2]], [[3, 2]], [[0, -1]]], np.int64)
    updates = rand(3, 1, 2)
    check("ScatterND", [data, indices, updates], {"reduction": reduction}, opset=18)


def test_scatter_does_not_modify_inputs():
    data = np.zeros((3,), F32)
    run_kernel("ScatterND", [data, np.array([[0]], np.int64), np.ones(1, F32)], {})
    run_kernel("ScatterElements", [data, i64(1), np.ones(1, F32)], {})
    assert not data.any()


def test_tensor_scatter_circular_axis():
    past = rand(2, 3, 5, 2)
    update = rand(2, 3, 3, 2)
    write = i64(4, 1)
    out, = run_kernel("TensorScatter", [past, update, write], {"mode": "circular", "axis": 2},
                      opset=24)
    expected = past.copy()
    for b in range(2):
        for s in range(3):
            expected[b, :, (write[b] + s) % 5] = update[b, :, s]
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="TensorScatter"):
        run_kernel("TensorScatter", [past, update, write], {"axis": 2}, opset=24)


def test_tensor_scatter_without_write_indices():
    past, update = rand(2, 4, 3), rand(2, 2, 3)
    out, = run_kernel("TensorScatter", [past, update], {"axis": 1}, opset=24)
    expected = past.copy()
    expected[:, :2] = update
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("largest, axis, k", [(1, 0, 3), (0, -1, 2), (1, 1, 0), (0, 0, 5)])
def test_top_k_ties(largest, axis, k):
    x = np.array([[3, 1, 3, 2], [1, 1, 3, 3], [2, 3, 1, 1], [3, 3, 3, 1], [0, 0, 0, 0]], F32)
    check("TopK", [x, i64(k)], {"largest": largest, "axis": axis, "sorted": 1}, opset=11,
          num_outputs=2)


@pytest.mark.parametrize("largest", [0, 1])
def test_top_k_many_ties_on_a_long_axis(largest):
    x = RNG.integers(0, 5, (4, 300)).astype(np.int64)
    check("TopK", [x, i64(37)], {"largest": largest}, opset=11, num_outputs=2)


def test_top_k_legacy_forms():
    x = rand(3, 6)
    check("TopK", [x], {"k": 2}, opset=1, num_outputs=2)
    check("TopK", [x, i64(2)], {"axis": 0}, opset=10, num_outputs=2)
    with pytest.raises(ValueError, match="TopK"):
        run_kernel("TopK", [x, i64(7)], {}, num_outputs=2)


@pytest.mark.parametrize("x, attrs", [
    (np.array([[1, 0, 0], [1, 0, 0], [2, 3, 4], [1, 0, 0]], np.int64), {"axis": 0, "sorted": 0}),
    (np.array([[1, 0, 0], [1, 0, 0], [2, 3, 4]], np.int64), {"axis": 1, "sorted": 1}),
    (np.array([2.5, -1, 2.5, 0, -1, 7], F32), {"sorted": 0}),
])
def test_unique(x, attrs):
    check("Unique", [x], attrs, opset=11, num_outputs=4)


def test_unique_strings_and_fewer_outputs():
    x = np.array(["b", "a", "b", "c"], dtype=object)
    y, idx = run_kernel("Unique", [x], {"sorted": 0}, num_outputs=2)
    assert y.tolist() == ["b", "a", "c"] and idx.tolist() == [0, 1, 3]
    rows = np.array([["x", "y"], ["a", "b"], ["x", "y"]], dtype=object)
    y, idx, inv, counts = run_kernel("Unique", [rows], {"axis": 0}, num_outputs=4)
    assert y.tolist() == [["a", "b"], ["x", "y"]]
    assert idx.tolist() == [1, 0] and inv.tolist() == [1, 0, 1] and counts.tolist() == [1, 2]


@pytest.mark.parametrize("exclusive, reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("dtype", [F32, np.int64])
def test_cumsum_2d(exclusive, reverse, dtype):
    x = (rand(3, 4) * 10).astype(dtype)
    check("CumSum", [x, np.array(-2, np.int32)], {"exclusive": exclusive, "reverse": reverse},
          opset=14)


@pytest.mark.parametrize("exclusive, reverse", [(1, 0), (1, 1)])
def test_cumprod_against_numpy(exclusive, reverse):
    x = rand(3, 4).astype(np.float64)
    out, = run_kernel("CumProd", [x, np.array(1, np.int64)],
                      {"exclusive": exclusive, "reverse": reverse}, opset=26)
    y = x[:, ::-1] if reverse else x
    y = np.concatenate([np.ones((3, 1)), y[:, :-1]], axis=1)
    y = np.cumprod(y, axis=1)
    np.testing.assert_allclose(out, y[:, ::-1] if reverse else y)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("attrs", [
    {"axis": 0, "keepdims": 0, "select_last_index": 1},
    {"axis": -1, "keepdims": 1, "select_last_index": 0},
    {"axis": 1, "keepdims": 0, "select_last_index": 1},
])
def test_arg_ties(op, attrs):
    x = np.array([[[1, 5, 5], [5, 1, 1]], [[5, 5, 1], [1, 1, 5]]], np.int32)
    check(op, [x], attrs, opset=13)


# ---- reductions -----------------------------------------------------------------------

REDUCE_OPS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
              "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("axes, keepdims", [([1], 0), ([-1, 0], 1), (None, 0)])
def test_reduce_axes_attribute(op, axes, keepdims):
    x = np.abs(rand(3, 4, 2)) + 0.5
    attrs = {"keepdims": keepdims} | ({} if axes is None else {"axes": axes})
    check(op, [x], attrs, opset=11, rtol=1e-5)


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("axes, noop", [(i64(-2), 0), (None, 1), (np.zeros(0, np.int64), 0)])
def test_reduce_axes_input(op, axes, noop):
    x = np.abs(rand(2, 3, 4)) + 0.5
    check(op, [x, axes], {"keepdims": 0, "noop_with_empty_axes": noop}, opset=18)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
                                "ReduceL1", "ReduceSumSquare"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_reduce_integers(op, dtype):
    x = np.array([[-7, 2, 5], [3, -3, 4]], dtype)
    check(op, [x, i64(1)], {"keepdims": 1}, opset=18)


@pytest.mark.parametrize("op, identity", [
    ("ReduceMax", -np.inf), ("ReduceMin", np.inf), ("ReduceSum", 0), ("ReduceProd", 1),
    ("ReduceLogSumExp", -np.inf), ("ReduceL2", 0),
])
def test_reduce_empty_set(op, identity):
    out, = run_kernel(op, [np.zeros((2, 0, 3), F32), i64(1)], {"keepdims": 0}, opset=18)
    assert out.dtype == np.float32 and out.shape == (2, 3)
    assert (out == identity).all()


def test_reduce_empty_integer_extremes():
    x = np.zeros((0, 2), np.int32)
    out, = run_kernel("ReduceMax", [x, i64(0)], {}, opset=18)
    assert (out == np.iinfo(np.int32).min).all()
    out, = run_kernel("ReduceMin", [x, i64(0)], {}, opset=18)
    assert (out == np.iinfo(np.int32).max).all()


def test_reduce_scalar_output_is_array_and_float16():
    x = rand(3, 4, dtype=np.float16)
    out, = run_kernel("ReduceSum", [x], {"keepdims": 0}, opset=11)
    assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == np.float16
    check("ReduceSum", [x, i64(1)], {"keepdims": 0}, opset=13, rtol=2e-3, atol=2e-3)
    check("ReduceLogSumExp", [x, i64(0)], {}, opset=18, rtol=2e-3, atol=2e-3)


def test_reduce_log_sum_exp_large_values():
    x = np.array([[1000.0, 1000.0], [-np.inf, -np.inf]], F32)
    out, = run_kernel("ReduceLogSumExp", [x, i64(1)], {"keepdims": 0}, opset=18)
    np.testing.assert_allclose(out, [1000 + np.log(2), -np.inf])


def test_reduce_bad_axes():
    with pytest.raises(ValueError, match="ReduceSum"):
        run_kernel("ReduceSum", [rand(2, 3), i64(2)], {}, opset=13)
    with pytest.raises(ValueError, match="ReduceMean"):
        run_kernel("ReduceMean", [rand(2, 3)], {"axes": [1, -1]}, opset=13)


# ---- matrix ops -----------------------------------------------------------------------

@pytest.mark.parametrize("a_shape, b_shape", [
    ((3,), (3, 4)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,)), ((0, 3), (3, 2)),
])
def test_matmul_shapes(a_shape, b_shape):
    check("MatMul", [rand(*a_shape), rand(*b_shape)], opset=13, rtol=1e-4)


@pytest.mark.parametrize("dtype", [np.float16, np.int32, np.int64, np.float64])
def test_matmul_dtypes(dtype):
    a = (rand(3, 5) * 4).astype(dtype)
    b = (rand(5, 2) * 4).astype(dtype)
    out, = run_kernel("MatMul", [a, b])
    assert out.dtype == dtype
    np.testing.assert_allclose(out.astype(np.float64),
                               (a.astype(np.float64) @ b.astype(np.float64)).astype(dtype),
                               rtol=2e-3, atol=1e-2)


def test_matmul_mismatch():
    with pytest.raises(ValueError, match="MatMul"):
        run_kernel("MatMul", [rand(2, 3), rand(4, 2)])


@pytest.mark.parametrize("attrs, c_shape", [
    ({"transA": 1, "transB": 1, "alpha": 0.5, "beta": -2.0}, (1, 4)),
    ({}, ()),
    ({"beta": 0.0}, (3, 4)),
    ({"transB": 1}, None),
    ({"alpha": 2.0}, (3, 1)),
])
def test_gemm(attrs, c_shape):
    a = rand(5, 3) if attrs.get("transA") else rand(3, 5)
    b = rand(4, 5) if attrs.get("transB") else rand(5, 4)
    inputs = [a, b] + ([] if c_shape is None else [rand(*c_shape)])
    check("Gemm", inputs, attrs, opset=13, rtol=1e-4)


def test_gemm_legacy_broadcast_and_float16():
    a, b, c = rand(2, 3), rand(3, 4), rand(4)
    out, = run_kernel("Gemm", [a, b, c], {"broadcast": 1}, opset=6)
    np.testing.assert_allclose(out, a @ b + c, rtol=1e-5)
    with pytest.raises(ValueError, match="Gemm"):
        run_kernel("Gemm", [a, b, c], {}, opset=6)
    h = [x.astype(np.float16) for x in (a, b, c)]
    out, = run_kernel("Gemm", h, {"alpha": 0.5}, opset=13)
    assert out.dtype == np.float16
    np.testing.assert_allclose(out, 0.5 * (h[0].astype(F32) @ h[1].astype(F32)) + h[2],
                               rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("equation, shapes", [
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("...ij,...jk", [(2, 1, 2, 3), (1, 5, 3, 4)]),
    ("b i j, b j k, k l -> b i l", [(2, 3, 4), (2, 4, 5), (5, 2)]),
    ("i,j->ij", [(3,), (4,)]),
    ("...j->...", [(2, 3, 4)]),
])
def test_einsum(equation, shapes):
    check("Einsum", [rand(*s).astype(np.float64) for s in shapes], {"equation": equation},
          opset=12, rtol=1e-9, atol=1e-9)


def test_einsum_implicit_output_orders_upper_case_first():
    a, b = rand(2, 3), rand(4, 2)
    out, = run_kernel("Einsum", [a, b], {"equation": "ba,Ab"})  # output "Aa"
    np.testing.assert_allclose(out, np.einsum("ba,Ab->Aa", a, b), rtol=1e-6)


def test_einsum_float16_and_int():
    a = rand(2, 3, dtype=np.float16)
    out, = run_kernel("Einsum", [a, a], {"equation": "ij,ij->i"})
    assert out.dtype == np.float16
    ints = np.arange(6, dtype=np.int32).reshape(2, 3)
    check("Einsum", [ints, ints], {"equation": "ij,kj->ik"}, opset=12)
    with pytest.raises(ValueError, match="Einsum"):
        run_kernel("Einsum", [a], {"equation": "ij,jk->ik"})


@pytest.mark.parametrize("a_dtype, b_dtype", [(np.uint8, np.uint8), (np.int8, np.uint8),
                                              (np.uint8, np.int8), (np.int8, np.int8)])
def test_matmul_integer_zero_points(a_dtype, b_dtype):
    ai, bi = np.iinfo(a_dtype), np.iinfo(b_dtype)
    a = RNG.integers(ai.min, ai.max + 1, (2, 4, 6)).astype(a_dtype)
    b = RNG.integers(bi.min, bi.max + 1, (6, 3)).astype(b_dtype)
    a_zero = RNG.integers(ai.min, ai.max + 1, (4,)).astype(a_dtype)  # per row
    b_zero = RNG.integers(bi.min, bi.max + 1, (3,)).astype(b_dtype)  # per column
    check("MatMulInteger", [a, b, np.array(a_zero[0]), b_zero], opset=10)
    out, = run_kernel("MatMulInteger", [a, b, a_zero, b_zero], opset=10)
    want = (a.astype(np.int64) - a_zero[:, None]) @ (b.astype(np.int64) - b_zero)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, want)
    check("MatMulInteger", [a, b], opset=10)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_qlinear_matmul_per_row_and_column(dtype):
    info = np.iinfo(dtype)
    a = RNG.integers(info.min, info.max + 1, (3, 8)).astype(dtype)
    b = RNG.integers(info.min, info.max + 1, (8, 4)).astype(dtype)
    zero = np.array(3, dtype)
    scalar = [a, np.array(0.02, F32), zero, b, np.array(0.03, F32), zero,
              np.array(0.5, F32), np.array(-2 if dtype == np.int8 else 120, dtype)]
    check("QLinearMatMul", scalar, opset=10)
    a_scale = np.array([0.01, 0.02, 0.05], F32)
    b_scale = np.array([0.03, 0.01, 0.02, 0.04], F32)
    out, = run_kernel("QLinearMatMul", [a, a_scale, np.full(3, 3, dtype), b, b_scale,
                                        np.full(4, 1, dtype), np.array(0.25, F32),
                                        np.array(5, dtype)], opset=21)
    acc = (a.astype(np.int64) - 3) @ (b.astype(np.int64) - 1)
    want = np.rint(acc * (a_scale[:, None] * b_scale / F32(0.25))) + 5
    np.testing.assert_array_equal(out, np.clip(want, info.min, info.max).astype(dtype))


def test_qlinear_matmul_float8_is_refused():
    f = np.ones((2, 2), F32)
    one = np.array(1.0, F32)
    with pytest.raises(ValueError, match="QLinearMatMul"):
        run_kernel("QLinearMatMul", [f, one, np.array(0.0, F32), f, one, np.array(0.0, F32),
                                     one, np.array(0.0, F32)])


@pytest.mark.parametrize("shape, dtype", [((3, 3), np.float64), ((2, 4, 4), F32),
                                          ((2, 2), np.float16), ((0, 2, 2), F32)])
def test_det(shape, dtype):
    x = rand(*shape).astype(dtype)
    out, = run_kernel("Det", [x])
    assert out.dtype == dtype and out.shape == shape[:-2]
    np.testing.assert_allclose(out, np.linalg.det(x.astype(np.float64)), rtol=5e-3, atol=5e-3)
    if dtype == F32:
        check("Det", [x], opset=11, rtol=1e-4, atol=1e-5)
