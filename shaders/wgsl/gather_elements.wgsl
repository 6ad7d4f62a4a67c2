// GatherElements: Y[c] = X[c with c[axis] replaced by I[c]], c running over I's
// shape (= Y's); X is read through its strides (x_stride), I and Y are contiguous.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = linear_id(wid, lid, nwg);
  if (o >= u_n()) { return; }
  var index = i32(ld_I(o));
  let len = i32(u_axis_len());
  if (index < 0) { index += len; }
  if (index < 0 || index >= len) { index = 0; }
  var rem = o;
  var src = 0u;
  for (var d = u_rank(); d > 0u; d--) {
    let k = d - 1u;
    let size = u_shape(k);
    var c = rem % size;
    rem = rem / size;
    if (k == u_axis()) { c = u32(index); }
    src += c * u_x_stride(k);
  }
  for (var w = 0u; w < W_Y; w++) { Y[o * W_Y + w] = X[src * W_X + w]; }
}
