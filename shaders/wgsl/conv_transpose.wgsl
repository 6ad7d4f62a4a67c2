// uses: math_util.wgsl, activations.wgsl, conv_common.wgsl
// Transposed convolution, one invocation per output element: the full result's
// position f = o + begin (u_pad) receives X[i] * W[ci, m, k] wherever i * stride +
// k * dilation == f.  W is (C, M / group, kernel...); here in_sp is X's spatial size and
// out_sp Y's.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let y = linear_id(wid, lid, nwg);
  let P = positions();
  if (y >= u_batch() * u_out_channels() * P) { return; }
  let p = y % P;
  let co = (y / P) % u_out_channels();
  let n = y / (P * u_out_channels());
  let mg = u_group_out();
  let g = co / mg;
  let m = co % mg;
  let cg = u_group_channels();
  let ow = u_out_sp(2u);
  let oh = u_out_sp(1u);
  let f = vec3<i32>(i32(p / (ow * oh)), i32((p / ow) % oh), i32(p % ow))
        + vec3<i32>(u_pad(0u), u_pad(1u), u_pad(2u));
  let size = vec3<i32>(i32(u_in_sp(0u)), i32(u_in_sp(1u)), i32(u_in_sp(2u)));
  let s = vec3<i32>(i32(u_stride(0u)), i32(u_stride(1u)), i32(u_stride(2u)));
  let d = vec3<i32>(i32(u_dilation(0u)), i32(u_dilation(1u)), i32(u_dilation(2u)));
  let kw = u_kernel(2u);
  let kh = u_kernel(1u);
  let T = taps();
  let plane = u32(size.x * size.y * size.z);
  var acc = 0.0;
  for (var t = 0u; t < T; t++) {
    let k = vec3<i32>(i32(t / (kw * kh)), i32((t / kw) % kh), i32(t % kw));
    let q = f - k * d;
    if (any(q < vec3<i32>(0)) || any(q % s != vec3<i32>(0))) { continue; }
    let i = q / s;
    if (any(i >= size)) { continue; }
    let at = u32((i.x * size.y + i.y) * size.z + i.z);
    for (var c = 0u; c < cg; c++) {
      let ci = g * cg + c;
      acc += f32(ld_X((n * u_channels() + ci) * plane + at)) * f32(ld_W((ci * mg + m) * T + t));
    }
  }
  st_Y(y, TY(conv_epilogue(acc, co, y)));
}
