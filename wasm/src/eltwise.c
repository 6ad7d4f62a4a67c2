/* Elementwise: unary activations and math, broadcasting binary arithmetic. */
#include "pwi.h"

enum { BIN_ADD = 0, BIN_SUB = 1, BIN_MUL = 2, BIN_DIV = 3, BIN_MAX = 4, BIN_MIN = 5, BIN_POW = 6 };

/* y[i] = f(x[i]) for the activation ``kind`` (with parameters a, b).  Each kind gets its
 * own loop: the switch is taken once per call, not once per vector. */
#define UNARY_LOOP(KIND)                                                                   \
    case KIND:                                                                             \
        for (; i + 4 <= n; i += 4) store4(y + i, activate4(load4(x + i), KIND, a, b));     \
        if (i < n) store_part(y + i, activate4(load_part(x + i, n - i), KIND, a, b), n - i); \
        return;

static void unary(int kind, float a, float b, const float *x, float *y, int n) {
    int i = 0;
    switch (kind) {
        UNARY_LOOP(ACT_RELU)
        UNARY_LOOP(ACT_LEAKY_RELU)
        UNARY_LOOP(ACT_CLIP)
        UNARY_LOOP(ACT_SIGMOID)
        UNARY_LOOP(ACT_HARD_SIGMOID)
        UNARY_LOOP(ACT_HARD_SWISH)
        UNARY_LOOP(ACT_SILU)
        UNARY_LOOP(ACT_TANH)
        UNARY_LOOP(ACT_GELU)
        UNARY_LOOP(ACT_GELU_TANH)
        UNARY_LOOP(ACT_ELU)
        UNARY_LOOP(ACT_SOFTPLUS)
        UNARY_LOOP(ACT_EXP)
        UNARY_LOOP(ACT_LOG)
        UNARY_LOOP(ACT_ERF)
        UNARY_LOOP(ACT_SQRT)
        UNARY_LOOP(ACT_ABS)
        UNARY_LOOP(ACT_NEG)
        UNARY_LOOP(ACT_RECIPROCAL)
        UNARY_LOOP(ACT_SOFTSIGN)
    default:
        for (; i < n; i++) y[i] = x[i];
    }
}

PWI_EXPORT void pwi_unary(int kind, float a, float b, const float *x, float *y, int n) {
    unary(kind, a, b, x, y, n);
}

void pwi_activate_block(float *c, int ldc, int rows, int cols, int kind, float a, float b) {
    if (kind == ACT_NONE) return;
    for (int i = 0; i < rows; i++) unary(kind, a, b, c + i * ldc, c + i * ldc, cols);
}

/* x^e: e^(e ln|x|), negative x only for integral e (odd e keeps the sign); 0^e and
 * the infinities by the C99 rules numpy follows */
PWI_INLINE f4 pow4(f4 x, f4 e) {
    f4 mag = exp4(fmul(e, log4(wasm_f32x4_abs(x))));
    f4 integral = wasm_f32x4_eq(wasm_f32x4_trunc(e), e);
    f4 half = fmul(e, splat(0.5f));
    f4 odd = wasm_v128_and(integral, wasm_f32x4_ne(wasm_f32x4_trunc(half), half));
    f4 neg = wasm_f32x4_lt(x, splat(0.0f));
    f4 r = select4(wasm_v128_and(neg, odd), wasm_f32x4_neg(mag), mag);
    r = select4(wasm_v128_andnot(neg, integral), splat(__builtin_nanf("")), r);
    /* x == 0: 0 for e > 0, inf for e < 0 (-inf for -0 and odd e), 1 for e == 0 */
    f4 zero = wasm_f32x4_eq(x, splat(0.0f));
    f4 zres = select4(wasm_f32x4_lt(e, splat(0.0f)), splat(__builtin_inff()), splat(0.0f));
    zres = wasm_v128_or(zres, wasm_v128_and(wasm_v128_and(x, odd), wasm_i32x4_splat((int32_t)0x80000000)));
    r = select4(zero, zres, r);
    r = select4(wasm_f32x4_eq(e, splat(0.0f)), splat(1.0f), r);       /* x^0 = 1, even NaN^0 */
    return select4(wasm_f32x4_eq(x, splat(1.0f)), splat(1.0f), r);  /* 1^e = 1, even 1^NaN */
}

PWI_INLINE f4 binary4(int op, f4 a, f4 b) {
    switch (op) {
    case BIN_ADD: return fadd(a, b);
    case BIN_SUB: return fsub(a, b);
    case BIN_MUL: return fmul(a, b);
    case BIN_DIV: return fdiv(a, b);
    case BIN_MAX: return wasm_f32x4_max(a, b);
    case BIN_MIN: return wasm_f32x4_min(a, b);
    default: return pow4(a, b);
    }
}

/* One innermost row: a and b step by sa, sb (0 = broadcast, 1 = contiguous) */
#define ROW_LOOP(OP)                                                                           \
    case OP:                                                                                   \
        if (sa && sb) {                                                                        \
            for (; i + 4 <= n; i += 4) store4(y + i, binary4(OP, load4(a + i), load4(b + i))); \
            if (i < n) store_part(y + i, binary4(OP, load_part(a + i, n - i), load_part(b + i, n - i)), n - i); \
        } else if (sa) {                                                                       \
            f4 bv = splat(b[0]);                                                               \
            for (; i + 4 <= n; i += 4) store4(y + i, binary4(OP, load4(a + i), bv));           \
            if (i < n) store_part(y + i, binary4(OP, load_part(a + i, n - i), bv), n - i);     \
        } else if (sb) {                                                                       \
            f4 av = splat(a[0]);                                                               \
            for (; i + 4 <= n; i += 4) store4(y + i, binary4(OP, av, load4(b + i)));           \
            if (i < n) store_part(y + i, binary4(OP, av, load_part(b + i, n - i)), n - i);     \
        } else {                                                                               \
            f4 v = binary4(OP, splat(a[0]), splat(b[0]));                                      \
            for (; i + 4 <= n; i += 4) store4(y + i, v);                                       \
            if (i < n) store_part(y + i, v, n - i);                                            \
        }                                                                                      \
        return;

static void binary_row(int op, const float *a, int sa, const float *b, int sb, float *y, int n) {
    int i = 0;
    switch (op) {
        ROW_LOOP(BIN_ADD)
        ROW_LOOP(BIN_SUB)
        ROW_LOOP(BIN_MUL)
        ROW_LOOP(BIN_DIV)
        ROW_LOOP(BIN_MAX)
        ROW_LOOP(BIN_MIN)
        ROW_LOOP(BIN_POW)
    }
}

/* y (d0 x d1 x d2 x d3, contiguous) = a op b, where a's element (i0, i1, i2, i3) is at
 * a[i0*as0 + i1*as1 + i2*as2 + i3*as3] (strides of 0 broadcast) and likewise b.  The
 * innermost strides are 0 or 1; the caller merges dimensions so that d3 is long. */
PWI_EXPORT void pwi_binary(int op, float *y, const float *a, const float *b,
                           int d0, int d1, int d2, int d3,
                           int as0, int as1, int as2, int as3, int bs0, int bs1, int bs2, int bs3) {
    for (int i0 = 0; i0 < d0; i0++)
        for (int i1 = 0; i1 < d1; i1++)
            for (int i2 = 0; i2 < d2; i2++) {
                const float *ar = a + i0 * as0 + i1 * as1 + i2 * as2;
                const float *br = b + i0 * bs0 + i1 * bs1 + i2 * bs2;
                binary_row(op, ar, as3, br, bs3, y + ((i0 * d1 + i1) * d2 + i2) * d3, d3);
            }
}
