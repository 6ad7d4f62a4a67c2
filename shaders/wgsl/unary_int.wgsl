// Unary functions of integers (TX is i32 or u32: signed and unsigned kinds both use it).
fn op_identity(x: TX) -> TX { return x; }
fn op_abs(x: TX) -> TX { return select(x, TX(0) - x, x < TX(0)); }
fn op_neg(x: TX) -> TX { return TX(0) - x; }
fn op_sign(x: TX) -> TX { return select(select(TX(0), TX(1), x > TX(0)), TX(0) - TX(1), x < TX(0)); }
fn op_relu(x: TX) -> TX { return max(x, TX(0)); }
fn op_not(x: TX) -> TX { return select(TX(0), TX(1), x == TX(0)); }
fn op_bitwise_not(x: TX) -> TX { return ~x; }
// Clip: the bounds travel as the raw words of the element type (alpha, beta slots)
fn op_clip(x: TX) -> TX {
  return min(max(x, bitcast<TX>(u_alpha())), bitcast<TX>(u_beta()));
}
