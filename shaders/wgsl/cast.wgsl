// Y = X converted to Y's element type (the store rounds or wraps to it).
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= u_n()) { return; }
  let x = ld_X(i);
  if (u_to_bool() != 0u) {
    st_Y(i, TY(select(0u, 1u, x != TX(0))));
  } else {
    st_Y(i, TY(x));
  }
}
