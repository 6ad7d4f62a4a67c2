// One axis of Resize / Upsample (interpolation is separable: one draw per resized axis).
// X is viewed as [outer, in_len, inner], the output as [outer, out_len, inner].  The tap
// table T holds, per output position j along the axis, taps pairs (input index, weight)
// and a flag set where j falls outside the input (tf_crop_and_resize): those take the
// extrapolation value.  TRUNC truncates an integer result.
float element(int o) {
  int inner = u_inner();
  int n = u_out_len();
  int j = (o / inner) % n;
  int a = o / (inner * n);
  int taps = u_taps();
  int row = j * (2 * taps + 1);
  if (T_at(row + 2 * taps) != 0.0) return u_extrapolation();
  int base = a * u_in_len() * inner + o % inner;
  float acc = 0.0;
  for (int k = 0; k < taps; k++) {
    float w = T_at(row + 2 * k + 1);
    if (w != 0.0) acc += w * X_at(base + int(T_at(row + 2 * k)) * inner);
  }
  return acc;
}

vec4 run(int t) {
  int o = 4 * t;
  vec4 r = vec4(element(o), element(o + 1), element(o + 2), element(o + 3));
#if {{TRUNC}}
  r = trunc(r);
#endif
  return r;
}
