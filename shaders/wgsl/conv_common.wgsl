// Convolution geometry shared by the Conv shaders.  Spatial sizes are always three
// (depth, height, width); 1-D and 2-D convolutions pad the leading ones with size 1.
// Uniforms: in_sp[3], out_sp[3], kernel[3], stride[3], dilation[3], pad[3] (begin,
// i32), channels (C), group_channels (C / group), out_channels (M), group_out (M / group).

// X's flat index of input channel ci of image n at output position p and kernel tap t,
// or -1 where the tap falls into the padding.
fn input_index(n: u32, ci: u32, p: u32, t: u32) -> i32 {
  let ow = u_out_sp(2u);
  let oh = u_out_sp(1u);
  let kw = u_kernel(2u);
  let kh = u_kernel(1u);
  let o = vec3<i32>(i32(p / (ow * oh)), i32((p / ow) % oh), i32(p % ow));
  let k = vec3<i32>(i32(t / (kw * kh)), i32((t / kw) % kh), i32(t % kw));
  let s = vec3<i32>(i32(u_stride(0u)), i32(u_stride(1u)), i32(u_stride(2u)));
  let d = vec3<i32>(i32(u_dilation(0u)), i32(u_dilation(1u)), i32(u_dilation(2u)));
  let pad = vec3<i32>(u_pad(0u), u_pad(1u), u_pad(2u));
  let i = o * s - pad + k * d;
  let size = vec3<i32>(i32(u_in_sp(0u)), i32(u_in_sp(1u)), i32(u_in_sp(2u)));
  if (any(i < vec3<i32>(0)) || any(i >= size)) { return -1; }
  let plane = u32(size.x * size.y * size.z);
  return i32((n * u_channels() + ci) * plane + u32((i.x * size.y + i.y) * size.z + i.z));
}

fn taps() -> u32 { return u_kernel(0u) * u_kernel(1u) * u_kernel(2u); }
fn positions() -> u32 { return u_out_sp(0u) * u_out_sp(1u) * u_out_sp(2u); }

// bias, residual and activation on output element y_index of channel co (u_has_bias,
// u_has_residual: the inputs are given; else a placeholder is bound there)
fn conv_epilogue(v: f32, co: u32, y_index: u32) -> f32 {
  var r = v;
  if (u_has_bias() != 0u) { r += f32(ld_B(co)); }
  if (u_has_residual() != 0u) { r += f32(ld_Z(y_index)); }
  return activate(r);
}
