// Resize: each resized axis a has a table of taps per output position (from the host's
// coordinate transform, the reference's own): taps[a] entries of (input index, weight)
// at table offset table_at[a] + position * taps[a] (pairs of words in T).  An index of
// -1 marks a position outside the input (tf_crop_and_resize): the extrapolation value.
// The output element sums weight products over every combination of its axes' taps.
// Axes not resized map straight through.  Rank up to 8, resized axes up to 4.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = linear_id(wid, lid, nwg);
  if (o >= u_n()) { return; }
  // coordinates of o, and the base input offset from the axes not resized
  var coords: array<u32, 8>;
  var rem = o;
  for (var d = u_rank(); d > 0u; d--) {
    let k = d - 1u;
    coords[k] = rem % u_out_shape(k);
    rem = rem / u_out_shape(k);
  }
  var base = 0u;
  for (var k = 0u; k < u_rank(); k++) {
    if (u_axis_slot(k) == 0u) { base += coords[k] * u_in_stride(k); }
  }
  let resized = u_resized();
  var combos = 1u;
  for (var s = 0u; s < resized; s++) { combos *= u_taps(s); }
  var total = 0.0;
  var outside = false;
  for (var c = 0u; c < combos; c++) {
    var rest = c;
    var weight = 1.0;
    var at = base;
    for (var s = 0u; s < resized; s++) {
      let n = u_taps(s);
      let t = rest % n;
      rest = rest / n;
      let axis = u_axis_of(s);
      let entry = u_table_at(s) + (coords[axis] * n + t) * 2u;
      let index = bitcast<i32>(T[entry]);
      if (index < 0) { outside = true; }
      weight *= bitcast<f32>(T[entry + 1u]);
      at += u32(max(index, 0)) * u_in_stride(axis);
    }
    if (weight != 0.0) { total += weight * f32(ld_X(at)); }
  }
  if (outside) { total = u_extrapolation(); }
  st_Y(o, TY(total));
}
