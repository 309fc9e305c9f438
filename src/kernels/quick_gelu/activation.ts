import type { Activation } from '../activation.js';

/**
 * quick_gelu: x·sigmoid(1.702·x), the GELU approximation of OpenAI's CLIP image towers
 * (HF `hidden_act: "quick_gelu"`, QuickGELUActivation). The exponent is clamped at 80: below
 * x ≈ −47 the true value is under 1e-33 in magnitude, and exp would overflow float32 at 88.7.
 */
export const QUICK_GELU_ACTIVATION: Activation = {
  name: 'quick_gelu',
  wgsl: /* wgsl */ `
fn quick_gelu(x: f32) -> f32 {
  return x / (1.0 + exp(min(-1.702 * x, 80.0)));
}

fn quick_gelu4(x: vec4<f32>) -> vec4<f32> {
  return x / (vec4<f32>(1.0) + exp(min(-1.702 * x, vec4<f32>(80.0))));
}
`,
  ref64: (x) => x / (1 + Math.exp(-1.702 * x)),
  flops: 5,
};
