/* pywebinfer's WebAssembly kernels: what every source file shares.
 *
 * The library is freestanding (no libc, no libm): every function takes plain pointers
 * into linear memory and sizes, allocates nothing and keeps no state between calls, so
 * one module works as a Pyodide side module (pointers of numpy arrays) and under
 * wasmtime (pointers into memory the host owns).  Scratch space comes from the caller
 * in ``ws`` (see pwi_workspace_floats), which keeps a future worker-per-thread pool
 * free of shared static buffers.
 *
 * float32 throughout.  The math functions below are written for this library; their
 * polynomial coefficients were fitted at Chebyshev nodes against float64 references
 * (error: exp and log about 1 ulp, erf and tanh under 3e-7 absolute).
 */
#ifndef PWI_H
#define PWI_H

#include <stdint.h>
#include <wasm_simd128.h>

#define PWI_EXPORT __attribute__((visibility("default")))
#define PWI_INLINE static inline __attribute__((always_inline))

typedef v128_t f4;

/* Activations: fused epilogues (Conv/Gemm/MatMul) and the unary ops share these codes.
 * The Python side has the same table (pywebinfer/backends/wasm/kernels.py). */
enum {
    ACT_NONE = 0,
    ACT_RELU = 1,
    ACT_LEAKY_RELU = 2,   /* a: alpha */
    ACT_CLIP = 3,         /* a: low, b: high (+-inf when absent) */
    ACT_SIGMOID = 4,
    ACT_HARD_SIGMOID = 5, /* a: alpha, b: beta */
    ACT_HARD_SWISH = 6,
    ACT_SILU = 7,
    ACT_TANH = 8,
    ACT_GELU = 9,         /* erf form */
    ACT_GELU_TANH = 10,
    ACT_ELU = 11,         /* a: alpha */
    ACT_SOFTPLUS = 12,
    ACT_EXP = 13,
    ACT_LOG = 14,
    ACT_ERF = 15,
    ACT_SQRT = 16,
    ACT_ABS = 17,
    ACT_NEG = 18,
    ACT_RECIPROCAL = 19,
    ACT_SOFTSIGN = 20,
};

PWI_INLINE f4 splat(float v) { return wasm_f32x4_splat(v); }
PWI_INLINE f4 fadd(f4 a, f4 b) { return wasm_f32x4_add(a, b); }
PWI_INLINE f4 fsub(f4 a, f4 b) { return wasm_f32x4_sub(a, b); }
PWI_INLINE f4 fmul(f4 a, f4 b) { return wasm_f32x4_mul(a, b); }
PWI_INLINE f4 fdiv(f4 a, f4 b) { return wasm_f32x4_div(a, b); }
/* acc + a * b.  The relaxed build (-mrelaxed-simd: pywebinfer_kernels_relaxed.wasm and
 * _mt_relaxed.wasm) uses f32x4.relaxed_madd, which engines lower to one FMA where the CPU
 * has it (twice the mul+add throughput on 2-FP-port x86) and to mul+add elsewhere: the
 * result of each step differs by one rounding at most.  clang 16's header has no wrapper yet, so the
 * builtin.  The plain build has no FMA instruction (SIMD128). */
#ifdef __wasm_relaxed_simd__
PWI_INLINE f4 fmadd(f4 acc, f4 a, f4 b) { return __builtin_wasm_relaxed_madd_f32x4(a, b, acc); }
#else
PWI_INLINE f4 fmadd(f4 acc, f4 a, f4 b) { return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b)); }
#endif
PWI_INLINE f4 load4(const float *p) { return wasm_v128_load(p); }
PWI_INLINE void store4(float *p, f4 v) { wasm_v128_store(p, v); }
/* Comparisons and selections that keep NaN where numpy keeps it */
PWI_INLINE f4 select4(f4 mask, f4 if_true, f4 if_false) { return wasm_v128_bitselect(if_true, if_false, mask); }
/* lanes 0..n-1 of p (n < 4), zeros after */
PWI_INLINE f4 load_part(const float *p, int n) {
    f4 v = wasm_f32x4_splat(0.0f);
    if (n > 0) v = wasm_v128_load32_lane(p, v, 0);
    if (n > 1) v = wasm_v128_load32_lane(p + 1, v, 1);
    if (n > 2) v = wasm_v128_load32_lane(p + 2, v, 2);
    return v;
}
PWI_INLINE void store_part(float *p, f4 v, int n) {
    if (n > 0) wasm_v128_store32_lane(p, v, 0);
    if (n > 1) wasm_v128_store32_lane(p + 1, v, 1);
    if (n > 2) wasm_v128_store32_lane(p + 2, v, 2);
}
PWI_INLINE float hsum(f4 v) {
    f4 s = fadd(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
    s = fadd(s, wasm_i32x4_shuffle(s, s, 1, 0, 3, 2));
    return wasm_f32x4_extract_lane(s, 0);
}
PWI_INLINE float hmax(f4 v) {
    f4 s = wasm_f32x4_max(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
    s = wasm_f32x4_max(s, wasm_i32x4_shuffle(s, s, 1, 0, 3, 2));
    return wasm_f32x4_extract_lane(s, 0);
}
PWI_INLINE float hmin(f4 v) {
    f4 s = wasm_f32x4_min(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
    s = wasm_f32x4_min(s, wasm_i32x4_shuffle(s, s, 1, 0, 3, 2));
    return wasm_f32x4_extract_lane(s, 0);
}

/* ---- math ---------------------------------------------------------------------------- */

/* e^x: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two so n ln2 is exact), e^r by a
 * degree-6 polynomial, 2^n put in the exponent bits.  Above 89 the scaling by 2^n
 * overflows to inf by itself.  Results below float32's normal range are 0: computing
 * subnormals costs a microcode assist per lane on x86 (100+ cycles), which made a GELU
 * epilogue over large negative values several times slower than the GEMM under it.
 * n is rounded by adding 1.5 * 2^23, which leaves it in the low mantissa bits: cheaper in
 * V8 than f32x4.nearest and i32x4.trunc_sat.  NaN stays NaN (pmin/pmax return their
 * first operand when it is NaN, and the comparison is false for it). */
PWI_INLINE f4 exp4(f4 x) {
    const f4 magic = splat(12582912.0f);
    f4 tiny = wasm_f32x4_lt(x, splat(-87.33654f));
    x = wasm_f32x4_pmax(wasm_f32x4_pmin(x, splat(89.0f)), splat(-87.33654f));
    f4 k = fadd(fmul(x, splat(1.44269504f)), magic);
    f4 n = fsub(k, magic);
    f4 r = fsub(x, fmul(n, splat(0.693359375f)));
    r = fsub(r, fmul(n, splat(-2.12194440e-4f)));
    f4 p = splat(0.0013933643f);
    p = fmadd(splat(0.008363175f), p, r);
    p = fmadd(splat(0.041666467f), p, r);
    p = fmadd(splat(0.16666576f), p, r);
    p = fmadd(splat(0.5f), p, r);
    p = fadd(fadd(splat(1.0f), r), fmul(fmul(r, r), p));
    /* n is in [-126, 128]: scale in two steps so that neither factor leaves the normal range */
    v128_t ni = wasm_i32x4_sub(k, wasm_i32x4_splat(0x4B400000));
    v128_t half = wasm_i32x4_shr(ni, 1);
    f4 s1 = wasm_i32x4_shl(wasm_i32x4_add(half, wasm_i32x4_splat(127)), 23);
    f4 s2 = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_sub(ni, half), wasm_i32x4_splat(127)), 23);
    return wasm_v128_andnot(fmul(fmul(p, s1), s2), tiny);
}

/* ln x: x = m 2^e with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s), s = (m-1)/(m+1),
 * |s| <= 0.172, by its odd series to s^9.  Subnormals are scaled up first. */
PWI_INLINE f4 log4(f4 x) {
    f4 sub = wasm_f32x4_lt(x, splat(1.17549435e-38f));
    f4 xs = select4(sub, fmul(x, splat(16777216.0f)), x); /* 2^24 */
    v128_t bits = xs;
    v128_t e = wasm_i32x4_sub(wasm_u32x4_shr(bits, 23), wasm_i32x4_splat(127));
    f4 m = wasm_v128_or(wasm_v128_and(bits, wasm_i32x4_splat(0x007fffff)), wasm_i32x4_splat(0x3f800000));
    f4 big = wasm_f32x4_gt(m, splat(1.41421356f));
    m = select4(big, fmul(m, splat(0.5f)), m);
    e = wasm_i32x4_sub(e, big); /* big is -1 in its lanes */
    f4 ef = wasm_f32x4_convert_i32x4(e);
    ef = select4(sub, fsub(ef, splat(24.0f)), ef);
    f4 s = fdiv(fsub(m, splat(1.0f)), fadd(m, splat(1.0f)));
    f4 s2 = fmul(s, s);
    f4 p = splat(2.0f / 9.0f);
    p = fmadd(splat(2.0f / 7.0f), p, s2);
    p = fmadd(splat(2.0f / 5.0f), p, s2);
    p = fmadd(splat(2.0f / 3.0f), p, s2);
    p = fmadd(splat(2.0f), p, s2);
    f4 y = fadd(fmul(s, p), fmul(ef, splat(0.693147181f)));
    /* log 0 = -inf, log of a negative number or NaN = NaN, log inf = inf */
    y = select4(wasm_f32x4_eq(x, splat(0.0f)), splat(-__builtin_inff()), y);
    y = select4(wasm_f32x4_lt(x, splat(0.0f)), splat(__builtin_nanf("")), y);
    y = select4(wasm_f32x4_eq(x, splat(__builtin_inff())), x, y);
    return select4(wasm_f32x4_ne(x, x), x, y);
}

/* erf: x P(x^2) for |x| < 1; 1 - e^(-x^2) Q(1/|x|) up to 4, where Q fits erfc(x) e^(x^2);
 * 1 beyond (erf(4) rounds to 1 in float32). */
PWI_INLINE f4 erf4(f4 x) {
    f4 ax = wasm_f32x4_abs(x);
    f4 u = fmul(x, x);
    f4 p = splat(7.933494e-05f);
    p = fmadd(splat(-0.0008034846f), p, u);
    p = fmadd(splat(0.0051912186f), p, u);
    p = fmadd(splat(-0.0268554f), p, u);
    p = fmadd(splat(0.11283626f), p, u);
    p = fmadd(splat(-0.3761263f), p, u);
    p = fmadd(splat(1.1283792f), p, u);
    f4 small = fmul(x, p);
    f4 t = fdiv(splat(1.0f), wasm_f32x4_pmax(ax, splat(1.0f)));
    f4 q = splat(0.028223218f);
    q = fmadd(splat(-0.16586222f), q, t);
    q = fmadd(splat(0.404802f), q, t);
    q = fmadd(splat(-0.4910223f), q, t);
    q = fmadd(splat(0.19884866f), q, t);
    q = fmadd(splat(0.25239912f), q, t);
    q = fmadd(splat(-0.3838005f), q, t);
    q = fmadd(splat(0.022321135f), q, t);
    q = fmadd(splat(0.56154096f), q, t);
    q = fmadd(splat(0.00013351183f), q, t);
    f4 large = fsub(splat(1.0f), fmul(exp4(wasm_f32x4_neg(wasm_f32x4_pmin(u, splat(16.0f)))), q));
    large = select4(wasm_f32x4_ge(ax, splat(4.0f)), splat(1.0f), large);
    large = wasm_v128_or(large, wasm_v128_and(x, wasm_i32x4_splat((int32_t)0x80000000))); /* sign of x */
    return select4(wasm_f32x4_lt(ax, splat(1.0f)), small, select4(wasm_f32x4_ne(x, x), x, large));
}

/* tanh: x + x^3 P(x^2) for |x| < 0.625, else sign(x) (1 - 2 / (e^(2|x|) + 1)) */
PWI_INLINE f4 tanh4(f4 x) {
    f4 ax = wasm_f32x4_abs(x);
    f4 u = fmul(x, x);
    f4 p = splat(-0.006161397f);
    p = fmadd(splat(0.021051042f), p, u);
    p = fmadd(splat(-0.053865444f), p, u);
    p = fmadd(splat(0.13332906f), p, u);
    p = fmadd(splat(-0.33333331f), p, u);
    f4 small = fadd(x, fmul(fmul(x, u), p));
    f4 e = exp4(fmul(splat(2.0f), ax));
    f4 large = fsub(splat(1.0f), fdiv(splat(2.0f), fadd(e, splat(1.0f))));
    large = wasm_v128_or(large, wasm_v128_and(x, wasm_i32x4_splat((int32_t)0x80000000)));
    return select4(wasm_f32x4_lt(ax, splat(0.625f)), small, select4(wasm_f32x4_ne(x, x), x, large));
}

/* 1 / (1 + e^-x), from e^-|x| so it neither overflows nor loses small results */
PWI_INLINE f4 sigmoid4(f4 x) {
    f4 e = exp4(wasm_f32x4_neg(wasm_f32x4_abs(x)));
    f4 r = fdiv(splat(1.0f), fadd(splat(1.0f), e));
    return select4(wasm_f32x4_ge(x, splat(0.0f)), r, fmul(e, r));
}

/* e^x - 1 for x <= 0 (Elu): e^x - 1 loses digits near 0, where x + x^2/2 + x^3/6 + x^4/24
 * is better */
PWI_INLINE f4 expm1_neg4(f4 x) {
    f4 series = fmul(x, fadd(splat(1.0f), fmul(x, fadd(splat(0.5f), fmul(x, fadd(splat(1.0f / 6.0f),
                                                                     fmul(x, splat(1.0f / 24.0f))))))));
    f4 direct = fsub(exp4(x), splat(1.0f));
    return select4(wasm_f32x4_gt(x, splat(-0.01f)), series, direct);
}

/* GELU (erf form) as x Phi(x), Phi(x) from erfc(|x| / sqrt 2) = t e^(P(t) - z^2),
 * t = 1 / (1 + z/2): the Chebyshev fit of erfc in Press et al., "Numerical Recipes"
 * (relative error < 1.2e-7).  Cheaper than erf4, and Phi of a negative x comes without
 * the cancellation of 1 + erf(x). */
PWI_INLINE f4 gelu4(f4 x) {
    f4 z = fmul(wasm_f32x4_abs(x), splat(0.70710678f));
    /* Phi(-|x|) < 1e-37 beyond z = 9: 0, without computing subnormals on the way */
    f4 far = wasm_f32x4_gt(z, splat(9.0f));
    z = wasm_f32x4_pmin(z, splat(9.0f));
    f4 t = fdiv(splat(1.0f), fadd(splat(1.0f), fmul(splat(0.5f), z)));
    f4 p = splat(0.17087277f);
    p = fmadd(splat(-0.82215223f), p, t);
    p = fmadd(splat(1.48851587f), p, t);
    p = fmadd(splat(-1.13520398f), p, t);
    p = fmadd(splat(0.27886807f), p, t);
    p = fmadd(splat(-0.18628806f), p, t);
    p = fmadd(splat(0.09678418f), p, t);
    p = fmadd(splat(0.37409196f), p, t);
    p = fmadd(splat(1.00002368f), p, t);
    p = fmadd(splat(-1.26551223f), p, t);
    f4 q = wasm_v128_andnot(fmul(fmul(splat(0.5f), t), exp4(fsub(p, fmul(z, z)))), far); /* Phi(-|x|) */
    return fmul(x, select4(wasm_f32x4_lt(x, splat(0.0f)), q, fsub(splat(1.0f), q)));
}

/* The activation ``kind`` on four lanes.  Lower bounds and upper bounds use pmax / pmin
 * (one x86 instruction each in V8, where f32x4.max / min take about seven) with the
 * value as first operand, which they return when it is NaN.  Callers hoist the switch
 * out of long loops (see eltwise.c); epilogues call it once per tile row. */
PWI_INLINE f4 activate4(f4 v, int kind, float a, float b) {
    switch (kind) {
    case ACT_RELU: {
        return wasm_f32x4_pmax(v, splat(0.0f));
    }
    case ACT_LEAKY_RELU:
        return select4(wasm_f32x4_lt(v, splat(0.0f)), fmul(v, splat(a)), v);
    case ACT_CLIP:
        if (a != a || b != b) /* a NaN bound makes every result NaN, as in numpy */
            return wasm_f32x4_min(wasm_f32x4_max(v, splat(a)), splat(b));
        return wasm_f32x4_pmin(wasm_f32x4_pmax(v, splat(a)), splat(b));
    case ACT_SIGMOID:
        return sigmoid4(v);
    case ACT_HARD_SIGMOID:
        return wasm_f32x4_pmin(wasm_f32x4_pmax(fadd(fmul(v, splat(a)), splat(b)), splat(0.0f)), splat(1.0f));
    case ACT_HARD_SWISH: {
        f4 g = fadd(fmul(v, splat(1.0f / 6.0f)), splat(0.5f));
        return fmul(v, wasm_f32x4_pmin(wasm_f32x4_pmax(g, splat(0.0f)), splat(1.0f)));
    }
    case ACT_SILU:
        return fmul(v, sigmoid4(v));
    case ACT_TANH:
        return tanh4(v);
    case ACT_GELU:
        return gelu4(v);
    case ACT_GELU_TANH: {
        f4 inner = fmul(splat(0.79788456f), fadd(v, fmul(splat(0.044715f), fmul(v, fmul(v, v)))));
        return fmul(fmul(splat(0.5f), v), fadd(splat(1.0f), tanh4(inner)));
    }
    case ACT_ELU: {
        f4 neg = fmul(splat(a), expm1_neg4(wasm_f32x4_pmin(v, splat(0.0f))));
        return select4(wasm_f32x4_lt(v, splat(0.0f)), neg, v);
    }
    case ACT_SOFTPLUS: {
        /* log(1 + e^x) = max(x, 0) + log(1 + e^-|x|) */
        f4 t = log4(fadd(splat(1.0f), exp4(wasm_f32x4_neg(wasm_f32x4_abs(v)))));
        return fadd(wasm_f32x4_pmax(v, splat(0.0f)), t);
    }
    case ACT_EXP:
        return exp4(v);
    case ACT_LOG:
        return log4(v);
    case ACT_ERF:
        return erf4(v);
    case ACT_SQRT:
        return wasm_f32x4_sqrt(v);
    case ACT_ABS:
        return wasm_f32x4_abs(v);
    case ACT_NEG:
        return wasm_f32x4_neg(v);
    case ACT_RECIPROCAL:
        return fdiv(splat(1.0f), v);
    case ACT_SOFTSIGN:
        return fdiv(v, fadd(splat(1.0f), wasm_f32x4_abs(v)));
    default:
        return v;
    }
}

/* ---- GEMM shared with conv.c ---------------------------------------------------------- */

/* rows of the register tile: 8 accumulators + 2 B + 1 A = 11 live vectors.  The FMA build
 * keeps 4x8: a 5x8 tile (13 live vectors with FMA) ran its bare loop faster in Chromium
 * (52-54 against 44-50 GFLOP/s), but the compiled SGEMM slower (31-32 against 37-38 at best,
 * 26 with clang's default schedule, which loads all five A values first): README, Relaxed SIMD */
#define MR 4
#define NR 8   /* columns of the register tile */
#define KC 256 /* depth of one packed block: a B micro-panel is 8 KiB, it stays in L1 */
#define MC 64  /* rows of a packed A block (64 KiB) */
#define NC 512 /* columns of a packed B block (512 KiB) */

/* Where the right operand of a GEMM comes from */
typedef struct {
    int kind; /* B_STRIDED, B_PACKED, B_IM2COL */
    const float *p;
    int rs, cs; /* B_STRIDED: element (k, j) at p[k*rs + j*cs]; B_PACKED: K of the panels */
    /* B_IM2COL: the input planes of one image and group, and the geometry */
    int H, W, KH, KW, SH, SW, PT, PL, DH, DW, OW;
} bsrc_t;

enum { B_STRIDED = 0, B_PACKED = 1, B_IM2COL = 2 };

/* What is done to each output value: y = act(alpha * acc + bias + beta * z) */
typedef struct {
    float alpha, beta;
    const float *bias; /* indexed by row (BIAS_ROW) or column (BIAS_COL) */
    int bias_mode;
    const float *z; /* z[i * z_rs + j * z_cs], z_cs is 0 or 1; NULL for none */
    int z_rs, z_cs;
    int act;
    float act_a, act_b;
} epi_t;

enum { BIAS_NONE = 0, BIAS_ROW = 1, BIAS_COL = 2 };

/* C (M x N, row stride ldc) = epilogue(A B); A is packed (pwi_pack_a layout, K deep)
 * when a_packed, else element (i, k) is at a[i*a_rs + k*a_cs]. */
void pwi_gemm_core(int M, int N, int K, const float *a, int a_rs, int a_cs, int a_packed,
                   const bsrc_t *b, float *c, int ldc, const epi_t *epi, float *ws);

PWI_EXPORT int pwi_workspace_floats(void);

/* A (M x K, element (i, k) at a[i*rs + k*cs]) into the packed layout of all K */
PWI_EXPORT void pwi_pack_a(int M, int K, const float *a, int rs, int cs, float *dst);

/* Activations of a few vector instructions are applied in registers, inside epilogues;
 * the others (exp, erf, division) need so many temporaries that V8 spills the tile's
 * accumulators around them: they run over the stored tile instead (pwi_activate_block). */
PWI_INLINE int act_cheap(int kind) {
    return kind == ACT_NONE || kind == ACT_RELU || kind == ACT_LEAKY_RELU || kind == ACT_CLIP ||
           kind == ACT_HARD_SIGMOID || kind == ACT_HARD_SWISH || kind == ACT_ABS || kind == ACT_NEG;
}

/* c[i * ldc + j] = act(c[i * ldc + j]) over rows x cols, in place (eltwise.c) */
void pwi_activate_block(float *c, int ldc, int rows, int cols, int kind, float a, float b);

/* Apply the epilogue to rows i0.. i0+rows-1, columns j0.. j0+cols-1 of C */
void pwi_epilogue_block(float *c, int ldc, int i0, int j0, int rows, int cols, const epi_t *epi);

#endif
