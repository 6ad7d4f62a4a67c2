// uses: math.glsl
// The fused ops' epilogue activation (pywebinfer/ops/fused.py), chosen by ACT:
// 0 none, 1 Relu, 2 Sigmoid, 3 Tanh, 4 HardSwish, 5 LeakyRelu (act_alpha),
// 6 HardSigmoid (act_alpha, act_beta), 7 Clip (act_alpha = min, act_beta = max),
// 8 Gelu (erf), 9 Gelu (tanh), 10 Silu.
vec4 activate(vec4 v) {
#if {{ACT}} == 1
  return max(v, 0.0);
#elif {{ACT}} == 2
  return sigmoid4(v);
#elif {{ACT}} == 3
  return tanh4(v);
#elif {{ACT}} == 4
  return v * clamp(v / 6.0 + 0.5, 0.0, 1.0);
#elif {{ACT}} == 5
  return mix(v, u_act_alpha() * v, lessThan(v, vec4(0.0)));
#elif {{ACT}} == 6
  return clamp(u_act_alpha() * v + u_act_beta(), 0.0, 1.0);
#elif {{ACT}} == 7
  return min(max(v, u_act_alpha()), u_act_beta());
#elif {{ACT}} == 8
  return gelu4(v);
#elif {{ACT}} == 9
  return gelu_tanh4(v);
#elif {{ACT}} == 10
  return v * sigmoid4(v);
#else
  return v;
#endif
}
