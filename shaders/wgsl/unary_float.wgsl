// Unary functions of f32 (float16 tensors compute in f32 too), with math_util.wgsl.  Each takes the element
// and returns the result; alpha(), beta(), gamma() are the op's attributes.

// the op's attributes travel as raw words
fn alpha() -> f32 { return bitcast<f32>(u_alpha()); }
fn beta() -> f32 { return bitcast<f32>(u_beta()); }
fn gamma() -> f32 { return bitcast<f32>(u_gamma()); }

fn op_identity(x: f32) -> f32 { return x; }
fn op_scale(x: f32) -> f32 { return x * alpha(); }
fn op_abs(x: f32) -> f32 { return abs(x); }
fn op_neg(x: f32) -> f32 { return -x; }
fn op_ceil(x: f32) -> f32 { return ceil(x); }
fn op_floor(x: f32) -> f32 { return floor(x); }
fn op_round(x: f32) -> f32 { return round(x); }  // half to even, as ONNX asks
fn op_sign(x: f32) -> f32 { return select(sign(x), x, is_nan_f(x)); }
fn op_exp(x: f32) -> f32 { return exp(x); }
fn op_log(x: f32) -> f32 {
  // WGSL leaves log of 0 and of negatives undefined: give IEEE's -inf and NaN
  if (x == 0.0) { return f32_bits(0xff800000u); }
  if (x < 0.0) { return f32_bits(0x7fc00000u); }
  return log(x);
}
fn op_sqrt(x: f32) -> f32 { return select(sqrt(x), f32_bits(0x7fc00000u), x < 0.0); }
fn op_reciprocal(x: f32) -> f32 { return 1.0 / x; }
fn op_sin(x: f32) -> f32 { return sin(x); }
fn op_cos(x: f32) -> f32 { return cos(x); }
fn op_tan(x: f32) -> f32 { return tan(x); }
fn op_asin(x: f32) -> f32 { return asin(x); }
fn op_acos(x: f32) -> f32 { return acos(x); }
fn op_atan(x: f32) -> f32 { return atan(x); }
fn op_sinh(x: f32) -> f32 { return sinh(x); }
fn op_cosh(x: f32) -> f32 { return cosh(x); }
fn op_tanh(x: f32) -> f32 { return tanh_f(x); }
fn op_asinh(x: f32) -> f32 { return asinh(x); }
fn op_acosh(x: f32) -> f32 { return acosh(x); }
fn op_atanh(x: f32) -> f32 { return atanh(x); }
fn op_erf(x: f32) -> f32 { return erf_f(x); }
fn op_sigmoid(x: f32) -> f32 { return sigmoid_f(x); }
fn op_relu(x: f32) -> f32 { return max(x, 0.0); }
fn op_leaky_relu(x: f32) -> f32 { return select(x, alpha() * x, x < 0.0); }
fn op_elu(x: f32) -> f32 { return select(x, alpha() * (exp(x) - 1.0), x < 0.0); }
fn op_selu(x: f32) -> f32 { return gamma() * select(x, alpha() * (exp(x) - 1.0), x <= 0.0); }
fn op_celu(x: f32) -> f32 { return max(0.0, x) + min(0.0, alpha() * (exp(x / alpha()) - 1.0)); }
fn op_hard_sigmoid(x: f32) -> f32 { return clamp(alpha() * x + beta(), 0.0, 1.0); }
fn op_hard_swish(x: f32) -> f32 { return x * clamp(x / 6.0 + 0.5, 0.0, 1.0); }
fn op_softplus(x: f32) -> f32 { return softplus_f(x); }
fn op_softsign(x: f32) -> f32 { return x / (1.0 + abs(x)); }
fn op_thresholded_relu(x: f32) -> f32 { return select(0.0, x, x > alpha()); }
fn op_mish(x: f32) -> f32 { return x * tanh_f(softplus_f(x)); }
fn op_gelu(x: f32) -> f32 { return gelu_erf_f(x); }
fn op_gelu_tanh(x: f32) -> f32 { return gelu_tanh_f(x); }
fn op_silu(x: f32) -> f32 { return x * sigmoid_f(x); }
// Shrink: alpha = bias, beta = lambd
fn op_shrink(x: f32) -> f32 {
  if (x < -beta()) { return x + alpha(); }
  if (x > beta()) { return x - alpha(); }
  return 0.0;
}
// Clip: alpha = min, beta = max (numpy's order: max then min)
fn op_clip(x: f32) -> f32 {
  if (is_nan_f(x)) { return x; }
  return min(max(x, alpha()), beta());
}
fn op_is_nan(x: f32) -> u32 { return select(0u, 1u, is_nan_f(x)); }
// IsInf: alpha != 0 detects +inf, beta != 0 detects -inf
fn op_is_inf(x: f32) -> u32 {
  let pos = is_inf_f(x) && x > 0.0 && u_alpha() != 0u;
  let neg = is_inf_f(x) && x < 0.0 && u_beta() != 0u;
  return select(0u, 1u, pos || neg);
}
