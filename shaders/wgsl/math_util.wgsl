// f32 functions shared by the unary ops and the fused activations.
// erf to 1.5e-7 absolute (Abramowitz and Stegun 7.1.26)
fn erf_f(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let r = 1.0 - poly * exp(-a * a);
  return select(r, -r, x < 0.0);
}
// tanh without the overflow of exp for large |x|
fn tanh_f(x: f32) -> f32 { return tanh(clamp(x, -15.0, 15.0)); }
fn sigmoid_f(x: f32) -> f32 {
  // exp of a non-positive number only: no overflow, full precision in both tails
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}
fn softplus_f(x: f32) -> f32 { return max(x, 0.0) + log(1.0 + exp(-abs(x))); }
fn gelu_erf_f(x: f32) -> f32 { return 0.5 * x * (1.0 + erf_f(x * 0.70710678118654752)); }
fn gelu_tanh_f(x: f32) -> f32 {
  return 0.5 * x * (1.0 + tanh_f(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}
fn is_nan_f(x: f32) -> bool {
  let b = bitcast<u32>(x);
  return (b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu) != 0u;
}
fn is_inf_f(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }

