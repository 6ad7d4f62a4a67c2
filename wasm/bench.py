"""Speed of the kernel module under wasmtime (CPython, no browser): GFLOP/s per family.

    .venv/bin/python wasm/bench.py [--reps 5] [--kernels plain|relaxed]

Times are thread CPU time, best of ``reps`` calls, with the operands already resident in
the module's memory, so they measure the kernels and not the copies of the wasmtime
route (which Pyodide's zero-copy route does not make).  wasmtime runs this code at
about 70 % of V8's speed; the browser benchmark measures Chromium itself.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pywebinfer.backends.wasm.module import choose_variant, load_library, wasmtime_engine  # noqa: E402

RNG = np.random.default_rng(0)


def _peak_wat(fma: bool = False) -> str:
    """The 4x8 register tile's inner loop alone (2 B loads, 4 A broadcasts, 8 mul+add per
    step, or 8 relaxed_madd with ``fma``) on data in L1: the most any SGEMM built on it
    can reach on this machine now."""
    steps = []
    for r in range(4):
        steps.append(f"(local.set $a (v128.load32_splat offset={32 + 4 * r} (local.get $p)))")
        for h in range(2):
            acc = f"$c{2 * r + h}"
            if fma:
                steps.append(f"(local.set {acc} (f32x4.relaxed_madd (local.get $a) (local.get $b{h}) (local.get {acc})))")
            else:
                steps.append(f"(local.set {acc} (f32x4.add (local.get {acc}) (f32x4.mul (local.get $a) (local.get $b{h}))))")
    accs = " ".join(f"(local ${n} v128)" for n in ("a", "b0", "b1", *(f"c{i}" for i in range(8))))
    total = "(local.get $c0)"
    for i in range(1, 8):
        total = f"(f32x4.add {total} (local.get $c{i}))"
    return f"""(module (memory 1)
  (func (export "peak") (param $iters i32) (local $k i32) (local $p i32) {accs}
    (loop $outer
      (local.set $k (i32.const 256))
      (loop $inner
        (local.set $p (i32.shl (i32.and (local.get $k) (i32.const 63)) (i32.const 6)))
        (local.set $b0 (v128.load (local.get $p)))
        (local.set $b1 (v128.load offset=16 (local.get $p)))
        {" ".join(steps)}
        (br_if $inner (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))
      (br_if $outer (local.tee $iters (i32.sub (local.get $iters) (i32.const 1)))))
    (v128.store (i32.const 0) {total})))"""


def peak(reps: int, fma: bool = False) -> float:
    import wasmtime

    store = wasmtime.Store(wasmtime_engine())
    module = wasmtime.Module(store.engine, wasmtime.wat2wasm(_peak_wat(fma)))
    run = wasmtime.Instance(store, module, []).exports(store)["peak"]
    iters = 20000
    return iters * 256 * 64 / best_time(lambda: run(store, iters), reps) / 1e9


def best_time(fn, reps: int) -> float:
    fn()
    best = float("inf")
    for _ in range(reps):
        t = time.thread_time()
        fn()
        best = min(best, time.thread_time() - t)
    return best


def resident(lib, *shape):
    return lib.resident(RNG.standard_normal(shape).astype(np.float32))


def gemm(lib, M, N, K, packed_b: bool, reps: int, act: int = 0) -> float:
    a, b, c = resident(lib, M, K), resident(lib, K, N), lib.empty(M * N * 4)
    packed = 0
    if packed_b:
        pb = lib.empty(-(-N // 8) * 8 * K * 4)
        lib.call("pwi_pack_b", K, N, b, N, 1, pb)
        b, packed = pb, 2
    seconds = best_time(lambda: lib.call(
        "pwi_gemm", 1, M, N, K, a, 0, K, 1, b, 0, N, 1, packed, c, 0, N, 1.0, None, 0, None, 0, 0, 0, 1.0,
        act, 0.0, 0.0, lib.workspace), reps)
    return 2 * M * N * K / seconds / 1e9


def conv(lib, C, H, M, k, stride, group, reps: int) -> float:
    pad = k // 2
    OH = (H + 2 * pad - k) // stride + 1
    x, w, y = resident(lib, 1, C, H, H), resident(lib, M, C // group, k, k), lib.empty(M * OH * OH * 4)
    packed = 0
    if C // group > 1:
        K = C // group * k * k
        pw = lib.empty(group * (-(-(M // group) // 4) * 4) * K * 4)
        lib.call("pwi_pack_conv_weights", w, M, group, K, pw)
        w, packed = pw, 1
    seconds = best_time(lambda: lib.call(
        "pwi_conv2d", x, 1, C, H, H, w, packed, M, group, k, k, stride, stride, pad, pad, 1, 1, OH, OH, y,
        None, None, 1, 0.0, 0.0, lib.workspace), reps)
    return 2 * M * (C // group) * k * k * OH * OH / seconds / 1e9


def elementwise(lib, name: str, n: int, reps: int) -> float:
    """Gigaelements per second"""
    x, y = resident(lib, n), lib.empty(n * 4)
    codes = {"relu": 1, "sigmoid": 4, "gelu": 9, "exp": 13}
    if name == "add":
        b = resident(lib, n)
        fn = lambda: lib.call("pwi_binary", 0, y, x, b, 1, 1, 1, n, 0, 0, 0, 1, 0, 0, 0, 1)  # noqa: E731
    elif name == "softmax":
        fn = lambda: lib.call("pwi_softmax", 0, x, y, n // 128, 128, 1)  # noqa: E731
    else:
        fn = lambda: lib.call("pwi_unary", codes[name], 0.0, 0.0, x, y, n)  # noqa: E731
    return n / best_time(fn, reps) / 1e9


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--kernels", choices=("plain", "relaxed"), default=None,
                    help="the build to measure (default: what the loader picks, relaxed where supported)")
    args = ap.parse_args(argv)
    lib = load_library(args.kernels or choose_variant())
    print(f"{lib.variant} kernel module under {lib.route}; thread CPU time, best of {args.reps}")
    print(f"peak of the 4x8 mul+add loop alone: {peak(args.reps):6.1f} GFLOP/s")
    if lib.variant == "relaxed":
        print(f"peak of the 4x8 relaxed_madd loop alone: {peak(args.reps, fma=True):6.1f} GFLOP/s")
    for M, N, K in ((512, 512, 512), (256, 256, 256), (128, 3136, 64), (384, 1536, 128)):
        print(f"sgemm {M}x{N}x{K}: {gemm(lib, M, N, K, False, args.reps):6.1f} GFLOP/s, "
              f"B packed: {gemm(lib, M, N, K, True, args.reps):6.1f} GFLOP/s")
    # MiniLM's feed-forward block, 4 sentences x 11 tokens: the first product ends in GELU
    print(f"sgemm 44x1536x384 B packed: {gemm(lib, 44, 1536, 384, True, args.reps):6.1f} GFLOP/s, "
          f"with the GELU epilogue: {gemm(lib, 44, 1536, 384, True, args.reps, act=9):6.1f} GFLOP/s")
    for N, K in ((1000, 1280), (1536, 384)):
        print(f"gemv 1x{N}x{K} (B packed): {gemm(lib, 1, N, K, True, args.reps):6.1f} GFLOP/s")
    for label, shape in (("conv 1x1 96->24 @56", (96, 56, 24, 1, 1, 1)), ("conv 3x3 s2 3->32 @224", (3, 224, 32, 3, 2, 1)),
                         ("conv 3x3 64->64 @56", (64, 56, 64, 3, 1, 1)), ("depthwise 3x3 144 @56", (144, 56, 144, 3, 1, 144)),
                         ("depthwise 5x5 s2 240 @28", (240, 28, 240, 5, 2, 240))):
        print(f"{label}: {conv(lib, *shape, args.reps):6.1f} GFLOP/s")
    for name in ("add", "relu", "exp", "sigmoid", "gelu", "softmax"):
        print(f"{name} over 1M floats: {elementwise(lib, name, 1 << 20, args.reps):6.2f} Gelem/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
