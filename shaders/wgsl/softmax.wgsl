// Softmax, LogSoftmax and Hardmax over rows: one workgroup per row of u_len elements
// spaced u_inner apart (X viewed as (outer, len, inner); row r = (outer, inner)).
// MODE is softmax_row, log_softmax_row or hardmax_row.
var<workgroup> partial: array<f32, WG>;
var<workgroup> partial_i: array<u32, WG>;

fn row_base(r: u32) -> u32 {
  let inner = u_inner();
  return (r / inner) * u_len() * inner + r % inner;
}

fn row_max(base: u32, lid: u32) -> f32 {
  var m = f32_bits(0xff800000u);
  for (var j = lid; j < u_len(); j += WG) { m = max(m, f32(ld_X(base + j * u_inner()))); }
  partial[lid] = m;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { partial[lid] = max(partial[lid], partial[lid + s]); }
    workgroupBarrier();
  }
  let result = partial[0];
  workgroupBarrier();
  return result;
}

fn row_sum_exp(base: u32, lid: u32, shift: f32) -> f32 {
  var total = 0.0;
  for (var j = lid; j < u_len(); j += WG) { total += exp(f32(ld_X(base + j * u_inner())) - shift); }
  partial[lid] = total;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { partial[lid] = partial[lid] + partial[lid + s]; }
    workgroupBarrier();
  }
  let result = partial[0];
  workgroupBarrier();
  return result;
}

fn softmax_row(base: u32, lid: u32) {
  let shift = row_max(base, lid);
  let total = row_sum_exp(base, lid, shift);
  for (var j = lid; j < u_len(); j += WG) {
    let at = base + j * u_inner();
    st_Y(at, TY(exp(f32(ld_X(at)) - shift) / total));
  }
}

fn log_softmax_row(base: u32, lid: u32) {
  let shift = row_max(base, lid);
  let log_total = log(row_sum_exp(base, lid, shift));
  for (var j = lid; j < u_len(); j += WG) {
    let at = base + j * u_inner();
    st_Y(at, TY(f32(ld_X(at)) - shift - log_total));
  }
}

// 1 at the first maximum of the row, 0 elsewhere
fn hardmax_row(base: u32, lid: u32) {
  var m = f32_bits(0xff800000u);
  var mi = 0xffffffffu;
  for (var j = lid; j < u_len(); j += WG) {
    let v = f32(ld_X(base + j * u_inner()));
    if (v > m || mi == 0xffffffffu) { m = v; mi = j; }
  }
  partial[lid] = m;
  partial_i[lid] = mi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) {
      let other = partial[lid + s];
      let other_i = partial_i[lid + s];
      if (other_i != 0xffffffffu && (partial_i[lid] == 0xffffffffu || other > partial[lid] ||
          (other == partial[lid] && other_i < partial_i[lid]))) {
        partial[lid] = other;
        partial_i[lid] = other_i;
      }
    }
    workgroupBarrier();
  }
  let winner = partial_i[0];
  for (var j = lid; j < u_len(); j += WG) {
    st_Y(base + j * u_inner(), TY(select(0.0, 1.0, j == winner)));
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = wid.y * nwg.x + wid.x;
  if (r >= u_rows()) { return; }
  {{MODE}}(row_base(r), lid);
}
