"""The WebGPU backend in Pyodide in headless Chromium (SwiftShader's adapter here):
real models with every node on the GPU against the numpy backend, residency and memory,
placement and load-time refusal, outputs kept on the GPU, profiling.

References are computed in CPython with the numpy provider (the same pywebinfer), so a
test runs the model only once in the page.  Node has no WebGPU: these tests skip there.
"""
from __future__ import annotations

import io

import numpy as np
import onnx
import pytest
from conftest import MODEL, MODELS, PYODIDE_MODELS, REPO_ROOT, SAMPLES
from onnx import TensorProto, helper, numpy_helper
from pytest_pyodide import run_in_pyodide
from pytest_pyodide.copy_files_to_pyodide import copy_files_to_emscripten_fs

import pywebinfer

MINILM = MODELS / "minilm_l6_v2.onnx"


@pytest.fixture
def gpu(selenium):
    if selenium.browser == "node":
        pytest.skip("Node has no WebGPU")
    return selenium


def reference(model_bytes: bytes, feeds: dict) -> list:
    return pywebinfer.InferenceSession(model_bytes, providers=["numpy"]).run(None, feeds)


def model_bytes(nodes, inputs, outputs, initializers=(), opset=17) -> bytes:
    graph = helper.make_graph(nodes, "test", inputs, outputs, list(initializers))
    buf = io.BytesIO()
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), buf)
    return buf.getvalue()


def small_cnn() -> bytes:
    """Conv + Relu, a pointwise Conv with a residual Add, pooling, a Reshape view, Gemm
    and Softmax: what the session fuses and the backend plans, in a model that runs fast."""
    rng = np.random.default_rng(0)

    def weight(name, shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    return model_bytes(
        [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c1"], ["r1"]),
         helper.make_node("Conv", ["r1", "w2"], ["c2"]),
         helper.make_node("Add", ["c2", "r1"], ["a1"]),
         helper.make_node("GlobalAveragePool", ["a1"], ["g"]),
         helper.make_node("Reshape", ["g", "shape"], ["flat"]),
         helper.make_node("Gemm", ["flat", "w3", "b3"], ["logits"], transB=1),
         helper.make_node("Softmax", ["logits"], ["prob"], axis=-1)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 10])],
        [weight("w1", (8, 3, 3, 3)), weight("b1", (8,)), weight("w2", (8, 8, 1, 1)),
         weight("w3", (10, 8)), weight("b3", (10,)),
         numpy_helper.from_array(np.array([1, 8], np.int64), "shape")])


# ---- real models -------------------------------------------------------------------------

@pytest.mark.driver_timeout(600)
def test_efficientnet_lite0_every_node_on_webgpu(gpu, selenium_with_models):
    @run_in_pyodide(packages=["pywebinfer"])
    async def classify(selenium, model_path, input_path):
        import numpy as np
        import pywebinfer

        sess = await pywebinfer.InferenceSession.create_async(model_path, providers=["webgpu"])
        x = np.load(input_path)
        first = (await sess.run_async(None, {"input": x}))[0]
        second = (await sess.run_async(None, {"input": x}))[0]
        profile = sess.profile()
        placement = sorted({backend for _, _, backend in sess.placement})
        sess.close()
        return first.tolist(), second.tolist(), placement, profile

    first, second, placement, profile = classify(
        selenium_with_models, f"{PYODIDE_MODELS}/{MODEL.name}", f"{PYODIDE_MODELS}/chelsea.npy")
    expected = reference(MODEL.read_bytes(), {"input": np.load(SAMPLES / "chelsea.npy")})[0]
    assert placement == ["webgpu"]
    for got in (first, second):
        np.testing.assert_allclose(np.array(got, np.float32), expected, atol=1e-3, rtol=1e-3)
    gpu_profile = profile["backends"]["webgpu"]
    assert gpu_profile["pipelines_used"] <= 12, "one pipeline per shader structure, not per shape"
    assert profile["first_run_ms"] > 0 and profile["steady_run_ms"] > 0


@pytest.mark.driver_timeout(600)
def test_minilm_every_node_on_webgpu_two_sequence_lengths(gpu):
    if not MINILM.exists():
        pytest.exit(f"{MINILM} is missing: run `make models`", returncode=1)
    copy_files_to_emscripten_fs(
        [(MINILM.relative_to(REPO_ROOT), f"{PYODIDE_MODELS}/{MINILM.name}")], gpu)
    samples = [dict(np.load(SAMPLES / name)) for name in ("minilm_4x11.npz", "minilm_1x128.npz")]
    feeds = [{k: s[k] for k in ("input_ids", "attention_mask", "token_type_ids")} for s in samples]

    @run_in_pyodide(packages=["pywebinfer"])
    async def embed(selenium, model_path, feed_list):
        import pywebinfer

        sess = await pywebinfer.InferenceSession.create_async(model_path, providers=["webgpu"])
        outs, compiled = [], []
        for feed in feed_list:
            outs.append((await sess.run_async(None, feed))[0].tolist())
            compiled.append(sess.profile()["backends"]["webgpu"]["pipelines_compiled"])
        placement = sorted({backend for _, _, backend in sess.placement})
        sess.close()
        return outs, compiled, placement

    outs, compiled, placement = embed(gpu, f"{PYODIDE_MODELS}/{MINILM.name}", feeds)
    assert placement == ["webgpu"]
    for got, feed in zip(outs, feeds):
        expected = reference(MINILM.read_bytes(), feed)[0]
        np.testing.assert_allclose(np.array(got, np.float32), expected, atol=1e-3, rtol=1e-3)
    # another sequence length reuses the compiled pipelines: sizes are uniforms
    assert compiled[1] - compiled[0] <= 2, compiled


# ---- residency and memory ----------------------------------------------------------------

@pytest.mark.driver_timeout(300)
def test_200_runs_keep_gpu_memory_flat_and_close_frees_it(gpu):
    model = small_cnn()
    x = np.random.default_rng(1).random((1, 3, 16, 16), dtype=np.float32)

    @run_in_pyodide(packages=["pywebinfer"])
    async def runs(selenium, model, x):
        import pywebinfer
        from pywebinfer.backends.webgpu import device_memory

        before = device_memory()
        sess = await pywebinfer.InferenceSession.create_async(model, providers=["webgpu"])
        seen = []
        for _ in range(200):
            y = (await sess.run_async(None, {"x": x}))[0]
            mem = sess.memory()["webgpu"]
            seen.append((mem["buffers"], mem["bytes"], device_memory()["buffers"]))
        last_run = sess.profile()["backends"]["webgpu"]["last_run"]
        sess.close()
        after_close = device_memory()
        second = await pywebinfer.InferenceSession.create_async(model, providers=["webgpu"])
        again = (await second.run_async(None, {"x": x}))[0]
        second.close()
        return before, seen, last_run, after_close, y.tolist(), again.tolist(), device_memory()

    before, seen, last_run, after_close, y, again, at_end = runs(gpu, model, x)
    expected = reference(model, {"x": x})[0]
    np.testing.assert_allclose(np.array(y, np.float32), expected, atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(np.array(again, np.float32), expected, atol=1e-5, rtol=1e-4)
    assert len(set(map(tuple, seen[1:]))) == 1, f"GPU memory moved after the first run: {seen[:3]} ... {seen[-3:]}"
    assert tuple(seen[0]) == tuple(seen[-1])
    assert after_close == before and at_end == before, "close() must destroy every buffer it made"
    # residency: the input written once, one command buffer, one readback for the output
    assert last_run["submits"] == 1 and last_run["readbacks"] == 1 and last_run["uploads"] == 1, last_run


@pytest.mark.driver_timeout(120)
def test_outputs_kept_on_gpu_feed_the_next_model(gpu):
    first = model_bytes([helper.make_node("Relu", ["x"], ["y"])],
                        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    second = model_bytes([helper.make_node("Mul", ["y", "y"], ["z"])],
                         [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
                         [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 3])])
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)

    @run_in_pyodide(packages=["pywebinfer"])
    async def chain(selenium, first, second, x):
        import pywebinfer
        from pywebinfer.backends.webgpu import GPUTensor

        opts = pywebinfer.SessionOptions()
        opts.preferred_output_location = "gpu-buffer"
        a = await pywebinfer.InferenceSession.create_async(first, opts, providers=["webgpu"])
        b = await pywebinfer.InferenceSession.create_async(second, providers=["webgpu"])
        (y,) = await a.run_async(None, {"x": x})
        kept = isinstance(y, GPUTensor) and a.memory()["webgpu"]["kept_outputs"] == 1
        (z,) = await b.run_async(None, {"y": y})
        y_host = await y.numpy()
        y.dispose()
        released = a.memory()["webgpu"]["kept_outputs"] == 0
        a.close()
        b.close()
        return kept, released, y_host.tolist(), z.tolist()

    kept, released, y, z = chain(gpu, first, second, x)
    assert kept and released
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    np.testing.assert_array_equal(z, np.maximum(x, 0) ** 2)


# ---- placement ---------------------------------------------------------------------------

@pytest.mark.driver_timeout(120)
def test_unsupported_op_fails_at_load_naming_the_node_or_runs_listed_elsewhere(gpu):
    model = model_bytes(
        [helper.make_node("Relu", ["x"], ["r"], name="relu"),
         helper.make_node("CumSum", ["r", "axis"], ["c"], name="the_cumsum"),
         helper.make_node("Sigmoid", ["c"], ["y"], name="sigmoid")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])],
        [numpy_helper.from_array(np.array(1, np.int64), "axis")])
    x = np.linspace(-2, 2, 10, dtype=np.float32).reshape(2, 5)

    @run_in_pyodide(packages=["pywebinfer"])
    async def place(selenium, model, x):
        import pywebinfer

        try:
            await pywebinfer.InferenceSession.create_async(model, providers=["webgpu"])
            refused = None
        except pywebinfer.UnsupportedOpError as e:
            refused = str(e)
        mixed = await pywebinfer.InferenceSession.create_async(model, providers=["webgpu", "numpy"])
        y = (await mixed.run_async(None, {"x": x}))[0]
        placement = mixed.placement
        mixed.close()
        return refused, placement, y.tolist()

    refused, placement, y = place(gpu, model, x)
    assert refused is not None and "the_cumsum" in refused and "CumSum" in refused
    assert [tuple(p) for p in placement] == [("relu", "Relu", "webgpu"), ("the_cumsum", "CumSum", "numpy"),
                                             ("sigmoid", "Sigmoid", "webgpu")]
    np.testing.assert_allclose(y, reference(model, {"x": x})[0], atol=1e-6)


@pytest.mark.driver_timeout(120)
def test_float64_is_declined_at_load_not_run_wrongly(gpu):
    model = model_bytes([helper.make_node("Exp", ["x"], ["y"], name="exp64")],
                        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [3])],
                        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [3])])

    @run_in_pyodide(packages=["pywebinfer"])
    async def load(selenium, model):
        import pywebinfer

        try:
            await pywebinfer.InferenceSession.create_async(model, providers=["webgpu"])
        except pywebinfer.UnsupportedOpError as e:
            return e.missing[0]["node"], e.missing[0]["declined"]
        return None

    node, declined = load(gpu, model)
    assert node == "exp64" and "float64" in declined[0]


# ---- profiling ---------------------------------------------------------------------------

@pytest.mark.driver_timeout(120)
def test_profile_reports_per_node_gpu_times_and_pipelines(gpu):
    model = small_cnn()
    x = np.ones((1, 3, 16, 16), np.float32)

    @run_in_pyodide(packages=["pywebinfer"])
    async def profile(selenium, model, x):
        import pywebinfer

        opts = pywebinfer.SessionOptions()
        opts.enable_profiling = True
        sess = await pywebinfer.InferenceSession.create_async(model, opts, providers=["webgpu"])
        for _ in range(3):
            await sess.run_async(None, {"x": x})
        report = sess.profile()
        ops = [n.op_type for n in sess.graph.nodes]
        sess.close()
        return report, ops

    report, ops = profile(gpu, model, x)
    gpu_report = report["backends"]["webgpu"]
    assert report["runs"] == 3 and report["first_run_ms"] > 0 and report["steady_run_ms"] > 0
    assert gpu_report["pipelines_used"] >= 4 and gpu_report["pipelines_compiled"] <= gpu_report["pipelines_used"]
    if gpu_report["timestamp_query"]:
        timed = {n["op"] for n in gpu_report["nodes"]}
        assert timed == set(ops) - {"Reshape"}, "every node but the free view is timed"
        assert all(n["gpu_ms"] >= 0 for n in gpu_report["nodes"])
