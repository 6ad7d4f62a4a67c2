// Y = C ? X : Z with broadcasting of all three (per-input strides, 0 where broadcast).
// Elements move as raw words, so every element type works, 64-bit ones included.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= u_n()) { return; }
  var rem = i;
  var oc = 0u;
  var ox = 0u;
  var oz = 0u;
  for (var d = u_rank(); d > 0u; d--) {
    let k = d - 1u;
    let size = u_shape(k);
    let c = rem % size;
    rem = rem / size;
    oc += c * u_sc(k);
    ox += c * u_sx(k);
    oz += c * u_sz(k);
  }
  for (var w = 0u; w < W_Y; w++) {
    Y[i * W_Y + w] = select(Z[oz * W_Z + w], X[ox * W_X + w], ld_C(oc) != 0u);
  }
}
