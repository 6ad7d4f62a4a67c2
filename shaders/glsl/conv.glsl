// uses: activations.glsl, rows.glsl
// Y = act(Conv(X, W) + B + Z) in NCHW (1-D convolutions come as H = 1).  Output element
// (n, m, oy, ox) sums W[m, c, ky, kx] * X[n, g * c_in + c, iy, ix] over its group g's
// c_in channels, with iy = oy * stride_h - pad_h + ky * dil_h (ix likewise).
// MODE 0: each of a texel's four outputs alone; 1: four neighbours along a row (the
// output width a multiple of 4) share each weight and read the input row's run under
// their taps as RUN_TEXELS whole texels, indexed at run time (kernels too wide for
// MODE 4); 4: MODE 1's work with every lane at a fixed place (rows.glsl); 3: the
// epilogue of products conv_targets.glsl rendered into QS (4 or 8) targets Q0.., QS
// output channels at once (output channel m is in Q(m % QS)); Q_TEXELS: each output
// texel's four are one texel there.

float bias(int m) {
#if {{HAS_B}}
  return B_at(m);
#else
  return 0.0;
#endif
}

#if {{MODE}} == 3
int m_blocks() { return (u_oshape(1) + {{QS}} - 1) / {{QS}}; }

vec4 quad_texel(int r, int t) {
  if (r == 0) return Q0_texel(t);
  if (r == 1) return Q1_texel(t);
  if (r == 2) return Q2_texel(t);
#if {{QS}} == 8
  if (r == 3) return Q3_texel(t);
  if (r == 4) return Q4_texel(t);
  if (r == 5) return Q5_texel(t);
  if (r == 6) return Q6_texel(t);
  return Q7_texel(t);
#else
  return Q3_texel(t);
#endif
}

float quad_at(int r, int i) { return quad_texel(r, i >> 2)[i & 3]; }
#endif

#if {{MODE}} == 0
float conv1(int n, int m, int oy, int ox) {
  int c_in = u_c_in();
  int g = m / u_m_group();
  int kh = u_k_h();
  int kw = u_k_w();
  float acc = 0.0;
  for (int c = 0; c < c_in; c++) {
    int plane = (n * u_channels() + g * c_in + c) * u_in_h();
    int w_base = (m * c_in + c) * kh * kw;
    for (int ky = 0; ky < kh; ky++) {
      int iy = oy * u_stride_h() - u_pad_h() + ky * u_dil_h();
      if (iy < 0 || iy >= u_in_h()) continue;
      int row = (plane + iy) * u_in_w();
      for (int kx = 0; kx < kw; kx++) {
        int ix = ox * u_stride_w() - u_pad_w() + kx * u_dil_w();
        if (ix < 0 || ix >= u_in_w()) continue;
        acc += W_at(w_base + ky * kw + kx) * X_at(row + ix);
      }
    }
  }
  return acc;
}

#endif

#if {{MODE}} == 1
// a run of X's elements from first on, read as whole texels: window[j] is element
// (first & ~3) + j; the lanes' taps along a row all fall in one such run
void load_run(int first, out float window[4 * {{RUN_TEXELS}}]) {
  int t0 = first >> 2;
  for (int j = 0; j < {{RUN_TEXELS}}; j++) {
    vec4 v = X_texel(t0 + j);
    window[4 * j] = v.x;
    window[4 * j + 1] = v.y;
    window[4 * j + 2] = v.z;
    window[4 * j + 3] = v.w;
  }
}

vec4 conv4(int n, int m, int oy, int ox) {
  int c_in = u_c_in();
  int g = m / u_m_group();
  int kh = u_k_h();
  int kw = u_k_w();
  int in_w = u_in_w();
  int sw = u_stride_w();
  int dw = u_dil_w();
  int col0 = ox * sw - u_pad_w();  // lane 0's column at tap 0
  vec4 acc = vec4(0.0);
  float window[4 * {{RUN_TEXELS}}];
  for (int c = 0; c < c_in; c++) {
    int plane = (n * u_channels() + g * c_in + c) * u_in_h();
    int w_base = (m * c_in + c) * kh * kw;
    for (int ky = 0; ky < kh; ky++) {
      int iy = oy * u_stride_h() - u_pad_h() + ky * u_dil_h();
      if (iy < 0 || iy >= u_in_h()) continue;
      int first = (plane + iy) * in_w + col0;
      load_run(first, window);
      int skew = first - 4 * (first >> 2);
      for (int kx = 0; kx < kw; kx++) {
        vec4 x;
        for (int q = 0; q < 4; q++) {
          int col = col0 + q * sw + kx * dw;
          x[q] = col >= 0 && col < in_w ? window[skew + q * sw + kx * dw] : 0.0;
        }
        acc += W_at(w_base + ky * kw + kx) * x;
      }
    }
  }
  return acc;
}
#endif

vec4 run(int t) {
  int o = 4 * t;
  vec4 y;
#if {{MODE}} == 3
#if {{Q_TEXELS}}
  // the texel's four outputs share a channel and sit side by side in one target
  int n = out_coord(o, 0);
  int m = out_coord(o, 1);
  int p = out_coord(o, 2) * u_oshape(3) + out_coord(o, 3);
  y = quad_texel(m % {{QS}}, ((n * m_blocks() + m / {{QS}}) * u_q_plane() + p) >> 2) + bias(m);
#else
  for (int c = 0; c < 4; c++) {
    int e = o + c;
    int m = out_coord(e, 1);
    int p = out_coord(e, 2) * u_q_row() + out_coord(e, 3);
    y[c] = quad_at(m % {{QS}}, (out_coord(e, 0) * m_blocks() + m / {{QS}}) * u_q_plane() + p) + bias(m);
  }
#endif
#elif {{MODE}} == 0
  for (int c = 0; c < 4; c++) {
    int e = o + c;
    int m = out_coord(e, 1);
    y[c] = conv1(out_coord(e, 0), m, out_coord(e, 2), out_coord(e, 3)) + bias(m);
  }
#else
  int n = out_coord(o, 0);
  int m = out_coord(o, 1);
  int oy = out_coord(o, 2);
  int ox = out_coord(o, 3);
#if {{MODE}} == 1
  y = conv4(n, m, oy, ox) + bias(m);
#else
  vec4 acc[1];
  conv_rows(n, m, oy, ox, acc);
  y = acc[0] + bias(m);
#endif
#endif
#if {{HAS_Z}}
  y += Z_load4(t);
#endif
  return activate(y);
}
