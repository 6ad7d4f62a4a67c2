// Y[i] = one value (its raw words lo, hi): ConstantOfShape, Dropout's mask.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= u_n()) { return; }
  Y[i * W_Y] = u_lo();
  if (W_Y == 2u) { Y[i * W_Y + 1u] = u_hi(); }
}
