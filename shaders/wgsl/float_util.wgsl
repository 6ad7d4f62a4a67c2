// Helpers of f32 shared by several op libraries.
fn nan_f() -> f32 { return f32_bits(0x7fc00000u); }
fn isnan_bits(x: f32) -> bool {
  let b = bitcast<u32>(x);
  return (b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu) != 0u;
}
// x ** y with IEEE's special cases (WGSL's pow is undefined for x <= 0)
fn pow_f(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (x == 1.0) { return 1.0; }
  if (isnan_bits(x) || isnan_bits(y)) { return nan_f(); }
  if (y == 2.0) { return x * x; }
  if (y == 1.0) { return x; }
  let odd_int = floor(y) == y && abs(y) < 16777216.0 && (i32(y) & 1) != 0;
  if (x == 0.0) {
    if (y > 0.0) { return select(0.0, x, odd_int); }
    let inf = f32_bits(0x7f800000u);
    return select(inf, select(inf, -inf, bitcast<u32>(x) != 0u), odd_int);
  }
  if (x < 0.0) {
    if (floor(y) != y) { return nan_f(); }
    let r = exp2(y * log2(-x));
    return select(r, -r, odd_int);
  }
  return exp2(y * log2(x));
}
// Pow of a float base and an exponent of any type (ONNX's T and T1)
fn op_pow_float_base(a: f32, b: TB) -> f32 { return pow_f(a, f32(b)); }
// Pow of an integer base and a float exponent: truncated toward zero, like C
fn op_pow_int_base(a: TA, b: TB) -> TA { return TA(trunc(pow_f(f32(a), f32(b)))); }
