// The product A.B of a matrix product TARGETS (4 or 8) rows a fragment, one row a render
// target, for matmul.glsl's MODE 4 epilogue: target r's texel t holds row
// TARGETS * ib + r, columns 4 * jq .. 4 * jq + 3, where t = ib * (n / 4) + jq.  Each
// texel of B read serves 4 * TARGETS products instead of 4.  A is [m, k] with rows a_row
// apart (a multiple of 4, k too); B_T 0: B[k, j] at k * b_row + j (rows in whole
// texels); 1: at j * b_col + k (Gemm's transB: columns in whole texels).  Rows past m
// repeat the last one (never read back).
#define T {{TARGETS}}
#define INIT(r) acc[r] = vec4(0.0); a[r] = (min(T * ib + r, last) * u_a_row()) >> 2
#if {{B_T}}
#define ROW(r) x = A_texel(a[r] + q); acc[r] += vec4(dot(x, y0), dot(x, y1), dot(x, y2), dot(x, y3))
#else
#define ROW(r) x = A_texel(a[r] + q); acc[r] += x.x * y0 + x.y * y1 + x.z * y2 + x.w * y3
#endif

void run(int t, out vec4 v[T]) {
  int nq = u_n() >> 2;
  int ib = t / nq;
  int jq = t - ib * nq;
  int last = u_m() - 1;
  int kq = u_k() >> 2;
  vec4 acc[T];
  int a[T];  // where each target's row of A starts, in texels
  INIT(0);
  INIT(1);
  INIT(2);
  INIT(3);
#if T == 8
  INIT(4);
  INIT(5);
  INIT(6);
  INIT(7);
#endif
#if {{B_T}}
  int step = u_b_col() >> 2;
  int b = 4 * jq * step;
#else
  int step = u_b_row() >> 2;
#endif
  vec4 x;
  for (int q = 0; q < kq; q++) {
#if {{B_T}}
    vec4 y0 = B_texel(b + q), y1 = B_texel(b + step + q), y2 = B_texel(b + 2 * step + q),
         y3 = B_texel(b + 3 * step + q);
#else
    int row = jq + 4 * q * step;
    vec4 y0 = B_texel(row), y1 = B_texel(row + step), y2 = B_texel(row + 2 * step),
         y3 = B_texel(row + 3 * step);
#endif
    ROW(0);
    ROW(1);
    ROW(2);
    ROW(3);
#if T == 8
    ROW(4);
    ROW(5);
    ROW(6);
    ROW(7);
#endif
  }
  v[0] = acc[0];
  v[1] = acc[1];
  v[2] = acc[2];
  v[3] = acc[3];
#if T == 8
  v[4] = acc[4];
  v[5] = acc[5];
  v[6] = acc[6];
  v[7] = acc[7];
#endif
}
