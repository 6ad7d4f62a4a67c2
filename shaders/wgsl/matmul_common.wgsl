// What matmul.wgsl and matmul_small.wgsl share: the batch offsets of A and B (batch
// dimensions broadcast with stride 0) and the epilogue: alpha * acc + beta * C[m, n]
// (C read through scm/scn: Gemm's C, a bias per column or per row), + Z[y] (a
// convolution's residual), then the activation; has_c / has_z say which are given.
fn batch_offsets(batch: u32) -> vec2<u32> {
  var rem = batch;
  var oa = 0u;
  var ob = 0u;
  for (var d = u_batch_rank(); d > 0u; d--) {
    let k = d - 1u;
    let size = u_batch_shape(k);
    let c = rem % size;
    rem = rem / size;
    oa += c * u_batch_sa(k);
    ob += c * u_batch_sb(k);
  }
  return vec2<u32>(oa, ob);
}

fn epilogue(acc: f32, m: u32, n: u32, y: u32) -> f32 {
  var v = u_alpha() * acc;
  if (u_has_c() != 0u) { v += u_beta() * f32(ld_C(m * u_scm() + n * u_scn())); }
  if (u_has_z() != 0u) { v += f32(ld_Z(y)); }
  return activate(v);
}
