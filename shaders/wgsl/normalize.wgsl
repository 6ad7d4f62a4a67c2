// LayerNormalization, InstanceNormalization, GroupNormalization and RMSNormalization:
// one workgroup per row of u_len contiguous elements; mean and variance in two passes,
// then y = (x - mean) / sqrt(var + epsilon) * scale + bias (RMSNormalization, center 0:
// the mean is taken as 0, so var is the mean square).
// Scale and bias: LayerNormalization reads them at element j of the row through the
// normalized dimensions' strides (affine_rank/affine_shape/scale_stride/bias_stride, 0
// where broadcast); Instance/GroupNormalization per channel: channel =
// (row % rows_per_image) * channels_per_row + j / channel_len.  Mean and InvStdDev
// (LayerNormalization's optional outputs, per row) go to M and V when HAS_STATS.
var<workgroup> partial: array<f32, WG>;

fn reduce_sum(lid: u32, v: f32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { partial[lid] = partial[lid] + partial[lid + s]; }
    workgroupBarrier();
  }
  let result = partial[0];
  workgroupBarrier();
  return result;
}

fn affine_offsets(j: u32) -> vec2<u32> {
  if (u_per_channel() != 0u) {
    return vec2<u32>(0u);
  }
  var rem = j;
  var os = 0u;
  var ob = 0u;
  for (var d = u_affine_rank(); d > 0u; d--) {
    let k = d - 1u;
    let size = u_affine_shape(k);
    let c = rem % size;
    rem = rem / size;
    os += c * u_scale_stride(k);
    ob += c * u_bias_stride(k);
  }
  return vec2<u32>(os, ob);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = wid.y * nwg.x + wid.x;
  if (r >= u_rows()) { return; }
  let len = u_len();
  let base = r * len;
  var total = 0.0;
  for (var j = lid; j < len; j += WG) { total += f32(ld_X(base + j)); }
  var mean = 0.0;
  if (u_center() != 0u) { mean = reduce_sum(lid, total) / f32(len); }
  var squares = 0.0;
  for (var j = lid; j < len; j += WG) {
    let d = f32(ld_X(base + j)) - mean;
    squares += d * d;
  }
  let inv_std = 1.0 / sqrt(reduce_sum(lid, squares) / f32(len) + u_epsilon());
  for (var j = lid; j < len; j += WG) {
    var scale: f32;
    var bias = 0.0;
    if (u_per_channel() != 0u) {
      let c = (r % u_rows_per_image()) * u_channels_per_row() + j / u_channel_len();
      scale = f32(ld_S(c));
      if ({{HAS_BIAS}}) { bias = f32(ld_B(c)); }
    } else {
      let o = affine_offsets(j);
      scale = f32(ld_S(o.x));
      if ({{HAS_BIAS}}) { bias = f32(ld_B(o.y)); }
    }
    st_Y(base + j, TY((f32(ld_X(base + j)) - mean) * inv_std * scale + bias));
  }
  if ({{HAS_STATS}} && lid == 0u) {
    st_M(r, TM(mean));
    st_V(r, TV(inv_std));
  }
}
