/* Pooling, NCHW: MaxPool / AveragePool in 2-D, and the global forms over any spatial size.
 *
 * A window is read like a depthwise convolution's taps: interior columns 4 outputs at a
 * time (stride 1 or 2), border columns one by one skipping what falls in the padding.
 * MaxPool's padding never wins (numpy pads with -inf), and NaN propagates like
 * np.maximum.  AveragePool divides by the count of taps inside the input, or, with
 * count_include_pad, inside the input and its explicit padding.
 */
#include "pwi.h"

enum { POOL_MAX = 0, POOL_AVG = 1 };

PWI_INLINE float max1(float a, float b) { return __builtin_wasm_max_f32(a, b); }

PWI_INLINE f4 taps4(const float *p, int sw) {
    if (sw == 1) return load4(p);
    return wasm_i32x4_shuffle(load4(p), load4(p + 4), 0, 2, 4, 6);
}

/* taps of a window along one axis that land in [lo, hi) */
PWI_INLINE int taps_inside(int start, int k, int d, int lo, int hi) {
    int n = 0;
    for (int t = 0; t < k; t++) n += start + t * d >= lo && start + t * d < hi;
    return n;
}

static float window1(int kind, const float *x, int W, int ox, int ky0, int ky1, int iy0, int DH,
                     int KW, int SW, int PL, int DW) {
    float s = kind == POOL_MAX ? -__builtin_inff() : 0.0f;
    for (int ky = ky0; ky < ky1; ky++) {
        const float *row = x + (iy0 + ky * DH) * W;
        for (int kx = 0; kx < KW; kx++) {
            int ix = ox * SW - PL + kx * DW;
            if (ix < 0 || ix >= W) continue;
            s = kind == POOL_MAX ? max1(s, row[ix]) : s + row[ix];
        }
    }
    return s;
}

/* y (planes x OH x OW) = pool of x (planes x H x W).  PB, PR: padding after the last row
 * and column (only counted by count_include_pad). */
PWI_EXPORT void pwi_pool2d(int kind, int count_include_pad, const float *x, int planes, int H, int W,
                           int KH, int KW, int SH, int SW, int PT, int PL, int PB, int PR,
                           int DH, int DW, int OH, int OW, float *y) {
    const int reach = (KW - 1) * DW + (SW == 2 ? 1 : 0);
    const int first_inside = (PL + SW - 1) / SW;
    const int vector_ok = SW == 1 || SW == 2;
    for (int p = 0; p < planes; p++) {
        const float *xp = x + p * H * W;
        for (int oy = 0; oy < OH; oy++) {
            float *yr = y + (p * OH + oy) * OW;
            const int iy0 = oy * SH - PT;
            int ky0 = 0, ky1 = KH;
            while (ky0 < KH && iy0 + ky0 * DH < 0) ky0++;
            while (ky1 > ky0 && iy0 + (ky1 - 1) * DH >= H) ky1--;
            const int rows = count_include_pad ? taps_inside(iy0, KH, DH, -PT, H + PB) : ky1 - ky0;
            int ox = 0;
            for (; ox < OW && ox < first_inside; ox++) yr[ox] = window1(kind, xp, W, ox, ky0, ky1, iy0, DH, KW, SW, PL, DW);
            if (vector_ok) {
                for (; ox + 4 <= OW && (ox + 3) * SW - PL + reach < W; ox += 4) {
                    f4 s = splat(kind == POOL_MAX ? -__builtin_inff() : 0.0f);
                    for (int ky = ky0; ky < ky1; ky++) {
                        const float *row = xp + (iy0 + ky * DH) * W + ox * SW - PL;
                        for (int kx = 0; kx < KW; kx++) {
                            f4 v = taps4(row + kx * DW, SW);
                            s = kind == POOL_MAX ? wasm_f32x4_max(s, v) : fadd(s, v);
                        }
                    }
                    store4(yr + ox, s);
                }
            }
            for (; ox < OW; ox++) yr[ox] = window1(kind, xp, W, ox, ky0, ky1, iy0, DH, KW, SW, PL, DW);
            if (kind == POOL_AVG) {
                for (int o = 0; o < OW; o++) {
                    int start = o * SW - PL;
                    int cols = count_include_pad ? taps_inside(start, KW, DW, -PL, W + PR)
                                                 : taps_inside(start, KW, DW, 0, W);
                    int count = rows * cols;
                    yr[o] = count > 0 ? yr[o] / (float)count : yr[o];
                }
            }
        }
    }
}

/* y[p] = mean (kind 1) or max (kind 0) of the n values of plane p */
PWI_EXPORT void pwi_global_pool(int kind, const float *x, int planes, int n, float *y) {
    for (int p = 0; p < planes; p++) {
        const float *v = x + p * n;
        int i = 0;
        if (kind == POOL_MAX) {
            f4 m0 = splat(-__builtin_inff()), m1 = m0;
            for (; i + 8 <= n; i += 8) {
                m0 = wasm_f32x4_max(m0, load4(v + i));
                m1 = wasm_f32x4_max(m1, load4(v + i + 4));
            }
            float m = hmax(wasm_f32x4_max(m0, m1));
            for (; i < n; i++) m = max1(m, v[i]);
            y[p] = m;
        } else {
            f4 s0 = splat(0.0f), s1 = s0;
            for (; i + 8 <= n; i += 8) {
                s0 = fadd(s0, load4(v + i));
                s1 = fadd(s1, load4(v + i + 4));
            }
            float s = hsum(fadd(s0, s1));
            for (; i < n; i++) s += v[i];
            y[p] = s / (float)n;
        }
    }
}
