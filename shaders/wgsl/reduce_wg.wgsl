// uses: reduce_ops.wgsl
// Reduce as reduce.wgsl, one workgroup per output element (for long reductions):
// the invocations stride over the reduced elements, then combine in workgroup memory.
var<workgroup> partial: array<f32, WG>;

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

fn combine_max(lid: u32) -> f32 {
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { partial[lid] = max(partial[lid], partial[lid + s]); }
    workgroupBarrier();
  }
  return partial[0];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = wid.y * nwg.x + wid.x;
  let in_range = o < u_outputs();
  let base = select(0u, input_base(o), in_range);
  let count = select(0u, u_count(), in_range);
  var shift = 0.0;
  if ({{SHIFTED}}) {
    var m = neg_inf();
    for (var r = lid; r < count; r += WG) { m = max(m, f32(ld_X(base + reduced_offset(r)))); }
    partial[lid] = m;
    workgroupBarrier();
    shift = combine_max(lid);
    workgroupBarrier();
  }
  var acc = {{OP}}_init();
  for (var r = lid; r < count; r += WG) {
    acc = {{OP}}_step(acc, f32(ld_X(base + reduced_offset(r))), shift);
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { partial[lid] = {{OP}}_merge(partial[lid], partial[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u && in_range) { st_Y(o, TY({{OP}}_finish(partial[0], count, shift))); }
}
