// Y = OP(A, B) with broadcasting: the output's coordinates (from its shape) give each
// input's element through per-input strides, 0 along broadcast dimensions.  The host
// merges dimensions first, so equal shapes index with rank 1.
fn input_offsets(i: u32) -> vec2<u32> {
  var rem = i;
  var oa = 0u;
  var ob = 0u;
  for (var d = u_rank(); d > 0u; d--) {
    let k = d - 1u;
    let size = u_shape(k);
    let c = rem % size;
    rem = rem / size;
    oa += c * u_sa(k);
    ob += c * u_sb(k);
  }
  return vec2<u32>(oa, ob);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= u_n()) { return; }
  let o = input_offsets(i);
  st_Y(i, {{OP}}(ld_A(o.x), ld_B(o.y)));
}
