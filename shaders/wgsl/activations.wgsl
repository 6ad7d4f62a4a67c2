// The fused epilogue's activation (pywebinfer/ops/fused.py lists them), with
// math_util.wgsl.  The program's ACT substitution picks one; its parameters are the
// uniforms act_alpha and act_beta (LeakyRelu's alpha, HardSigmoid's alpha and beta,
// Clip's min and max).
fn act_none(x: f32) -> f32 { return x; }
fn act_relu(x: f32) -> f32 { return max(x, 0.0); }
fn act_sigmoid(x: f32) -> f32 { return sigmoid_f(x); }
fn act_tanh(x: f32) -> f32 { return tanh_f(x); }
fn act_hard_swish(x: f32) -> f32 { return x * clamp(x / 6.0 + 0.5, 0.0, 1.0); }
fn act_leaky_relu(x: f32) -> f32 { return select(x, u_act_alpha() * x, x < 0.0); }
fn act_hard_sigmoid(x: f32) -> f32 { return clamp(u_act_alpha() * x + u_act_beta(), 0.0, 1.0); }
fn act_clip(x: f32) -> f32 {
  if (is_nan_f(x)) { return x; }
  return min(max(x, u_act_alpha()), u_act_beta());
}
fn act_gelu(x: f32) -> f32 { return gelu_erf_f(x); }
fn act_gelu_tanh(x: f32) -> f32 { return gelu_tanh_f(x); }
fn act_silu(x: f32) -> f32 { return x * sigmoid_f(x); }
