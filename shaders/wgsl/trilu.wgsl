// Trilu: keep the elements on and above (upper 1) or on and below (upper 0) diagonal k
// of each matrix of the last two axes, or only those on it (upper 2: EyeLike); zero the
// rest.  Raw words: any element type.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= u_n()) { return; }
  let col = i32(i % u_cols());
  let row = i32((i / u_cols()) % u_rows());
  var keep: bool;
  if (u_upper() == 1u) { keep = col - row >= u_k(); }
  else if (u_upper() == 0u) { keep = col - row <= u_k(); }
  else { keep = col - row == u_k(); }
  for (var w = 0u; w < W_Y; w++) { Y[i * W_Y + w] = select(0u, X[i * W_X + w], keep); }
}
