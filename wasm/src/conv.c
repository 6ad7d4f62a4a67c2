/* 2-D convolution (NCHW) with the fused epilogue of FusedConv.
 *
 * Depthwise (one input channel per group): direct, each output row in 4-lane vectors,
 * the taps of stride 1 and 2 read as contiguous or de-interleaved vectors, the border
 * columns (where a tap falls in the padding) one by one.
 * Everything else: per image and group a GEMM of the weights (M/group x C/group*KH*KW,
 * usually packed at load) with the im2col matrix, which is packed block by block
 * straight from the image and never formed (1x1 stride-1 unpadded convolutions read the
 * image as the matrix itself).
 */
#include "pwi.h"

/* Floats of the packed weights of one group: the layout pwi_pack_a writes */
PWI_INLINE int packed_group_floats(int Mg, int K) { return (Mg + MR - 1) / MR * MR * K; }

/* One tap row for 4 outputs starting at ``p`` (the input of the first): stride 1 is a
 * plain load, stride 2 the even lanes of two loads */
PWI_INLINE f4 taps4(const float *p, int sw) {
    if (sw == 1) return load4(p);
    return wasm_i32x4_shuffle(load4(p), load4(p + 4), 0, 2, 4, 6);
}

static void depthwise_plane(const float *x, int H, int W, const float *w, int KH, int KW,
                            int SH, int SW, int PT, int PL, int DH, int DW, int OH, int OW,
                            float *y, float bias, const epi_t *epi) {
    /* columns whose every tap is inside the row, for 4 lanes read as whole vectors
     * (stride 2 reads one float past its last tap) */
    const int reach = (KW - 1) * DW + (SW == 2 ? 1 : 0);
    const int first_inside = (PL + SW - 1) / SW;
    const int vector_ok = SW == 1 || SW == 2;
    for (int oy = 0; oy < OH; oy++) {
        float *yr = y + oy * OW;
        int ky0 = 0, ky1 = KH;
        while (ky0 < KH && oy * SH - PT + ky0 * DH < 0) ky0++;
        while (ky1 > ky0 && oy * SH - PT + (ky1 - 1) * DH >= H) ky1--;
        int ox = 0;
        /* the left border, then vectors while 4 outputs fit, then the rest */
        for (; ox < OW && ox < first_inside; ox++) {
            float s = bias;
            for (int ky = ky0; ky < ky1; ky++) {
                const float *row = x + (oy * SH - PT + ky * DH) * W;
                for (int kx = 0; kx < KW; kx++) {
                    int ix = ox * SW - PL + kx * DW;
                    if (ix >= 0 && ix < W) s += w[ky * KW + kx] * row[ix];
                }
            }
            yr[ox] = s;
        }
        if (vector_ok) {
            for (; ox + 8 <= OW && (ox + 7) * SW - PL + reach < W; ox += 8) {
                f4 s0 = splat(bias), s1 = s0;
                for (int ky = ky0; ky < ky1; ky++) {
                    const float *row = x + (oy * SH - PT + ky * DH) * W + ox * SW - PL;
                    const float *wr = w + ky * KW;
                    for (int kx = 0; kx < KW; kx++) {
                        f4 wv = wasm_v128_load32_splat(wr + kx);
                        s0 = fmadd(s0, wv, taps4(row + kx * DW, SW));
                        s1 = fmadd(s1, wv, taps4(row + kx * DW + 4 * SW, SW));
                    }
                }
                store4(yr + ox, s0);
                store4(yr + ox + 4, s1);
            }
            for (; ox + 4 <= OW && (ox + 3) * SW - PL + reach < W; ox += 4) {
                f4 s0 = splat(bias);
                for (int ky = ky0; ky < ky1; ky++) {
                    const float *row = x + (oy * SH - PT + ky * DH) * W + ox * SW - PL;
                    const float *wr = w + ky * KW;
                    for (int kx = 0; kx < KW; kx++)
                        s0 = fmadd(s0, wasm_v128_load32_splat(wr + kx), taps4(row + kx * DW, SW));
                }
                store4(yr + ox, s0);
            }
        }
        for (; ox < OW; ox++) {
            float s = bias;
            for (int ky = ky0; ky < ky1; ky++) {
                const float *row = x + (oy * SH - PT + ky * DH) * W;
                for (int kx = 0; kx < KW; kx++) {
                    int ix = ox * SW - PL + kx * DW;
                    if (ix >= 0 && ix < W) s += w[ky * KW + kx] * row[ix];
                }
            }
            yr[ox] = s;
        }
        pwi_epilogue_block(y, OW, oy, 0, 1, OW, epi);
    }
}

/* y = act(conv(x, w) + bias + z), NCHW.
 *   x: N x C x H x W; w: M x C/group x KH x KW, or per group packed by pwi_pack_a
 *   (w_packed; groups one after the other); y and z (may be NULL): N x M x OH x OW.
 *   PT, PL: padding before the first row and column (the end padding only shows in
 *   OH and OW, which the caller computes). */
PWI_EXPORT void pwi_conv2d(const float *x, int N, int C, int H, int W,
                           const float *w, int w_packed, int M, int group, int KH, int KW,
                           int SH, int SW, int PT, int PL, int DH, int DW, int OH, int OW,
                           float *y, const float *bias, const float *z,
                           int act, float act_a, float act_b, float *ws) {
    const int Cg = C / group, Mg = M / group, K = Cg * KH * KW, P = OH * OW;
    if (Cg == 1 && !w_packed) {
        for (int n = 0; n < N; n++)
            for (int m = 0; m < M; m++) {
                int plane = n * M + m;
                epi_t epi = {.alpha = 1.0f, .beta = 1.0f, .bias_mode = BIAS_NONE,
                             .z = z ? z + plane * P : 0, .z_rs = OW, .z_cs = 1,
                             .act = act, .act_a = act_a, .act_b = act_b};
                depthwise_plane(x + (n * C + m / Mg) * H * W, H, W, w + m * KH * KW, KH, KW, SH, SW, PT, PL,
                                DH, DW, OH, OW, y + plane * P, bias ? bias[m] : 0.0f, &epi);
            }
        return;
    }
    const int pointwise = KH == 1 && KW == 1 && SH == 1 && SW == 1 && PT == 0 && PL == 0 && OH == H && OW == W;
    for (int n = 0; n < N; n++)
        for (int g = 0; g < group; g++) {
            const float *xg = x + (n * C + g * Cg) * H * W;
            bsrc_t src;
            if (pointwise)
                src = (bsrc_t){.kind = B_STRIDED, .p = xg, .rs = H * W, .cs = 1};
            else
                src = (bsrc_t){.kind = B_IM2COL, .p = xg, .H = H, .W = W, .KH = KH, .KW = KW, .SH = SH,
                               .SW = SW, .PT = PT, .PL = PL, .DH = DH, .DW = DW, .OW = OW};
            int out = n * M + g * Mg;
            epi_t epi = {.alpha = 1.0f, .beta = 1.0f, .bias = bias ? bias + g * Mg : 0,
                         .bias_mode = bias ? BIAS_ROW : BIAS_NONE, .z = z ? z + out * P : 0, .z_rs = P, .z_cs = 1,
                         .act = act, .act_a = act_a, .act_b = act_b};
            const float *wg = w_packed ? w + g * packed_group_floats(Mg, K) : w + g * Mg * K;
            pwi_gemm_core(Mg, P, K, wg, K, 1, w_packed, &src, y + out * P, P, &epi, ws);
        }
}

/* Packs the weights of every group of a convolution for pwi_conv2d (w_packed = 1):
 * dst holds group * ceil(M/group / 4) * 4 * (C/group*KH*KW) floats. */
PWI_EXPORT void pwi_pack_conv_weights(const float *w, int M, int group, int K, float *dst) {
    const int Mg = M / group;
    for (int g = 0; g < group; g++) {
        float *d = dst + g * packed_group_floats(Mg, K);
        pwi_pack_a(Mg, K, w + g * Mg * K, K, 1, d); /* the panels pwi_gemm_core reads */
    }
}
