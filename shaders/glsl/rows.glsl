// Convolution along rows with every lane at a fixed place (conv.glsl MODE 4 with one
// target, conv_targets.glsl with four): the TARGETS output channels m .. m + TARGETS - 1
// at four neighbouring columns ox .. ox + 3 of row oy.  Aligned
// rows (ALIGNED: the input width a multiple of 4, as is ox): the window under the taps
// starts SKEW = (-pad_w) & 3 lanes into its first texel in every fragment, and each of
// its texels lies wholly inside or outside the row (padding).  Other rows: the window
// is read one texel wider and shifted by its start's lane (selects, no indexing), and
// SKEW is 0.  Either way every tap's four lanes are fixed components of fixed window
// texels: nothing is indexed at run time, which SwiftShader does lane by lane.  W comes
// re-laid out (conv.py), for one target as [M, C/group, KH, KW_TEXELS * 4]: each kernel
// row in whole texels (no tap reads the pad lanes); for TARGETS (4 or 8) as
// [M/TARGETS, C/group, KH, KW, TARGETS]: TARGETS / 4 texels hold one tap of the channels
// (m a multiple of TARGETS).  The channels share a group, so they share the window: one
// read of X serves 4 * KW * TARGETS products.  ROWS 0: a program without it.
#if {{ROWS}}
#define E(i) win[(i) >> 2][(i) & 3]
#define LANES(i) vec4(E(i), E((i) + {{SW}}), E((i) + 2 * {{SW}}), E((i) + 3 * {{SW}}))
#define WK(w, k) w[(k) >> 2][(k) & 3]
#if {{TARGETS}} == 8
#define TAP(k) x = LANES({{SKEW}} + (k) * {{DW}}); wv = W_texel(wt + 2 * (k)); a0 += wv.x * x; a1 += wv.y * x; a2 += wv.z * x; a3 += wv.w * x; wv = W_texel(wt + 2 * (k) + 1); a4 += wv.x * x; a5 += wv.y * x; a6 += wv.z * x; a7 += wv.w * x
#elif {{TARGETS}} == 4
#define TAP(k) x = LANES({{SKEW}} + (k) * {{DW}}); wv = W_texel(wt + (k)); a0 += wv.x * x; a1 += wv.y * x; a2 += wv.z * x; a3 += wv.w * x
#else
#define TAP(k) a0 += WK(wk0, k) * LANES({{SKEW}} + (k) * {{DW}})
#endif
#if {{KW_TEXELS}} > 1
#define WROW(w, m) wt = (((m) * c_in + c) * kh + ky) * {{KW_TEXELS}}; w[0] = W_texel(wt); w[1] = W_texel(wt + 1)
#else
#define WROW(w, m) w[0] = W_texel(((m) * c_in + c) * kh + ky)
#endif
#if {{ALIGNED}}
#define LOAD(j) win[j] = inside[j] ? X_texel(t0 + j) : vec4(0.0)
#else
#define LOAD(j) next = X_texel(t0 + j + 1); win[j] = mix(vec4(0.0), shifted(last, next, lane), inside[j]); last = next
// lanes lane .. lane + 3 of the eight in a, b
vec4 shifted(vec4 a, vec4 b, int lane) {
  vec4 low = mix(a, vec4(a.yzw, b.x), bvec4(lane == 1));
  vec4 high = mix(vec4(a.zw, b.xy), vec4(a.w, b.xyz), bvec4(lane == 3));
  return mix(low, high, bvec4(lane >= 2));
}
#endif

void conv_rows(int n, int m, int oy, int ox, out vec4 acc[{{TARGETS}}]) {
  int c_in = u_c_in();
  int g = m / u_m_group();
  int kh = u_k_h();
  int in_h = u_in_h();
  int in_w = u_in_w();
  int c0 = ox * {{SW}} - u_pad_w() - {{SKEW}};  // the window's first column
#if {{ALIGNED}}
  bool inside[{{RUN_TEXELS}}];
  for (int j = 0; j < {{RUN_TEXELS}}; j++) inside[j] = c0 + 4 * j >= 0 && c0 + 4 * j < in_w;
#else
  bvec4 inside[{{RUN_TEXELS}}];
  for (int j = 0; j < {{RUN_TEXELS}}; j++) {
    ivec4 col = ivec4(c0 + 4 * j) + ivec4(0, 1, 2, 3);
    inside[j] = bvec4(uvec4(greaterThanEqual(col, ivec4(0))) & uvec4(lessThan(col, ivec4(in_w))));
  }
  vec4 last, next;
#endif
#if {{TARGETS}} >= 4
  vec4 a1 = vec4(0.0), a2 = vec4(0.0), a3 = vec4(0.0);
  vec4 x, wv;
#endif
#if {{TARGETS}} == 8
  vec4 a4 = vec4(0.0), a5 = vec4(0.0), a6 = vec4(0.0), a7 = vec4(0.0);
#endif
  vec4 win[{{RUN_TEXELS}}];
#if {{TARGETS}} == 1
  vec4 wk0[{{KW_TEXELS}}];
#endif
  vec4 a0 = vec4(0.0);
  int wt;
  int iy0 = oy * u_stride_h() - u_pad_h();
  for (int c = 0; c < c_in; c++) {
    int plane = (n * u_channels() + g * c_in + c) * in_h;
    for (int ky = 0; ky < kh; ky++) {
      int iy = iy0 + ky * u_dil_h();
      if (iy < 0 || iy >= in_h) continue;
      int first = (plane + iy) * in_w + c0;
      int t0 = first >> 2;
#if !{{ALIGNED}}
      int lane = first & 3;
      last = X_texel(t0);
#endif
      LOAD(0);
#if {{RUN_TEXELS}} > 1
      LOAD(1);
#endif
#if {{RUN_TEXELS}} > 2
      LOAD(2);
#endif
#if {{RUN_TEXELS}} > 3
      LOAD(3);
#endif
#if {{RUN_TEXELS}} > 4
      LOAD(4);
#endif
#if {{RUN_TEXELS}} > 5
      LOAD(5);
#endif
#if {{TARGETS}} >= 4
      wt = (((m / {{TARGETS}}) * c_in + c) * kh + ky) * {{KW}} * ({{TARGETS}} / 4);
#else
      WROW(wk0, m);
#endif
      TAP(0);
#if {{KW}} > 1
      TAP(1);
#endif
#if {{KW}} > 2
      TAP(2);
#endif
#if {{KW}} > 3
      TAP(3);
#endif
#if {{KW}} > 4
      TAP(4);
#endif
#if {{KW}} > 5
      TAP(5);
#endif
#if {{KW}} > 6
      TAP(6);
#endif
#if {{KW}} > 7
      TAP(7);
#endif
    }
  }
  acc[0] = a0;
#if {{TARGETS}} >= 4
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
#endif
#if {{TARGETS}} == 8
  acc[4] = a4;
  acc[5] = a5;
  acc[6] = a6;
  acc[7] = a7;
#endif
}
#endif
