// Binary functions of integers (TA is i32 for the signed kinds, u32 for the unsigned).
// Division truncates toward zero like C; a division by zero gives 0.
fn op_div(a: TA, b: TA) -> TA { if (b == TA(0)) { return TA(0); } return a / b; }
fn op_fmod(a: TA, b: TA) -> TA { if (b == TA(0)) { return TA(0); } return a % b; }
fn op_mod(a: TA, b: TA) -> TA {
  if (b == TA(0)) { return TA(0); }
  let r = a % b;
  if (r != TA(0) && ((r < TA(0)) != (b < TA(0)))) { return r + b; }
  return r;
}
fn op_bitwise_and(a: TA, b: TA) -> TA { return a & b; }
fn op_bitwise_or(a: TA, b: TA) -> TA { return a | b; }
fn op_bitwise_xor(a: TA, b: TA) -> TA { return a ^ b; }
fn op_and(a: TA, b: TA) -> u32 { return select(0u, 1u, a != TA(0) && b != TA(0)); }
fn op_or(a: TA, b: TA) -> u32 { return select(0u, 1u, a != TA(0) || b != TA(0)); }
fn op_xor(a: TA, b: TA) -> u32 { return select(0u, 1u, (a != TA(0)) != (b != TA(0))); }
fn op_prelu(a: TA, b: TA) -> TA { return select(a, a * b, a < TA(0)); }
// x ** n by squaring; a negative n gives 0 except for x = 1 and x = -1
fn op_pow(a: TA, b: TA) -> TA {
  if (b < TA(0)) {
    if (a == TA(1)) { return TA(1); }
    if (a == TA(0) - TA(1)) { return select(TA(1), a, (b & TA(1)) != TA(0)); }
    return TA(0);
  }
  var result = TA(1);
  var base = a;
  var e = u32(b);
  loop {
    if (e == 0u) { break; }
    if ((e & 1u) != 0u) { result = result * base; }
    base = base * base;
    e = e >> 1u;
  }
  return result;
}
// BitShift: a shift beyond the width leaves the sign fill (bits: u_bits())
fn op_shift_left(a: TA, b: TA) -> TA {
  if (b < TA(0) || u32(b) >= u_bits()) { return TA(0); }
  return a << u32(b);
}
fn op_shift_right(a: TA, b: TA) -> TA {
  if (b < TA(0) || u32(b) >= u_bits()) { return select(TA(0), TA(0) - TA(1), a < TA(0)); }
  return a >> u32(b);
}
