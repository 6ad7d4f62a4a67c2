// uses: math.glsl
// The elementwise ops, four elements at a time.  The kernel picks a function by name
// (elementwise.py); alpha, beta and gamma are the op's attribute values (uniforms).

vec4 op_identity(vec4 a) { return a; }
vec4 op_abs(vec4 a) { return abs(a); }
vec4 op_neg(vec4 a) { return -a; }
vec4 op_exp(vec4 a) { return exp(a); }
vec4 op_log(vec4 a) { return log(a); }
vec4 op_sqrt(vec4 a) { return sqrt(a); }
vec4 op_reciprocal(vec4 a) { return 1.0 / a; }
vec4 op_floor(vec4 a) { return floor(a); }
vec4 op_ceil(vec4 a) { return ceil(a); }
vec4 op_round(vec4 a) { return roundEven(a); }
vec4 op_trunc(vec4 a) { return trunc(a); }
vec4 op_sign(vec4 a) { return sign(a); }
vec4 op_sin(vec4 a) { return sin(a); }
vec4 op_cos(vec4 a) { return cos(a); }
vec4 op_tan(vec4 a) { return tan(a); }
vec4 op_asin(vec4 a) { return asin(a); }
vec4 op_acos(vec4 a) { return acos(a); }
vec4 op_atan(vec4 a) { return atan(a); }
vec4 op_sinh(vec4 a) { return 0.5 * (exp(a) - exp(-a)); }
vec4 op_cosh(vec4 a) { return 0.5 * (exp(a) + exp(-a)); }
vec4 op_tanh(vec4 a) { return tanh4(a); }
vec4 op_asinh(vec4 a) { return sign(a) * log(abs(a) + sqrt(a * a + 1.0)); }
vec4 op_acosh(vec4 a) { return log(a + sqrt(a * a - 1.0)); }
vec4 op_atanh(vec4 a) { return 0.5 * log((1.0 + a) / (1.0 - a)); }
vec4 op_sigmoid(vec4 a) { return sigmoid4(a); }
vec4 op_relu(vec4 a) { return max(a, 0.0); }
vec4 op_leaky_relu(vec4 a) { return mix(a, u_alpha() * a, lessThan(a, vec4(0.0))); }
vec4 op_elu(vec4 a) { return mix(a, u_alpha() * (exp(a) - 1.0), lessThan(a, vec4(0.0))); }
vec4 op_selu(vec4 a) {
  return u_gamma() * mix(a, u_alpha() * (exp(a) - 1.0), lessThanEqual(a, vec4(0.0)));
}
vec4 op_celu(vec4 a) { return max(a, 0.0) + min(vec4(0.0), u_alpha() * (exp(a / u_alpha()) - 1.0)); }
vec4 op_hard_sigmoid(vec4 a) { return clamp(u_alpha() * a + u_beta(), 0.0, 1.0); }
vec4 op_hard_swish(vec4 a) { return a * clamp(a / 6.0 + 0.5, 0.0, 1.0); }
vec4 op_softplus(vec4 a) { return softplus4(a); }
vec4 op_softsign(vec4 a) { return a / (1.0 + abs(a)); }
vec4 op_erf(vec4 a) { return erf4(a); }
vec4 op_gelu(vec4 a) { return gelu4(a); }
vec4 op_gelu_tanh(vec4 a) { return gelu_tanh4(a); }
vec4 op_mish(vec4 a) { return a * tanh4(softplus4(a)); }
vec4 op_thresholded_relu(vec4 a) { return mix(vec4(0.0), a, greaterThan(a, vec4(u_alpha()))); }
// Shrink: alpha is lambd, beta is bias
vec4 op_shrink(vec4 a) {
  vec4 low = mix(vec4(0.0), a + u_beta(), lessThan(a, vec4(-u_alpha())));
  return mix(low, a - u_beta(), greaterThan(a, vec4(u_alpha())));
}
vec4 op_clip(vec4 a) { return min(max(a, u_alpha()), u_beta()); }
vec4 op_not(vec4 a) { return vec4(equal(a, vec4(0.0))); }
vec4 op_isnan(vec4 a) { return vec4(notEqual(a, a)); }
// IsInf: alpha and beta are 1 to detect +inf and -inf
vec4 op_isinf(vec4 a) {
  return vec4(isinf4(a)) * (vec4(greaterThan(a, vec4(0.0))) * u_alpha() + vec4(lessThan(a, vec4(0.0))) * u_beta());
}
vec4 op_bitwise_not(vec4 a) { return -a - 1.0; }
vec4 op_scale(vec4 a) { return a * u_alpha(); }

vec4 op_add(vec4 a, vec4 b) { return a + b; }
vec4 op_sub(vec4 a, vec4 b) { return a - b; }
vec4 op_mul(vec4 a, vec4 b) { return a * b; }
vec4 op_div(vec4 a, vec4 b) { return a / b; }
vec4 op_div_int(vec4 a, vec4 b) { return idiv4(a, b); }
vec4 op_pow(vec4 a, vec4 b) { return pow4(a, b); }
vec4 op_pow_int(vec4 a, vec4 b) { return trunc(pow4(a, b) + sign(pow4(a, b)) * 0.001); }
vec4 op_max(vec4 a, vec4 b) { return max(a, b); }
vec4 op_min(vec4 a, vec4 b) { return min(a, b); }
// Mod: fmod=1 has the sign of a (C); fmod=0 the sign of b (Python)
vec4 op_fmod(vec4 a, vec4 b) { return sign(a) * (abs(a) - abs(b) * floor(abs(a) / abs(b))); }
// numpy's remainder: x % inf is x where the signs agree, else inf of b's sign
vec4 op_mod_float(vec4 a, vec4 b) {
  vec4 r = a - b * floor(a / b);
  vec4 at_inf = mix(b, a, greaterThanEqual(a * sign(b), vec4(0.0)));
  return mix(r, at_inf, bvec4(vec4(isinf4(b)) * vec4(not(isinf4(a)))));
}
vec4 op_fmod_int(vec4 a, vec4 b) { return irem4(a, b); }
vec4 op_mod_int(vec4 a, vec4 b) {
  vec4 r = irem4(a, b);
  return mix(r, r + b, bvec4(vec4(notEqual(r, vec4(0.0))) * vec4(notEqual(sign(r), sign(b)))));
}
vec4 op_equal(vec4 a, vec4 b) { return vec4(equal(a, b)); }
vec4 op_less(vec4 a, vec4 b) { return vec4(lessThan(a, b)); }
vec4 op_greater(vec4 a, vec4 b) { return vec4(greaterThan(a, b)); }
vec4 op_less_equal(vec4 a, vec4 b) { return vec4(lessThanEqual(a, b)); }
vec4 op_greater_equal(vec4 a, vec4 b) { return vec4(greaterThanEqual(a, b)); }
vec4 op_and(vec4 a, vec4 b) { return vec4(notEqual(a, vec4(0.0))) * vec4(notEqual(b, vec4(0.0))); }
vec4 op_or(vec4 a, vec4 b) { return max(vec4(notEqual(a, vec4(0.0))), vec4(notEqual(b, vec4(0.0)))); }
vec4 op_xor(vec4 a, vec4 b) { return abs(vec4(notEqual(a, vec4(0.0))) - vec4(notEqual(b, vec4(0.0)))); }
vec4 op_prelu(vec4 a, vec4 b) { return mix(a, a * b, lessThan(a, vec4(0.0))); }
vec4 op_bitwise_and(vec4 a, vec4 b) { return vec4(ivec4(a) & ivec4(b)); }
vec4 op_bitwise_or(vec4 a, vec4 b) { return vec4(ivec4(a) | ivec4(b)); }
vec4 op_bitwise_xor(vec4 a, vec4 b) { return vec4(ivec4(a) ^ ivec4(b)); }

// BitShift: alpha is the type's width; a shift outside [0, width) leaves the sign fill
// (-1 for a right shift of a negative value, else 0)
vec4 op_shift_left(vec4 a, vec4 b) {
  ivec4 s = ivec4(b);
  vec4 r = vec4(ivec4(a) << clamp(s, 0, 31));
  return mix(r, vec4(0.0), bvec4(vec4(lessThan(s, ivec4(0))) + vec4(greaterThanEqual(b, vec4(u_alpha())))));
}
vec4 op_shift_right(vec4 a, vec4 b) {
  ivec4 s = ivec4(b);
  vec4 r = vec4(ivec4(a) >> clamp(s, 0, 31));
  vec4 fill = -vec4(lessThan(a, vec4(0.0)));
  return mix(r, fill, bvec4(vec4(lessThan(s, ivec4(0))) + vec4(greaterThanEqual(b, vec4(u_alpha())))));
}

vec4 op_where(vec4 c, vec4 x, vec4 y) { return mix(y, x, notEqual(c, vec4(0.0))); }
