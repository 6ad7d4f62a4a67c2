// The fused epilogue's activation (pywebinfer/ops/fused.py lists them), with
// math_util.wgsl.  The uniform act picks one at run time (one pipeline serves every
// epilogue of a kernel: fewer pipelines to compile); act_alpha and act_beta are its
// parameters (LeakyRelu's alpha, HardSigmoid's alpha and beta, Clip's min and max).
// Codes: kernels/matmul.py ACTIVATIONS.
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

fn activate(x: f32) -> f32 {
  switch u_act() {
    case 1u: { return act_relu(x); }
    case 2u: { return act_sigmoid(x); }
    case 3u: { return act_tanh(x); }
    case 4u: { return act_hard_swish(x); }
    case 5u: { return act_leaky_relu(x); }
    case 6u: { return act_hard_sigmoid(x); }
    case 7u: { return act_clip(x); }
    case 8u: { return act_gelu(x); }
    case 9u: { return act_gelu_tanh(x); }
    case 10u: { return act_silu(x); }
    default: { return x; }
  }
}
