// BatchNormalization in inference mode: y = (x - mean[c]) / sqrt(var[c] + epsilon) *
// scale[c] + bias[c], channel c = (i / spatial) % channels.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= u_n()) { return; }
  let c = (i / u_spatial()) % u_channels();
  let inv_std = 1.0 / sqrt(f32(ld_V(c)) + u_epsilon());
  st_Y(i, TY((f32(ld_X(i)) - f32(ld_M(c))) * inv_std * f32(ld_S(c)) + f32(ld_B(c))));
}
