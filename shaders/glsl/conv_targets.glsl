// uses: rows.glsl
// The products of a convolution TARGETS (4 or 8) output channels a fragment, one channel
// a render target; conv.glsl's MODE 3 then adds the bias, the residual and the
// activation and puts the channels in order.  Target r's texel t holds the products of
// output channel TARGETS * mb + r at four neighbouring positions:
// 4t = (n * m_blocks + mb) * q_plane + p, where p = oy * q_row + ox.  Channels past M
// are products no one reads.
// PRODUCT 0: a pointwise convolution (1x1, stride 1, no pad, one group) over X as
// [N, C, q_plane] (conv.py pads H*W to q_plane = a multiple of 4; q_row is W), W as
// [M, C]: each texel of X read (4 positions of a channel) serves 4 * TARGETS products.
// PRODUCT 1: rows.glsl over q_row = the output width rounded up to a multiple of 4.
#define T {{TARGETS}}
#define STEP(r) w = W_texel(wr[r] + c); a[r] += w.x * x0 + w.y * x1 + w.z * x2 + w.w * x3
#define ELEMENT(r) a[r] += W_at(wr[r] + c) * xv
#define INIT(r) a[r] = vec4(0.0); wr[r] = min(T * mb + r, last) * ({{C4}} == 1 ? channels >> 2 : channels)

void run(int t, out vec4 v[T]) {
  int o = 4 * t;
  int plane = u_q_plane();
  int blocks = u_m_blocks();
  int p = o % plane;
  int nm = o / plane;
  int mb = nm % blocks;
  int n = nm / blocks;
#if {{PRODUCT}} == 0
  int channels = u_channels();
  int step = plane >> 2;
  int x = (n * channels * plane + p) >> 2;
  int last = u_m() - 1;
  vec4 a[T];
  int wr[T];  // where each target's row of W starts, in texels (C4) or elements
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
#if {{C4}}
  int cq = channels >> 2;
  vec4 w;
  for (int c = 0; c < cq; c++) {
    int q = x + 4 * c * step;
    vec4 x0 = X_texel(q), x1 = X_texel(q + step), x2 = X_texel(q + 2 * step), x3 = X_texel(q + 3 * step);
    STEP(0);
    STEP(1);
    STEP(2);
    STEP(3);
#if T == 8
    STEP(4);
    STEP(5);
    STEP(6);
    STEP(7);
#endif
  }
#else
  for (int c = 0; c < channels; c++) {
    vec4 xv = X_texel(x + c * step);
    ELEMENT(0);
    ELEMENT(1);
    ELEMENT(2);
    ELEMENT(3);
#if T == 8
    ELEMENT(4);
    ELEMENT(5);
    ELEMENT(6);
    ELEMENT(7);
#endif
  }
#endif
  v[0] = a[0];
  v[1] = a[1];
  v[2] = a[2];
  v[3] = a[3];
#if T == 8
  v[4] = a[4];
  v[5] = a[5];
  v[6] = a[6];
  v[7] = a[7];
#endif
#else
  conv_rows(n, T * mb, p / u_q_row(), p % u_q_row(), v);
#endif
}
