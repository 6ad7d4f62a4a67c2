// uses: reduce_ops.wgsl
// Reduce over any set of axes.  Output element o enumerates the kept dimensions
// (out_shape, with X strides out_stride); the reduced elements are enumerated by
// red_shape / red_stride.  SHIFTED (log_sum_exp) first finds the maximum.
fn input_base(o: u32) -> u32 {
  var rem = o;
  var at = 0u;
  for (var d = u_out_rank(); d > 0u; d--) {
    let k = d - 1u;
    let size = u_out_shape(k);
    at += (rem % size) * u_out_stride(k);
    rem = rem / size;
  }
  return at;
}

fn reduced_offset(r: u32) -> u32 {
  var rem = r;
  var at = 0u;
  for (var d = u_red_rank(); d > 0u; d--) {
    let k = d - 1u;
    let size = u_red_shape(k);
    at += (rem % size) * u_red_stride(k);
    rem = rem / size;
  }
  return at;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = linear_id(wid, lid, nwg);
  if (o >= u_outputs()) { return; }
  let base = input_base(o);
  let count = u_count();
  var shift = 0.0;
  if ({{SHIFTED}}) {
    shift = neg_inf();
    for (var r = 0u; r < count; r++) { shift = max(shift, f32(ld_X(base + reduced_offset(r)))); }
  }
  var acc = {{OP}}_init();
  for (var r = 0u; r < count; r++) {
    acc = {{OP}}_step(acc, f32(ld_X(base + reduced_offset(r))), shift);
  }
  st_Y(o, TY({{OP}}_finish(acc, count, shift)));
}
