// uses: math_util.wgsl, activations.wgsl, conv_common.wgsl
// Convolution, one invocation per output element, summing its window directly: for
// depthwise and other convolutions with few output channels per group or small windows,
// where the implicit GEMM's 64-row tiles would be mostly empty.  The window is walked
// axis by axis, so an input index costs additions, not divisions.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let y = linear_id(wid, lid, nwg);
  let P = positions();
  if (y >= u_batch() * u_out_channels() * P) { return; }
  let p = y % P;
  let co = (y / P) % u_out_channels();
  let n = y / (P * u_out_channels());
  let cg = u_group_channels();
  let g = co / u_group_out();
  let ow = u_out_sp(2u);
  let oh = u_out_sp(1u);
  let size = vec3<i32>(i32(u_in_sp(0u)), i32(u_in_sp(1u)), i32(u_in_sp(2u)));
  let s = vec3<i32>(i32(u_stride(0u)), i32(u_stride(1u)), i32(u_stride(2u)));
  let d = vec3<i32>(i32(u_dilation(0u)), i32(u_dilation(1u)), i32(u_dilation(2u)));
  let origin = vec3<i32>(i32(p / (ow * oh)), i32((p / ow) % oh), i32(p % ow)) * s
             - vec3<i32>(u_pad(0u), u_pad(1u), u_pad(2u));
  let k = vec3<i32>(i32(u_kernel(0u)), i32(u_kernel(1u)), i32(u_kernel(2u)));
  let plane = u32(size.x * size.y * size.z);
  var acc = 0.0;
  var w = co * cg * u32(k.x * k.y * k.z);
  for (var c = 0u; c < cg; c++) {
    let x_base = (n * u_channels() + g * cg + c) * plane;
    for (var kz = 0; kz < k.x; kz++) {
      let iz = origin.x + kz * d.x;
      for (var ky = 0; ky < k.y; ky++) {
        let iy = origin.y + ky * d.y;
        let row_ok = iz >= 0 && iz < size.x && iy >= 0 && iy < size.y;
        let row = x_base + u32((iz * size.y + iy) * size.z);
        for (var kx = 0; kx < k.z; kx++) {
          let ix = origin.z + kx * d.z;
          if (row_ok && ix >= 0 && ix < size.z) {
            acc += f32(ld_X(row + u32(ix))) * f32(ld_W(w));
          }
          w++;
        }
      }
    }
  }
  st_Y(y, TY(conv_epilogue(acc, co, y)));
}
