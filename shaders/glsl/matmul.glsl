// uses: activations.glsl
// Y = act(alpha * A.B + beta * C) over [batch..., M, N] (MatMul, Gemm and the fused
// forms).  A[i, k] is at a_off + i * a_row + k * a_col, B[k, j] at b_off + k * b_row +
// j * b_col; a_off and b_off come from the batch coordinates and per-batch strides.
// MODE picks how a texel (four outputs) is computed:
//   0  each output alone, element by element (any layout)
//   1  A rows and B rows contiguous, K and N multiples of 4: 1 A texel + 4 B texels per 4 k
//   2  A rows contiguous, B transposed (B[k, j] at j * K + k), K, N multiples of 4:
//      4 dot products per 4 k
//   3  B rows contiguous, N a multiple of 4: an A element and a B texel per k
//   4  the epilogue of matmul_targets.glsl's product (row i in Q(i % QS) of QS = 4 or 8,
//      N a multiple of 4, the batch flattened into the rows)

int batch_offset(int o, bool of_a) {
  int off = 0;
  for (int d = 0; d < RANK - 2; d++) off += out_coord(o, d) * (of_a ? u_a_batch(d) : u_b_batch(d));
  return off;
}

#if {{MODE}} == 0
float dot_at(int a, int b) {
  float acc = 0.0;
  int k_len = u_k();
  for (int k = 0; k < k_len; k++) acc += A_at(a + k * u_a_col()) * B_at(b + k * u_b_row());
  return acc;
}
#endif

vec4 product(int t) {
  int o = 4 * t;
#if {{MODE}} == 4
  int nq = u_oshape(RANK - 1) >> 2;
  int i = t / nq;
  int q = (i / {{QS}}) * nq + t - i * nq;
  int r = i % {{QS}};
  if (r == 0) return Q0_texel(q);
  if (r == 1) return Q1_texel(q);
  if (r == 2) return Q2_texel(q);
#if {{QS}} == 8
  if (r == 3) return Q3_texel(q);
  if (r == 4) return Q4_texel(q);
  if (r == 5) return Q5_texel(q);
  if (r == 6) return Q6_texel(q);
  return Q7_texel(q);
#else
  return Q3_texel(q);
#endif
#elif {{MODE}} == 0
  vec4 r;
  for (int c = 0; c < 4; c++) {
    int e = o + c;
    int a = batch_offset(e, true) + out_coord(e, RANK - 2) * u_a_row();
    int b = batch_offset(e, false) + out_coord(e, RANK - 1) * u_b_col();
    r[c] = dot_at(a, b);
  }
  return r;
#else
  int a = (batch_offset(o, true) + out_coord(o, RANK - 2) * u_a_row()) >> 2;
  int j = out_coord(o, RANK - 1);
  int k_len = u_k();
  vec4 acc = vec4(0.0);
#if {{MODE}} == 1
  int b = (batch_offset(o, false) + j) >> 2;
  int b_step = u_b_row() >> 2;
  for (int k = 0; k < k_len; k += 4) {
    vec4 x = A_texel(a + (k >> 2));
    int row = b + k * b_step;
    acc += x.x * B_texel(row) + x.y * B_texel(row + b_step) + x.z * B_texel(row + 2 * b_step)
        + x.w * B_texel(row + 3 * b_step);
  }
#elif {{MODE}} == 2
  int b = (batch_offset(o, false) + j * u_b_col()) >> 2;
  int b_step = u_b_col() >> 2;
  for (int k = 0; k < k_len; k += 4) {
    vec4 x = A_texel(a + (k >> 2));
    int q = b + (k >> 2);
    acc += vec4(dot(x, B_texel(q)), dot(x, B_texel(q + b_step)), dot(x, B_texel(q + 2 * b_step)),
                dot(x, B_texel(q + 3 * b_step)));
  }
#else
  int a_elem = batch_offset(o, true) + out_coord(o, RANK - 2) * u_a_row();
  int b = (batch_offset(o, false) + j) >> 2;
  int b_step = u_b_row() >> 2;
  for (int k = 0; k < k_len; k++) acc += A_at(a_elem + k * u_a_col()) * B_texel(b + k * b_step);
#endif
  return acc;
#endif
}

vec4 run(int t) {
  vec4 y = u_alpha() * product(t);
#if {{HAS_C}}
  y += u_beta() * C_load4(t);
#endif
  return activate(y);
}
