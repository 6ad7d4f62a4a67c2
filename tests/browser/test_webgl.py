"""The WebGL2 backend in Pyodide in headless Chromium (ANGLE on SwiftShader here): real
models with every node in shaders against the numpy backend, residency and texture
memory, a lost context, placement and load-time refusal, int64 limits (the ONNX node
tests of every claimed op run with `make conformance BACKEND=webgl`); and, in CPython, the parts that need no browser (packing,
the texture pool's bookkeeping, what the registry claims).

References are computed in CPython with the numpy provider (the same pywebinfer), so a
test runs each model only in the page's backend.  Node has no WebGL: those tests skip.
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
def gl(selenium):
    if selenium.browser == "node":
        pytest.skip("Node has no WebGL")
    return selenium


def reference(model: bytes, feeds: dict) -> list:
    return pywebinfer.InferenceSession(model, providers=["numpy"]).run(None, feeds)


def model_bytes(nodes, inputs, outputs, initializers=(), opset=17) -> bytes:
    graph = helper.make_graph(nodes, "test", inputs, outputs, list(initializers))
    buf = io.BytesIO()
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), buf)
    return buf.getvalue()


def attention_block() -> bytes:
    """A transformer layer's shape of work over a symbolic sequence length (so the pool
    serves it, not the static plan): projection, heads via Reshape/Transpose, scores,
    Softmax, LayerNormalization, Gather of token embeddings, shape arithmetic."""
    rng = np.random.default_rng(0)

    def weight(name, shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.2).astype(np.float32), name)

    return model_bytes(
        [helper.make_node("Gather", ["emb", "ids"], ["x"]),
         helper.make_node("MatMul", ["x", "wq"], ["q0"]),
         helper.make_node("Add", ["q0", "bq"], ["q"]),
         helper.make_node("Shape", ["ids"], ["shape"]),
         helper.make_node("Gather", ["shape", "one"], ["seq"], axis=0),
         helper.make_node("Unsqueeze", ["seq", "zero"], ["seq1"]),
         helper.make_node("Concat", ["minus1", "seq1", "heads", "dim"], ["split_shape"], axis=0),
         helper.make_node("Reshape", ["q", "split_shape"], ["qh"]),
         helper.make_node("Transpose", ["qh"], ["qt"], perm=[0, 2, 1, 3]),
         helper.make_node("Transpose", ["qh"], ["kt"], perm=[0, 2, 3, 1]),
         helper.make_node("MatMul", ["qt", "kt"], ["scores"]),
         helper.make_node("Softmax", ["scores"], ["probs"], axis=-1),
         helper.make_node("MatMul", ["probs", "qt"], ["ctx"]),
         helper.make_node("Transpose", ["ctx"], ["ctx_t"], perm=[0, 2, 1, 3]),
         helper.make_node("Reshape", ["ctx_t", "merge_shape"], ["merged"]),
         helper.make_node("LayerNormalization", ["merged", "gamma", "beta"], ["y"], axis=-1)],
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, "seq"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "seq", 8])],
        [weight("emb", (50, 8)), weight("wq", (8, 8)), weight("bq", (8,)), weight("gamma", (8,)),
         weight("beta", (8,)),
         numpy_helper.from_array(np.array(1, np.int64), "one"),
         numpy_helper.from_array(np.array([0], np.int64), "zero"),
         numpy_helper.from_array(np.array([-1], np.int64), "minus1"),
         numpy_helper.from_array(np.array([2], np.int64), "heads"),
         numpy_helper.from_array(np.array([4], np.int64), "dim"),
         numpy_helper.from_array(np.array([1, -1, 8], np.int64), "merge_shape")])


# ---- in CPython: no browser needed ---------------------------------------------------------

def test_webgl_claims_the_model_ops_and_the_common_families():
    from pywebinfer.cli import support_matrix
    from pywebinfer.ops.registry import load_all_kernels

    registry = load_all_kernels()
    claimed = {op for op, _ in registry.op_types("webgl")}
    assert len(claimed) >= 60, sorted(claimed)
    for path in (MODEL, MINILM):
        sess = pywebinfer.InferenceSession(str(path), providers=["numpy"])
        rows = support_matrix(sess.graph, registry)
        assert all(r["support"]["webgl"] for r in rows), [r["op_type"] for r in rows if not r["support"]["webgl"]]
    assert {"Conv", "FusedConv", "Gemm", "FusedGemm", "MatMul", "FusedMatMul", "MaxPool", "AveragePool",
            "GlobalAveragePool", "ReduceMean", "Softmax", "LayerNormalization", "Concat", "Split", "Slice",
            "Gather", "Transpose", "Pad", "Resize", "Where", "Cast", "Erf", "Pow"} <= claimed


def test_texel_packing_round_trips_and_refuses_integers_beyond_2_24():
    from pywebinfer.backends.webgl.tensor import EXACT_INT, from_texel_data, texels, to_texel_data

    for array in (np.arange(-5, 6, dtype=np.int64).reshape(11), np.array([True, False, True]),
                  np.linspace(-3, 3, 10, dtype=np.float32).reshape(2, 5), np.arange(7, dtype=np.uint8)):
        data = to_texel_data(array, texels(array.size))
        assert data.dtype == np.float32 and data.size == 4 * texels(array.size)
        back = from_texel_data(data, array.dtype, array.shape)
        assert back.dtype == array.dtype
        np.testing.assert_array_equal(back, array)
    to_texel_data(np.array([EXACT_INT, -EXACT_INT], np.int64), 1)
    with pytest.raises(ValueError, match=r"2\*\*24"):
        to_texel_data(np.array([1, EXACT_INT + 1], np.int64), 1)


class _FakeContext:
    """What the pool asks of a WebGL context, counting textures (no browser)."""

    max_width = 4096

    def __init__(self):
        self.alive = set()
        self.next = 0

    def shape_for(self, capacity):
        width = min(1 << max(capacity - 1, 0).bit_length(), self.max_width)
        return width, -(-capacity // width)

    def create_texture(self, width, height):
        self.next += 1
        self.alive.add(self.next)
        return self.next

    def delete_texture(self, handle):
        self.alive.remove(handle)

    def new_id(self):
        self.next += 1
        return self.next


def test_texture_pool_reuses_plan_slots_and_drops_idle_textures():
    from pywebinfer.backends.webgl.pool import TexturePool, size_class

    assert [size_class(n) for n in (1, 16, 17, 1000, 1025)] == [1, 16, 18, 1024, 1152]
    context = _FakeContext()
    pool = TexturePool(context)
    pool.slot_texels, pool.slots, pool.slot_of = [100], [None], {"a": 0, "b": 0}
    a = pool.acquire(400, "a")
    a.refs += 1
    assert a.slot == 0 and a.capacity >= 100
    held = pool.acquire(400, "b")  # slot 0 is taken: the free list (empty) makes one
    held.refs += 1
    assert held is not a and held.slot is None
    a.refs -= 1
    pool.give_back(a)
    assert pool.acquire(400, "b") is a  # the slot again, once free
    held.refs -= 1
    pool.give_back(held)
    pool.end_run()  # held was used in this run: kept
    assert len(context.alive) == 2
    pool.end_run()  # a whole run without it: deleted
    assert len(context.alive) == 1
    pool.destroy()
    assert not context.alive


# ---- real models ---------------------------------------------------------------------------

@pytest.mark.driver_timeout(600)
def test_efficientnet_lite0_every_node_on_webgl(gl, selenium_with_models):
    @run_in_pyodide(packages=["pywebinfer"])
    async def classify(selenium, model_path, input_path):
        import numpy as np
        import pywebinfer

        sess = pywebinfer.InferenceSession(model_path, providers=["webgl"])
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
    assert placement == ["webgl"]
    for got in (first, second):
        np.testing.assert_allclose(np.array(got, np.float32), expected, atol=1e-3, rtol=1e-3)
    gl_profile = profile["backends"]["webgl"]
    print("EfficientNet-Lite0 on webgl:", {k: gl_profile[k] for k in ("programs_used", "draws")},
          {k: profile[k] for k in ("first_run_ms", "steady_run_ms")})
    # 18 here: programs differ by structure (kernel width, stride, pad lane, row
    # alignment, epilogue), never by size: 65 convolutions of many shapes share them
    assert gl_profile["programs_used"] <= 24, "one program per shader structure, not per shape"
    assert gl_profile["host_nodes"] == 0


@pytest.mark.driver_timeout(900)
def test_minilm_every_node_on_webgl_two_sequence_lengths(gl):
    if not MINILM.exists():
        pytest.exit(f"{MINILM} is missing: run `make models`", returncode=1)
    copy_files_to_emscripten_fs([(MINILM.relative_to(REPO_ROOT), f"{PYODIDE_MODELS}/{MINILM.name}")], gl)
    samples = [dict(np.load(SAMPLES / name)) for name in ("minilm_4x11.npz", "minilm_1x128.npz")]
    feeds = [{k: s[k] for k in ("input_ids", "attention_mask", "token_type_ids")} for s in samples]

    @run_in_pyodide(packages=["pywebinfer"])
    async def embed(selenium, model_path, feed_list):
        import pywebinfer

        sess = pywebinfer.InferenceSession(model_path, providers=["webgl"])
        outs, used = [], []
        for feed in feed_list:
            outs.append((await sess.run_async(None, feed))[0].tolist())
            used.append(sess.profile()["backends"]["webgl"]["programs_used"])
        placement = sorted({backend for _, _, backend in sess.placement})
        sess.close()
        return outs, used, placement

    outs, used, placement = embed(gl, f"{PYODIDE_MODELS}/{MINILM.name}", feeds)
    assert placement == ["webgl"]
    for got, feed in zip(outs, feeds):
        expected = reference(MINILM.read_bytes(), feed)[0]
        np.testing.assert_allclose(np.array(got, np.float32), expected, atol=1e-3, rtol=1e-3)
    print("MiniLM on webgl: programs used after each length:", used)
    # another sequence length reuses the compiled programs: sizes are uniforms
    assert used[1] - used[0] <= 3, used


# ---- residency and memory --------------------------------------------------------------------

@pytest.mark.driver_timeout(300)
def test_200_runs_keep_textures_flat_and_close_frees_them(gl):
    model = attention_block()
    ids = np.array([[3, 14, 15, 9, 26, 5]], np.int64)

    @run_in_pyodide(packages=["pywebinfer"])
    async def runs(selenium, model, ids):
        import pywebinfer
        from pywebinfer.backends.webgl import context_memory

        before = context_memory()
        sess = pywebinfer.InferenceSession(model, providers=["webgl"])
        seen = []
        for _ in range(200):
            y = (await sess.run_async(None, {"ids": ids}))[0]
            mem = sess.memory()["webgl"]
            seen.append((mem["textures"], mem["bytes"], context_memory()["textures"]))
        sess.close()
        after_close = context_memory()
        second = pywebinfer.InferenceSession(model, providers=["webgl"])
        again = (await second.run_async(None, {"ids": ids}))[0]
        second.close()
        return before, seen, after_close, y.tolist(), again.tolist(), context_memory()

    before, seen, after_close, y, again, at_end = runs(gl, model, ids)
    expected = reference(model, {"ids": ids})[0]
    np.testing.assert_allclose(np.array(y, np.float32), expected, atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(np.array(again, np.float32), expected, atol=1e-5, rtol=1e-4)
    print("textures, bytes, context textures over 200 runs:", seen[0], seen[-1])
    assert len(set(map(tuple, seen))) == 1, f"texture memory moved: {seen[:3]} ... {seen[-3:]}"
    assert after_close == before and at_end == before, "close() must delete every texture and framebuffer"


def _layout_cases() -> list:
    """Small convolutions and matrix products, one for each of the shaders' paths: four
    render targets (pointwise, rows, matmul rows, Gemm's transB) with channel and row
    counts that are not multiples of 4, rows aligned to texels or not, grouped and
    depthwise, dilated, 1-D, weights computed at run time (no host copy to re-lay)."""
    rng = np.random.default_rng(7)
    cases = []

    def f32(*shape):
        return (rng.standard_normal(shape) * 0.5).astype(np.float32)

    def conv(x_shape, w_shape, weight_input=False, **attrs):
        x, w, b = f32(*x_shape), f32(*w_shape), f32(w_shape[0])
        inits = [numpy_helper.from_array(b, "b")]
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))]
        feeds = {"x": x}
        if weight_input:
            inputs.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, list(w_shape)))
            feeds["w"] = w
        else:
            inits.append(numpy_helper.from_array(w, "w"))
        cases.append((model_bytes([helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)], inputs,
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits), feeds))

    conv((1, 8, 4, 4), (6, 8, 1, 1))  # pointwise, H*W in whole texels, 6 channels
    conv((2, 3, 5, 5), (5, 3, 1, 1))  # H*W = 25 padded, 3 input channels
    conv((1, 4, 8, 8), (6, 4, 3, 3), pads=[1, 1, 1, 1])  # aligned rows, four targets
    conv((1, 3, 9, 9), (8, 3, 3, 3), pads=[1, 0, 1, 2], strides=[2, 2])  # unaligned, strided
    conv((1, 6, 12, 12), (6, 1, 5, 5), pads=[2, 2, 2, 2], group=6)  # depthwise, one target
    conv((1, 4, 7, 10), (8, 2, 3, 3), pads=[1, 1, 1, 1], group=2)  # groups of 4 outputs
    conv((1, 2, 10, 11), (3, 2, 3, 3), dilations=[2, 2], pads=[2, 2, 2, 2])
    conv((1, 2, 13), (4, 2, 3), pads=[1, 1])  # 1-D
    conv((1, 3, 6, 6), (4, 3, 3, 3), weight_input=True, pads=[1, 1, 1, 1])

    def product(node, shapes, consts=()):
        feeds = {name: f32(*shape) for name, shape in shapes.items()}
        inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in shapes.items()]
        inits = [numpy_helper.from_array(f32(*shape), name) for name, shape in consts]
        cases.append((model_bytes([node], inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                                  inits), feeds))

    product(helper.make_node("MatMul", ["a", "b"], ["y"]), {"a": (2, 3, 8)}, [("b", (8, 12))])
    product(helper.make_node("MatMul", ["a", "b"], ["y"]), {"a": (5, 8), "b": (2, 8, 4)})
    product(helper.make_node("Gemm", ["a", "b", "c"], ["y"], transB=1, alpha=0.5, beta=2.0),
            {"a": (10, 12)}, [("b", (8, 12)), ("c", (8,))])
    return cases


@pytest.mark.driver_timeout(120)
def test_convolution_and_matmul_paths_match_numpy(gl):
    cases = _layout_cases()

    @run_in_pyodide(packages=["pywebinfer"])
    async def run_all(selenium, cases):
        import pywebinfer

        outs = []
        for model, feeds in cases:
            sess = pywebinfer.InferenceSession(model, providers=["webgl"])
            outs.append((await sess.run_async(None, feeds))[0].tolist())
            sess.close()
        return outs

    for (model, feeds), got in zip(cases, run_all(gl, cases)):
        np.testing.assert_allclose(np.array(got, np.float32), reference(model, feeds)[0], atol=1e-4, rtol=1e-4)


@pytest.mark.driver_timeout(120)
def test_outputs_kept_in_textures_feed_the_next_model(gl):
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
        from pywebinfer.backends.webgl import GLTensor, context_memory

        opts = pywebinfer.SessionOptions()
        opts.preferred_output_location = "gpu-buffer"
        a = pywebinfer.InferenceSession(first, opts, providers=["webgl"])
        b = pywebinfer.InferenceSession(second, providers=["webgl"])
        (y,) = await a.run_async(None, {"x": x})
        kept = isinstance(y, GLTensor) and a.memory()["webgl"]["kept_outputs"] == 1
        (z,) = await b.run_async(None, {"y": y})
        y_host = await y.numpy()
        y.dispose()
        released = a.memory()["webgl"]["kept_outputs"] == 0
        a.close()
        b.close()
        return kept, released, y_host.tolist(), z.tolist(), context_memory()["textures"]

    kept, released, y, z, textures = chain(gl, first, second, x)
    assert kept and released and textures == 0
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    np.testing.assert_array_equal(z, np.maximum(x, 0) ** 2)


@pytest.mark.driver_timeout(120)
def test_lost_context_gives_a_clear_error_and_a_new_session_works(gl):
    model = attention_block()
    ids = np.array([[1, 2, 3, 4]], np.int64)

    @run_in_pyodide(packages=["pywebinfer"])
    async def lose(selenium, model, ids):
        import pywebinfer
        from pywebinfer.backends.webgl import WebGLContextLostError
        from pywebinfer.backends.webgl.device import shared_context

        sess = pywebinfer.InferenceSession(model, providers=["webgl"])
        first = (await sess.run_async(None, {"ids": ids}))[0]
        shared_context().gl.getExtension("WEBGL_lose_context").loseContext()
        try:
            await sess.run_async(None, {"ids": ids})
            error = None
        except WebGLContextLostError as e:
            error = str(e)
        sess.close()
        fresh = pywebinfer.InferenceSession(model, providers=["webgl"])
        again = (await fresh.run_async(None, {"ids": ids}))[0]
        fresh.close()
        return first.tolist(), error, again.tolist()

    first, error, again = lose(gl, model, ids)
    assert error is not None and "context was lost" in error and "new InferenceSession" in error
    expected = reference(model, {"ids": ids})[0]
    np.testing.assert_allclose(np.array(first, np.float32), expected, atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(np.array(again, np.float32), expected, atol=1e-5, rtol=1e-4)


# ---- placement, int64 --------------------------------------------------------------------------

@pytest.mark.driver_timeout(120)
def test_missing_op_fails_at_load_naming_the_node_or_runs_listed_elsewhere(gl):
    model = model_bytes(
        [helper.make_node("Relu", ["x"], ["r"], name="relu"),
         helper.make_node("TopK", ["r", "k"], ["values", "indices"], name="the_topk", axis=1),
         helper.make_node("Sigmoid", ["values"], ["y"], name="sigmoid")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(np.array([3], np.int64), "k")])
    float64 = model_bytes([helper.make_node("Exp", ["x"], ["y"], name="exp64")],
                          [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [3])],
                          [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [3])])
    x = np.linspace(-2, 2, 10, dtype=np.float32).reshape(2, 5)

    @run_in_pyodide(packages=["pywebinfer"])
    async def place(selenium, model, float64, x):
        import pywebinfer

        refused = []
        for m in (model, float64):
            try:
                pywebinfer.InferenceSession(m, providers=["webgl"])
                refused.append(None)
            except pywebinfer.UnsupportedOpError as e:
                refused.append((str(e), e.missing))
        mixed = pywebinfer.InferenceSession(model, providers=["webgl", "numpy"])
        y = (await mixed.run_async(None, {"x": x}))[0]
        placement = mixed.placement
        mixed.close()
        return refused, placement, y.tolist()

    refused, placement, y = place(gl, model, float64, x)
    assert refused[0] is not None and "the_topk" in refused[0][0] and "TopK" in refused[0][0]
    assert refused[1] is not None and refused[1][1][0]["node"] == "exp64"
    assert "float64" in refused[1][1][0]["declined"][0]
    assert [tuple(p) for p in placement] == [("relu", "Relu", "webgl"), ("the_topk", "TopK", "numpy"),
                                             ("sigmoid", "Sigmoid", "webgl")]
    np.testing.assert_allclose(y, reference(model, {"x": x})[0], atol=1e-6)


@pytest.mark.driver_timeout(120)
def test_int64_token_ids_index_exactly_and_bad_ones_are_refused(gl):
    rng = np.random.default_rng(2)
    table = rng.standard_normal((30522, 4)).astype(np.float32)
    lookup = model_bytes([helper.make_node("Gather", ["table", "ids"], ["y"], name="lookup")],
                         [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, "n"])],
                         [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "n", 4])],
                         [numpy_helper.from_array(table, "table")])
    shift = model_bytes([helper.make_node("Add", ["ids", "ids"], ["y"], name="add_ids")],
                        [helper.make_tensor_value_info("ids", TensorProto.INT64, [2])],
                        [helper.make_tensor_value_info("y", TensorProto.INT64, [2])])
    ids = np.array([[0, 101, 2023, 30521, 7592]], np.int64)

    @run_in_pyodide(packages=["pywebinfer"])
    async def look(selenium, lookup, shift, ids):
        import numpy as np
        import pywebinfer

        sess = pywebinfer.InferenceSession(lookup, providers=["webgl"])
        y = (await sess.run_async(None, {"ids": ids}))[0]
        errors = []
        for bad in (np.array([[5, 30522]], np.int64), np.array([[5, -30523]], np.int64)):
            try:
                await sess.run_async(None, {"ids": bad})
                errors.append(None)
            except ValueError as e:
                errors.append(str(e) + " | " + " ".join(getattr(e, "__notes__", [])))
        sess.close()
        adder = pywebinfer.InferenceSession(shift, providers=["webgl"])
        small = (await adder.run_async(None, {"ids": np.array([2**23, -5], np.int64)}))[0]
        try:
            await adder.run_async(None, {"ids": np.array([2**25, 1], np.int64)})
            big = None
        except ValueError as e:
            big = str(e) + " | " + " ".join(getattr(e, "__notes__", []))
        adder.close()
        return y.tolist(), errors, small.tolist(), str(small.dtype), big

    y, errors, small, small_dtype, big = look(gl, lookup, shift, ids)
    np.testing.assert_array_equal(np.array(y, np.float32), table[ids])
    assert all(e is not None and "out of range" in e and "lookup" in e for e in errors), errors
    assert small == [2**24, -10] and small_dtype == "int64"
    assert big is not None and "2**24" in big and "add_ids" in big
