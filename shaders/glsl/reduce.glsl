// Reductions (ReduceSum ... ReduceLogSumExp, ArgMax / ArgMin, the global pools).
// Output element o is X's kept coordinates; its reduction runs over k = 0 .. k-1:
//   base(o) = sum_d out_coord(o, d) * kept_d           (X's offset of o's first element)
//   offset(k) = k                                       (CONTIG 1 or 2: X's innermost run)
//             = sum_j ((k / rstride_j) % rshape_j) * rin_j   (CONTIG 0: any reduced axes)
// CONTIG 2 reads texels (k a multiple of 4).  The value folded is XFORM(x) (0 x, 1 |x|,
// 2 x*x, 3 |x|**p) combined by COMBINE (0 +, 1 *, 2 max, 3 min) and finished by FINISH (0 as is,
// 1 / k, 2 sqrt, 3 log, 4 pow(., 1/p)); SPECIAL 1 is log-sum-exp, 2 / 3 the index of the
// first (last with SELECT_LAST) max / min.  TRUNC truncates integer results; BOOL
// starts max / min of booleans at false / true.

float xform(float v) {
#if {{XFORM}} == 1
  return abs(v);
#elif {{XFORM}} == 2
  return v * v;
#elif {{XFORM}} == 3
  return pow(abs(v), u_p());
#else
  return v;
#endif
}

vec4 xform4(vec4 v) { return vec4(xform(v.x), xform(v.y), xform(v.z), xform(v.w)); }

float combine(float a, float b) {
#if {{COMBINE}} == 1
  return a * b;
#elif {{COMBINE}} == 2
  return max(a, b);
#elif {{COMBINE}} == 3
  return min(a, b);
#else
  return a + b;
#endif
}

float start_value() {
#if {{BOOL}} && {{COMBINE}} >= 2
  return {{COMBINE}} == 2 ? 0.0 : 1.0;  // max / min over no booleans: false / true
#elif {{COMBINE}} == 1
  return 1.0;
#elif {{COMBINE}} == 2
  return -uintBitsToFloat(0x7f800000u);
#elif {{COMBINE}} == 3
  return uintBitsToFloat(0x7f800000u);
#else
  return 0.0;
#endif
}

float finish(float acc, int k_len) {
#if {{FINISH}} == 1
  return acc / float(k_len);
#elif {{FINISH}} == 2
  return sqrt(acc);
#elif {{FINISH}} == 3
  return acc == 0.0 ? -uintBitsToFloat(0x7f800000u) : log(acc);
#elif {{FINISH}} == 4
  return pow(acc, 1.0 / u_p());
#else
  return acc;
#endif
}

float value_at(int base, int k) {
#if {{CONTIG}}
  return X_at(base + k);
#else
  int off = 0;
  for (int j = 0; j < {{RR}}; j++) off += ((k / u_rstride(j)) % u_rshape(j)) * u_rin(j);
  return X_at(base + off);
#endif
}

float reduce1(int o) {
  int base = 0;
  for (int d = 0; d < RANK; d++) base += out_coord(o, d) * u_kept(d);
  int k_len = u_k();
#if {{SPECIAL}} == 1
  float m = -uintBitsToFloat(0x7f800000u);
  for (int k = 0; k < k_len; k++) m = max(m, value_at(base, k));
  float shift = abs(m) > 3.4028235e38 ? 0.0 : m;  // infinite maxima are not shifted
  float s = 0.0;
  for (int k = 0; k < k_len; k++) s += exp(value_at(base, k) - shift);
  return log(s) + shift;
#elif {{SPECIAL}} >= 2
  float best = value_at(base, 0);
  int at = 0;
  for (int k = 1; k < k_len; k++) {
    float v = value_at(base, k);
#if {{SPECIAL}} == 2
    bool better = {{SELECT_LAST}} == 1 ? v >= best : v > best;
#else
    bool better = {{SELECT_LAST}} == 1 ? v <= best : v < best;
#endif
    if (better) {
      best = v;
      at = k;
    }
  }
  return float(at);
#elif {{CONTIG}} == 2
  vec4 acc = vec4(start_value());
  for (int k = 0; k < k_len; k += 4) {
    vec4 v = xform4(X_texel((base + k) >> 2));
    acc = vec4(combine(acc.x, v.x), combine(acc.y, v.y), combine(acc.z, v.z), combine(acc.w, v.w));
  }
  return finish(combine(combine(acc.x, acc.y), combine(acc.z, acc.w)), k_len);
#else
  float acc = start_value();
  for (int k = 0; k < k_len; k++) acc = combine(acc, xform(value_at(base, k)));
  return finish(acc, k_len);
#endif
}

vec4 run(int t) {
  int o = 4 * t;
  vec4 r = vec4(reduce1(o), reduce1(o + 1), reduce1(o + 2), reduce1(o + 3));
#if {{TRUNC}}
  r = trunc(r);  // an integer result of a float finish (mean, sqrt, log) truncates
#endif
  return r;
}
