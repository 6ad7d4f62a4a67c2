"""Recurrent, control-flow, sequence, quantization, detection and random kernels:
edge cases the ONNX node tests miss, checked against onnxruntime or numpy."""
import numpy as np
import pytest

from nodeutil import run_kernel, run_onnxruntime
from pywebinfer import dtypes
from pywebinfer.ops.registry import KernelContext

RNG = np.random.default_rng(7)


def _rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _close(got, expected, atol=1e-5):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=atol)


# ---- LSTM / GRU / RNN ----------------------------------------------------------------

SEQ, BATCH, INPUT, HIDDEN = 5, 3, 4, 3
LENS = np.array([5, 2, 4], np.int32)


def _recurrent_inputs(op, gates, bidirectional=True):
    nd = 2 if bidirectional else 1
    inputs = [_rand(SEQ, BATCH, INPUT), _rand(nd, gates * HIDDEN, INPUT),
              _rand(nd, gates * HIDDEN, HIDDEN), _rand(nd, 2 * gates * HIDDEN), LENS,
              _rand(nd, BATCH, HIDDEN)]
    if op == "LSTM":
        inputs += [_rand(nd, BATCH, HIDDEN), _rand(nd, 3 * HIDDEN)]
    return inputs


RECURRENT_CASES = [
    ("LSTM", 4, {}),
    ("LSTM", 4, {"clip": 0.7, "input_forget": 1}),
    ("LSTM", 4, {"activations": ["HardSigmoid", "LeakyRelu", "Tanh"] * 2,
                 "activation_alpha": [0.3, 0.05, 0.25, 0.02], "activation_beta": [0.4, 0.6]}),
    ("GRU", 3, {}),
    ("GRU", 3, {"linear_before_reset": 1, "clip": 1.5}),
    ("RNN", 1, {}),
    ("RNN", 1, {"activations": ["LeakyRelu", "Relu"], "activation_alpha": [0.2]}),
]


@pytest.mark.parametrize("op,gates,extra", RECURRENT_CASES)
def test_recurrent_bidirectional_with_sequence_lens(op, gates, extra):
    inputs = _recurrent_inputs(op, gates)
    attrs = {"hidden_size": HIDDEN, "direction": "bidirectional", **extra}
    n_out = 3 if op == "LSTM" else 2
    got = run_kernel(op, inputs, attrs, opset=14, num_outputs=n_out)
    expected = run_onnxruntime(op, inputs, attrs, opset=14, num_outputs=n_out)
    _close(got, expected)


@pytest.mark.parametrize("op,gates", [("LSTM", 4), ("GRU", 3), ("RNN", 1)])
def test_recurrent_layout_1_is_batch_first(op, gates):
    # onnxruntime only runs layout 0, so compare with it on the transposed tensors
    inputs = _recurrent_inputs(op, gates)
    attrs = {"hidden_size": HIDDEN, "direction": "bidirectional"}
    n_out = 3 if op == "LSTM" else 2
    expected = run_onnxruntime(op, inputs, attrs, opset=14, num_outputs=n_out)
    batch_first = list(inputs)
    batch_first[0] = inputs[0].transpose(1, 0, 2)
    for i in range(5, len(inputs) - (1 if op == "LSTM" else 0)):  # initial_h, initial_c
        batch_first[i] = inputs[i].transpose(1, 0, 2)
    got = run_kernel(op, batch_first, {**attrs, "layout": 1}, opset=14, num_outputs=n_out)
    _close(got, [expected[0].transpose(2, 0, 1, 3)] + [e.transpose(1, 0, 2) for e in expected[1:]])


def test_recurrent_reverse_and_empty_sequence():
    inputs = _recurrent_inputs("GRU", 3, bidirectional=False)
    inputs[4] = np.array([0, 5, 3], np.int32)
    attrs = {"hidden_size": HIDDEN, "direction": "reverse"}
    got = run_kernel("GRU", inputs, attrs, opset=14, num_outputs=2)
    _close(got, run_onnxruntime("GRU", inputs, attrs, opset=14, num_outputs=2))


def test_recurrent_float64_keeps_dtype():
    inputs = [x.astype(np.float64) for x in _recurrent_inputs("RNN", 1, bidirectional=False)]
    inputs[4] = None
    y, y_h = run_kernel("RNN", inputs, {"hidden_size": HIDDEN}, num_outputs=2)
    assert y.dtype == y_h.dtype == np.float64
    np.testing.assert_allclose(y[-1], y_h)


def test_recurrent_rejects_bad_weights():
    inputs = _recurrent_inputs("RNN", 1, bidirectional=False)
    inputs[1] = inputs[1][:, :, :2]
    with pytest.raises(ValueError, match="RNN: W has shape"):
        run_kernel("RNN", inputs, {"hidden_size": HIDDEN}, num_outputs=2)


# ---- QuantizeLinear / DequantizeLinear -------------------------------------------------

@pytest.mark.parametrize("zp_dtype,axis", [(np.uint8, 1), (np.int8, -1), (np.int8, 0)])
def test_quantize_per_axis(zp_dtype, axis):
    x = _rand(3, 4, 5) * 40
    dim = x.shape[axis]
    scale = (RNG.random(dim) + 0.2).astype(np.float32)
    zp = RNG.integers(-5, 10, dim).astype(zp_dtype)
    attrs = {"axis": axis}
    got = run_kernel("QuantizeLinear", [x, scale, zp], attrs, opset=21)
    _close(got, run_onnxruntime("QuantizeLinear", [x, scale, zp], attrs, opset=21))
    back = run_kernel("DequantizeLinear", [got[0], scale, zp], attrs, opset=21)
    _close(back, run_onnxruntime("DequantizeLinear", [got[0], scale, zp], attrs, opset=21))


def test_quantize_blocked_matches_onnxruntime():
    x = _rand(4, 6) * 10
    scale = (RNG.random((4, 2)) + 0.5).astype(np.float32)
    zp = RNG.integers(0, 20, (4, 2)).astype(np.uint8)
    attrs = {"axis": 1, "block_size": 3}
    got = run_kernel("QuantizeLinear", [x, scale, zp], attrs, opset=21)
    _close(got, run_onnxruntime("QuantizeLinear", [x, scale, zp], attrs, opset=21))


def test_quantize_ties_round_to_even_and_saturate():
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 1000, -1000], np.float32)
    (y,) = run_kernel("QuantizeLinear", [x, np.float32(1), np.int8(0)], opset=13)
    np.testing.assert_array_equal(y, [0, 2, 2, 0, -2, 127, -128])


def test_quantize_output_dtype_int4_without_zero_point():
    x = np.array([-20, -3, 0, 3, 20], np.float32)
    (y,) = run_kernel("QuantizeLinear", [x, np.float32(2)], {"output_dtype": dtypes.INT4}, opset=21)
    assert dtypes.onnx_type_of(y) == dtypes.INT4
    np.testing.assert_array_equal(y, [-8, -2, 0, 2, 7])


def test_quantize_float8_without_saturation_overflows_to_nan():
    x = np.array([1.0, 1e6], np.float32)
    zp = dtypes.round_to(np.zeros(1, np.float32), dtypes.FLOAT8E4M3FN)
    (y,) = run_kernel("QuantizeLinear", [x, np.float32(1), zp], {"saturate": 0}, opset=21)
    assert y[0] == 1 and np.isnan(y[1])


def test_quantize_rejects_wrong_scale_shape():
    with pytest.raises(ValueError, match="QuantizeLinear: per-axis y_scale"):
        run_kernel("QuantizeLinear", [_rand(2, 3), np.ones(2, np.float32)], {"axis": 1}, opset=21)


def test_dynamic_quantize_matches_onnxruntime():
    x = _rand(4, 5) * 3
    _close(run_kernel("DynamicQuantizeLinear", [x], num_outputs=3),
           run_onnxruntime("DynamicQuantizeLinear", [x], num_outputs=3))


def test_dynamic_quantize_all_zero():
    y, scale, zp = run_kernel("DynamicQuantizeLinear", [np.zeros(3, np.float32)], num_outputs=3)
    assert scale == 0 and zp == 0 and zp.dtype == np.uint8 and not y.any()


# ---- NonMaxSuppression -------------------------------------------------------------------

def _boxes(batches, count, center):
    corners = RNG.random((batches, count, 2)).astype(np.float32) * 4
    sizes = (RNG.random((batches, count, 2)) + 0.5).astype(np.float32)
    if center:
        return np.concatenate([corners, sizes], axis=2)
    # corners in either order: the kernel must accept any diagonal
    return np.concatenate([corners + sizes, corners], axis=2)


@pytest.mark.parametrize("center", [0, 1])
@pytest.mark.parametrize("score_threshold", [None, 0.3])
def test_nms_several_batches_and_classes(center, score_threshold):
    boxes = _boxes(2, 12, center)
    scores = RNG.random((2, 3, 12)).astype(np.float32)
    inputs = [boxes, scores, np.array([4], np.int64), np.array([0.3], np.float32)]
    if score_threshold is not None:
        inputs.append(np.array([score_threshold], np.float32))
    attrs = {"center_point_box": center}
    got = run_kernel("NonMaxSuppression", inputs, attrs, opset=11)
    _close(got, run_onnxruntime("NonMaxSuppression", inputs, attrs, opset=11))


def test_nms_without_max_output_selects_nothing():
    (got,) = run_kernel("NonMaxSuppression", [_boxes(1, 3, 0), RNG.random((1, 1, 3)).astype(np.float32)])
    assert got.shape == (0, 3) and got.dtype == np.int64


# ---- control flow (bodies stand in as Python callables) ------------------------------------

def _ctx(num_outputs):
    return KernelContext(opset=25, num_outputs=num_outputs,
                         run_graph=lambda body, args, outer: body(*args), outer_scope={})


def _call(op, inputs, attrs, num_outputs, opset=25):
    from nodeutil import REGISTRY
    ctx = _ctx(num_outputs)
    ctx.opset = opset
    return REGISTRY.lookup(op, "", opset, "numpy").fn(ctx, inputs, attrs)


def test_loop_stops_on_body_condition_and_stacks_scan_outputs():
    def body(i, cond, total):
        return [np.array(i < 2), total + i, total * 2]
    final, scans = _call("Loop", [np.array(10, np.int64), None, np.array(1, np.int64)],
                         {"body": body}, 2)
    assert final == 1 + 0 + 1 + 2
    np.testing.assert_array_equal(scans, [2, 2, 4])


def test_loop_that_never_runs_returns_initial_values():
    body = lambda i, cond, v: [cond, v + 1, v]  # noqa: E731
    final, scans = _call("Loop", [np.array(0, np.int64), np.array(True), np.ones(2, np.float32)],
                         {"body": body}, 2)
    np.testing.assert_array_equal(final, [1, 1])
    assert scans.shape[0] == 0


def test_if_returns_the_chosen_branch():
    attrs = {"then_branch": lambda: [np.array(1)], "else_branch": lambda: [np.array(2)]}
    assert _call("If", [np.array([False])], attrs, 1)[0] == 2


def test_scan9_axes_and_directions():
    x = _rand(2, 4, 3)  # scanned along axis 1 (length 4)

    def body(total, row_fwd, row_rev):
        return [total + row_fwd, row_fwd - row_rev]
    attrs = {"body": body, "num_scan_inputs": 2, "scan_input_axes": [1, -2],
             "scan_input_directions": [0, 1], "scan_output_axes": [-1],
             "scan_output_directions": [1]}
    total, out = _call("Scan", [np.zeros((2, 3), np.float32), x, x], attrs, 2)
    np.testing.assert_allclose(total, x.sum(axis=1))
    expected = np.stack([x[:, t] - x[:, 3 - t] for t in range(4)][::-1], axis=-1)
    np.testing.assert_allclose(out, expected)


def test_scan8_batches_with_sequence_lens_and_reverse():
    x = _rand(2, 3, 2)

    def body(total, elem):
        return [total + elem, total + elem]
    attrs = {"body": body, "num_scan_inputs": 1, "directions": [1]}
    total, out = _call("Scan", [np.array([3, 1], np.int64), np.zeros((2, 2), np.float32), x],
                       attrs, 2, opset=8)
    np.testing.assert_allclose(total, [x[0].sum(0), x[1, 0]])
    np.testing.assert_allclose(out[0], np.cumsum(x[0, ::-1], axis=0))
    np.testing.assert_allclose(out[1], [x[1, 0], [0, 0], [0, 0]])


# ---- sequences and optionals ---------------------------------------------------------

def test_sequence_insert_and_erase_leave_the_input_alone():
    seq = [np.array([1.0]), np.array([2.0])]
    (inserted,) = run_kernel("SequenceInsert", [seq, np.array([3.0]), np.array(-1)])
    assert [float(t[0]) for t in inserted] == [1, 3, 2] and len(seq) == 2
    (erased,) = run_kernel("SequenceErase", [seq, np.array(-2, np.int32)])
    assert [float(t[0]) for t in erased] == [2] and len(seq) == 2
    with pytest.raises(ValueError, match="SequenceAt: position 2 is out of range"):
        run_kernel("SequenceAt", [seq, np.array(2)])
    with pytest.raises(ValueError, match="SequenceInsert: tensor of type int64"):
        run_kernel("SequenceInsert", [seq, np.array([1])])


def test_split_to_sequence_and_concat_back():
    x = np.arange(14).reshape(2, 7)
    (parts,) = run_kernel("SplitToSequence", [x, np.array(3)], {"axis": 1})
    assert [p.shape for p in parts] == [(2, 3), (2, 3), (2, 1)]
    np.testing.assert_array_equal(run_kernel("ConcatFromSequence", [parts], {"axis": -1})[0], x)
    (rows,) = run_kernel("SplitToSequence", [x], {"axis": 0, "keepdims": 0})
    stacked = run_kernel("ConcatFromSequence", [rows], {"axis": -1, "new_axis": 1})[0]
    np.testing.assert_array_equal(stacked, x.T)


def test_sequences_keep_widened_types():
    bf16 = [dtypes.round_to(_rand(2, 2), dtypes.BFLOAT16) for _ in range(3)]
    (joined,) = run_kernel("ConcatFromSequence", [bf16], {"axis": 0, "new_axis": 1})
    assert dtypes.onnx_type_of(joined) == dtypes.BFLOAT16 and joined.shape == (3, 2, 2)
    with pytest.raises(ValueError, match="float32 does not match the sequence's bfloat16"):
        run_kernel("SequenceInsert", [bf16, _rand(2, 2)])


def test_optional_ops():
    assert run_kernel("OptionalHasElement", [None])[0] == np.array(False)
    assert run_kernel("OptionalHasElement", [[]])[0] == np.array(True)
    with pytest.raises(ValueError, match="OptionalGetElement: the optional is empty"):
        run_kernel("OptionalGetElement", [None])


# ---- random ops ----------------------------------------------------------------------------

def test_seeded_random_ops_repeat_and_keep_types():
    attrs = {"shape": [3, 4], "seed": 5.0, "dtype": dtypes.FLOAT16, "mean": 2.0}
    a, b = (run_kernel("RandomNormal", [], attrs)[0] for _ in range(2))
    assert a.dtype == np.float16 and a.shape == (3, 4)
    np.testing.assert_array_equal(a, b)
    (u,) = run_kernel("RandomUniformLike", [np.zeros((50,), np.float64)], {"low": 2.0, "high": 3.0})
    assert u.dtype == np.float64 and ((u >= 2) & (u < 3)).all()
    (bf,) = run_kernel("RandomUniform", [], {"shape": [4], "dtype": dtypes.BFLOAT16})
    assert dtypes.onnx_type_of(bf) == dtypes.BFLOAT16


def test_bernoulli_and_multinomial():
    (bits,) = run_kernel("Bernoulli", [np.array([0.0, 1.0, 0.0, 1.0])], {"dtype": dtypes.BOOL})
    np.testing.assert_array_equal(bits, [False, True, False, True])
    logits = np.log(np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]], np.float32) + 1e-30)
    (picks,) = run_kernel("Multinomial", [logits], {"sample_size": 20, "dtype": dtypes.INT64, "seed": 1.0})
    assert picks.dtype == np.int64 and picks.shape == (2, 20)
    assert (picks[0] == 1).all() and set(picks[1].tolist()) <= {0, 2}


def test_dropout_inference_and_training():
    x = _rand(4, 5)
    y, mask = run_kernel("Dropout", [x], opset=13, num_outputs=2)
    assert y is x and mask.dtype == np.bool_ and mask.all()
    y, mask = run_kernel("Dropout", [x, np.float32(0.5), np.array(True)], {"seed": 3.0}, opset=13,
                         num_outputs=2)
    np.testing.assert_allclose(y, np.where(mask, x * 2, 0))
    (mask7,) = run_kernel("Dropout", [x], opset=7, num_outputs=2)[1:]
    assert mask7.dtype == np.float32 and (mask7 == 1).all()
