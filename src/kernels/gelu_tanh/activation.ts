import type { Activation } from '../activation.js';

/**
 * gelu_tanh: GELU's tanh approximation, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), SigLIP's
 * MLP activation (HF `hidden_act: "gelu_pytorch_tanh"`, torch's GELU(approximate='tanh')). The
 * kernel uses the identity 0.5·(1 + tanh(u)) = 1 / (1 + e^(−2u)), with the exponent clamped at 80
 * as quick_gelu does: past it the value is below 1e-33·|x|, and exp would overflow float32 at
 * 88.7. For |x| beyond ~1e13, x³ is +∞ and the clamp still gives the right limit (x, or −0).
 */
export const GELU_TANH_ACTIVATION: Activation = {
  name: 'gelu_tanh',
  wgsl: /* wgsl */ `
fn gelu_tanh(x: f32) -> f32 {
  return x / (1.0 + exp(min(-1.5957691216 * (x + 0.044715 * x * x * x), 80.0)));
}

fn gelu_tanh4(x: vec4<f32>) -> vec4<f32> {
  return x / (vec4<f32>(1.0) + exp(min(-1.5957691216 * (x + 0.044715 * x * x * x), vec4<f32>(80.0))));
}
`,
  ref64: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
  flops: 9,
};
