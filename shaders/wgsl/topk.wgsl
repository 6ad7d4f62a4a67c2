// TopK along an axis (X viewed as (outer, len, inner)): each element finds its rank in
// its row - how many elements come before it (larger, for largest; equal ones with a
// smaller index first) - and, when the rank is below k, writes itself and its index
// there.  The output is sorted, ties in index order, as ONNX asks.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = linear_id(wid, lid, nwg);
  let len = u_len();
  let inner = u_inner();
  if (e >= u_n()) { return; }
  let row_outer = e / (len * inner);
  let i = (e / inner) % len;
  let col = e % inner;
  let base = row_outer * len * inner + col;
  let v = ld_X(base + i * inner);
  var rank = 0u;
  for (var j = 0u; j < len; j++) {
    if (j == i) { continue; }
    let w = ld_X(base + j * inner);
    var before: bool;
    if (u_largest() != 0u) { before = w > v || (w == v && j < i); }
    else { before = w < v || (w == v && j < i); }
    if (before) { rank++; }
  }
  if (rank < u_k()) {
    let at = (row_outer * u_k() + rank) * inner + col;
    st_Y(at, v);
    st_I(at, i32(i));
  }
}
