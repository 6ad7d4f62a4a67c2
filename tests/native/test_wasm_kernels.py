"""The wasm backend's kernels, run natively under wasmtime, against numpy.

Two levels: the module's C functions called directly (GEMM tiles, packing, epilogues,
the math functions) and the registered ONNX kernels (the numpy kernels are the
reference; float64 inputs give them a reference closer to exact).  Sizes are chosen to
hit every edge of the 4x8 register tile, the 256-deep blocks and the 4-lane vectors.

Every test that takes ``lib`` runs once per build wasmtime can load: the plain module
(SIMD128 mul+add) and the relaxed-SIMD one (FMA), with the same tolerances: an FMA only
removes a rounding.
"""
from __future__ import annotations

import gc
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("wasmtime", reason="the wasm backend runs natively under PyPI wasmtime")

from pywebinfer.backends.wasm import kernels as wk  # noqa: E402
from pywebinfer.backends.wasm import module as wasm_module  # noqa: E402
from pywebinfer.backends.wasm.module import (  # noqa: E402
    VARIANTS, Out, _Heap, load_library, read_interface, relaxed_simd_supported)
from pywebinfer.ops.registry import FUSED_DOMAIN, KernelContext, load_all_kernels  # noqa: E402

REGISTRY = load_all_kernels()
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RNG = np.random.default_rng(20240611)


@pytest.fixture(scope="module", params=["plain", "relaxed"])
def lib(request):
    """The build under test, made the process-wide library (kernels.py calls library())
    for the tests that take it."""
    variant = request.param
    assert os.path.exists(VARIANTS[variant]), f"the {variant} kernel module is not built: run `make wasm`"
    if variant == "relaxed" and not relaxed_simd_supported():
        pytest.skip("this wasmtime has no relaxed SIMD: the relaxed build is tested in the browser")
    previous = wasm_module._LIBRARY
    wasm_module._LIBRARY = load_library(variant)
    yield wasm_module._LIBRARY
    wasm_module._LIBRARY = previous


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def call(op_type, inputs, attrs=None, *, opset=21, domain="", num_outputs=1, backend="wasm", prepare=False):
    """Run one registered kernel; ``prepare`` treats every input as a constant (packing)."""
    entry = REGISTRY.lookup(op_type, domain, opset, backend)
    assert entry is not None, f"no {backend} kernel for {op_type} at opset {opset}"
    attrs = dict(attrs or {})
    ctx = KernelContext(opset=opset, num_outputs=num_outputs,
                        output_names=tuple(f"y{i}" for i in range(num_outputs)))
    if prepare and entry.prepare is not None:
        ctx.state = entry.prepare(ctx, attrs, list(inputs))
    out = entry.fn(ctx, list(inputs), attrs)
    return list(out) if isinstance(out, (list, tuple)) else [out]


def reference(op_type, inputs, attrs=None, **kw):
    """The numpy kernel on float64 copies of the float32 inputs."""
    wide = [x.astype(np.float64) if isinstance(x, np.ndarray) and x.dtype == np.float32 else x for x in inputs]
    return call(op_type, wide, attrs, backend="numpy", **kw)


def close(got, want, rtol=2e-5, atol=2e-6):
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    assert got.dtype == np.float32 or want.dtype != np.float64, got.dtype
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=rtol, atol=atol, equal_nan=True)


# ---- the module ---------------------------------------------------------------------------

def test_module_is_a_safe_side_module(lib):
    path = VARIANTS[lib.variant]
    with open(path, "rb") as f:
        interface = read_interface(f.read())
    assert {f"{m}.{n}" for m, n, _ in interface["imports"]} <= {
        "env.memory", "env.__memory_base", "env.__table_base", "env.__stack_pointer",
        "env.__indirect_function_table"}
    assert interface["exports"]["pwi_gemm"][0].count("f32") == 4  # alpha, beta, two act params
    if shutil.which("wasm-objdump") is None:
        pytest.skip("wabt's wasm-objdump is needed for the instruction check")
    checker = os.path.join(REPO, "wasm", "check_module.py")
    flags = ["--relaxed"] if lib.variant == "relaxed" else []
    check = subprocess.run([sys.executable, checker, *flags, path], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    if lib.variant == "relaxed":
        # the plain rules reject it: relaxed SIMD is allowed only where asked for
        plain_rules = subprocess.run([sys.executable, checker, path], capture_output=True, text=True)
        assert plain_rules.returncode == 1 and "relaxed_madd" in plain_rules.stderr
    else:
        # and a plain module does not pass as a relaxed one (it has no FMA)
        relaxed_rules = subprocess.run([sys.executable, checker, "--relaxed", path], capture_output=True, text=True)
        assert relaxed_rules.returncode == 1 and "no f32x4.relaxed_madd" in relaxed_rules.stderr


def test_relaxed_probe_needs_relaxed_simd():
    """The probe module.py validates is well formed, and valid only with relaxed SIMD."""
    import wasmtime

    config = wasmtime.Config()
    config.wasm_relaxed_simd = False
    with pytest.raises(Exception, match="relaxed"):
        wasmtime.Module.validate(wasmtime.Engine(config), wasm_module.RELAXED_PROBE)
    config = wasmtime.Config()
    config.wasm_relaxed_simd = True
    wasmtime.Module.validate(wasmtime.Engine(config), wasm_module.RELAXED_PROBE)


def test_variant_choice_follows_the_engine_and_the_override(monkeypatch):
    def choice(env, supported, pool_build=True):
        with monkeypatch.context() as m:
            m.setenv(wasm_module.VARIANT_ENV, env)
            m.setattr(wasm_module, "_RELAXED_SUPPORTED", supported)
            if not pool_build:
                m.setattr(wasm_module, "MT_RELAXED_WASM_PATH", wasm_module.MT_RELAXED_WASM_PATH + ".missing")
            return wasm_module.choose_variant()

    assert choice("auto", True) == choice("", True) == "relaxed"
    assert choice("auto", False) == "plain"  # an engine without relaxed SIMD
    assert choice("auto", True, pool_build=False) == "plain"  # no pool build to match: plain for both
    assert choice("plain", True) == "plain"
    assert choice("relaxed", True) == "relaxed"
    with pytest.raises(wasm_module.WasmUnavailableError, match="no relaxed SIMD"):
        choice("relaxed", False)
    with pytest.raises(wasm_module.WasmUnavailableError, match="plain, relaxed or auto"):
        choice("fast", True)


def _cpu_has_fma() -> bool | None:
    """FMA3 on this x86 Linux host (None: cannot tell)"""
    try:
        with open("/proc/cpuinfo") as f:
            return " fma " in f.read().replace("\n", " ")
    except OSError:
        return None


def test_the_relaxed_build_fuses_where_the_plain_one_rounds_twice():
    """Which build runs shows in the numbers: a*b + c with a*b inexact in float32 is
    rounded once by an FMA (wasmtime uses one where the CPU has it) and twice by mul+add.
    A 1x1 depthwise convolution is one multiply-add per output: bias + w * x."""
    if not relaxed_simd_supported():
        pytest.skip("this wasmtime has no relaxed SIMD")
    a = np.float32(1.0 + 2.0 ** -12)  # a*a = 1 + 2^-11 + 2^-24: the last term is lost in a rounding
    results = {}
    for variant in ("plain", "relaxed"):
        lib_v = load_library(variant)
        x = np.full((1, 4), a, np.float32)
        # depthwise 1x1 kernel: out = bias + w*x, one multiply-add per output (conv.c)
        y = np.empty((1, 4, 1, 1), np.float32)
        lib_v.call("pwi_conv2d", x.reshape(1, 4, 1, 1), 1, 4, 1, 1, np.full(4, a, np.float32), 0, 4, 4, 1, 1,
                   1, 1, 0, 0, 1, 1, 1, 1, Out(y), np.full(4, -1.0, np.float32), None, 0, 0.0, 0.0,
                   lib_v.workspace)
        results[variant] = y.reshape(-1)
    exact = np.float32(float(a) * float(a) - 1.0)  # one rounding: exact here
    assert np.all(results["plain"] == np.float32(2.0 ** -11))  # the product rounded first
    if _cpu_has_fma():
        assert np.all(results["relaxed"] == exact)
    else:  # relaxed_madd may be mul+add on a CPU without FMA
        assert np.all(np.isin(results["relaxed"], [exact, np.float32(2.0 ** -11)]))


def test_heap_reuses_and_coalesces():
    heap = _Heap(1000 - 1000 % 16, 4096)
    a, b, c = heap.alloc(100), heap.alloc(1), heap.alloc(200)
    assert a % 16 == 0 and b - a == 112 and c - b == 16
    heap.free(b)
    assert heap.alloc(10) == b  # first fit
    heap.free(a)
    heap.free(b)
    heap.free(c)
    assert heap.starts == [a] and heap.sizes == [4096 - a]  # one block again
    assert heap.alloc(10_000) is None
    heap.extend(20_000)
    assert heap.alloc(10_000) == a


def test_resident_memory_is_freed_with_its_owner(lib):
    gc.collect()
    before = lib.in_use()
    weights = lib.resident(np.ones(100_000, np.float32))
    assert lib.in_use() >= before + 400_000
    np.testing.assert_array_equal(lib.read(weights, np.float32, (100_000,)), 1.0)
    del weights
    gc.collect()
    assert lib.in_use() == before


# ---- math functions (through pwi_unary) -------------------------------------------------------

SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30, 1e-7, 88.0, 89.0, -87.0, -104.0,
                    0.5, -0.5, 0.625, 0.99999, 1.0, 3.99, 4.0, -6.0, 30.0], np.float32)
WIDE = np.concatenate([SPECIAL, np.linspace(-12, 12, 2001, dtype=np.float32), rand(999, scale=3)])


# about 2 ulp; results below float32's normal range (1.2e-38) are flushed to zero
@pytest.mark.parametrize("op, attrs, domain, rtol, atol", [
    ("Exp", {}, None, 3e-7, 1e-37), ("Log", {}, "positive", 2e-7, 1e-7), ("Sqrt", {}, "positive", 1e-7, 0),
    ("Erf", {}, None, 0, 3e-7), ("Tanh", {}, None, 1e-6, 1e-7), ("Sigmoid", {}, None, 1e-6, 1e-37),
    ("Softplus", {}, None, 1e-6, 1e-7), ("Softsign", {}, None, 2e-7, 0), ("Relu", {}, None, 0, 0),
    ("LeakyRelu", {"alpha": 0.3}, None, 2e-7, 0), ("Elu", {"alpha": 0.7}, None, 2e-6, 1e-7),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, None, 1e-6, 1e-7), ("HardSwish", {}, None, 1e-6, 1e-7),
    ("Gelu", {}, None, 2e-6, 2e-7), ("Gelu", {"approximate": "tanh"}, None, 2e-6, 2e-7),
    ("Abs", {}, None, 0, 0), ("Neg", {}, None, 0, 0), ("Reciprocal", {}, None, 1e-7, 0),
])
def test_unary_matches_numpy(lib, op, attrs, domain, rtol, atol):
    x = np.abs(WIDE) if domain == "positive" else WIDE
    with np.errstate(all="ignore"):
        want = reference(op, [x], attrs)[0].astype(np.float32).astype(np.float64)  # float32's overflow
        got = call(op, [x], attrs)[0]
    assert got.dtype == np.float32
    close(got, want, rtol=rtol, atol=atol)


def test_log_of_subnormal_zero_and_negative(lib):
    x = np.array([1e-40, 1e-45, 0.0, -1.0, 2.0 ** -126], np.float32)
    with np.errstate(all="ignore"):
        got = call("Log", [x])[0]
        close(got[[0, 1, 4]], np.log(x[[0, 1, 4]].astype(np.float64)), rtol=1e-6)
    assert got[2] == -np.inf and np.isnan(got[3])


def test_exp_at_the_ends_of_its_range(lib):
    # overflow to inf comes from the scaling; results below the normal range are 0
    x = np.concatenate([np.linspace(-110, -80, 3001), np.linspace(80, 89, 901)]).astype(np.float32)
    with np.errstate(all="ignore"):
        got = call("Exp", [x])[0]
        want = np.exp(x.astype(np.float64)).astype(np.float32).astype(np.float64)
    normal = want >= 2.0 ** -126
    close(got[normal], want[normal], rtol=3e-7, atol=0)
    assert (got[~normal] <= 2.0 ** -126).all() and (got[x < -87.34] == 0).all()
    assert np.isinf(got[x > 88.73]).all() and np.isfinite(got[x < 88.72]).all()


def test_gelu_tails_and_center(lib):
    # erf form: x Phi(x), Phi from erfc; the negative tail keeps its relative accuracy
    x = np.concatenate([np.linspace(-9, 9, 36001), -np.geomspace(1e-30, 9, 2001),
                        np.geomspace(1e-30, 9, 2001)]).astype(np.float32)
    # x Phi(x) in float64 from erfc: numpy's 1 + erf(x / sqrt 2) cancels to 0 in the tail
    wide = x.astype(np.float64)
    want = wide * 0.5 * np.array([math.erfc(-v / math.sqrt(2)) for v in wide])
    got = call("Gelu", [x])[0]
    close(got, want, rtol=1e-5, atol=1e-30)  # the tail: e^(-x^2/2) from a rounded exponent
    center = np.abs(x) < 3
    close(got[center], want[center], rtol=2e-6, atol=2e-7)


@pytest.mark.parametrize("n", [1, 3, 4, 5, 17])
def test_clip_bounds_and_odd_lengths(lib, n):
    x = rand(n)
    got = call("Clip", [x, np.float32(-0.2), np.float32(0.3)])[0]
    np.testing.assert_array_equal(got, np.clip(x, -0.2, 0.3))
    assert np.array_equal(call("Clip", [x, None, np.float32(0.1)])[0], np.minimum(x, np.float32(0.1)))
    assert np.array_equal(call("Clip", [x], {"min": -0.5}, opset=6)[0], np.maximum(x, np.float32(-0.5)))
    # low > high: numpy's order gives high everywhere
    assert np.array_equal(call("Clip", [x, np.float32(1.0), np.float32(-1.0)])[0], np.full(n, -1.0, np.float32))


def test_clip_with_a_nan_bound_gives_nan_like_numpy(lib):
    x = rand(9)
    for low, high in ((np.nan, 0.3), (-0.2, np.nan)):
        got = call("Clip", [x, np.float32(low), np.float32(high)])[0]
        want = reference("Clip", [x, np.float32(low), np.float32(high)])[0]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    y = call("Clip", [np.array([np.nan, -np.inf, np.inf, -0.0], np.float32), np.float32(-1), np.float32(1)])[0]
    assert np.isnan(y[0]) and y[1:].tolist() == [-1.0, 1.0, 0.0]


def test_kernels_keep_shape_plans_per_node(lib):
    """One node (one context) meeting several shapes, as a model with dynamic axes does:
    every shape gets its own plan, and bad shapes still raise after a good run."""
    ctx = KernelContext(opset=18, num_outputs=1, output_names=("y",))

    def run(op, inputs, attrs=None, domain="", opset=18):
        ctx.opset = opset
        return REGISTRY.lookup(op, domain, opset, "wasm").fn(ctx, inputs, attrs or {})

    for shape in ((2, 3, 5), (4, 5), (2, 3, 5), (1, 1, 5)):
        a, b = rand(*shape), rand(5)
        close(run("Add", [a, b]), a.astype(np.float64) + b)
        close(run("Pow", [a, np.array(2.0, np.float32)]), a.astype(np.float64) ** 2, rtol=1e-6)
    with pytest.raises(ValueError, match="broadcast"):
        run("Add", [rand(2, 3), rand(4)])
    ctx.state = None
    for shape in ((2, 3, 4), (5, 1, 2), (2, 3, 4)):
        x = rand(*shape)
        np.testing.assert_array_equal(run("Transpose", [x], {"perm": [2, 0, 1]}), x.transpose(2, 0, 1))
    ctx.state = None
    for shape in ((2, 3, 4), (6, 1, 7)):
        x = rand(*shape)
        close(run("ReduceMean", [x], {"axes": [0, 2]}, opset=13), x.astype(np.float64).mean(axis=(0, 2), keepdims=True))
    ctx.state = None
    w = rand(6, 3, 3, 3)
    for shape in ((1, 3, 8, 9), (2, 3, 5, 5)):
        x = rand(*shape)
        attrs = {"pads": [1, 1, 1, 1], "activation": "Relu"}
        close(run("FusedConv", [x, w], attrs, FUSED_DOMAIN, 1),
              reference("FusedConv", [x, w], attrs, domain=FUSED_DOMAIN, opset=1)[0], rtol=2e-5, atol=2e-5)
    with pytest.raises(ValueError, match="group"):
        run("FusedConv", [rand(1, 4, 5, 5), w], {}, FUSED_DOMAIN, 1)
    ctx.state = None
    wm = rand(5, 7)
    for shape in ((3, 5), (2, 4, 5), (5,)):
        a = rand(*shape)
        close(run("MatMul", [a, wm]), a.astype(np.float64) @ wm, atol=1e-5)
    with pytest.raises(ValueError, match="multiply"):
        run("MatMul", [rand(3, 4), wm])


def test_ctypes_route_passes_arrays_by_address():
    """The Pyodide route's argument conversion (tested here without Pyodide)."""
    from pywebinfer.backends.wasm.module import Resident, _address

    a = rand(3, 4)
    assert _address("f", a) == a.ctypes.data and _address("f", Out(a)) == a.ctypes.data
    assert _address("f", Resident(4096, 16)) == 4096 and _address("f", None) == 0
    assert _address("f", a[1:]) == a[1:].ctypes.data  # an offset view is still contiguous
    with pytest.raises(TypeError, match="C-contiguous"):
        _address("f", a.T)
    with pytest.raises(TypeError, match="C-contiguous"):
        _address("f", Out(a[:, ::2]))


def test_unary_other_types_use_the_numpy_kernel(lib):
    x = np.array([-3, 0, 5], np.int32)
    got = call("Abs", [x])[0]
    assert got.dtype == np.int32 and got.tolist() == [3, 0, 5]
    half = np.array([-1.5, 2.0], np.float16)
    assert call("Relu", [half])[0].dtype == np.float16


# ---- broadcasting binary ops -------------------------------------------------------------------

SHAPE_PAIRS = [((), ()), ((5,), ()), ((), (7,)), ((3, 4), (3, 4)), ((2, 3, 5), (5,)), ((2, 3, 5), (3, 1)),
               ((4, 1, 6), (1, 5, 1)), ((1,), (9, 1)), ((2, 1, 3, 1, 5), (1, 4, 3, 2, 1)),
               ((2, 3, 1, 2, 3, 1), (1, 3, 4, 1, 3, 2)), ((8, 33), (33,)), ((3, 0, 2), (2,))]


@pytest.mark.parametrize("a_shape, b_shape", SHAPE_PAIRS)
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Max", "Min"])
def test_binary_broadcasting(lib, op, a_shape, b_shape):
    a, b = rand(*a_shape), rand(*b_shape) + (3.0 if op == "Div" else 0.0)
    want = reference(op, [a, b])[0]
    got = call(op, [a, b])[0]
    close(got, want, rtol=1e-6, atol=0)


def test_binary_nan_and_inf(lib):
    a = np.array([np.nan, 1.0, -np.inf, 0.0, 2.0], np.float32)
    b = np.array([1.0, np.nan, np.inf, 0.0, -0.0], np.float32)
    with np.errstate(all="ignore"):
        for op, ufunc in (("Max", np.maximum), ("Min", np.minimum), ("Div", np.divide), ("Add", np.add)):
            close(call(op, [a, b])[0], ufunc(a, b).astype(np.float64), rtol=0, atol=0)


def test_variadic_max_min_sum_mean(lib):
    xs = [rand(3, 1, 4), rand(1, 5, 1), rand(4)]
    for op in ("Max", "Min", "Sum", "Mean"):
        close(call(op, xs)[0], reference(op, xs)[0], rtol=1e-6, atol=1e-7)
    single = call("Sum", xs[:1])[0]
    assert np.array_equal(single, xs[0]) and single is not xs[0]


@pytest.mark.parametrize("exponent", [2.0, 3.0, -1.0, 0.5, 0.0, -2.5])
def test_pow(lib, exponent):
    base = np.concatenate([rand(20, scale=3), np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan], np.float32)])
    e = np.float32(exponent)
    with np.errstate(all="ignore"):
        want = np.power(base.astype(np.float64), float(e))
        got = call("Pow", [base, e])[0]
    close(got, want, rtol=5e-6, atol=1e-30)
    with np.errstate(all="ignore"):
        es = rand(27, scale=2)
        close(call("Pow", [np.abs(base) + 0.1, es])[0], np.power(np.abs(base.astype(np.float64)) + 0.1, es),
              rtol=1e-5, atol=1e-30)


def test_binary_other_types_use_the_numpy_kernel(lib):
    a = np.array([7, -7], np.int32)
    assert call("Div", [a, np.array([2, 2], np.int32)])[0].tolist() == [3, -3]


# ---- GEMM through the C entry point ----------------------------------------------------------

def gemm(lib, a, b, *, trans_a=False, trans_b=False, pack_a=False, pack_b=False, alpha=1.0,
         bias=None, bias_mode=0, z=None, z_rs=0, z_cs=0, beta=1.0, act=(0, 0.0, 0.0)):
    M, K = a.shape[::-1] if trans_a else a.shape
    N = b.shape[0] if trans_b else b.shape[1]
    a_rs, a_cs = (1, M) if trans_a else (K, 1)
    b_rs, b_cs = (1, K) if trans_b else (N, 1)
    packed = 0
    if pack_a:
        pa = lib.empty(-(-M // 4) * 4 * K * 4)
        lib.call("pwi_pack_a", M, K, np.ascontiguousarray(a), a_rs, a_cs, pa)
        a, packed = pa, packed | 1
    if pack_b:
        pb = lib.empty(-(-N // 8) * 8 * K * 4)
        lib.call("pwi_pack_b", K, N, np.ascontiguousarray(b), b_rs, b_cs, pb)
        b, packed = pb, packed | 2
    c = np.empty((M, N), np.float32)
    lib.call("pwi_gemm", 1, M, N, K, a, 0, a_rs, a_cs, b, 0, b_rs, b_cs, packed, Out(c), 0, N, alpha,
             bias, bias_mode, z, 0, z_rs, z_cs, beta, act[0], act[1], act[2], lib.workspace)
    return c


SIZES = [(1, 1, 1), (1, 9, 3), (1, 37, 300), (2, 3, 5), (3, 8, 4), (4, 8, 1), (5, 9, 17), (7, 15, 255),
         (8, 16, 256), (9, 17, 257), (13, 70, 513), (65, 31, 40), (70, 600, 20), (130, 9, 64),
         (10, 8, 9), (61, 16, 7), (64, 24, 300)]


@pytest.mark.parametrize("M, N, K", SIZES)
@pytest.mark.parametrize("pack_a, pack_b", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm_sizes_and_packing(lib, M, N, K, pack_a, pack_b):
    a, b = rand(M, K), rand(K, N)
    want = a.astype(np.float64) @ b
    close(gemm(lib, a, b, pack_a=pack_a, pack_b=pack_b), want, rtol=1e-5, atol=1e-5 * math.sqrt(K))


@pytest.mark.parametrize("M, N, K", [(1, 20, 7), (6, 10, 300), (33, 17, 9)])
def test_gemm_transposed_operands(lib, M, N, K):
    a, b = rand(K, M), rand(N, K)
    want = a.T.astype(np.float64) @ b.T
    for pack_b in (False, True):
        close(gemm(lib, a, b, trans_a=True, trans_b=True, pack_b=pack_b), want, rtol=1e-5, atol=1e-5)


def test_gemm_epilogue(lib):
    M, N, K = 11, 19, 270
    a, b = rand(M, K), rand(K, N)
    prod = a.astype(np.float64) @ b
    rows, cols = rand(M), rand(N)
    close(gemm(lib, a, b, alpha=0.5, bias=rows, bias_mode=1), 0.5 * prod + rows[:, None], atol=1e-4)
    close(gemm(lib, a, b, bias=cols, bias_mode=2), prod + cols, atol=1e-4)
    full, col, row = rand(M, N), rand(M, 1), rand(1, N)
    close(gemm(lib, a, b, z=full, z_rs=N, z_cs=1, beta=-2.0), prod - 2 * full, atol=1e-4)
    close(gemm(lib, a, b, z=col, z_rs=1, z_cs=0, beta=1.0), prod + col, atol=1e-4)
    close(gemm(lib, a, b, z=row, z_rs=0, z_cs=1, beta=3.0), prod + 3 * row, atol=1e-4)
    relu = gemm(lib, a, b, bias=cols, bias_mode=2, z=full, z_rs=N, z_cs=1, act=(wk.ACT["Relu"], 0.0, 0.0))
    close(relu, np.maximum(prod + cols + full, 0), atol=1e-4)
    clip = gemm(lib, a, b, act=(wk.ACT["Clip"], -1.0, 2.0))
    close(clip, np.clip(prod, -1, 2), atol=1e-4)


def test_gemm_empty_depth_gives_the_epilogue_of_zeros(lib):
    a, b = np.zeros((3, 0), np.float32), np.zeros((0, 5), np.float32)
    cols = rand(5)
    close(gemm(lib, a, b, bias=cols, bias_mode=2), np.broadcast_to(cols, (3, 5)).astype(np.float64))


@pytest.mark.parametrize("name", ["Gelu", "Sigmoid", "Silu", "Tanh", "Elu", "Softplus", "Clip", "HardSwish"])
def test_gemm_epilogue_activations_over_depth_blocks_and_edges(lib, name):
    # activations beyond a few instructions run over the stored tile: full tiles, edge
    # tiles, several depth blocks, the one-row path, and with bias and residual
    act = (wk.ACT[name], 0.7 if name in ("Elu", "Clip") else 0.0, 1.5 if name == "Clip" else 0.0)
    ref = {"Gelu": {"op": "Gelu", "attrs": {}}, "Clip": {"op": "Clip", "attrs": {}}}
    for M, N, K, pack_b in ((13, 21, 300, False), (8, 16, 64, True), (1, 37, 300, True), (9, 7, 5, False)):
        a, b, cols, full = rand(M, K, scale=0.1), rand(K, N), rand(N), rand(M, N)
        pre = (a.astype(np.float64) @ b + cols + full).astype(np.float32)
        if name == "Clip":
            want = np.clip(pre.astype(np.float64), 0.7, 1.5)
        else:
            attrs = {"alpha": 0.7} if name == "Elu" else {}
            want = reference("Sigmoid", [pre])[0] * pre if name == "Silu" else reference(
                ref.get(name, {"op": name})["op"], [pre], attrs)[0]
        got = gemm(lib, a, b, pack_b=pack_b, bias=cols, bias_mode=2, z=full, z_rs=N, z_cs=1, act=act)
        close(got, want, rtol=1e-4, atol=1e-4)


# ---- MatMul / Gemm / fused ops through the registered kernels ---------------------------------

@pytest.mark.parametrize("a_shape, b_shape", [
    ((5,), (5,)), ((5,), (5, 3)), ((4, 5), (5,)), ((2, 3, 7), (7, 9)), ((3, 7), (2, 7, 9)),
    ((2, 1, 3, 7), (4, 7, 5)), ((2, 4, 3, 7), (2, 4, 7, 5)), ((1, 130, 64), (64, 33))])
@pytest.mark.parametrize("constant_b", [False, True])
def test_matmul_shapes(lib, a_shape, b_shape, constant_b):
    a, b = rand(*a_shape), rand(*b_shape)
    got = call("MatMul", [a, b], prepare=constant_b)[0]
    close(got, np.matmul(a.astype(np.float64), b), rtol=1e-5, atol=1e-5)


def test_matmul_bad_shapes_name_the_op(lib):
    with pytest.raises(ValueError, match="MatMul"):
        call("MatMul", [rand(2, 3), rand(4, 5)])


def test_prepared_weights_follow_a_fed_override(lib):
    a, b = rand(4, 6), rand(6, 3)
    entry = REGISTRY.lookup("MatMul", "", 13, "wasm")
    ctx = KernelContext(opset=13, num_outputs=1, output_names=("y",))
    ctx.state = entry.prepare(ctx, {}, [None, b])
    close(entry.fn(ctx, [a, b], {}), a.astype(np.float64) @ b, atol=1e-5)
    other = rand(6, 3)  # a feed replacing the initializer: the live value wins
    close(entry.fn(ctx, [a, other], {}), a.astype(np.float64) @ other, atol=1e-5)


@pytest.mark.parametrize("trans_a, trans_b", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("c_shape", [None, (), (1,), (9,), (1, 9), (5, 1), (5, 9)])
def test_gemm_op(lib, trans_a, trans_b, c_shape):
    a = rand(*((7, 5) if trans_a else (5, 7)))
    b = rand(*((9, 7) if trans_b else (7, 9)))
    inputs = [a, b] + ([] if c_shape is None else [rand(*c_shape)])
    attrs = {"transA": trans_a, "transB": trans_b, "alpha": 0.7, "beta": -1.3}
    for constant in (False, True):
        close(call("Gemm", inputs, attrs, prepare=constant)[0], reference("Gemm", inputs, attrs)[0], atol=1e-5)


def test_gemm_legacy_broadcast_rules(lib):
    a, b, c = rand(3, 4), rand(4, 5), rand(5)
    close(call("Gemm", [a, b, c], {"broadcast": 1}, opset=6)[0], a.astype(np.float64) @ b + c, atol=1e-5)
    with pytest.raises(ValueError, match="Gemm"):
        call("Gemm", [a, b, c], {}, opset=6)


ACTIVATIONS = [{}, {"activation": "Relu"}, {"activation": "Sigmoid"}, {"activation": "Tanh"},
               {"activation": "HardSwish"}, {"activation": "Silu"},
               {"activation": "LeakyRelu", "activation_alpha": 0.2},
               {"activation": "HardSigmoid", "activation_alpha": 0.3, "activation_beta": 0.6},
               {"activation": "Clip", "activation_min": 0.0, "activation_max": 6.0},
               {"activation": "Clip", "activation_max": 0.5},
               {"activation": "Gelu"}, {"activation": "Gelu", "activation_approximate": "tanh"}]


@pytest.mark.parametrize("act", ACTIVATIONS, ids=lambda a: a.get("activation", "none") + "".join(
    f"_{k[11:]}" for k in a if k != "activation"))
def test_fused_ops(lib, act):
    x, w, b, z = rand(2, 6, 9, 7), rand(10, 3, 3, 3), rand(10), rand(2, 10, 5, 4)
    conv_attrs = {"group": 2, "strides": [2, 2], "pads": [1, 1, 1, 2], **act}
    inputs = [x, w, b, z]
    close(call("FusedConv", inputs, conv_attrs, domain=FUSED_DOMAIN, opset=1, prepare=True)[0],
          reference("FusedConv", inputs, conv_attrs, domain=FUSED_DOMAIN, opset=1)[0], rtol=2e-5, atol=2e-5)
    dw_inputs = [rand(1, 5, 17, 18), rand(5, 1, 3, 3), rand(5), rand(1, 5, 9, 9)]
    dw_attrs = {"group": 5, "strides": [2, 2], "pads": [1, 1, 1, 1], **act}
    close(call("FusedConv", dw_inputs, dw_attrs, domain=FUSED_DOMAIN, opset=1, prepare=True)[0],
          reference("FusedConv", dw_inputs, dw_attrs, domain=FUSED_DOMAIN, opset=1)[0], rtol=2e-5, atol=2e-5)
    a, bm, bias = rand(2, 3, 12), rand(12, 13), rand(13)
    close(call("FusedMatMul", [a, bm, bias], act, domain=FUSED_DOMAIN, opset=1, prepare=True)[0],
          reference("FusedMatMul", [a, bm, bias], act, domain=FUSED_DOMAIN, opset=1)[0], atol=2e-5)
    g_attrs = {"transB": 1, "alpha": 2.0, **act}
    ga, gb, gc = rand(4, 12), rand(13, 12), rand(13)
    close(call("FusedGemm", [ga, gb, gc], g_attrs, domain=FUSED_DOMAIN, opset=1, prepare=True)[0],
          reference("FusedGemm", [ga, gb, gc], g_attrs, domain=FUSED_DOMAIN, opset=1)[0], atol=2e-5)


# ---- convolution ---------------------------------------------------------------------------

CONVS = [  # x shape, w shape, attrs
    ((1, 3, 11, 13), (5, 3, 3, 3), {}),
    ((2, 4, 9, 8), (6, 4, 1, 1), {}),
    ((1, 16, 17, 19), (24, 16, 1, 1), {"strides": [2, 2]}),
    ((1, 3, 224 // 8, 224 // 8), (32, 3, 3, 3), {"strides": [2, 2], "pads": [0, 0, 1, 1]}),
    ((1, 5, 10, 12), (7, 5, 5, 3), {"pads": [2, 1, 0, 3], "dilations": [1, 2]}),
    ((2, 6, 9, 10), (9, 2, 3, 3), {"group": 3, "pads": [1, 1, 1, 1]}),
    ((1, 8, 12, 11), (8, 1, 3, 3), {"group": 8, "pads": [1, 1, 1, 1]}),
    ((2, 7, 23, 21), (7, 1, 3, 3), {"group": 7, "strides": [2, 2], "pads": [0, 0, 1, 1]}),
    ((1, 6, 20, 33), (6, 1, 5, 5), {"group": 6, "pads": [2, 2, 2, 2]}),
    ((1, 4, 19, 40), (4, 1, 5, 5), {"group": 4, "strides": [2, 2], "pads": [1, 2, 2, 1]}),
    ((1, 3, 16, 17), (3, 1, 3, 3), {"group": 3, "dilations": [2, 3], "pads": [2, 3, 2, 3]}),
    ((1, 3, 9, 9), (6, 1, 3, 3), {"group": 3, "strides": [3, 1], "pads": [1, 1, 1, 1]}),
    ((1, 2, 9, 14), (2, 1, 3, 3), {"group": 2, "strides": [1, 3], "pads": [1, 1, 1, 1]}),  # read in place
    ((1, 2, 400, 401), (2, 1, 3, 3), {"group": 2, "pads": [1, 1, 1, 1]}),  # larger than the workspace
    ((1, 3, 7, 7), (3, 1, 5, 5), {"group": 3, "strides": [2, 2], "pads": [2, 2, 2, 2]}),
    ((1, 1, 7, 30), (3, 1, 3, 4), {}),
    ((1, 4, 6, 6), (2, 4, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 4, 7, 7), (2, 4, 2, 2), {"auto_pad": "SAME_LOWER"}),
    ((3, 5, 31), (4, 5, 3), {"pads": [1, 2], "strides": [2]}),
    ((1, 4, 31), (4, 1, 5), {"group": 4, "dilations": [2]}),
    ((1, 2, 3, 4, 5), (3, 2, 2, 2, 2), {}),  # 3-D: the numpy kernel
]


@pytest.mark.parametrize("x_shape, w_shape, attrs", CONVS)
@pytest.mark.parametrize("constant_weights", [False, True])
def test_conv(lib, x_shape, w_shape, attrs, constant_weights):
    x, w, b = rand(*x_shape), rand(*w_shape), rand(w_shape[0])
    for inputs in ([x, w], [x, w, b]):
        got = call("Conv", inputs, attrs, prepare=constant_weights)[0]
        close(got, reference("Conv", inputs, attrs)[0], rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("width", [3, 7, 8, 9, 24, 25])
@pytest.mark.parametrize("act", [{"activation": "Clip", "activation_min": 0.0, "activation_max": 6.0},
                                 {"activation": "Sigmoid"}], ids=["clip", "sigmoid"])
def test_depthwise_row_ends(lib, width, act):
    # a row's last group of at most 8 outputs is computed 8 wide, with residual and activation
    c = 5
    x, w, b, z = rand(2, c, 6, width), rand(c, 1, 3, 3), rand(c), rand(2, c, 6, width)
    attrs = {"group": c, "pads": [1, 1, 1, 1], **act}
    inputs = [x, w, b, z]
    close(call("FusedConv", inputs, attrs, domain=FUSED_DOMAIN, opset=1, prepare=True)[0],
          reference("FusedConv", inputs, attrs, domain=FUSED_DOMAIN, opset=1)[0], rtol=2e-5, atol=2e-5)


def test_conv_bad_groups_name_the_op(lib):
    with pytest.raises(ValueError, match="group"):
        call("Conv", [rand(1, 6, 5, 5), rand(4, 3, 3, 3)], {"group": 3})


# ---- pooling -------------------------------------------------------------------------------------

POOLS = [
    ((1, 3, 10, 11), {"kernel_shape": [3, 3]}),
    ((2, 2, 9, 17), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 2, 12, 12), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ((1, 1, 10, 13), {"kernel_shape": [3, 2], "strides": [2, 3], "ceil_mode": 1}),
    ((1, 2, 11, 14), {"kernel_shape": [3, 3], "dilations": [2, 2], "pads": [2, 1, 0, 2]}),
    ((1, 1, 7, 7), {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 2, 6, 7), {"kernel_shape": [5, 5], "pads": [2, 2, 2, 2], "ceil_mode": 1, "strides": [3, 3]}),
    ((2, 3, 20), {"kernel_shape": [4], "strides": [3], "pads": [1, 2]}),
]


@pytest.mark.parametrize("shape, attrs", POOLS)
@pytest.mark.parametrize("op, extra", [("MaxPool", {}), ("AveragePool", {}),
                                       ("AveragePool", {"count_include_pad": 1})])
def test_pool(lib, shape, attrs, op, extra):
    if op == "AveragePool" and "dilations" in attrs:
        opset = 19
    else:
        opset = 21
    x = rand(*shape)
    attrs = {**attrs, **extra}
    close(call(op, [x], attrs, opset=opset)[0], reference(op, [x], attrs, opset=opset)[0], rtol=1e-6, atol=1e-7)


def test_maxpool_nan_and_indices(lib):
    x = rand(1, 1, 8, 8)
    x[0, 0, 3, 4] = np.nan
    got = call("MaxPool", [x], {"kernel_shape": [3, 3]})[0]
    assert np.isnan(got[0, 0, 1:4, 2:5]).all() and np.isfinite(got[0, 0, 4:, :2]).all()
    y, idx = call("MaxPool", [rand(1, 2, 5, 5)], {"kernel_shape": [2, 2]}, num_outputs=2)
    assert idx.dtype == np.int64 and y.shape == idx.shape == (1, 2, 4, 4)


@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (2, 5, 7, 9), (1, 4, 33), (1, 2, 3, 4, 5)])
@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pool(lib, shape, op):
    x = rand(*shape)
    close(call(op, [x])[0], reference(op, [x])[0], rtol=1e-6, atol=1e-7)


# ---- softmax, layer normalization, reductions, transpose ----------------------------------------------

@pytest.mark.parametrize("shape, axis", [((7,), 0), ((3, 13), -1), ((2, 5, 6), 1), ((2, 3, 4, 5), 0),
                                         ((1, 12, 128, 128), -1), ((4, 3, 2), 2)])
@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("opset", [11, 13])
def test_softmax(lib, shape, axis, op, opset):
    x = rand(*shape, scale=5)
    # log-softmax subtracts a shift of about 20 here: a few ulp of it absolute
    close(call(op, [x], {"axis": axis}, opset=opset)[0], reference(op, [x], {"axis": axis}, opset=opset)[0],
          rtol=1e-5, atol=5e-6)


def test_softmax_extremes(lib):
    x = np.array([[1e30, 0, -1e30, 3], [-np.inf, 1, 2, -np.inf], [50, 50, 50, 50]], np.float32)
    close(call("Softmax", [x])[0], reference("Softmax", [x])[0], rtol=1e-6, atol=0)


@pytest.mark.parametrize("shape, axis", [((2, 5), -1), ((3, 4, 6), 1), ((2, 3, 384), -1), ((5, 7), 0)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_layer_norm(lib, shape, axis, with_bias):
    x = rand(*shape, scale=3) + 1.5
    normalized = shape[axis:] if axis >= 0 else shape[axis:]
    inputs = [x, rand(*normalized)] + ([rand(*normalized)] if with_bias else [])
    attrs = {"axis": axis, "epsilon": 1e-3}
    got = call("LayerNormalization", inputs, attrs, opset=17, num_outputs=3)
    want = reference("LayerNormalization", inputs, attrs, opset=17, num_outputs=3)
    for g, w in zip(got, want):
        close(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape, axes", [((7,), [0]), ((3, 5), [1]), ((3, 5), [0]), ((2, 3, 4), [0, 2]),
                                         ((2, 3, 4, 5), [1, 2]), ((2, 1, 4, 5), [0, 2]),
                                         ((3, 2, 5, 3), [0, 1, 3]), ((5, 6, 7), [-1])])
@pytest.mark.parametrize("op", list(wk.REDUCE))
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reductions(lib, shape, axes, op, keepdims):
    x = rand(*shape) + (2.0 if op in ("ReduceLogSum", "ReduceProd") else 0.0)
    if op == "ReduceLogSum":
        x = np.abs(x)
    attrs = {"keepdims": keepdims}
    inputs = [x, np.array(axes, np.int64)]
    opset = 18
    close(call(op, inputs, attrs, opset=opset)[0], reference(op, inputs, attrs, opset=opset)[0],
          rtol=2e-6, atol=1e-6)
    close(call(op, [x], {**attrs, "axes": axes}, opset=11)[0],
          reference(op, [x], {**attrs, "axes": axes}, opset=11)[0], rtol=2e-6, atol=1e-6)


def test_reduction_edges(lib):
    x = rand(2, 3)
    # no axes: everything, or (noop_with_empty_axes) the numpy kernel's answer
    close(call("ReduceMean", [x], {}, opset=18)[0], reference("ReduceMean", [x], {}, opset=18)[0])
    close(call("ReduceL2", [x, np.array([], np.int64)], {"noop_with_empty_axes": 1}, opset=18)[0],
          np.abs(x).astype(np.float64))
    empty = np.zeros((2, 0), np.float32)
    assert call("ReduceMax", [empty, np.array([1], np.int64)], opset=18)[0].tolist() == [[-np.inf], [-np.inf]]
    big = np.full((3, 4), 1e30, np.float32)
    big[0, 0] = np.inf
    close(call("ReduceLogSumExp", [big, np.array([1], np.int64)], opset=18)[0],
          reference("ReduceLogSumExp", [big, np.array([1], np.int64)], opset=18)[0], rtol=1e-6)


@pytest.mark.parametrize("shape, perm", [((5,), None), ((3, 4), None), ((13, 9), [1, 0]), ((2, 3, 4), [2, 0, 1]),
                                         ((2, 3, 4, 5), [0, 2, 1, 3]), ((1, 128, 12, 32), [0, 2, 1, 3]),
                                         ((2, 1, 3, 1, 4, 5), [5, 4, 3, 2, 1, 0]),
                                         ((2, 3, 2, 3, 2, 3, 2), [6, 4, 2, 0, 1, 3, 5])])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
def test_transpose(lib, shape, perm, dtype):
    x = (RNG.standard_normal(shape) * 100).astype(dtype)
    got = call("Transpose", [x], {} if perm is None else {"perm": perm})[0]
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, np.transpose(x, perm))


# ---- sessions ---------------------------------------------------------------------------------------

def _model(nodes, inputs, outputs, initializers=(), opset=18):
    from onnx import helper, numpy_helper

    graph = helper.make_graph(nodes, "g", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    return model.SerializeToString()


def test_session_placement_and_fusion(lib):
    import pywebinfer
    from onnx import TensorProto, helper

    w, b = rand(8, 4, 3, 3), rand(8)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Clip", ["c", "lo", "hi"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Softmax", ["f"], ["y"])]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                   [("w", w), ("b", b), ("lo", np.float32(0)), ("hi", np.float32(6))])
    x = rand(1, 4, 6, 6)
    sess = pywebinfer.InferenceSession(model, providers=["wasm", "numpy"])
    placed = {op: backend for _, op, backend in sess.placement}
    assert placed == {"FusedConv": "wasm", "Flatten": "numpy", "Softmax": "wasm"}
    want = pywebinfer.InferenceSession(model, providers=["numpy"]).run(None, {"x": x})[0]
    for _ in range(2):  # packed weights are reused
        close(sess.run(None, {"x": x})[0], want.astype(np.float64), rtol=1e-5, atol=1e-6)
    sess.close()
    with pytest.raises(pywebinfer.UnsupportedOpError, match="Flatten"):
        pywebinfer.InferenceSession(model, providers=["wasm"])


def test_session_close_frees_packed_weights(lib):
    import pywebinfer
    from onnx import TensorProto, helper

    gc.collect()
    before = lib.in_use()
    model = _model([helper.make_node("MatMul", ["x", "w"], ["y"])],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 300])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [("w", rand(300, 500))])
    sess = pywebinfer.InferenceSession(model, providers=["wasm"])
    assert lib.in_use() >= before + 300 * 504 * 4
    sess.run(None, {"x": rand(2, 300)})
    sess.close()
    gc.collect()
    assert lib.in_use() == before


@pytest.mark.parametrize("name", ["squeezenet", "shufflenet", "inception_v1"])
def test_light_models_with_numpy_for_the_rest(lib, name):
    """The onnx wheel's CNN graphs (pooling with ceil mode, grouped convolutions, LRN and
    Concat on numpy) against their stored outputs."""
    import onnx
    import pywebinfer
    from pywebinfer.onnx.importer import load_value

    base = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", f"light_{name}")
    sess = pywebinfer.InferenceSession(base + ".onnx", providers=["wasm", "numpy"])
    arg = sess.get_inputs()[0]
    shape = tuple(d if isinstance(d, int) else 1 for d in arg.shape)
    n = math.prod(shape)
    # the onnx backend runner's input: a ramp 0, 1/n, 2/n, ...
    got = sess.run(None, {arg.name: (np.arange(n).reshape(shape) / n).astype(np.float32)})[0]
    np.testing.assert_allclose(got, load_value(base + "_output_0.pb"), rtol=1e-3, atol=1e-5)
    assert "wasm" in {backend for _, _, backend in sess.placement}


def test_wasm_backend_is_available_here(lib):
    from pywebinfer import backends
    from pywebinfer.backends.wasm import available

    assert available()
    assert backends.create("wasm").name == "wasm"


def test_every_wasm_kernel_notes_its_numpy_fallback(lib):
    entries = list(REGISTRY.entries("wasm"))
    assert len({e.op_type for e in entries}) >= 40
    assert all("numpy kernel" in e.note for e in entries)
