// Data movement as an affine map (Transpose, Slice, Split, Expand, Tile, DepthToSpace,
// SpaceToDepth): output element o reads X at base + sum_d c_d * estride_d, where c_d is
// o's coordinate d, taken modulo wrap_d where wrap_d > 0 (Tile repeats its input).
float element(int o) {
  int i = u_base();
  for (int d = 0; d < RANK; d++) {
    int c = out_coord(o, d);
    int w = u_wrap(d);
    if (w > 0) c -= w * (c / w);
    i += c * u_estride(d);
  }
  return X_at(i);
}

vec4 run(int t) {
  int o = 4 * t;
  return vec4(element(o), element(o + 1), element(o + 2), element(o + 3));
}
