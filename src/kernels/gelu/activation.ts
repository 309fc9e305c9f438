import type { Activation } from '../activation.js';
import { gelu64 } from '../reference_math.js';
import { ERF_GELU_WGSL } from '../wgsl_math.js';

/** The exact (erf) GELU, 0.5·x·(1 + erf(x/√2)): torch.nn.GELU()'s default, HF's "gelu". */
export const GELU_ACTIVATION: Activation = { name: 'gelu', wgsl: ERF_GELU_WGSL, ref64: gelu64, flops: 20 };
