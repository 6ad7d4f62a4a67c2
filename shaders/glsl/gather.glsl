// Index-driven reads; I holds the indices (negative ones count from the end).
// MODE 0 Gather: the output is [outer, n, inner]; element (a, j, i) reads
//   X[(a * axis_len + I[j]) * inner + i]  (VEC: inner a multiple of 4, whole texels)
// MODE 1 GatherElements: output coordinate c reads X at c with c[axis] = I[c]
// MODE 2 GatherND: output element o = (row r, i < inner) reads X at
//   (r / per_batch) * batch_stride + sum_j I[r * m + j] * dstride_j + i
// MODE 3 OneHot: the output is [outer, depth, inner]; element (a, d, i) is on_value
//   where I[a * inner + i] == d, else off_value

int wrap_index(float v, int len) {
  int i = int(v);
  return i < 0 ? i + len : i;
}

#if {{MODE}} == 0 && {{VEC}}
vec4 run(int t) {
  int o = 4 * t;
  int inner = u_inner();
  int n = u_count();
  int i = o % inner;
  int a = o / (inner * n);
  int j = (o / inner) % n;
  return X_texel(((a * u_axis_len() + wrap_index(I_at(j), u_axis_len())) * inner + i) >> 2);
}
#else
float element(int o) {
#if {{MODE}} == 0
  int inner = u_inner();
  int n = u_count();
  int j = (o / inner) % n;
  int a = o / (inner * n);
  return X_at((a * u_axis_len() + wrap_index(I_at(j), u_axis_len())) * inner + o % inner);
#elif {{MODE}} == 1
  int at = 0;
  for (int d = 0; d < RANK; d++) {
    int c = d == u_axis() ? wrap_index(I_at(o), u_axis_len()) : out_coord(o, d);
    at += c * u_dstride(d);
  }
  return X_at(at);
#elif {{MODE}} == 2
  int inner = u_inner();
  int r = o / inner;
  int m = u_m();
  int at = (r / u_per_batch()) * u_batch_stride() + o % inner;
  for (int j = 0; j < m; j++) at += wrap_index(I_at(r * m + j), u_ddim(j)) * u_dstride(j);
  return X_at(at);
#else
  int inner = u_inner();
  int n = u_count();
  int d = (o / inner) % n;
  int a = o / (inner * n);
  int index = wrap_index(I_at(a * inner + o % inner), n);
  return index == d ? u_on_value() : u_off_value();
#endif
}

vec4 run(int t) {
  int o = 4 * t;
  return vec4(element(o), element(o + 1), element(o + 2), element(o + 3));
}
#endif
