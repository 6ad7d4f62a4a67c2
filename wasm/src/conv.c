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

PWI_INLINE int imax(int a, int b) { return a > b ? a : b; }

/* Floats of the packed weights of one group: the layout pwi_pack_a writes */
PWI_INLINE int packed_group_floats(int Mg, int K) { return (Mg + MR - 1) / MR * MR * K; }

/* One tap row for 4 outputs starting at ``p`` (the input of the first): stride 1 is a
 * plain load, stride 2 the even lanes of two loads */
PWI_INLINE f4 taps4(const float *p, int sw) {
    if (sw == 1) return load4(p);
    return wasm_i32x4_shuffle(load4(p), load4(p + 4), 0, 2, 4, 6);
}

/* The residual and activation of 4 outputs, in registers (the epilogue of depthwise) */
PWI_INLINE f4 finish4(f4 v, const epi_t *e, const float *z, int n) {
    if (z) v = fadd(v, n == 4 ? load4(z) : load_part(z, n));
    return act_cheap(e->act) ? activate4(v, e->act, e->act_a, e->act_b) : v;
}

/* One output row of a depthwise convolution from the padded plane: ``top`` is its first
 * tap row, rows are ``pitch`` floats apart, and tap kx of output ox is at
 * row[ox + off[kx]] (the plane is laid out so that stride 2 reads contiguously too).
 * Groups of 4V outputs in V accumulators (the taps of one output are a chain of dependent
 * adds, and 4 chains keep the adder busy); a row's last group of at most 8 outputs takes
 * 2, so that narrow rows (7 or 8 wide at the end of a network) are not computed 16 wide.
 * The callers pass the common kernel sizes as constants, so the taps unroll into
 * straight-line loads. */
PWI_INLINE void depthwise_group(const float *top, int pitch, const int *off, const float *w, int KH, int KW,
                                int DH, int ox, int OW, float *yr, float bias, const epi_t *e,
                                const float *zr, const int V) {
    f4 s[4] = {splat(bias), splat(bias), splat(bias), splat(bias)};
    for (int ky = 0; ky < KH; ky++) {
        const float *row = top + ky * DH * pitch + ox;
        for (int kx = 0; kx < KW; kx++) {
            f4 wv = wasm_v128_load32_splat(w + ky * KW + kx);
            const float *p = row + off[kx];
            for (int v = 0; v < V; v++) s[v] = fmadd(s[v], wv, load4(p + 4 * v));
        }
    }
    /* the last group may be partial: the padded plane is wide enough to read it whole,
     * only its outputs are stored */
    for (int v = 0; v < V && ox + 4 * v < OW; v++) {
        int n = OW - ox - 4 * v < 4 ? OW - ox - 4 * v : 4;
        f4 out = finish4(s[v], e, zr ? zr + ox + 4 * v : 0, n);
        if (n == 4) store4(yr + ox + 4 * v, out);
        else store_part(yr + ox + 4 * v, out, n);
    }
}

PWI_INLINE void depthwise_row(const float *top, int pitch, const int *off, const float *w, int KH, int KW,
                              int DH, int OW, float *yr, float bias, const epi_t *e, const float *zr) {
    int ox = 0;
    for (; OW - ox > 8; ox += 16) depthwise_group(top, pitch, off, w, KH, KW, DH, ox, OW, yr, bias, e, zr, 4);
    if (ox < OW) depthwise_group(top, pitch, off, w, KH, KW, DH, ox, OW, yr, bias, e, zr, 2);
    if (!act_cheap(e->act)) pwi_activate_block(yr, OW, 1, OW, e->act, e->act_a, e->act_b);
}

static void depthwise_padded(const float *pad, int pitch, const int *off, const float *w, int KH, int KW,
                             int SH, int DH, int OH, int OW, float *y, float bias, const epi_t *e) {
    for (int oy = 0; oy < OH; oy++) {
        const float *top = pad + oy * SH * pitch;
        float *yr = y + oy * OW;
        const float *zr = e->z ? e->z + oy * e->z_rs : 0;
        if (KH == 3 && KW == 3 && DH == 1) depthwise_row(top, pitch, off, w, 3, 3, 1, OW, yr, bias, e, zr);
        else if (KH == 5 && KW == 5 && DH == 1) depthwise_row(top, pitch, off, w, 5, 5, 1, OW, yr, bias, e, zr);
        else depthwise_row(top, pitch, off, w, KH, KW, DH, OW, yr, bias, e, zr);
    }
}

/* A depthwise plane read in place: taps in the padding are skipped one by one */
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

#define MAX_PADDED_KW 16

/* Depthwise convolution of one plane.  For strides 1 and 2 the plane is first copied,
 * zero-padded, into the workspace; with stride 2 each padded row is stored as its even
 * columns then its odd columns, so that every tap of 4 neighbouring outputs is 4
 * neighbouring floats.  Planes too large for the workspace are read in place. */
static void depthwise(const float *x, int H, int W, const float *w, int KH, int KW, int SH, int SW, int PT,
                      int PL, int DH, int DW, int OH, int OW, float *y, float bias, const epi_t *epi, float *ws) {
    const int OW16 = (OW + 15) / 16 * 16;        /* the last group's outputs */
    const int reach = (KW - 1) * DW;             /* of the taps, in padded columns */
    const int Hp = imax(PT + H, (OH - 1) * SH + (KH - 1) * DH + 1);
    int pitch = 0, half = 0;
    if (SW == 1) pitch = imax(PL + W, OW16 + reach);
    else if (SW == 2) {
        half = imax((PL + W + 1) / 2, OW16 + reach / 2 + 1);
        pitch = 2 * half;
    }
    if (pitch == 0 || KW > MAX_PADDED_KW || (long long)Hp * pitch > pwi_workspace_floats()) {
        depthwise_plane(x, H, W, w, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW, y, bias, epi);
        return;
    }
    int off[MAX_PADDED_KW];
    __builtin_memset(ws, 0, (unsigned)(Hp * pitch) * sizeof(float));
    if (SW == 1) {
        for (int i = 0; i < H; i++) __builtin_memcpy(ws + (PT + i) * pitch + PL, x + i * W, (unsigned)W * sizeof(float));
        for (int kx = 0; kx < KW; kx++) off[kx] = kx * DW;
    } else {
        for (int i = 0; i < H; i++) {
            float *row = ws + (PT + i) * pitch;
            for (int j = 0; j < W; j++) {
                int col = PL + j;
                row[(col & 1) * half + (col >> 1)] = x[i * W + j];
            }
        }
        for (int kx = 0; kx < KW; kx++) off[kx] = (kx * DW & 1) * half + (kx * DW >> 1);
    }
    depthwise_padded(ws, pitch, off, w, KH, KW, SH, DH, OH, OW, y, bias, epi);
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
                depthwise(x + (n * C + m / Mg) * H * W, H, W, w + m * KH * KW, KH, KW, SH, SW, PT, PL, DH, DW,
                          OH, OW, y + plane * P, bias ? bias[m] : 0.0f, &epi, ws);
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
