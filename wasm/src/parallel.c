/* Work split for the worker pool (pywebinfer/backends/wasm/threads.py).
 *
 * A job is one pwi_gemm or pwi_conv2d call written as int32 words in linear memory: an
 * opcode, then the function's arguments in order (floats as their bits), the workspace
 * argument replaced by the first thread's workspace and followed by the distance in
 * floats between two threads' workspaces.  Threads call pwi_job(job, part, parts, thread)
 * on the same words for every part (chunk) they claim; each part is a disjoint block of
 * the output, so no thread writes
 * what another reads: no locks, and the result does not depend on the thread count
 * (each output value is summed in the same order as by one thread).
 *
 * The split: whole batches / images / groups when there are enough of them; inside one
 * product, output columns (in register-tile multiples) when the output is wider than it
 * is tall, else output rows.  Only pointers move: no kernel changes.
 */
#include "pwi.h"

enum { JOB_GEMM = 1, JOB_CONV = 2 };

typedef union {
    int32_t i;
    float f;
} word_t;

void pwi_conv2d(const float *x, int N, int C, int H, int W, const float *w, int w_packed, int M, int group,
                int KH, int KW, int SH, int SW, int PT, int PL, int DH, int DW, int OH, int OW, float *y,
                const float *bias, const float *z, int act, float act_a, float act_b, float *ws);
void pwi_gemm(int batch, int M, int N, int K, const float *a, int a_bs, int a_rs, int a_cs, const float *b,
              int b_bs, int b_rs, int b_cs, int packed, float *c, int c_bs, int ldc, float alpha,
              const float *bias, int bias_mode, const float *z, int z_bs, int z_rs, int z_cs, float beta,
              int act, float act_a, float act_b, float *ws);

PWI_INLINE int lesser(int a, int b) { return a < b ? a : b; }

/* Part ``part`` of [0, n) cut in ``unit``-sized pieces: [*lo, *hi) */
static void span(int n, int unit, int part, int parts, int *lo, int *hi) {
    int units = (n + unit - 1) / unit;
    *lo = lesser(n, (int)((long long)units * part / parts) * unit);
    *hi = lesser(n, (int)((long long)units * (part + 1) / parts) * unit);
}

#define JP(n) ((float *)(uintptr_t)(uint32_t)j[n].i)
#define JI(n) (j[n].i)
#define JF(n) (j[n].f)

static void gemm_job(const word_t *j, int part, int parts, int thread) {
    int batch = JI(1), M = JI(2), N = JI(3), K = JI(4);
    const float *a = JP(5), *b = JP(9), *bias = JP(18), *z = JP(20);
    int a_bs = JI(6), a_rs = JI(7), a_cs = JI(8), b_bs = JI(10), b_rs = JI(11), b_cs = JI(12), packed = JI(13);
    float *c = JP(14);
    int c_bs = JI(15), ldc = JI(16), bias_mode = JI(19), z_bs = JI(21), z_rs = JI(22), z_cs = JI(23);
    float *ws = JP(28) + thread * JI(29);
    int lo, hi;
    if (batch >= parts) { /* whole products */
        span(batch, 1, part, parts, &lo, &hi);
        if (hi > lo)
            pwi_gemm(hi - lo, M, N, K, a + lo * a_bs, a_bs, a_rs, a_cs, b + lo * b_bs, b_bs, b_rs, b_cs, packed,
                     c + lo * c_bs, c_bs, ldc, JF(17), bias, bias_mode, z ? z + lo * z_bs : 0, z_bs, z_rs, z_cs,
                     JF(24), JI(25), JF(26), JF(27), ws);
        return;
    }
    if ((N >= M && N >= parts * NR) || M < parts * MR) { /* columns, whole 8-column panels */
        span(N, NR, part, parts, &lo, &hi);
        if (hi <= lo) return;
        const float *bj = (packed & 2) ? b + lo * K : b + lo * b_cs; /* packed: K x 8 panels */
        pwi_gemm(batch, M, hi - lo, K, a, a_bs, a_rs, a_cs, bj, b_bs, b_rs, b_cs, packed, c + lo, c_bs, ldc,
                 JF(17), bias && bias_mode == BIAS_COL ? bias + lo : bias, bias_mode, z ? z + lo * z_cs : 0,
                 z_bs, z_rs, z_cs, JF(24), JI(25), JF(26), JF(27), ws);
    } else { /* rows, whole 4-row panels */
        span(M, MR, part, parts, &lo, &hi);
        if (hi <= lo) return;
        const float *ai = (packed & 1) ? a + lo * K : a + lo * a_rs;
        pwi_gemm(batch, hi - lo, N, K, ai, a_bs, a_rs, a_cs, b, b_bs, b_rs, b_cs, packed, c + lo * ldc, c_bs,
                 ldc, JF(17), bias && bias_mode == BIAS_ROW ? bias + lo : bias, bias_mode,
                 z ? z + lo * z_rs : 0, z_bs, z_rs, z_cs, JF(24), JI(25), JF(26), JF(27), ws);
    }
}

static void conv_job(const word_t *j, int part, int parts, int thread) {
    const float *x = JP(1), *w = JP(6), *bias = JP(21), *z = JP(22);
    int N = JI(2), C = JI(3), H = JI(4), W = JI(5), w_packed = JI(7), M = JI(8), group = JI(9), KH = JI(10), KW = JI(11);
    int SH = JI(12), SW = JI(13), PT = JI(14), PL = JI(15), DH = JI(16), DW = JI(17), OH = JI(18), OW = JI(19);
    float *y = JP(20);
    int act = JI(23);
    float act_a = JF(24), act_b = JF(25);
    float *ws = JP(26) + thread * JI(27);
    const int Cg = C / group, Mg = M / group, K = Cg * KH * KW, P = OH * OW, HW = H * W, taps = KH * KW;
    int lo, hi;
    if (Cg == 1 && !w_packed) { /* depthwise: input channels (with their Mg outputs) over all images */
        span(N * C, 1, part, parts, &lo, &hi);
        while (lo < hi) {
            int n = lo / C, c0 = lo - n * C, c1 = lesser(C, c0 + (hi - lo)), m0 = c0 * Mg, out = n * M + m0;
            pwi_conv2d(x + (n * C + c0) * HW, 1, c1 - c0, H, W, w + m0 * taps, 0, (c1 - c0) * Mg, c1 - c0, KH,
                       KW, SH, SW, PT, PL, DH, DW, OH, OW, y + out * P, bias ? bias + m0 : 0,
                       z ? z + out * P : 0, act, act_a, act_b, ws);
            lo += c1 - c0;
        }
        return;
    }
    const int group_floats = w_packed ? (Mg + MR - 1) / MR * MR * K : Mg * K;
    if (N * group >= parts) { /* whole (image, group) products */
        span(N * group, 1, part, parts, &lo, &hi);
        for (int item = lo; item < hi; item++) {
            int n = item / group, g = item - n * group, out = n * M + g * Mg;
            pwi_conv2d(x + (n * C + g * Cg) * HW, 1, Cg, H, W, w + g * group_floats, w_packed, Mg, 1, KH, KW, SH,
                       SW, PT, PL, DH, DW, OH, OW, y + out * P, bias ? bias + g * Mg : 0, z ? z + out * P : 0,
                       act, act_a, act_b, ws);
        }
        return;
    }
    /* fewer products than threads (one image, one group, as a rule): split each one */
    const int pointwise = KH == 1 && KW == 1 && SH == 1 && SW == 1 && PT == 0 && PL == 0 && OH == H && OW == W;
    for (int n = 0; n < N; n++)
        for (int g = 0; g < group; g++) {
            const float *xg = x + (n * C + g * Cg) * HW, *wg = w + g * group_floats;
            int out = n * M + g * Mg;
            float *yg = y + out * P;
            const float *zg = z ? z + out * P : 0, *bg = bias ? bias + g * Mg : 0;
            bsrc_t src;
            epi_t epi = {.alpha = 1.0f, .beta = 1.0f, .bias = bg, .bias_mode = bias ? BIAS_ROW : BIAS_NONE,
                         .z = zg, .z_rs = P, .z_cs = 1, .act = act, .act_a = act_a, .act_b = act_b};
            /* columns when the output is wider than tall (or too few channels to share) */
            int by_columns = (pointwise ? P >= parts * NR : OH >= parts) && (P >= Mg || Mg < MR * parts);
            if (by_columns && pointwise) { /* output positions: columns of the image matrix */
                span(P, NR, part, parts, &lo, &hi);
                if (hi <= lo) continue;
                src = (bsrc_t){.kind = B_STRIDED, .p = xg + lo, .rs = HW, .cs = 1};
                epi.z = zg ? zg + lo : 0;
                pwi_gemm_core(Mg, hi - lo, K, wg, K, 1, w_packed, &src, yg + lo, P, &epi, ws);
            } else if (by_columns) { /* whole output rows: the same convolution, shifted down */
                span(OH, 1, part, parts, &lo, &hi);
                if (hi <= lo) continue;
                src = (bsrc_t){.kind = B_IM2COL, .p = xg, .H = H, .W = W, .KH = KH, .KW = KW, .SH = SH, .SW = SW,
                               .PT = PT - lo * SH, .PL = PL, .DH = DH, .DW = DW, .OW = OW};
                epi.z = zg ? zg + lo * OW : 0;
                pwi_gemm_core(Mg, (hi - lo) * OW, K, wg, K, 1, w_packed, &src, yg + lo * OW, P, &epi, ws);
            } else { /* output channels: rows of the weights, whole 4-row panels */
                span(Mg, MR, part, parts, &lo, &hi);
                if (hi <= lo) continue;
                if (pointwise)
                    src = (bsrc_t){.kind = B_STRIDED, .p = xg, .rs = HW, .cs = 1};
                else
                    src = (bsrc_t){.kind = B_IM2COL, .p = xg, .H = H, .W = W, .KH = KH, .KW = KW, .SH = SH,
                                   .SW = SW, .PT = PT, .PL = PL, .DH = DH, .DW = DW, .OW = OW};
                epi.bias = bg ? bg + lo : 0;
                epi.z = zg ? zg + lo * P : 0;
                pwi_gemm_core(hi - lo, P, K, wg + lo * K, K, 1, w_packed, &src, yg + lo * P, P, &epi, ws);
            }
        }
}

/* Part ``part`` (0 .. parts-1) of the job at ``job`` (the words described above),
 * computed by thread ``thread`` (whose workspace it uses). */
PWI_EXPORT void pwi_job(const int32_t *job, int part, int parts, int thread) {
    const word_t *j = (const word_t *)job;
    if (parts < 1 || part < 0 || part >= parts || thread < 0) return;
    if (j[0].i == JOB_GEMM) gemm_job(j, part, parts, thread);
    else if (j[0].i == JOB_CONV) conv_job(j, part, parts, thread);
}
