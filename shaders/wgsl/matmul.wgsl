// uses: math_util.wgsl, activations.wgsl, matmul_common.wgsl
// Y[b] = act(alpha * A[b] @ B[b] + beta * C + Z) for MatMul, Gemm, their fused forms and
// pointwise (1x1) convolutions.
// A's element (m, k) is at a_batch + m * sam + k * sak and B's (k, n) at
// b_batch + k * sbk + n * sbn, so transposed operands (Gemm's transA/transB) and
// broadcast batches (stride 0) need no copy; C (Gemm's C, FusedMatMul's bias) is read at
// m * scm + n * scn.  Tiled in workgroup memory: a 16x16 workgroup computes a 64x64 block
// of Y, each invocation 4x4 of it, over K in steps of 16.
const TILE: u32 = 64u;
const KT: u32 = 16u;
var<workgroup> tile_a: array<f32, 1024>;  // [k][m] of the current K step
var<workgroup> tile_b: array<f32, 1024>;  // [k][n]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let M = u_m();
  let N = u_n();
  let K = u_k();
  let batch = wid.z;
  let m0 = wid.y * TILE;
  let n0 = wid.x * TILE;
  let base = batch_offsets(batch);
  let tm = lid.y * 4u;
  let tn = lid.x * 4u;
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < K; k0 += KT) {
    for (var j = 0u; j < 4u; j++) {
      let idx = li + j * 256u;
      let am = idx / KT;
      let ak = idx % KT;
      var a = 0.0;
      if (m0 + am < M && k0 + ak < K) {
        a = f32(ld_A(base.x + (m0 + am) * u_sam() + (k0 + ak) * u_sak()));
      }
      tile_a[ak * TILE + am] = a;
      let bk = idx / TILE;
      let bn = idx % TILE;
      var b = 0.0;
      if (k0 + bk < K && n0 + bn < N) {
        b = f32(ld_B(base.y + (k0 + bk) * u_sbk() + (n0 + bn) * u_sbn()));
      }
      tile_b[bk * TILE + bn] = b;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < KT; kk++) {
      let a = vec4<f32>(tile_a[kk * TILE + tm], tile_a[kk * TILE + tm + 1u],
                        tile_a[kk * TILE + tm + 2u], tile_a[kk * TILE + tm + 3u]);
      let b = vec4<f32>(tile_b[kk * TILE + tn], tile_b[kk * TILE + tn + 1u],
                        tile_b[kk * TILE + tn + 2u], tile_b[kk * TILE + tn + 3u]);
      acc[0] += a.x * b;
      acc[1] += a.y * b;
      acc[2] += a.z * b;
      acc[3] += a.w * b;
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < 4u; r++) {
    let m = m0 + tm + r;
    if (m >= M) { break; }
    for (var c = 0u; c < 4u; c++) {
      let n = n0 + tn + c;
      if (n >= N) { break; }
      let y = batch * M * N + m * N + n;
      st_Y(y, TY(epilogue(acc[r][c], m, n, y)));
    }
  }
}
