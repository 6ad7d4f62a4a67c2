// MaxPool, AveragePool and LpPool, one invocation per output element of (N * C,
// out_sp) over its window.  Geometry as conv_common.wgsl (three spatial sizes), with
// pad (begin) and pad_end; MODE is pool_max, pool_avg or pool_lp.  MaxPool's indices
// (I, int64) are flat positions in X, row-major (storage_order 0) or column-major over
// the spatial axes; AveragePool divides by the taps inside the input, or inside the
// explicit padding too when count_include_pad is set.
fn tap_position(p: u32, t: u32) -> vec3<i32> {
  let ow = u_out_sp(2u);
  let oh = u_out_sp(1u);
  let kw = u_kernel(2u);
  let kh = u_kernel(1u);
  let o = vec3<i32>(i32(p / (ow * oh)), i32((p / ow) % oh), i32(p % ow));
  let k = vec3<i32>(i32(t / (kw * kh)), i32((t / kw) % kh), i32(t % kw));
  let s = vec3<i32>(i32(u_stride(0u)), i32(u_stride(1u)), i32(u_stride(2u)));
  let d = vec3<i32>(i32(u_dilation(0u)), i32(u_dilation(1u)), i32(u_dilation(2u)));
  return o * s - vec3<i32>(u_pad(0u), u_pad(1u), u_pad(2u)) + k * d;
}

fn spatial_size() -> vec3<i32> {
  return vec3<i32>(i32(u_in_sp(0u)), i32(u_in_sp(1u)), i32(u_in_sp(2u)));
}

fn pool_max(plane: u32, p: u32, y: u32) {
  let size = spatial_size();
  let T = u_kernel(0u) * u_kernel(1u) * u_kernel(2u);
  let area = u32(size.x * size.y * size.z);
  var best = ld_X(0u);
  var best_at = vec3<i32>(-1);
  for (var t = 0u; t < T; t++) {
    let i = tap_position(p, t);
    if (any(i < vec3<i32>(0)) || any(i >= size)) { continue; }
    let v = ld_X(plane * area + u32((i.x * size.y + i.y) * size.z + i.z));
    if (best_at.x < 0 || v > best) {
      best = v;
      best_at = i;
    }
  }
  st_Y(y, best);
  if ({{HAS_INDICES}}) {
    var flat: i32;
    if (u_storage_order() == 0u) {
      flat = (best_at.x * size.y + best_at.y) * size.z + best_at.z;
    } else {
      flat = (best_at.z * size.y + best_at.y) * size.x + best_at.x;
    }
    st_I(y, i32(plane * area) + flat);
  }
}

fn pool_avg(plane: u32, p: u32, y: u32) {
  let size = spatial_size();
  let T = u_kernel(0u) * u_kernel(1u) * u_kernel(2u);
  let area = u32(size.x * size.y * size.z);
  var lo = vec3<i32>(0);
  var hi = size;
  if (u_include_pad() != 0u) {
    lo = -vec3<i32>(u_pad(0u), u_pad(1u), u_pad(2u));
    hi = size + vec3<i32>(u_pad_end(0u), u_pad_end(1u), u_pad_end(2u));
  }
  var total = 0.0;
  var count = 0u;
  for (var t = 0u; t < T; t++) {
    let i = tap_position(p, t);
    if (all(i >= lo) && all(i < hi)) { count++; }
    if (any(i < vec3<i32>(0)) || any(i >= size)) { continue; }
    total += f32(ld_X(plane * area + u32((i.x * size.y + i.y) * size.z + i.z)));
  }
  st_Y(y, TY(total / f32(max(count, 1u))));
}

fn pool_lp(plane: u32, p: u32, y: u32) {
  let size = spatial_size();
  let T = u_kernel(0u) * u_kernel(1u) * u_kernel(2u);
  let area = u32(size.x * size.y * size.z);
  let power = u_p();
  var total = 0.0;
  for (var t = 0u; t < T; t++) {
    let i = tap_position(p, t);
    if (any(i < vec3<i32>(0)) || any(i >= size)) { continue; }
    let v = abs(f32(ld_X(plane * area + u32((i.x * size.y + i.y) * size.z + i.z))));
    total += select(pow(v, power), v * v, power == 2.0);
  }
  st_Y(y, TY(select(pow(total, 1.0 / power), sqrt(total), power == 2.0)));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let y = linear_id(wid, lid, nwg);
  let P = u_out_sp(0u) * u_out_sp(1u) * u_out_sp(2u);
  if (y >= u_planes() * P) { return; }
  {{MODE}}(y / P, y % P, y);
}
