// uses: elementwise_ops.glsl
// One elementwise op over 1-3 operands broadcast to the output (their X*_load4 reads).
vec4 run(int t) {
#if {{ARITY}} == 1
  return {{OP}}(X0_load4(t));
#elif {{ARITY}} == 2
  return {{OP}}(X0_load4(t), X1_load4(t));
#else
  return {{OP}}(X0_load4(t), X1_load4(t), X2_load4(t));
#endif
}
