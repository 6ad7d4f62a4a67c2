/* SGEMM: packed operands, a 4x8 SIMD128 register tile, fused epilogue; GEMV for one row.
 *
 * Loop nest (BLIS order): columns in blocks of NC -> depth in blocks of KC (B block
 * packed once, or read from weights packed at load) -> rows in blocks of MC (A block
 * packed) -> 8-column micro-panels of B (one stays in L1) -> 4-row micro-panels of A.
 * The micro-kernel keeps 8 accumulators, 2 B vectors and 1 broadcast A value live:
 * V8 spills beyond about 12 live vectors, so 4x8 is the widest tile that stays in
 * registers.  SIMD128 has no fused multiply-add, so each step is a mul and an add.
 */
#include "pwi.h"

PWI_INLINE int imin(int a, int b) { return a < b ? a : b; }

/* Floats of scratch every kernel taking ``ws`` needs: an A block, a B block, one tile */
PWI_EXPORT int pwi_workspace_floats(void) { return MC * KC + KC * NC + MR * NR; }

/* ---- packing ------------------------------------------------------------------------- */

/* rows i0.. i0+rows-1, depth k0.. k0+kc-1 of A into MR-row panels (kc x MR each, rows past
 * the end zero); dst panels are ``stride`` floats apart */
static void pack_a(const float *a, int rs, int cs, int i0, int rows, int k0, int kc, float *dst, int stride) {
    for (int p = 0; p < rows; p += MR) {
        int mr = imin(MR, rows - p);
        float *d = dst + (p / MR) * stride;
        const float *src = a + (i0 + p) * rs + k0 * cs;
        int k = 0;
        if (mr == MR && cs == 1) {
            const float *r0 = src, *r1 = src + rs, *r2 = src + 2 * rs, *r3 = src + 3 * rs;
            for (; k + 4 <= kc; k += 4) { /* a 4x4 transpose: four rows in, four k-columns out */
                f4 a0 = load4(r0 + k), a1 = load4(r1 + k), a2 = load4(r2 + k), a3 = load4(r3 + k);
                f4 t0 = wasm_i32x4_shuffle(a0, a1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(a0, a1, 2, 6, 3, 7);
                f4 t2 = wasm_i32x4_shuffle(a2, a3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(a2, a3, 2, 6, 3, 7);
                store4(d + (k + 0) * MR, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
                store4(d + (k + 1) * MR, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
                store4(d + (k + 2) * MR, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
                store4(d + (k + 3) * MR, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
            }
        }
        for (; k < kc; k++)
            for (int r = 0; r < MR; r++)
                d[k * MR + r] = r < mr ? src[r * rs + k * cs] : 0.0f;
    }
}

static void pack_b_strided(const bsrc_t *b, int k0, int kc, int j0, int cols, float *dst) {
    for (int q = 0; q * NR < cols; q++) {
        int j = j0 + q * NR, nr = imin(NR, cols - q * NR);
        float *d = dst + q * kc * NR;
        const float *src = b->p + k0 * b->rs + j * b->cs;
        if (nr == NR && b->cs == 1) {
            for (int k = 0; k < kc; k++) {
                store4(d + k * NR, load4(src + k * b->rs));
                store4(d + k * NR + 4, load4(src + k * b->rs + 4));
            }
            continue;
        }
        for (int c = 0; c < NR; c++) /* column by column: contiguous reads when rs == 1 */
            for (int k = 0; k < kc; k++)
                d[k * NR + c] = c < nr ? src[k * b->rs + c * b->cs] : 0.0f;
    }
}

/* The im2col matrix of a convolution, packed without being formed: row k is
 * (channel, ky, kx) of the kernel, column j is output position (oy, ox). */
static void pack_b_im2col(const bsrc_t *b, int k0, int kc, int j0, int cols, float *dst) {
    const int H = b->H, W = b->W, KW = b->KW, KHW = b->KH * b->KW, OW = b->OW;
    for (int q = 0; q * NR < cols; q++) {
        int j = j0 + q * NR, nr = imin(NR, cols - q * NR);
        float *d = dst + q * kc * NR;
        int oy0 = j / OW, ox0 = j - oy0 * OW;
        int one_row = nr == NR && ox0 + NR <= OW;
        int ci = k0 / KHW, rem = k0 - ci * KHW, ky = rem / KW, kx = rem - ky * KW;
        for (int k = 0; k < kc; k++) {
            const float *plane = b->p + ci * H * W;
            float *dk = d + k * NR;
            if (one_row) {
                int iy = oy0 * b->SH - b->PT + ky * b->DH;
                int ix = ox0 * b->SW - b->PL + kx * b->DW;
                const float *row = plane + iy * W + ix;
                if (iy < 0 || iy >= H) {
                    store4(dk, splat(0.0f));
                    store4(dk + 4, splat(0.0f));
                } else if (b->SW == 1 && ix >= 0 && ix + 8 <= W) {
                    store4(dk, load4(row));
                    store4(dk + 4, load4(row + 4));
                } else if (b->SW == 2 && ix >= 0 && ix + 16 <= W) {
                    f4 v0 = load4(row), v1 = load4(row + 4), v2 = load4(row + 8), v3 = load4(row + 12);
                    store4(dk, wasm_i32x4_shuffle(v0, v1, 0, 2, 4, 6));
                    store4(dk + 4, wasm_i32x4_shuffle(v2, v3, 0, 2, 4, 6));
                } else {
                    for (int c = 0; c < NR; c++) {
                        int x = ix + c * b->SW;
                        dk[c] = x >= 0 && x < W ? plane[iy * W + x] : 0.0f;
                    }
                }
            } else {
                for (int c = 0; c < NR; c++) {
                    float v = 0.0f;
                    if (c < nr) {
                        int oy = (j + c) / OW, ox = (j + c) - oy * OW;
                        int iy = oy * b->SH - b->PT + ky * b->DH;
                        int x = ox * b->SW - b->PL + kx * b->DW;
                        if (iy >= 0 && iy < H && x >= 0 && x < W) v = plane[iy * W + x];
                    }
                    dk[c] = v;
                }
            }
            if (++kx == KW) {
                kx = 0;
                if (++ky == b->KH) { ky = 0; ci++; }
            }
        }
    }
}

/* ---- micro-kernel ---------------------------------------------------------------------- */

/* The epilogue of one row of a full tile, in registers: columns j..j+7 of row i */
PWI_INLINE void finish_row(f4 *v0, f4 *v1, const epi_t *e, int i, int j) {
    if (e->alpha != 1.0f) {
        *v0 = fmul(*v0, splat(e->alpha));
        *v1 = fmul(*v1, splat(e->alpha));
    }
    if (e->bias_mode == BIAS_ROW) {
        f4 bv = splat(e->bias[i]);
        *v0 = fadd(*v0, bv);
        *v1 = fadd(*v1, bv);
    } else if (e->bias_mode == BIAS_COL) {
        *v0 = fadd(*v0, load4(e->bias + j));
        *v1 = fadd(*v1, load4(e->bias + j + 4));
    }
    if (e->z) {
        const float *z = e->z + i * e->z_rs;
        f4 z0 = e->z_cs ? load4(z + j) : splat(z[0]);
        f4 z1 = e->z_cs ? load4(z + j + 4) : z0;
        if (e->beta != 1.0f) {
            z0 = fmul(z0, splat(e->beta));
            z1 = fmul(z1, splat(e->beta));
        }
        *v0 = fadd(*v0, z0);
        *v1 = fadd(*v1, z1);
    }
    if (e->act != ACT_NONE && act_cheap(e->act)) {
        *v0 = activate4(*v0, e->act, e->act_a, e->act_b);
        *v1 = activate4(*v1, e->act, e->act_a, e->act_b);
    }
}

/* c[0..3][0..7] (row stride ldc) = (accumulate ? c : 0) + a-panel x b-panel over kc, then,
 * when ``e`` is given (the last depth block), its epilogue for rows i.., columns j.. */
PWI_INLINE void micro_4x8(int kc, const float *restrict a, const float *restrict b, float *restrict c, int ldc,
                          int accumulate, const epi_t *e, int i, int j) {
    f4 c00 = splat(0.0f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (int k = 0; k < kc; k++) {
        f4 b0 = load4(b), b1 = load4(b + 4);
        f4 a0 = wasm_v128_load32_splat(a);
        c00 = fmadd(c00, a0, b0);
        c01 = fmadd(c01, a0, b1);
        f4 a1 = wasm_v128_load32_splat(a + 1);
        c10 = fmadd(c10, a1, b0);
        c11 = fmadd(c11, a1, b1);
        f4 a2 = wasm_v128_load32_splat(a + 2);
        c20 = fmadd(c20, a2, b0);
        c21 = fmadd(c21, a2, b1);
        f4 a3 = wasm_v128_load32_splat(a + 3);
        c30 = fmadd(c30, a3, b0);
        c31 = fmadd(c31, a3, b1);
        a += MR;
        b += NR;
    }
    float *r0 = c, *r1 = c + ldc, *r2 = c + 2 * ldc, *r3 = c + 3 * ldc;
    if (accumulate) {
        c00 = fadd(c00, load4(r0)); c01 = fadd(c01, load4(r0 + 4));
        c10 = fadd(c10, load4(r1)); c11 = fadd(c11, load4(r1 + 4));
        c20 = fadd(c20, load4(r2)); c21 = fadd(c21, load4(r2 + 4));
        c30 = fadd(c30, load4(r3)); c31 = fadd(c31, load4(r3 + 4));
    }
    if (e) {
        finish_row(&c00, &c01, e, i, j);
        finish_row(&c10, &c11, e, i + 1, j);
        finish_row(&c20, &c21, e, i + 2, j);
        finish_row(&c30, &c31, e, i + 3, j);
    }
    store4(r0, c00); store4(r0 + 4, c01);
    store4(r1, c10); store4(r1 + 4, c11);
    store4(r2, c20); store4(r2 + 4, c21);
    store4(r3, c30); store4(r3 + 4, c31);
    if (e && !act_cheap(e->act)) pwi_activate_block(c, ldc, MR, NR, e->act, e->act_a, e->act_b);
}

/* ---- epilogue -------------------------------------------------------------------------- */

void pwi_epilogue_block(float *c, int ldc, int i0, int j0, int rows, int cols, const epi_t *e) {
    const int scale = e->alpha != 1.0f, cheap = act_cheap(e->act);
    for (int i = i0; i < i0 + rows; i++) {
        float *row = c + i * ldc;
        const float *z = e->z ? e->z + i * e->z_rs : 0;
        f4 row_bias = splat(e->bias_mode == BIAS_ROW ? e->bias[i] : 0.0f);
        f4 beta = splat(e->beta);
        for (int j = j0; j < j0 + cols; j += 4) {
            int n = imin(4, j0 + cols - j);
            f4 v = n == 4 ? load4(row + j) : load_part(row + j, n);
            if (scale) v = fmul(v, splat(e->alpha));
            if (e->bias_mode == BIAS_ROW) v = fadd(v, row_bias);
            else if (e->bias_mode == BIAS_COL) v = fadd(v, n == 4 ? load4(e->bias + j) : load_part(e->bias + j, n));
            if (z) {
                f4 zv = e->z_cs == 0 ? splat(z[0]) : n == 4 ? load4(z + j) : load_part(z + j, n);
                v = fadd(v, e->beta == 1.0f ? zv : fmul(beta, zv));
            }
            if (cheap) v = activate4(v, e->act, e->act_a, e->act_b);
            if (n == 4) store4(row + j, v);
            else store_part(row + j, v, n);
        }
    }
    if (!cheap) pwi_activate_block(c + i0 * ldc + j0, ldc, rows, cols, e->act, e->act_a, e->act_b);
}

/* ---- GEMV: one row of A ------------------------------------------------------------------ */

static void gemv(int N, int K, const float *a, int a_cs, const bsrc_t *b, float *c) {
    if (b->kind == B_PACKED) { /* each 8-column panel is K x 8 contiguous */
        for (int q = 0; q * NR < N; q++) {
            const float *p = b->p + q * K * NR;
            /* four depths at a time: eight independent sums hide the adder's latency */
            f4 s0 = splat(0.0f), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
            int k = 0;
            for (; k + 4 <= K; k += 4, p += 4 * NR) {
                f4 x0 = splat(a[k * a_cs]), x1 = splat(a[(k + 1) * a_cs]);
                f4 x2 = splat(a[(k + 2) * a_cs]), x3 = splat(a[(k + 3) * a_cs]);
                s0 = fmadd(s0, x0, load4(p));
                s1 = fmadd(s1, x0, load4(p + 4));
                s2 = fmadd(s2, x1, load4(p + 8));
                s3 = fmadd(s3, x1, load4(p + 12));
                s4 = fmadd(s4, x2, load4(p + 16));
                s5 = fmadd(s5, x2, load4(p + 20));
                s6 = fmadd(s6, x3, load4(p + 24));
                s7 = fmadd(s7, x3, load4(p + 28));
            }
            for (; k < K; k++, p += NR) {
                f4 x0 = splat(a[k * a_cs]);
                s0 = fmadd(s0, x0, load4(p));
                s1 = fmadd(s1, x0, load4(p + 4));
            }
            s0 = fadd(fadd(s0, s2), fadd(s4, s6));
            s1 = fadd(fadd(s1, s3), fadd(s5, s7));
            int n = imin(NR, N - q * NR);
            float *y = c + q * NR;
            if (n == NR) {
                store4(y, s0);
                store4(y + 4, s1);
            } else {
                if (n >= 4) store4(y, s0); else store_part(y, s0, n);
                if (n > 4) store_part(y + 4, s1, n - 4);
            }
        }
        return;
    }
    /* rows of B contiguous: y += a[k] * B[k, :], 16 columns at a time */
    int j = 0;
    for (; j + 16 <= N; j += 16) {
        f4 s0 = splat(0.0f), s1 = s0, s2 = s0, s3 = s0;
        const float *p = b->p + j;
        for (int k = 0; k < K; k++, p += b->rs) {
            f4 x = splat(a[k * a_cs]);
            s0 = fmadd(s0, x, load4(p));
            s1 = fmadd(s1, x, load4(p + 4));
            s2 = fmadd(s2, x, load4(p + 8));
            s3 = fmadd(s3, x, load4(p + 12));
        }
        store4(c + j, s0); store4(c + j + 4, s1); store4(c + j + 8, s2); store4(c + j + 12, s3);
    }
    for (; j < N; j += 4) {
        int n = imin(4, N - j);
        f4 s = splat(0.0f);
        const float *p = b->p + j;
        for (int k = 0; k < K; k++, p += b->rs)
            s = fmadd(s, splat(a[k * a_cs]), n == 4 ? load4(p) : load_part(p, n));
        if (n == 4) store4(c + j, s); else store_part(c + j, s, n);
    }
}

/* ---- driver ----------------------------------------------------------------------------- */

void pwi_gemm_core(int M, int N, int K, const float *a, int a_rs, int a_cs, int a_packed,
                   const bsrc_t *b, float *c, int ldc, const epi_t *epi, float *ws) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* an empty sum: the epilogue of zeros */
        for (int i = 0; i < M; i++) __builtin_memset(c + i * ldc, 0, (unsigned)N * sizeof(float));
        pwi_epilogue_block(c, ldc, 0, 0, M, N, epi);
        return;
    }
    if (M == 1 && !a_packed && (b->kind == B_PACKED || (b->kind == B_STRIDED && b->cs == 1))) {
        gemv(N, K, a, a_cs, b, c);
        pwi_epilogue_block(c, ldc, 0, 0, 1, N, epi);
        return;
    }
    float *abuf = ws, *bbuf = ws + MC * KC, *tile = bbuf + KC * NC;
    for (int jc = 0; jc < N; jc += NC) {
        int nc = imin(NC, N - jc);
        for (int pc = 0; pc < K; pc += KC) {
            int kc = imin(KC, K - pc);
            int first = pc == 0, last = pc + kc >= K;
            const float *bp;
            int b_stride;
            if (b->kind == B_PACKED) {
                bp = b->p + (jc / NR) * K * NR + pc * NR;
                b_stride = K * NR;
            } else {
                if (b->kind == B_IM2COL) pack_b_im2col(b, pc, kc, jc, nc, bbuf);
                else pack_b_strided(b, pc, kc, jc, nc, bbuf);
                bp = bbuf;
                b_stride = kc * NR;
            }
            for (int ic = 0; ic < M; ic += MC) {
                int mc = imin(MC, M - ic);
                const float *ap;
                int a_stride;
                if (a_packed) {
                    ap = a + (ic / MR) * K * MR + pc * MR;
                    a_stride = K * MR;
                } else {
                    pack_a(a, a_rs, a_cs, ic, mc, pc, kc, abuf, kc * MR);
                    ap = abuf;
                    a_stride = kc * MR;
                }
                for (int jr = 0; jr < nc; jr += NR) {
                    int nr = imin(NR, nc - jr);
                    const float *bpanel = bp + (jr / NR) * b_stride;
                    for (int ir = 0; ir < mc; ir += MR) {
                        int mr = imin(MR, mc - ir);
                        const float *apanel = ap + (ir / MR) * a_stride;
                        float *ct = c + (ic + ir) * ldc + jc + jr;
                        if (mr == MR && nr == NR) {
                            micro_4x8(kc, apanel, bpanel, ct, ldc, !first, last ? epi : 0, ic + ir, jc + jr);
                        } else { /* an edge tile: full tile in scratch, valid part out */
                            micro_4x8(kc, apanel, bpanel, tile, NR, 0, 0, 0, 0);
                            for (int r = 0; r < mr; r++)
                                for (int q = 0; q < nr; q++)
                                    ct[r * ldc + q] = first ? tile[r * NR + q] : ct[r * ldc + q] + tile[r * NR + q];
                            if (last) pwi_epilogue_block(c, ldc, ic + ir, jc + jr, mr, nr, epi);
                        }
                    }
                }
            }
        }
    }
}

/* ---- exported entry points -------------------------------------------------------------- */

/* A (M x K; element (i, k) at a[i*rs + k*cs]) into MR-row panels of all K: the layout
 * pwi_gemm takes with packed & 1.  dst holds ceil(M/4)*4*K floats. */
PWI_EXPORT void pwi_pack_a(int M, int K, const float *a, int rs, int cs, float *dst) {
    for (int i = 0; i < M; i += MC)
        pack_a(a, rs, cs, i, imin(MC, M - i), 0, K, dst + (i / MR) * K * MR, K * MR);
}

/* B (K x N; element (k, j) at b[k*rs + j*cs]) into NR-column panels of all K: the layout
 * pwi_gemm takes with packed & 2.  dst holds ceil(N/8)*8*K floats. */
PWI_EXPORT void pwi_pack_b(int K, int N, const float *b, int rs, int cs, float *dst) {
    bsrc_t src = {.kind = B_STRIDED, .p = b, .rs = rs, .cs = cs};
    for (int j = 0; j < N; j += NC)
        pack_b_strided(&src, 0, K, j, imin(NC, N - j), dst + (j / NR) * K * NR);
}

/* C = act(alpha * A B + bias + beta * Z) for ``batch`` independent products.
 *   A: M x K at a[i*a_rs + k*a_cs] (+ a_bs per batch), or packed (packed & 1)
 *   B: K x N at b[k*b_rs + j*b_cs] (+ b_bs per batch), or packed (packed & 2)
 *   C: M x N, row stride ldc (+ c_bs per batch)
 *   bias: per row (bias_mode 1) or column (2); Z at z[i*z_rs + j*z_cs] (+ z_bs), z_cs 0 or 1
 * A batch stride of 0 reuses the operand (broadcast). */
PWI_EXPORT void pwi_gemm(int batch, int M, int N, int K,
                         const float *a, int a_bs, int a_rs, int a_cs,
                         const float *b, int b_bs, int b_rs, int b_cs, int packed,
                         float *c, int c_bs, int ldc,
                         float alpha, const float *bias, int bias_mode,
                         const float *z, int z_bs, int z_rs, int z_cs, float beta,
                         int act, float act_a, float act_b, float *ws) {
    for (int t = 0; t < batch; t++) {
        bsrc_t src = {.kind = (packed & 2) ? B_PACKED : B_STRIDED, .p = b + t * b_bs, .rs = b_rs, .cs = b_cs};
        epi_t epi = {.alpha = alpha, .beta = beta, .bias = bias, .bias_mode = bias ? bias_mode : BIAS_NONE,
                     .z = z ? z + t * z_bs : 0, .z_rs = z_rs, .z_cs = z_cs,
                     .act = act, .act_a = act_a, .act_b = act_b};
        pwi_gemm_core(M, N, K, a + t * a_bs, a_rs, a_cs, packed & 1, &src, c + t * c_bs, ldc, &epi, ws);
    }
}
