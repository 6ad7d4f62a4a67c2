// uses: math_util.wgsl, activations.wgsl, matmul_common.wgsl
// MatMul / Gemm for few rows (M small: a batch-1 classifier, a GEMV): one invocation
// per output element, a dot product over K, where matmul.wgsl's 64-row tiles would
// compute mostly padding.  Same parameters and epilogue as matmul.wgsl.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  let M = u_m();
  let N = u_n();
  if (i >= u_count() * M * N) { return; }
  let n = i % N;
  let m = (i / N) % M;
  let batch = i / (M * N);
  let base = batch_offsets(batch);
  var a = base.x + m * u_sam();
  var b = base.y + n * u_sbn();
  let K = u_k();
  let sak = u_sak();
  let sbk = u_sbk();
  var acc = 0.0;
  for (var k = 0u; k < K; k++) {
    acc += f32(ld_A(a)) * f32(ld_B(b));
    a += sak;
    b += sbk;
  }
  st_Y(i, TY(epilogue(acc, m, n, i)));
}
