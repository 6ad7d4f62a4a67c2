// Pad: output coordinate c reads X at c - begin along each axis; outside X, MODE says
// what: 0 constant (the value), 1 reflect, 2 edge, 3 wrap.

// a mod n in [0, n) (GLSL leaves % of negative operands undefined)
int pmod(int a, int n) { return a >= 0 ? a % n : (n - 1) - ((-a - 1) % n); }

float element(int o) {
  int i = 0;
  for (int d = 0; d < RANK; d++) {
    int n = u_in_dim(d);
    int k = out_coord(o, d) - u_begin(d);
#if {{MODE}} == 0
    if (k < 0 || k >= n) return u_value();
#elif {{MODE}} == 1
    if (n > 1) {
      int period = 2 * (n - 1);
      k = pmod(k, period);
      if (k >= n) k = period - k;
    } else {
      k = 0;
    }
#elif {{MODE}} == 2
    k = clamp(k, 0, n - 1);
#else
    k = pmod(k, n);
#endif
    i += k * u_in_stride(d);
  }
  return X_at(i);
}

vec4 run(int t) {
  int o = 4 * t;
  return vec4(element(o), element(o + 1), element(o + 2), element(o + 3));
}
