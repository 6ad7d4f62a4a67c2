// Softmax, LogSoftmax and Hardmax over short rows: one invocation per row (u_len
// elements spaced u_inner apart, X viewed as (outer, len, inner)), where a workgroup per
// row would mostly wait at its barriers.  MODE as in softmax.wgsl.
fn row_max(base: u32) -> f32 {
  var m = f32_bits(0xff800000u);
  for (var j = 0u; j < u_len(); j++) { m = max(m, f32(ld_X(base + j * u_inner()))); }
  return m;
}

fn row_sum_exp(base: u32, shift: f32) -> f32 {
  var total = 0.0;
  for (var j = 0u; j < u_len(); j++) { total += exp(f32(ld_X(base + j * u_inner())) - shift); }
  return total;
}

fn softmax_row(base: u32) {
  let shift = row_max(base);
  let total = row_sum_exp(base, shift);
  for (var j = 0u; j < u_len(); j++) {
    let at = base + j * u_inner();
    st_Y(at, TY(exp(f32(ld_X(at)) - shift) / total));
  }
}

fn log_softmax_row(base: u32) {
  let shift = row_max(base);
  let log_total = log(row_sum_exp(base, shift));
  for (var j = 0u; j < u_len(); j++) {
    let at = base + j * u_inner();
    st_Y(at, TY(f32(ld_X(at)) - shift - log_total));
  }
}

// 1 at the first maximum of the row, 0 elsewhere
fn hardmax_row(base: u32) {
  var winner = 0u;
  var m = f32(ld_X(base));
  for (var j = 1u; j < u_len(); j++) {
    let v = f32(ld_X(base + j * u_inner()));
    if (v > m) { m = v; winner = j; }
  }
  for (var j = 0u; j < u_len(); j++) { st_Y(base + j * u_inner(), TY(select(0.0, 1.0, j == winner))); }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = linear_id(wid, lid, nwg);
  if (r >= u_rows()) { return; }
  let inner = u_inner();
  {{MODE}}((r / inner) * u_len() * inner + r % inner);
}
