import { WebvitError } from '../errors.js';
import { dequantize, quantize, type QuantizedMatrix } from '../kernels/matmul/quant.js';
import { QUANT_READS } from '../kernels/matmul/quant_read.js';
import { registerWeightReads } from '../kernels/matmul/weight_read.js';
import type { WeightDeclaration, LoadedWeights } from './weights.js';

/** What ViTModel uploads for a model with quantised matmul weights: f32 tensors, and codes with scales. */
export interface QuantUpload {
  tensors: Map<string, Float32Array>;
  quant: Map<string, QuantizedMatrix>;
  limits: Map<string, Float32Array>;
}

/**
 * The quantised side of a load (in the browser from the on-demand chunk, only for such models):
 * registers the int8 / q4 weight readers, checks each quantised weight against the graph's
 * declaration, and with precision 'int8' or 'q4' quantises the f32 matmul weights in memory
 * (quant.ts, as the converter would). `limits` holds what ViTModel's input limit reads of the
 * patch embedding (inputLimit): its weights dequantised on the CPU, never uploaded.
 */
export function quantWeights(w: LoadedWeights, kind: 'int8' | 'q4' | undefined, declared: Map<string, WeightDeclaration>, label: string): QuantUpload {
  registerWeightReads(QUANT_READS);
  const tensors = new Map(w.tensors);
  const quant = new Map<string, QuantizedMatrix>();
  for (const [name, q] of w.quant ?? []) {
    const d = declared.get(name);
    if (!d?.matrix || d.shape.join() !== `${q.K},${q.N}`) {
      throw new WebvitError('BAD_WEIGHTS', `${label}: quantised tensor ${name} is [${q.K}, ${q.N}] but the model reads ${d ? `[${d.shape}]${d.matrix ? '' : ', not as a matmul weight'}` : 'no such tensor'}`);
    }
    quant.set(name, q);
  }
  if (kind) {
    for (const [name, f32] of w.tensors) {
      const d = declared.get(name);
      if (!d?.matrix) continue;
      quant.set(name, quantize(f32, d.shape[0], d.shape[1], kind, `${label}: ${name}`));
      tensors.delete(name);
    }
  }
  const pe = quant.get('patch_embed.weight');
  return { tensors, quant, limits: pe ? new Map([...tensors, ['patch_embed.weight', Float32Array.from(dequantize(pe))]]) : tensors };
}
