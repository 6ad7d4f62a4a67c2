// uses: activations.glsl
// Y = act(Conv(X, W) + B + Z) in NCHW (1-D convolutions come as H = 1).  Output element
// (n, m, oy, ox) sums W[m, c, ky, kx] * X[n, g * c_in + c, iy, ix] over its group g's
// c_in channels, with iy = oy * stride_h - pad_h + ky * dil_h (ix likewise).
// MODE 0: each of a texel's four outputs alone; 1: four neighbours along a row (the
// output width a multiple of 4) share each weight and read the input row's run under
// their taps as RUN_TEXELS whole texels; 2: a pointwise (1x1, stride 1, no
// pad, one group) convolution over H*W a multiple of 4, a matrix product reading texels
// of X along H*W (and of W along C when C4 is 1); 3: the epilogue of a pointwise
// convolution computed as a matrix product in [N, H*W, M] order: P holds that product,
// read transposed.

float bias(int m) {
#if {{HAS_B}}
  return B_at(m);
#else
  return 0.0;
#endif
}

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

#if {{MODE}} == 2
vec4 pointwise(int n, int m, int p) {
  int channels = u_channels();
  int plane = u_in_h() * u_in_w();
  int step = plane >> 2;
  int x = (n * channels * plane + p) >> 2;
  vec4 acc = vec4(0.0);
#if {{C4}}
  int w = (m * channels) >> 2;
  for (int c = 0; c < channels; c += 4) {
    vec4 wv = W_texel(w + (c >> 2));
    int q = x + c * step;
    acc += wv.x * X_texel(q) + wv.y * X_texel(q + step) + wv.z * X_texel(q + 2 * step)
        + wv.w * X_texel(q + 3 * step);
  }
#else
  for (int c = 0; c < channels; c++) acc += W_at(m * channels + c) * X_texel(x + c * step);
#endif
  return acc;
}

#endif

vec4 run(int t) {
  int o = 4 * t;
  vec4 y;
#if {{MODE}} == 3
  for (int c = 0; c < 4; c++) {
    int e = o + c;
    int m = out_coord(e, 1);
    int plane = u_oshape(2) * u_oshape(3);
    int p = out_coord(e, 2) * u_oshape(3) + out_coord(e, 3);
    y[c] = P_at((out_coord(e, 0) * plane + p) * u_oshape(1) + m) + bias(m);
  }
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
  y = pointwise(n, m, oy * u_oshape(3) + ox) + bias(m);
#endif
#endif
#if {{HAS_Z}}
  y += Z_load4(t);
#endif
  return activate(y);
}
