// ArgMax / ArgMin along one axis: X viewed as (outer, len, inner); output element o is
// (outer, inner).  Ties give the first index, or the last with select_last_index.
// NaN wins over numbers, as numpy's argmax/argmin.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = linear_id(wid, lid, nwg);
  if (o >= u_outputs()) { return; }
  let inner = u_inner();
  let base = (o / inner) * u_len() * inner + o % inner;
  var best = ld_X(base);
  var best_i = 0u;
  for (var j = 1u; j < u_len(); j++) {
    let v = ld_X(base + j * inner);
    var better: bool;
    if (u_largest() != 0u) { better = v > best || (u_last() != 0u && v == best); }
    else { better = v < best || (u_last() != 0u && v == best); }
    if (best != best) { better = u_last() != 0u && v != v; }
    else if (v != v) { better = true; }
    if (better) {
      best = v;
      best_i = j;
    }
  }
  st_Y(o, i32(best_i));
}
