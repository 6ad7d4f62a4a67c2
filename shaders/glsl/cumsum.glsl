// CumSum along one axis: X viewed as [outer, n, inner]; element (a, j, i) sums X over
// positions up to j (from j on with REVERSE), excluding j itself with EXCLUSIVE.
float element(int o) {
  int inner = u_inner();
  int n = u_count();
  int j = (o / inner) % n;
  int base = o - j * inner;
#if {{REVERSE}}
  int first = j + {{EXCLUSIVE}};
  int last = n - 1;
#else
  int first = 0;
  int last = j - {{EXCLUSIVE}};
#endif
  float acc = 0.0;
  for (int q = first; q <= last; q++) acc += X_at(base + q * inner);
  return acc;
}

vec4 run(int t) {
  int o = 4 * t;
  return vec4(element(o), element(o + 1), element(o + 2), element(o + 3));
}
