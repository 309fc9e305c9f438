import type { OpChecks } from '../definition.js';
import type { LayerNormShape, LayerNormVariant } from './op.js';
import { layerNormRef } from './reference.js';

const cases: [string, number, number, number, number, number][] = [
  // name, rows, D, eps, mean, spread
  ['ViT-S 197 tokens', 197, 384, 1e-6, 0, 1],
  ['3 images × 50 tokens, D = 48', 150, 48, 1e-5, 0.3, 2],
  ['ViT-B row count 3×197, D = 768', 591, 768, 1e-6, 0, 1],
  ['D not a multiple of the workgroup (D = 100)', 7, 100, 1e-6, 0, 1],
  ['large mean, small variance', 64, 384, 1e-6, 1000, 0.01],
  ['large negative mean, tiny variance, D = 4', 33, 4, 1e-12, -3e4, 0.5],
];

/** layernorm's checks (the definition: LAYERNORM, ./definition.ts). */
export const LAYERNORM_CHECKS: OpChecks<LayerNormShape, LayerNormVariant> = {
  testShapes: cases.map(([name, rows, D, eps, mean, spread]) => ({ name: `${name} (rows ${rows}, D ${D}, eps ${eps})`, shape: { rows, D, eps, mean, spread } })),
  reference: ({ rows, D, eps }, x) => layerNormRef(x.x, x.gamma, x.beta, rows, D, eps),
};
