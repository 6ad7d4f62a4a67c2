// Range: Y[i] = start + i * delta in Y's compute type (start and delta as raw words).
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= u_n()) { return; }
  st_Y(i, bitcast<TY>(u_start()) + TY(i) * bitcast<TY>(u_delta()));
}
