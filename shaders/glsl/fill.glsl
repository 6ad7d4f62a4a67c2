// Tensors made from coordinates alone.  MODE 0: every element is value (ConstantOfShape);
// 1: start + o * delta (Range); 2: 1 where the column minus the row equals k (EyeLike),
// over [rows, cols] as [outer, cols]; 3: X where the column minus the row is >= k (upper)
// or <= k (lower), else 0 (Trilu).
float element(int o) {
#if {{MODE}} == 0
  return u_value();
#elif {{MODE}} == 1
  return u_value() + float(o) * u_delta();
#else
  int cols = u_cols();
  int diagonal = o % cols - (o / cols) % u_rows();
#if {{MODE}} == 2
  return diagonal == u_k() ? 1.0 : 0.0;
#else
  bool keep = u_upper() != 0 ? diagonal >= u_k() : diagonal <= u_k();
  return keep ? X_at(o) : 0.0;
#endif
#endif
}

vec4 run(int t) {
  int o = 4 * t;
  return vec4(element(o), element(o + 1), element(o + 2), element(o + 3));
}
