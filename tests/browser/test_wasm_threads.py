"""The wasm backend's worker pool in headless Chromium (pywebinfer/backends/wasm/threads.py).

pytest-pyodide's server sends no COOP/COEP headers (no SharedArrayBuffer), so these tests
drive a page of their own, as tests/browser/conformance_in_browser.py does: a local
server hands Pyodide the working tree's pywebinfer, the page runs the code below and
posts its result back.  The isolated page gets the headers, the other one does not.

    pytest tests/browser/test_wasm_threads.py --runtime chrome --dist-dir dist/pyodide
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import conformance_in_browser as page  # noqa: E402  (the page driver, without WebDriver)

MODEL = REPO_ROOT / "models" / "efficientnet_lite0_dynamo.onnx"
SAMPLE = REPO_ROOT / "models" / "samples" / "chelsea.npy"


def _models() -> dict[str, bytes]:
    """Single-op models big enough for the pool: MatMul with a constant (packed) B and
    with both operands fed, a dense and a pointwise convolution, a depthwise one."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)

    def model(node, inputs, outputs, initializers=()):
        graph = helper.make_graph([node], "g", inputs, outputs, initializer=list(initializers))
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                 ir_version=8).SerializeToString()

    def info(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    b = rng.standard_normal((384, 1000)).astype(np.float32)
    models = {
        "matmul_const.onnx": model(helper.make_node("MatMul", ["A", "B"], ["Y"]), [info("A", [300, 384])],
                                   [info("Y", [300, 1000])], [numpy_helper.from_array(b, "B")]),
        "matmul.onnx": model(helper.make_node("MatMul", ["A", "B"], ["Y"]),
                             [info("A", [256, 300]), info("B", [300, 520])], [info("Y", [256, 520])]),
    }
    for name, (c, m, k, group, size) in {"conv3x3": (32, 64, 3, 1, 56), "conv1x1": (96, 128, 1, 1, 40),
                                         "dwconv": (144, 144, 3, 144, 56)}.items():
        w = (rng.standard_normal((m, c // group, k, k)) / np.sqrt(c // group * k * k)).astype(np.float32)
        bias = rng.standard_normal(m).astype(np.float32)
        node = helper.make_node("Conv", ["X", "W", "Bias"], ["Y"], kernel_shape=[k, k], pads=[k // 2] * 4,
                                group=group)
        models[f"{name}.onnx"] = model(node, [info("X", [1, c, size, size])], [info("Y", [1, m, size, size])],
                                       [numpy_helper.from_array(w, "W"), numpy_helper.from_array(bias, "Bias")])
    return models


# The in-page half: one JSON result, checked on the host.
IN_PAGE = r"""
import asyncio, json, sys
sys.path.insert(0, "/home/pyodide/bundle")
import numpy as np
import js
import pywebinfer

ROOT = "/home/pyodide/bundle/"
out = {"isolated": bool(getattr(js, "crossOriginIsolated", False)), "cores": int(js.navigator.hardwareConcurrency)}


def options(threads):
    o = pywebinfer.SessionOptions()
    o.intra_op_num_threads = threads
    return o


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def pool_of(sess):
    return sess._backends["wasm"].pool


# which build of the kernels loaded: the relaxed-SIMD one wherever the engine has it
from pywebinfer.backends.wasm import module as wm, threads as wt
out["relaxed_supported"] = wm.relaxed_simd_supported()
out["kernels"] = wm.kernel_variant()
out["pool_module"] = wt.mt_path(wm.library()).rsplit("/", 1)[-1]
# one multiply-add per output (a 1x1 depthwise convolution: bias + w * x) where w * x is
# inexact in float32: an FMA rounds once (exactly 2^-11 + 2^-24 here), mul+add twice (2^-11)
lib = wm.library()
a = np.float32(1.0 + 2.0 ** -12)
madd = np.empty((1, 4, 1, 1), np.float32)
lib.call("pwi_conv2d", np.full((1, 4, 1, 1), a, np.float32), 1, 4, 1, 1, np.full(4, a, np.float32), 0, 4, 4,
         1, 1, 1, 1, 0, 0, 1, 1, 1, 1, wm.Out(madd), np.full(4, -1.0, np.float32), None, 0, 0.0, 0.0,
         lib.workspace)
out["madd"] = [float(v) for v in madd.reshape(-1)]

x = np.load(ROOT + "chelsea.npy")
one = pywebinfer.InferenceSession(ROOT + "efficientnet.onnx", options(1), providers=["wasm", "numpy"])
ref_one = one.run(None, {"input": x})[0]
out["one"] = one.wasm_threads
one.close()
# the default: onnxruntime-web's min(4, ceil(cores / 2)) in an isolated page
default = pywebinfer.InferenceSession(ROOT + "conv1x1.onnx", providers=["wasm"])
out["default"] = default.wasm_threads
default.close()

# the synchronous constructor: the workers cannot start before this thread yields
sess = pywebinfer.InferenceSession(ROOT + "efficientnet.onnx", options(2), providers=["wasm", "numpy"])
out["before_yield"] = sess.wasm_threads
early = sess.run(None, {"input": x})[0]
out["early_rel"] = rel(early, ref_one)
if out["isolated"]:
    for _ in range(200):  # readiness without create_async: yield until the workers are up
        await asyncio.sleep(0.01)
        if sess.wasm_threads["mode"] == "worker-pool":
            break
out["after_yield"] = sess.wasm_threads
y = sess.run(None, {"input": x})[0]
y_async = (await sess.run_async(None, {"input": x}))[0]
out["efficientnet_rel"] = max(rel(y, ref_one), rel(y_async, ref_one))
out["efficientnet_top1"] = [int(np.argmax(y)), int(np.argmax(ref_one))]
pool = pool_of(sess)
out["jobs"] = pool.jobs if pool is not None else 0
# the control words outlive the pool here only: READY counts workers still in their loop
ctrl = pool._js.ctrl if pool is not None else None
out["workers_before_close"] = int(ctrl[4]) if ctrl is not None else 0
sess.close()
if ctrl is not None:
    for _ in range(200):
        if int(ctrl[4]) == 0:
            break
        await asyncio.sleep(0.01)
out["workers_after_close"] = int(ctrl[4]) if ctrl is not None else 0
out["memory_after_close"] = (pool._js.memory is None) if pool is not None else None
out["closed"] = sess.wasm_threads

rng = np.random.default_rng(5)
ops = {}
for name in ("matmul_const", "matmul", "conv3x3", "conv1x1", "dwconv"):
    path = ROOT + name + ".onnx"
    s2 = await pywebinfer.InferenceSession.create_async(path, options(2), providers=["wasm"])
    s1 = pywebinfer.InferenceSession(path, options(1), providers=["wasm"])
    if pool_of(s2) is not None:  # every op to the pool, the depthwise one too (the thresholds
        pool_of(s2).min_flops = pool_of(s2).min_intensity = 0  # are tested natively)
    feeds = {a.name: rng.standard_normal(a.shape).astype(np.float32) for a in s2.get_inputs()}
    y2, y1 = s2.run(None, feeds)[0], s1.run(None, feeds)[0]
    graph = s2.model.graph
    consts = {k: v.astype(np.float64) for k, v in graph.initializers.items()}
    f = {k: v.astype(np.float64) for k, v in feeds.items()}
    if name.startswith("matmul"):
        want = f["A"] @ (consts["B"] if "B" in consts else f["B"])
    else:
        from pywebinfer.ops.registry import KernelContext, load_all_kernels
        node = graph.nodes[0]
        conv = load_all_kernels().lookup("Conv", "", 17, "numpy")
        want = conv.fn(KernelContext(opset=17, num_outputs=1, output_names=("Y",)),
                       [f["X"], consts["W"], consts["Bias"]], node.attrs)
    p = pool_of(s2)
    ops[name] = {"rel_numpy": rel(y2, want), "rel_one_thread": rel(y2, y1),
                 "jobs": p.jobs if p is not None else 0, "mode": s2.wasm_threads["mode"]}
    s1.close()
    s2.close()
out["ops"] = ops
json.dumps(out)
"""


def _run(isolated: bool, monkeypatch) -> dict:
    for path in (MODEL, SAMPLE):
        if not path.exists():
            pytest.skip(f"{path} is missing: run `make models`")
    if not (page.DIST / "pyodide.mjs").exists():
        pytest.skip("dist/pyodide has no Pyodide: run `make dist`")
    if not isolated:
        def send(self, status, ctype, body):  # the same response, without COOP/COEP
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        monkeypatch.setattr(page._Handler, "_send", send)
    bundle = page.bundle_zip({"efficientnet.onnx": MODEL, "chelsea.npy": SAMPLE, **_models()})
    return json.loads(page.run_in_chromium(IN_PAGE, bundle, timeout=240, echo=lambda s: None))


def test_worker_pool_in_an_isolated_page(monkeypatch):
    out = _run(True, monkeypatch)
    assert out["isolated"]
    assert out["one"]["mode"] == "single" and out["one"]["threads"] == 1
    expected_default = max(1, min(4, -(-out["cores"] // 2)))
    assert out["default"]["threads"] == expected_default
    assert out["default"]["mode"] == ("worker-pool" if expected_default > 1 else "single")
    # before the first yield: one thread, and said so
    kernels = out["kernels"]
    assert out["before_yield"] == {"mode": "starting", "threads": 1, "requested": 2, "kernels": kernels}
    assert out["early_rel"] <= 1e-4
    assert out["after_yield"] == {"mode": "worker-pool", "threads": 2, "requested": 2, "kernels": kernels}
    _check_variant(out)
    # the pool runs the same build as the calling thread, so their results agree
    assert out["pool_module"] == "pywebinfer_kernels_mt_relaxed.wasm"
    assert out["efficientnet_rel"] <= 1e-4
    assert out["efficientnet_top1"][0] == out["efficientnet_top1"][1]
    assert out["jobs"] > 10, "EfficientNet's big convolutions did not go to the pool"
    assert out["workers_before_close"] == 1
    assert out["workers_after_close"] == 0 and out["memory_after_close"] is True
    assert out["closed"]["mode"] == "single"
    for name, op in out["ops"].items():
        assert op["mode"] == "worker-pool", name
        assert op["jobs"] >= 1, f"{name} did not go to the pool"
        assert op["rel_numpy"] <= 1e-4, (name, op)
        assert op["rel_one_thread"] <= 1e-6, (name, op)  # same sums, same order: equal in fact


def _check_variant(out: dict) -> None:
    # Chromium has shipped relaxed SIMD since 114: the FMA build loads
    assert out["relaxed_supported"] and out["kernels"] == "relaxed"
    fused, unfused = 2.0 ** -11 + 2.0 ** -24, 2.0 ** -11
    # V8 lowers relaxed_madd to vfmadd on x86 with FMA3 (this machine), else to mul+add
    assert all(v in (fused, unfused) for v in out["madd"]) and len(set(out["madd"])) == 1, out["madd"]


def test_one_thread_without_cross_origin_isolation(monkeypatch):
    out = _run(False, monkeypatch)
    assert not out["isolated"]
    _check_variant(out)
    for key in ("before_yield", "after_yield"):
        info = out[key]
        assert info["mode"] == "single" and info["threads"] == 1 and info["requested"] == 2
        assert "cross-origin isolated" in info["reason"]
    assert out["default"]["threads"] == 1
    assert out["efficientnet_rel"] <= 1e-4 and out["jobs"] == 0
    for name, op in out["ops"].items():
        assert op["mode"] == "single" and op["jobs"] == 0, name
        assert op["rel_numpy"] <= 1e-4, (name, op)
