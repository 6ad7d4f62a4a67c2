// The reductions: OP_init() is the value of an empty reduction, OP_step folds in one
// element (shift: the maximum, for log_sum_exp's stable sum), OP_merge combines two
// partial results and OP_finish gives the output from the total and the count.
fn neg_inf() -> f32 { return f32_bits(0xff800000u); }
fn pos_inf() -> f32 { return f32_bits(0x7f800000u); }
fn nan_propagating(a: f32, b: f32) -> bool { return a != a || b != b; }

fn sum_init() -> f32 { return 0.0; }
fn sum_step(acc: f32, x: f32, shift: f32) -> f32 { return acc + x; }
fn sum_merge(a: f32, b: f32) -> f32 { return a + b; }
fn sum_finish(acc: f32, count: u32, shift: f32) -> f32 { return acc; }

fn mean_init() -> f32 { return 0.0; }
fn mean_step(acc: f32, x: f32, shift: f32) -> f32 { return acc + x; }
fn mean_merge(a: f32, b: f32) -> f32 { return a + b; }
fn mean_finish(acc: f32, count: u32, shift: f32) -> f32 {
  if (count == 0u) { return f32_bits(0x7fc00000u); }
  return acc / f32(count);
}

fn max_init() -> f32 { return neg_inf(); }
fn max_step(acc: f32, x: f32, shift: f32) -> f32 { return max_merge(acc, x); }
fn max_merge(a: f32, b: f32) -> f32 {
  if (nan_propagating(a, b)) { return f32_bits(0x7fc00000u); }
  return max(a, b);
}
fn max_finish(acc: f32, count: u32, shift: f32) -> f32 { return acc; }

fn min_init() -> f32 { return pos_inf(); }
fn min_step(acc: f32, x: f32, shift: f32) -> f32 { return min_merge(acc, x); }
fn min_merge(a: f32, b: f32) -> f32 {
  if (nan_propagating(a, b)) { return f32_bits(0x7fc00000u); }
  return min(a, b);
}
fn min_finish(acc: f32, count: u32, shift: f32) -> f32 { return acc; }

fn prod_init() -> f32 { return 1.0; }
fn prod_step(acc: f32, x: f32, shift: f32) -> f32 { return acc * x; }
fn prod_merge(a: f32, b: f32) -> f32 { return a * b; }
fn prod_finish(acc: f32, count: u32, shift: f32) -> f32 { return acc; }

fn l1_init() -> f32 { return 0.0; }
fn l1_step(acc: f32, x: f32, shift: f32) -> f32 { return acc + abs(x); }
fn l1_merge(a: f32, b: f32) -> f32 { return a + b; }
fn l1_finish(acc: f32, count: u32, shift: f32) -> f32 { return acc; }

fn l2_init() -> f32 { return 0.0; }
fn l2_step(acc: f32, x: f32, shift: f32) -> f32 { return acc + x * x; }
fn l2_merge(a: f32, b: f32) -> f32 { return a + b; }
fn l2_finish(acc: f32, count: u32, shift: f32) -> f32 { return sqrt(acc); }

fn sum_square_init() -> f32 { return 0.0; }
fn sum_square_step(acc: f32, x: f32, shift: f32) -> f32 { return acc + x * x; }
fn sum_square_merge(a: f32, b: f32) -> f32 { return a + b; }
fn sum_square_finish(acc: f32, count: u32, shift: f32) -> f32 { return acc; }

fn log_sum_init() -> f32 { return 0.0; }
fn log_sum_step(acc: f32, x: f32, shift: f32) -> f32 { return acc + x; }
fn log_sum_merge(a: f32, b: f32) -> f32 { return a + b; }
fn log_sum_finish(acc: f32, count: u32, shift: f32) -> f32 {
  if (acc == 0.0) { return neg_inf(); }
  return log(acc);
}

fn log_sum_exp_init() -> f32 { return 0.0; }
fn log_sum_exp_step(acc: f32, x: f32, shift: f32) -> f32 { return acc + exp(x - shift); }
fn log_sum_exp_merge(a: f32, b: f32) -> f32 { return a + b; }
fn log_sum_exp_finish(acc: f32, count: u32, shift: f32) -> f32 {
  if (count == 0u || acc == 0.0) { return neg_inf(); }
  if (shift == pos_inf()) { return shift; }
  return shift + log(acc);
}
