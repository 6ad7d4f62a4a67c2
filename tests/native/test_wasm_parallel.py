"""The wasm backend's worker-pool jobs, run natively: threads.SequentialPool encodes each
big GEMM / convolution as the pool does in the browser and runs its parts one after the
other on the wasmtime module (wasm/src/parallel.c splits the work).  Every part writes a
disjoint block and sums in the same order as one thread, so the results must be
bit-identical to the single-thread kernels, for any thread count.  The pooled tests run
on both builds wasmtime loads (plain and relaxed SIMD), each against itself.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("wasmtime", reason="the wasm backend runs natively under PyPI wasmtime")

from pywebinfer.backends.wasm import threads  # noqa: E402
from pywebinfer.backends.wasm import module as wasm_module  # noqa: E402
from pywebinfer.backends.wasm.module import kernel_variant, library, load_library, relaxed_simd_supported  # noqa: E402
from pywebinfer.ops.registry import FUSED_DOMAIN, KernelContext, load_all_kernels  # noqa: E402

REGISTRY = load_all_kernels()
RNG = np.random.default_rng(7)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def run(op_type, inputs, attrs, pool, domain="", prepare=True):
    entry = REGISTRY.lookup(op_type, domain, 21, "wasm")
    ctx = KernelContext(opset=21, num_outputs=1, output_names=("y",))
    if prepare and entry.prepare is not None:
        ctx.state = entry.prepare(ctx, attrs, list(inputs))
    before = pool.jobs if pool is not None else 0
    previous, threads.ACTIVE = threads.ACTIVE, pool
    try:
        out = entry.fn(ctx, list(inputs), attrs)
    finally:
        threads.ACTIVE = previous
    if pool is not None:
        assert pool.jobs == before + 1, "the op did not go to the pool"
    return out


@pytest.fixture(scope="module", params=["plain", "relaxed"])
def variant(request):
    """The build under test as the process-wide library (kernels.py calls library())"""
    if request.param == "relaxed" and not relaxed_simd_supported():
        pytest.skip("this wasmtime has no relaxed SIMD: the relaxed build is tested in the browser")
    previous = wasm_module._LIBRARY
    wasm_module._LIBRARY = load_library(request.param)
    yield request.param
    wasm_module._LIBRARY = previous


@pytest.fixture(scope="module", params=[2, 3, 8])
def pool(request, variant):
    p = threads.SequentialPool(library(), 2)
    p.parts = request.param  # chunks of a job (pool.js hands them to the threads)
    p.min_flops = p.min_intensity = 0  # every op, however small: the split's edge cases
    yield p
    p.close()


@pytest.mark.parametrize("a_shape,b_shape,constant", [
    ((1, 64), (64, 100), True),        # GEMV over packed panels, split by columns
    ((44, 384), (384, 1536), True),    # MiniLM's 4 x 11 tokens: columns
    ((7, 33), (33, 9), False),         # fewer panels than threads
    ((130, 70), (70, 20), True),       # taller than wide: rows
    ((3, 5, 17), (17, 40), True),      # batch dimensions folded into rows
    ((6, 9, 20), (6, 20, 11), False),  # batched products: whole products per thread
    ((2, 9, 20), (2, 20, 11), False),  # fewer products than (some) thread counts
])
def test_matmul_is_identical(pool, a_shape, b_shape, constant):
    a, b = rand(*a_shape), rand(*b_shape)
    want = run("MatMul", [a, b], {}, None, prepare=constant)
    got = run("MatMul", [a, b], {}, pool, prepare=constant)
    assert np.array_equal(got, want)
    ref = np.matmul(a.astype(np.float64), b)
    assert np.allclose(got, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("trans_b,c_shape", [(0, (37,)), (1, (29, 1)), (1, (29, 37))])
def test_gemm_bias_and_epilogue(pool, trans_b, c_shape):
    a, c = rand(29, 50), rand(*c_shape)
    b = rand(37, 50) if trans_b else rand(50, 37)
    attrs = {"transB": trans_b, "alpha": 0.5, "beta": 2.0, "activation": "Relu"}
    want = run("FusedGemm", [a, b, c], attrs, None, domain=FUSED_DOMAIN)
    got = run("FusedGemm", [a, b, c], attrs, pool, domain=FUSED_DOMAIN)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("x_shape,w_shape,attrs", [
    ((1, 8, 30, 30), (16, 8, 1, 1), {}),                                  # pointwise: columns
    ((1, 64, 5, 5), (96, 64, 1, 1), {}),                                  # pointwise, tall: rows
    ((1, 3, 33, 31), (12, 3, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1]}),  # im2col: output rows
    ((1, 40, 7, 7), (64, 40, 3, 3), {"pads": [1, 1, 1, 1]}),             # im2col, few rows: channels
    ((1, 24, 17, 19), (24, 1, 3, 3), {"group": 24, "pads": [1, 1, 1, 1]}),  # depthwise
    ((2, 6, 11, 11), (12, 1, 5, 5), {"group": 6, "strides": [2, 2], "pads": [2, 2, 2, 2]}),  # multiplier 2
    ((2, 8, 9, 9), (8, 4, 3, 3), {"group": 2}),                           # images x groups
    ((1, 5, 2, 40), (7, 5, 2, 3), {"dilations": [1, 2]}),                 # fewer rows than threads
])
def test_conv_is_identical(pool, x_shape, w_shape, attrs):
    x, w = rand(*x_shape), rand(*w_shape)
    bias = rand(w_shape[0])
    full = {"activation": "Relu", **attrs}
    want = run("FusedConv", [x, w, bias], full, None, domain=FUSED_DOMAIN)
    got = run("FusedConv", [x, w, bias], full, pool, domain=FUSED_DOMAIN)
    assert np.array_equal(got, want)
    ref = REGISTRY.lookup("Conv", "", 21, "numpy").fn(
        KernelContext(opset=21, num_outputs=1, output_names=("y",)),
        [x.astype(np.float64), w.astype(np.float64), bias.astype(np.float64)], attrs)
    assert np.allclose(got, np.maximum(ref, 0), rtol=1e-4, atol=1e-4)


def test_conv_residual_and_unpacked_weights(pool):
    x, w = rand(1, 16, 12, 12), rand(32, 16, 3, 3)
    z = rand(1, 32, 12, 12)
    attrs = {"pads": [1, 1, 1, 1], "activation": "Sigmoid"}
    for prepare in (True, False):
        want = run("FusedConv", [x, w, None, z], attrs, None, domain=FUSED_DOMAIN, prepare=prepare)
        got = run("FusedConv", [x, w, None, z], attrs, pool, domain=FUSED_DOMAIN, prepare=prepare)
        assert np.array_equal(got, want)


def test_weights_are_mirrored_once_and_freed():
    pool = threads.SequentialPool(library(), 2)
    pool.min_flops = pool.min_intensity = 0
    a, b = rand(8, 16), rand(16, 24)
    entry = REGISTRY.lookup("MatMul", "", 21, "wasm")
    ctx = KernelContext(opset=21, num_outputs=1, output_names=("y",))
    ctx.state = entry.prepare(ctx, {}, [a, b])
    threads.ACTIVE = pool
    try:
        for _ in range(3):
            entry.fn(ctx, [a, b], {})
    finally:
        threads.ACTIVE = None
    assert len(pool._mirrors) == 1 and pool.jobs == 3
    ctx.state = None
    import gc

    gc.collect()
    pool._free_released()
    assert not pool._mirrors


def test_small_ops_stay_on_the_calling_thread():
    pool = threads.SequentialPool(library(), 2)  # the measured threshold
    entry = REGISTRY.lookup("MatMul", "", 21, "wasm")
    ctx = KernelContext(opset=21, num_outputs=1, output_names=("y",))
    threads.ACTIVE = pool
    try:
        entry.fn(ctx, [rand(4, 16), rand(16, 16)], {})
        assert pool.jobs == 0
        entry.fn(ctx, [rand(100, 100), rand(100, 100)], {})
        assert pool.jobs == 0  # 2 MFLOP
        entry.fn(ctx, [rand(128, 128), rand(128, 128)], {})
        assert pool.jobs == 1  # 4.2 MFLOP, 21 flops per byte copied
        dw = REGISTRY.lookup("Conv", "", 21, "wasm")  # depthwise: 2 flops a byte copied
        dw.fn(ctx, [rand(1, 144, 56, 56), rand(144, 1, 3, 3)], {"group": 144, "pads": [1, 1, 1, 1]})
        assert pool.jobs == 1
    finally:
        threads.ACTIVE = None


def test_session_reports_one_thread_natively():
    import pywebinfer

    path = os.path.join(REPO, "models", "efficientnet_lite0_dynamo.onnx")
    if not os.path.exists(path):
        pytest.skip("models/ is not set up")
    options = pywebinfer.SessionOptions()
    options.intra_op_num_threads = 2
    sess = pywebinfer.InferenceSession(path, options, providers=["wasm", "numpy"])
    info = sess.wasm_threads
    assert info["mode"] == "single" and info["threads"] == 1 and info["requested"] == 2
    assert "outside the browser" in info["reason"]
    assert info["kernels"] == kernel_variant()  # the build this process loaded
    assert wasm_module.choose_variant() == ("relaxed" if relaxed_simd_supported() else "plain")
    sess.close()
    assert pywebinfer.InferenceSession(path, providers=["numpy"]).wasm_threads is None


def test_pool_refuses_a_module_whose_kernels_changed_signature():
    lib = library()
    interface = dict(lib.interface)
    exports = dict(interface["exports"])
    params, results = exports["pwi_gemm"]
    exports["pwi_gemm"] = (params + ("i32",), results)
    interface["exports"] = exports
    with pytest.raises(Exception, match="parallel.c"):
        threads.Pool(lib, 2, interface)


def test_pool_runs_the_build_the_library_runs():
    """Pooled results equal one thread's only if both run the same build"""
    for variant, name in (("plain", "pywebinfer_kernels_mt.wasm"), ("relaxed", "pywebinfer_kernels_mt_relaxed.wasm")):
        lib = load_library(variant)
        assert os.path.basename(threads.mt_path(lib)) == name
        assert os.path.exists(threads.mt_path(lib)), "run `make wasm`"
