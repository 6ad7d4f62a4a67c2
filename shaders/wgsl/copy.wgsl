// The strided copy behind Transpose, Slice, Concat, Split, Expand, Tile, Pad and
// DepthToSpace/SpaceToDepth.  For each output coordinate c (from u_shape), along
// every dimension d the source coordinate is s = start[d] + c * step[d], and where s
// falls outside [0, in_dim[d]) the mode decides:
//   0 constant: the element is the pad value (u_pad_lo/u_pad_hi words)
//   1 reflect   2 edge (clamp)   3 wrap (also Tile's repetition)
// The source element is at src_base + sum(s * in_stride), the destination at
// dst_base + sum(c * dst_stride) (contiguous unless writing into a Concat's part).
// With u_run > 1 an invocation copies a run of that many elements, contiguous in both
// (the host takes the innermost dimension out of the shape): the index arithmetic is
// paid once per run.  Elements move as raw words: any element type.
fn source_coordinate(s: i32, size: i32, mode: u32) -> i32 {
  if (s >= 0 && s < size) { return s; }
  if (mode == 2u) { return clamp(s, 0, size - 1); }
  if (mode == 3u) { return ((s % size) + size) % size; }
  if (mode == 1u) {
    if (size == 1) { return 0; }
    let period = 2 * (size - 1);
    var r = ((s % period) + period) % period;
    if (r >= size) { r = period - r; }
    return r;
  }
  return -1;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= u_n()) { return; }
  var rem = i;
  var src = u_src_base();
  var dst = u_dst_base();
  var inside = true;
  for (var d = u_rank(); d > 0u; d--) {
    let k = d - 1u;
    let size = u_shape(k);
    let c = rem % size;
    rem = rem / size;
    dst += c * u_dst_stride(k);
    let s = source_coordinate(u_start(k) + i32(c) * u_step(k), i32(u_in_dim(k)), u_mode());
    if (s < 0) {
      inside = false;
    } else {
      src += u32(s) * u_in_stride(k);
    }
  }
  if (inside) {
    let words = u_run() * W_Y;
    for (var w = 0u; w < words; w++) { Y[dst * W_Y + w] = X[src * W_X + w]; }
  } else {
    for (var r = 0u; r < u_run(); r++) {
      Y[(dst + r) * W_Y] = u_pad_lo();
      if (W_Y == 2u) { Y[(dst + r) * W_Y + 1u] = u_pad_hi(); }
    }
  }
}
