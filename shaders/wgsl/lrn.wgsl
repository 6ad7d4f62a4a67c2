// LRN: y = x / (bias + alpha / size * sum of x^2 over the channel window)^beta, the
// window running from c - floor((size-1)/2) to c + ceil((size-1)/2), clipped to the
// channels.  One invocation per element; X viewed as (N, C, spatial).
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= u_n()) { return; }
  let spatial = u_spatial();
  let channels = i32(u_channels());
  let c = i32((i / spatial) % u_channels());
  let base = i - u32(c) * spatial;
  let before = (i32(u_size()) - 1) / 2;
  let after = i32(u_size()) - 1 - before;
  var total = 0.0;
  for (var k = max(c - before, 0); k <= min(c + after, channels - 1); k++) {
    let v = f32(ld_X(base + u32(k) * spatial));
    total += v * v;
  }
  let scale = u_bias() + u_alpha() / f32(u_size()) * total;
  st_Y(i, TY(f32(ld_X(i)) / pow(scale, u_beta())));
}
