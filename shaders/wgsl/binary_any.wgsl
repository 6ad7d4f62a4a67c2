// Binary functions valid for every compute type (TA is f32, i32 or u32).
fn op_add(a: TA, b: TA) -> TA { return a + b; }
fn op_sub(a: TA, b: TA) -> TA { return a - b; }
fn op_mul(a: TA, b: TA) -> TA { return a * b; }
fn op_max(a: TA, b: TA) -> TA { return max(a, b); }
fn op_min(a: TA, b: TA) -> TA { return min(a, b); }
fn op_equal(a: TA, b: TA) -> u32 { return select(0u, 1u, a == b); }
fn op_less(a: TA, b: TA) -> u32 { return select(0u, 1u, a < b); }
fn op_greater(a: TA, b: TA) -> u32 { return select(0u, 1u, a > b); }
fn op_less_equal(a: TA, b: TA) -> u32 { return select(0u, 1u, a <= b); }
fn op_greater_equal(a: TA, b: TA) -> u32 { return select(0u, 1u, a >= b); }
