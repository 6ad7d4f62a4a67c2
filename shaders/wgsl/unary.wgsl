// Y[i] = OP(X[i]): one invocation per element.  OP is a function of the op library the
// program includes (unary_float.wgsl, unary_int.wgsl); alpha/beta/gamma are its
// attributes (LeakyRelu's alpha, Clip's bounds ...).
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= u_n()) { return; }
  st_Y(i, {{OP}}(ld_X(i)));
}
