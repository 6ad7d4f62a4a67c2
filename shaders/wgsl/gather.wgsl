// Gather along an axis: data viewed as (outer, axis_len, inner), the output as (outer,
// index count, inner); negative indices count from the end.  An index out of range
// reads element 0 of the axis (the host checks known indices beforehand).  Elements move
// as raw words: any element type.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = linear_id(wid, lid, nwg);
  if (o >= u_n()) { return; }
  let inner = u_inner();
  let count = u_count();
  let j = (o / inner) % count;
  let outer = o / (inner * count);
  var index = i32(ld_I(j));
  let len = i32(u_axis_len());
  if (index < 0) { index += len; }
  if (index < 0 || index >= len) { index = 0; }
  let src = (outer * u32(len) + u32(index)) * inner + o % inner;
  for (var w = 0u; w < W_Y; w++) { Y[o * W_Y + w] = X[src * W_X + w]; }
}
