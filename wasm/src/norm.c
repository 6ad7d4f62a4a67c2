/* Softmax / LogSoftmax, LayerNormalization and the Reduce* family.
 *
 * Tensors are seen as (outer, n, inner): the axis worked along has n elements, ``inner``
 * apart.  With inner == 1 a row is contiguous and is vectorized along itself; otherwise
 * 4 neighbouring rows (consecutive inner positions) are done at once.
 */
#include "pwi.h"

enum {
    RED_SUM = 0, RED_MEAN = 1, RED_MAX = 2, RED_MIN = 3, RED_PROD = 4,
    RED_SUM_SQUARE = 5, RED_L1 = 6, RED_L2 = 7, RED_LOG_SUM = 8, RED_LOG_SUM_EXP = 9,
};

PWI_INLINE int imin(int a, int b) { return a < b ? a : b; }
PWI_INLINE float log1(float v) { return wasm_f32x4_extract_lane(log4(splat(v)), 0); }

/* ---- softmax ---------------------------------------------------------------------------- */

static void softmax_row(int log_form, const float *x, float *y, int n) {
    f4 m4 = splat(-__builtin_inff());
    int i = 0;
    for (; i + 4 <= n; i += 4) m4 = wasm_f32x4_max(m4, load4(x + i));
    float m = hmax(m4);
    for (; i < n; i++) m = __builtin_wasm_max_f32(m, x[i]);
    f4 mv = splat(m), s4 = splat(0.0f);
    for (i = 0; i + 4 <= n; i += 4) {
        f4 e = exp4(fsub(load4(x + i), mv));
        if (!log_form) store4(y + i, e);
        s4 = fadd(s4, e);
    }
    float s = hsum(s4);
    for (; i < n; i++) {
        float e = wasm_f32x4_extract_lane(exp4(splat(x[i] - m)), 0);
        if (!log_form) y[i] = e;
        s += e;
    }
    if (log_form) {
        f4 shift = splat(m + log1(s));
        for (i = 0; i + 4 <= n; i += 4) store4(y + i, fsub(load4(x + i), shift));
        if (i < n) store_part(y + i, fsub(load_part(x + i, n - i), shift), n - i);
    } else {
        f4 sv = splat(s);
        for (i = 0; i + 4 <= n; i += 4) store4(y + i, fdiv(load4(y + i), sv));
        for (; i < n; i++) y[i] /= s;
    }
}

/* ``lanes`` (<= 4) neighbouring columns of a (n x inner) block at once */
static void softmax_columns(int log_form, const float *x, float *y, int n, int inner, int lanes) {
    f4 m = splat(-__builtin_inff()), s = splat(0.0f);
    for (int k = 0; k < n; k++)
        m = wasm_f32x4_max(m, lanes == 4 ? load4(x + k * inner) : load_part(x + k * inner, lanes));
    for (int k = 0; k < n; k++) {
        f4 e = exp4(fsub(lanes == 4 ? load4(x + k * inner) : load_part(x + k * inner, lanes), m));
        s = fadd(s, e);
        if (!log_form) {
            if (lanes == 4) store4(y + k * inner, e); else store_part(y + k * inner, e, lanes);
        }
    }
    f4 shift = fadd(m, log4(s));
    for (int k = 0; k < n; k++) {
        f4 v = log_form ? fsub(lanes == 4 ? load4(x + k * inner) : load_part(x + k * inner, lanes), shift)
                        : fdiv(lanes == 4 ? load4(y + k * inner) : load_part(y + k * inner, lanes), s);
        if (lanes == 4) store4(y + k * inner, v); else store_part(y + k * inner, v, lanes);
    }
}

/* softmax (log_form 0) or log-softmax (1) of x (outer x n x inner) along n */
PWI_EXPORT void pwi_softmax(int log_form, const float *x, float *y, int outer, int n, int inner) {
    for (int o = 0; o < outer; o++) {
        const float *xo = x + o * n * inner;
        float *yo = y + o * n * inner;
        if (inner == 1) {
            softmax_row(log_form, xo, yo, n);
            continue;
        }
        for (int j = 0; j < inner; j += 4) softmax_columns(log_form, xo + j, yo + j, n, inner, imin(4, inner - j));
    }
}

/* ---- layer normalization ------------------------------------------------------------------ */

/* Each of ``rows`` rows of n values: y = (x - mean) / sqrt(var + eps) * scale + bias
 * (bias may be NULL); mean and inv_std (1 / sqrt(var + eps)) are written per row when
 * their pointers are not NULL.  The variance is the mean of squared deviations. */
PWI_EXPORT void pwi_layernorm(const float *x, const float *scale, const float *bias, float *y,
                              float *mean_out, float *inv_std_out, int rows, int n, float eps) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        f4 s0 = splat(0.0f), s1 = s0;
        int i = 0;
        for (; i + 8 <= n; i += 8) {
            s0 = fadd(s0, load4(xr + i));
            s1 = fadd(s1, load4(xr + i + 4));
        }
        float sum = hsum(fadd(s0, s1));
        for (; i < n; i++) sum += xr[i];
        float mean = sum / (float)n;
        f4 mv = splat(mean);
        s0 = splat(0.0f);
        s1 = s0;
        for (i = 0; i + 8 <= n; i += 8) {
            f4 d0 = fsub(load4(xr + i), mv), d1 = fsub(load4(xr + i + 4), mv);
            s0 = fmadd(s0, d0, d0);
            s1 = fmadd(s1, d1, d1);
        }
        float var = hsum(fadd(s0, s1));
        for (; i < n; i++) var += (xr[i] - mean) * (xr[i] - mean);
        var /= (float)n;
        float std = __builtin_sqrtf(var + eps);
        f4 sd = splat(std);
        for (i = 0; i + 4 <= n; i += 4) {
            f4 v = fmul(fdiv(fsub(load4(xr + i), mv), sd), load4(scale + i));
            store4(yr + i, bias ? fadd(v, load4(bias + i)) : v);
        }
        for (; i < n; i++) yr[i] = (xr[i] - mean) / std * scale[i] + (bias ? bias[i] : 0.0f);
        if (mean_out) mean_out[r] = mean;
        if (inv_std_out) inv_std_out[r] = 1.0f / std;
    }
}

/* ---- reductions -------------------------------------------------------------------------- */

PWI_INLINE f4 red_start(int op) {
    switch (op) {
    case RED_MAX: return splat(-__builtin_inff());
    case RED_MIN: return splat(__builtin_inff());
    case RED_PROD: return splat(1.0f);
    default: return splat(0.0f);
    }
}

PWI_INLINE f4 red_step(int op, f4 acc, f4 v, f4 shift) {
    switch (op) {
    case RED_MAX: return wasm_f32x4_max(acc, v);
    case RED_MIN: return wasm_f32x4_min(acc, v);
    case RED_PROD: return fmul(acc, v);
    case RED_SUM_SQUARE:
    case RED_L2: return fmadd(acc, v, v);
    case RED_L1: return fadd(acc, wasm_f32x4_abs(v));
    case RED_LOG_SUM_EXP: return fadd(acc, exp4(fsub(v, shift)));
    default: return fadd(acc, v);
    }
}

PWI_INLINE f4 red_finish(int op, f4 acc, int n, f4 shift) {
    switch (op) {
    case RED_MEAN: return fdiv(acc, splat((float)n));
    case RED_L2: return wasm_f32x4_sqrt(acc);
    case RED_LOG_SUM: return log4(acc);
    case RED_LOG_SUM_EXP: return fadd(log4(acc), shift);
    default: return acc;
    }
}

/* two partial results of ``op`` made one */
PWI_INLINE f4 red_combine(int op, f4 a, f4 b) {
    switch (op) {
    case RED_MAX: return wasm_f32x4_max(a, b);
    case RED_MIN: return wasm_f32x4_min(a, b);
    case RED_PROD: return fmul(a, b);
    default: return fadd(a, b);
    }
}

/* lanes (<= 4) neighbouring columns of an (n x inner) block, reduced along n */
static f4 reduce_columns(int op, const float *x, int n, int inner, int lanes) {
    f4 shift = splat(0.0f);
    if (op == RED_LOG_SUM_EXP) { /* shift by the maximum, unless it is infinite */
        f4 m = splat(-__builtin_inff());
        for (int k = 0; k < n; k++) m = wasm_f32x4_max(m, lanes == 4 ? load4(x + k * inner) : load_part(x + k * inner, lanes));
        shift = select4(wasm_f32x4_lt(wasm_f32x4_abs(m), splat(__builtin_inff())), m, splat(0.0f));
    }
    f4 acc = red_start(op);
    for (int k = 0; k < n; k++)
        acc = red_step(op, acc, lanes == 4 ? load4(x + k * inner) : load_part(x + k * inner, lanes), shift);
    return red_finish(op, acc, n, shift);
}

/* one contiguous row of n values, 8 at a time in two accumulators */
static float reduce_row(int op, const float *x, int n) {
    f4 shift = splat(0.0f);
    int i;
    if (op == RED_LOG_SUM_EXP) {
        f4 m = splat(-__builtin_inff());
        for (i = 0; i + 4 <= n; i += 4) m = wasm_f32x4_max(m, load4(x + i));
        float mx = hmax(m);
        for (; i < n; i++) mx = __builtin_wasm_max_f32(mx, x[i]);
        shift = splat(mx == mx && mx - mx == 0.0f ? mx : 0.0f); /* finite only */
    }
    f4 a0 = red_start(op), a1 = a0;
    for (i = 0; i + 8 <= n; i += 8) {
        a0 = red_step(op, a0, load4(x + i), shift);
        a1 = red_step(op, a1, load4(x + i + 4), shift);
    }
    /* fold the two accumulators and the tail into lane-wise partials, then across lanes */
    f4 acc = red_combine(op, a0, a1);
    acc = red_combine(op, acc, wasm_i32x4_shuffle(acc, acc, 2, 3, 0, 1));
    acc = red_combine(op, acc, wasm_i32x4_shuffle(acc, acc, 1, 0, 3, 2));
    float r = wasm_f32x4_extract_lane(acc, 0);
    for (; i < n; i++) r = wasm_f32x4_extract_lane(red_step(op, splat(r), splat(x[i]), shift), 0);
    return wasm_f32x4_extract_lane(red_finish(op, splat(r), n, shift), 0);
}

/* y (outer x inner) = reduction ``op`` of x (outer x n x inner) along n */
PWI_EXPORT void pwi_reduce(int op, const float *x, float *y, int outer, int n, int inner) {
    for (int o = 0; o < outer; o++) {
        const float *xo = x + o * n * inner;
        float *yo = y + o * inner;
        if (inner == 1) {
            yo[0] = reduce_row(op, xo, n);
            continue;
        }
        for (int j = 0; j < inner; j += 4) {
            int lanes = imin(4, inner - j);
            f4 v = reduce_columns(op, xo + j, n, inner, lanes);
            if (lanes == 4) store4(yo + j, v); else store_part(yo + j, v, lanes);
        }
    }
}
