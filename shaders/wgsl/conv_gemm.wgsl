// uses: math_util.wgsl, activations.wgsl, conv_common.wgsl
// Convolution as an implicit GEMM, per image and group (workgroup z = n * groups + g):
// Y[m, p] = sum_k W[m, k] * X_cols[k, p], with k running over (input channel of the
// group, kernel tap) and p over output positions; the X_cols tile is gathered from X as
// it is loaded (no im2col buffer).  Tiles as in matmul.wgsl: 64x64 outputs per 16x16
// workgroup, K in steps of 16, in workgroup memory.
const TILE: u32 = 64u;
const KT: u32 = 16u;
var<workgroup> tile_w: array<f32, 1024>;  // [k][m]
var<workgroup> tile_x: array<f32, 1024>;  // [k][p]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let groups = u_channels() / u_group_channels();
  let n = wid.z / groups;
  let g = wid.z % groups;
  let M = u_group_out();
  let P = positions();
  let T = taps();
  let K = u_group_channels() * T;
  let m0 = wid.y * TILE;
  let p0 = wid.x * TILE;
  let tm = lid.y * 4u;
  let tp = lid.x * 4u;
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < K; k0 += KT) {
    for (var j = 0u; j < 4u; j++) {
      let idx = li + j * 256u;
      let wm = idx / KT;
      let wk = idx % KT;
      var w = 0.0;
      if (m0 + wm < M && k0 + wk < K) { w = f32(ld_W((g * M + m0 + wm) * K + k0 + wk)); }
      tile_w[wk * TILE + wm] = w;
      let xk = idx / TILE;
      let xp = idx % TILE;
      var x = 0.0;
      if (k0 + xk < K && p0 + xp < P) {
        let k = k0 + xk;
        let at = input_index(n, g * u_group_channels() + k / T, p0 + xp, k % T);
        if (at >= 0) { x = f32(ld_X(u32(at))); }
      }
      tile_x[xk * TILE + xp] = x;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < KT; kk++) {
      let w = vec4<f32>(tile_w[kk * TILE + tm], tile_w[kk * TILE + tm + 1u],
                        tile_w[kk * TILE + tm + 2u], tile_w[kk * TILE + tm + 3u]);
      let x = vec4<f32>(tile_x[kk * TILE + tp], tile_x[kk * TILE + tp + 1u],
                        tile_x[kk * TILE + tp + 2u], tile_x[kk * TILE + tp + 3u]);
      acc[0] += w.x * x;
      acc[1] += w.y * x;
      acc[2] += w.z * x;
      acc[3] += w.w * x;
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < 4u; r++) {
    let m = m0 + tm + r;
    if (m >= M) { break; }
    let co = g * M + m;
    for (var c = 0u; c < 4u; c++) {
      let p = p0 + tp + c;
      if (p >= P) { break; }
      let y = (n * u_out_channels() + co) * P + p;
      st_Y(y, TY(conv_epilogue(acc[r][c], co, y)));
    }
  }
}
