// LRN: X viewed as [N, C, S] (S the spatial size); element (n, c, s) is divided by
// (bias + alpha / size * the sum of squares over channels c - before .. c + after) ** beta.
float element(int o) {
  int s = u_spatial();
  int channels = u_channels();
  int c = (o / s) % channels;
  int base = o - c * s;
  int last = min(channels - 1, c + u_after());
  float sum = 0.0;
  for (int i = max(0, c - u_before()); i <= last; i++) {
    float v = X_at(base + i * s);
    sum += v * v;
  }
  return X_at(o) / pow(u_bias() + u_alpha() / float(u_size()) * sum, u_beta());
}

vec4 run(int t) {
  int o = 4 * t;
  return vec4(element(o), element(o + 1), element(o + 2), element(o + 3));
}
