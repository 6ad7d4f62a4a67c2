// Binary functions of f32 (with float_util.wgsl).
fn op_div(a: f32, b: f32) -> f32 { return a / b; }
// max/min propagate NaN as numpy does
fn op_fmax(a: f32, b: f32) -> f32 { if (isnan_bits(a) || isnan_bits(b)) { return nan_f(); } return max(a, b); }
fn op_fmin(a: f32, b: f32) -> f32 { if (isnan_bits(a) || isnan_bits(b)) { return nan_f(); } return min(a, b); }
fn op_pow(a: f32, b: f32) -> f32 { return pow_f(a, b); }
fn is_inf_bits(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }
fn signed_zero(negative: bool) -> f32 { return select(0.0, f32_bits(0x80000000u), negative); }
fn sign_bit(x: f32) -> bool { return (bitcast<u32>(x) & 0x80000000u) != 0u; }
// Mod with fmod=1: C's fmod, the sign of A (a zero result keeps A's sign)
fn op_fmod(a: f32, b: f32) -> f32 {
  if (isnan_bits(a) || isnan_bits(b) || is_inf_bits(a) || b == 0.0) { return nan_f(); }
  if (is_inf_bits(b)) { return a; }
  let r = a - b * trunc(a / b);
  if (r == 0.0) { return signed_zero(sign_bit(a)); }
  return r;
}
// Mod with fmod=0: the sign of B, like Python's % and numpy's remainder
fn op_mod(a: f32, b: f32) -> f32 {
  if (isnan_bits(a) || isnan_bits(b) || is_inf_bits(a) || b == 0.0) { return nan_f(); }
  if (is_inf_bits(b)) {
    if (a != 0.0 && ((a < 0.0) != (b < 0.0))) { return b; }
    return a;
  }
  var r = a - b * trunc(a / b);
  if (r != 0.0 && ((r < 0.0) != (b < 0.0))) { r = r + b; }
  if (r == 0.0) { return signed_zero(b < 0.0); }
  return r;
}
fn op_prelu(a: f32, b: f32) -> f32 { return select(a, a * b, a < 0.0); }
