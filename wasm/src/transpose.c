/* Transpose of 4-byte elements (float32, int32): y is contiguous with dimensions
 * d0..d5, its element (i0..i5) is x[i0*s0 + ... + i5*s5].  The caller merges axes that
 * stay neighbours, so most transposes arrive as a 2-D swap of the last two dimensions
 * (done in 4x4 register blocks) or as contiguous row copies. */
#include "pwi.h"

/* y (rows x cols, contiguous) = x with element (r, c) at x[r + c*s]: column r of the
 * source is row r of y */
static void transpose_2d(const float *x, int s, float *y, int rows, int cols) {
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        int c = 0;
        for (; c + 4 <= cols; c += 4) {
            f4 a0 = load4(x + r + (c + 0) * s), a1 = load4(x + r + (c + 1) * s);
            f4 a2 = load4(x + r + (c + 2) * s), a3 = load4(x + r + (c + 3) * s);
            f4 t0 = wasm_i32x4_shuffle(a0, a1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(a0, a1, 2, 6, 3, 7);
            f4 t2 = wasm_i32x4_shuffle(a2, a3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(a2, a3, 2, 6, 3, 7);
            store4(y + (r + 0) * cols + c, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
            store4(y + (r + 1) * cols + c, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
            store4(y + (r + 2) * cols + c, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
            store4(y + (r + 3) * cols + c, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
        }
        for (; c < cols; c++)
            for (int q = 0; q < 4; q++) y[(r + q) * cols + c] = x[r + q + c * s];
    }
    for (; r < rows; r++)
        for (int c = 0; c < cols; c++) y[r * cols + c] = x[r + c * s];
}

PWI_EXPORT void pwi_transpose(const float *x, float *y, int d0, int d1, int d2, int d3, int d4, int d5,
                              int s0, int s1, int s2, int s3, int s4, int s5) {
    const int block = d4 * d5;
    for (int i0 = 0; i0 < d0; i0++)
        for (int i1 = 0; i1 < d1; i1++)
            for (int i2 = 0; i2 < d2; i2++)
                for (int i3 = 0; i3 < d3; i3++) {
                    const float *xb = x + i0 * s0 + i1 * s1 + i2 * s2 + i3 * s3;
                    float *yb = y + (((i0 * d1 + i1) * d2 + i2) * d3 + i3) * block;
                    if (s5 == 1) {
                        for (int i4 = 0; i4 < d4; i4++)
                            __builtin_memcpy(yb + i4 * d5, xb + i4 * s4, (unsigned)d5 * sizeof(float));
                    } else if (s4 == 1) {
                        transpose_2d(xb, s5, yb, d4, d5);
                    } else {
                        for (int i4 = 0; i4 < d4; i4++)
                            for (int i5 = 0; i5 < d5; i5++) yb[i4 * d5 + i5] = xb[i4 * s4 + i5 * s5];
                    }
                }
}
