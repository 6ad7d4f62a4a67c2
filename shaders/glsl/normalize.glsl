// uses: math.glsl
// Normalizations over rows: X viewed as [outer, k, inner]; row r = outer * inner + i
// holds X[(outer * k + j) * inner + i] for j < k.
// STAGE 0 computes each row's statistics into one texel of S ([rows, 4]); STAGE 1
// applies them to every element.  MODE:
//   0 Softmax / LogSoftmax (LOG): S = (max, sum of exp(x - max))
//   1 moments (LayerNormalization, InstanceNormalization, GroupNormalization):
//     S = (mean, 1 / sqrt(var + epsilon)); Y = (x - mean) * inv * scale + bias
//   2 RMSNormalization: S = (1 / sqrt(mean(x*x) + epsilon)); Y = x * inv * scale
//   3 LpNormalization: S = (|x|_p); Y = x / norm (0 where the norm is 0)
//   4 Hardmax: S = (index of the row's first maximum); Y = 1 there, else 0
//   5 BatchNormalization (STAGE 1 only): Y = (x - MN) / sqrt(VR + epsilon) * SC + BI
// VEC 1: rows are contiguous runs of a multiple of 4 (inner = 1), read by texels.

#if {{STAGE}} == 0
float row_at(int start, int j) { return X_at(start + j * u_inner()); }

vec4 run(int r) {
  int k = u_k();
  int start = (r / u_inner()) * k * u_inner() + r % u_inner();
#if {{MODE}} == 0
  float m = -uintBitsToFloat(0x7f800000u);
  for (int j = 0; j < k; j++) m = max(m, row_at(start, j));
  float s = 0.0;
  for (int j = 0; j < k; j++) s += exp(row_at(start, j) - m);
  return vec4(m, s, 0.0, 0.0);
#elif {{MODE}} == 4
  float m = row_at(start, 0);
  int at = 0;
  for (int j = 1; j < k; j++) {
    float v = row_at(start, j);
    if (v > m) {
      m = v;
      at = j;
    }
  }
  return vec4(float(at), 0.0, 0.0, 0.0);
#else
  vec4 a = vec4(0.0);
#if {{VEC}}
  for (int j = 0; j < k; j += 4) {
    vec4 v = X_texel((start + j) >> 2);
#if {{MODE}} == 3
    a += u_p() == 1.0 ? abs(v) : v * v;
#elif {{MODE}} == 2
    a += v * v;
#else
    a += v;
#endif
  }
  float total = a.x + a.y + a.z + a.w;
#else
  float total = 0.0;
  for (int j = 0; j < k; j++) {
    float v = row_at(start, j);
#if {{MODE}} == 3
    total += u_p() == 1.0 ? abs(v) : v * v;
#elif {{MODE}} == 2
    total += v * v;
#else
    total += v;
#endif
  }
#endif
#if {{MODE}} == 3
  return vec4(u_p() == 1.0 ? total : sqrt(total), 0.0, 0.0, 0.0);
#elif {{MODE}} == 2
  return vec4(1.0 / sqrt(total / float(k) + u_epsilon()), 0.0, 0.0, 0.0);
#else
  float mean = total / float(k);
  float sq = 0.0;
#if {{VEC}}
  vec4 d4 = vec4(0.0);
  for (int j = 0; j < k; j += 4) {
    vec4 d = X_texel((start + j) >> 2) - mean;
    d4 += d * d;
  }
  sq = d4.x + d4.y + d4.z + d4.w;
#else
  for (int j = 0; j < k; j++) {
    float d = row_at(start, j) - mean;
    sq += d * d;
  }
#endif
  return vec4(mean, 1.0 / sqrt(sq / float(k) + u_epsilon()), 0.0, 0.0);
#endif
#endif
}

#else
int row_of(int o) {
  int inner = u_inner();
  return (o / (u_k() * inner)) * inner + o % inner;
}

vec4 run(int t) {
  int o = 4 * t;
  vec4 x = X_load4(t);
#if {{MODE}} == 5
  return (x - MN_load4(t)) / sqrt(VR_load4(t) + u_epsilon()) * SC_load4(t) + BI_load4(t);
#else
  vec4 s0;
  vec4 s1;
  for (int c = 0; c < 4; c++) {
    vec4 s = S_texel(row_of(o + c));
    s0[c] = s.x;
    s1[c] = s.y;
  }
#if {{MODE}} == 0 && {{LOG}}
  return x - s0 - log(s1);
#elif {{MODE}} == 0
  return exp(x - s0) / s1;
#elif {{MODE}} == 1
  vec4 y = (x - s0) * s1 * SC_load4(t);
#if {{HAS_BIAS}}
  y += BI_load4(t);
#endif
  return y;
#elif {{MODE}} == 2
  return x * s0 * SC_load4(t);
#elif {{MODE}} == 3
  return mix(x / s0, vec4(0.0), equal(s0, vec4(0.0)));
#else
  ivec4 j = (ivec4(o) + ivec4(0, 1, 2, 3)) / u_inner() % u_k();
  return vec4(equal(vec4(j), s0));
#endif
#endif
}
#endif
