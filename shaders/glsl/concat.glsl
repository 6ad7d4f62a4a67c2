// Concat of up to 8 inputs X0..X7 along one axis.  The output is viewed as
// [outer, axis_len, inner]; input k covers axis positions offset(k) .. offset(k+1)-1.
float element(int o) {
  int inner = u_inner();
  int axis_len = u_offset({{COUNT}});
  int a = (o / inner) % axis_len;
  int outer = o / (inner * axis_len);
  int k = 0;
  for (int j = 1; j < {{COUNT}}; j++) {
    if (a >= u_offset(j)) k = j;
  }
  int len = u_offset(k + 1) - u_offset(k);
  int i = (outer * len + a - u_offset(k)) * inner + o % inner;
#if {{COUNT}} > 1
  if (k == 1) return X1_at(i);
#endif
#if {{COUNT}} > 2
  if (k == 2) return X2_at(i);
#endif
#if {{COUNT}} > 3
  if (k == 3) return X3_at(i);
#endif
#if {{COUNT}} > 4
  if (k == 4) return X4_at(i);
#endif
#if {{COUNT}} > 5
  if (k == 5) return X5_at(i);
#endif
#if {{COUNT}} > 6
  if (k == 6) return X6_at(i);
#endif
#if {{COUNT}} > 7
  if (k == 7) return X7_at(i);
#endif
  return X0_at(i);
}

vec4 run(int t) {
  int o = 4 * t;
  return vec4(element(o), element(o + 1), element(o + 2), element(o + 3));
}
