"""The onnxruntime-compatible API and its errors, against onnxruntime itself."""
import asyncio
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import pywebinfer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _mlp_model(batch="batch"):
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((8, 16)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(rng.standard_normal((16, 4)).astype(np.float32), "w2")
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"], name="mm1"),
        helper.make_node("Add", ["h0", "b1"], ["h1"], name="bias1"),
        helper.make_node("Relu", ["h1"], ["h"], name="relu"),
        helper.make_node("MatMul", ["h", "w2"], ["logits"], name="mm2"),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1),
        helper.make_node("ArgMax", ["logits"], ["label"], name="argmax", axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 8])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [batch, 4]),
         helper.make_tensor_value_info("label", TensorProto.INT64, [batch])],
        initializer=[w1, b1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model.SerializeToString()


MODEL = _mlp_model()
X = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)


def test_run_matches_onnxruntime():
    ref = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
    sess = pywebinfer.InferenceSession(MODEL, providers=["numpy"])
    got = sess.run(None, {"x": X})
    want = ref.run(None, {"x": X})
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[1], want[1])
    assert got[1].dtype == np.int64
    # selecting outputs by name, in the order asked
    label, probs = sess.run(["label", "probs"], {"x": X})
    np.testing.assert_array_equal(label, want[1])


def test_inputs_outputs_providers_like_onnxruntime():
    ref = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
    sess = pywebinfer.InferenceSession(MODEL)
    for mine, theirs in zip(sess.get_inputs() + sess.get_outputs(), ref.get_inputs() + ref.get_outputs()):
        assert (mine.name, mine.shape, mine.type) == (theirs.name, theirs.shape, theirs.type)
    assert sess.get_providers() == ["numpy"]
    # onnxruntime's provider name maps to the numpy backend, so ported code runs as is
    assert pywebinfer.InferenceSession(MODEL, providers=["CPUExecutionProvider"]).get_providers() == ["numpy"]
    assert "numpy" in pywebinfer.get_available_providers()


def test_run_async_and_placement():
    sess = pywebinfer.InferenceSession(MODEL)
    got = asyncio.run(sess.run_async(None, {"x": X}))
    np.testing.assert_array_equal(got[0], sess.run(None, {"x": X})[0])
    placed = sess.placement
    assert placed and all(backend == "numpy" for _, _, backend in placed)
    assert {op for _, op, _ in placed} <= {"MatMul", "Add", "Relu", "Softmax", "ArgMax", "FusedMatMul"}


def test_close_and_context_manager():
    with pywebinfer.InferenceSession(MODEL) as sess:
        sess.run(None, {"x": X})
    with pytest.raises(RuntimeError, match="closed"):
        sess.run(None, {"x": X})
    sess.close()  # a second close is harmless


@pytest.mark.parametrize("feed,match", [
    ({}, r"missing input\(s\): 'x' \(tensor\(float\) with shape \['batch', 8\]\)"),
    ({"x": X, "y": X}, r"unknown input name\(s\) \['y'\]"),
    ({"x": X.astype(np.float64)}, r"input 'x': expected tensor\(float\).*got a float64 array"),
    ({"x": X[:, :5]}, r"input 'x'.*dimension 1 is 5, not 8"),
    ({"x": X[0]}, r"input 'x'.*rank 2.*rank 1"),
    ({"x": "text"}, r"input 'x'"),
])
def test_feed_errors_name_the_input(feed, match):
    sess = pywebinfer.InferenceSession(MODEL)
    with pytest.raises(ValueError, match=match):
        sess.run(None, feed)


def test_symbolic_dims_must_agree_across_inputs():
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["n", 2])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["n", 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])
    model = helper.make_model(helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "g", [a, b], [y]),
                              opset_imports=[helper.make_opsetid("", 14)])
    sess = pywebinfer.InferenceSession(model.SerializeToString())
    with pytest.raises(ValueError, match="'n'"):
        sess.run(None, {"a": np.zeros((3, 2), np.float32), "b": np.zeros((4, 2), np.float32)})


def test_unknown_output_name():
    sess = pywebinfer.InferenceSession(MODEL)
    with pytest.raises(ValueError, match=r"unknown output name\(s\) \['nope'\]"):
        sess.run(["nope"], {"x": X})


def test_all_unsupported_ops_are_listed_at_load():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    nodes = [helper.make_node("FancyOp", ["x"], ["a"], name="first", domain="com.acme"),
             helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("OtherOp", ["b"], ["y"], name="second", domain="com.acme")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("com.acme", 3)])
    with pytest.raises(pywebinfer.UnsupportedOpError) as e:
        pywebinfer.InferenceSession(model.SerializeToString())
    missing = e.value.missing
    assert [(m["op_type"], m["domain"], m["opset"], m["node"]) for m in missing] == [
        ("FancyOp", "com.acme", 3, "first"), ("OtherOp", "com.acme", 3, "second")]
    assert "FancyOp" in str(e.value) and "OtherOp" in str(e.value)


def test_dangling_input_and_newer_opset_fail_at_load():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    bad = helper.make_model(helper.make_graph([helper.make_node("Add", ["x", "ghost"], ["y"], name="add")],
                                              "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(pywebinfer.ModelError, match="'ghost'"):
        pywebinfer.InferenceSession(bad.SerializeToString())
    future = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]),
                               opset_imports=[helper.make_opsetid("", 99)])
    with pytest.raises(pywebinfer.ModelError, match="opset 99"):
        pywebinfer.InferenceSession(future.SerializeToString())


def test_unknown_provider():
    with pytest.raises(ValueError, match="unknown provider 'cuda'"):
        pywebinfer.InferenceSession(MODEL, providers=["cuda"])


def test_optimization_levels_give_the_same_outputs():
    outs = []
    for level in pywebinfer.GraphOptimizationLevel:
        opts = pywebinfer.SessionOptions()
        opts.graph_optimization_level = level
        outs.append(pywebinfer.InferenceSession(MODEL, sess_options=opts).run(None, {"x": X}))
    for other in outs[1:]:
        np.testing.assert_allclose(other[0], outs[0][0], rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(other[1], outs[0][1])


def test_outputs_are_not_views_of_the_model():
    # an output that is an initializer must not let the caller write into the model
    w = numpy_helper.from_array(np.ones(3, np.float32), "w")
    y = helper.make_tensor_value_info("w", TensorProto.FLOAT, [3])
    model = helper.make_model(helper.make_graph([], "g", [], [y], initializer=[w]),
                              opset_imports=[helper.make_opsetid("", 17)])
    sess = pywebinfer.InferenceSession(model.SerializeToString())
    out = sess.run(None, {})[0]
    out[:] = 5
    np.testing.assert_array_equal(sess.run(None, {})[0], np.ones(3, np.float32))


# ---- command line -----------------------------------------------------------------

def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pywebinfer", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=120)


def test_cli_inspect_run_and_ops(tmp_path):
    path = tmp_path / "mlp.onnx"
    path.write_bytes(MODEL)
    r = _cli("inspect", str(path))
    assert r.returncode == 0, r.stderr
    assert "[batch, 8]" in r.stdout
    assert "MatMul" in r.stdout and "parameters 208 " in r.stdout
    assert "numpy    runs every node" in r.stdout
    np.save(tmp_path / "x.npy", X)
    r = _cli("run", str(path), "--input", f"x={tmp_path / 'x.npy'}", "--save", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert "probs: float32 [5, 4]" in r.stdout and "first run" in r.stdout
    ref = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"]).run(None, {"x": X})
    np.testing.assert_allclose(np.load(tmp_path / "out" / "probs.npy"), ref[0], rtol=1e-5)
    r = _cli("ops", "--markdown")
    assert r.returncode == 0 and "| Conv |" in r.stdout


def test_cli_reports_a_corrupt_model(tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_bytes(MODEL[: len(MODEL) // 2])
    r = _cli("inspect", str(path))
    assert r.returncode == 2 and "error:" in r.stderr and "byte offset" in r.stderr


def test_initializer_listed_as_input_is_an_overridable_default():
    # IR >= 4: an input sharing an initializer's name may be fed; unfed, the initializer is used
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])
    scale = helper.make_tensor_value_info("scale", TensorProto.FLOAT, [3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])
    init = numpy_helper.from_array(np.full(3, 2.0, np.float32), "scale")
    graph = helper.make_graph([helper.make_node("Mul", ["x", "scale"], ["y"])], "g", [x, scale], [y],
                              initializer=[init])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    sess = pywebinfer.InferenceSession(model.SerializeToString())
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert [a.name for a in sess.get_inputs()] == [a.name for a in ref.get_inputs()]
    assert [a.name for a in sess.get_overridable_initializers()] == ["scale"]
    xv = np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(sess.run(None, {"x": xv})[0], xv * 2)
    fed = {"x": xv, "scale": np.full(3, 5.0, np.float32)}
    np.testing.assert_array_equal(sess.run(None, fed)[0], ref.run(None, fed)[0])


def test_unsupported_op_error_says_why_a_backend_declined_the_node():
    # the wasm backend has Add, but only for float32: the error names the node and why
    a = helper.make_tensor_value_info("a", TensorProto.INT32, [3])
    y = helper.make_tensor_value_info("y", TensorProto.INT32, [3])
    model = helper.make_model(helper.make_graph([helper.make_node("Add", ["a", "a"], ["y"], name="sum")],
                                                "g", [a], [y]), opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(pywebinfer.UnsupportedOpError) as e:
        pywebinfer.InferenceSession(model.SerializeToString(), providers=["wasm"])
    [m] = e.value.missing
    assert (m["op_type"], m["node"]) == ("Add", "sum")
    assert len(m["declined"]) == 1 and m["declined"][0].startswith("wasm: ")
    assert "'sum'" in str(e.value) and m["declined"][0] in str(e.value) and "int32" in str(e.value)
