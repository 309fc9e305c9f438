import type { OpChecks, TestCase } from '../definition.js';
import { GELU_ACTIVATION } from '../gelu/activation.js';
import { epilogueName, type MatmulEpilogue } from './epilogue.js';
import type { MatmulShape, MatmulVariant } from './op.js';
import { linearRef } from './reference.js';

const EPILOGUES: MatmulEpilogue[] = ['none', GELU_ACTIVATION, 'residual'];

const SHAPES: [string, number, number, number][] = [
  // name, M, K, N
  ['ViT-S qkv, 197 tokens', 197, 384, 1152],
  ['3 images × 50 tokens, mlp', 150, 64, 256],
  ['classifier 1000 classes, batch 3', 3, 192, 1000],
  ['odd everything (scalar paths)', 37, 49, 10],
  ['K not multiple of 4, N multiple', 65, 50, 68],
  ['K multiple of 4, N odd', 1, 20, 7],
  ['exact tile fit', 128, 64, 128],
];

/**
 * Every variant runs through the same shapes; epilogues rotate over the shapes so each variant
 * sees each epilogue on aligned and unaligned shapes. The default variant also gets every
 * epilogue on every shape. (f16 weights: test/kernels/matmul.test.ts.)
 */
const TEST_SHAPES: TestCase<MatmulShape, MatmulVariant>[] = [
  ...SHAPES.flatMap(([name, M, K, N], i) =>
    EPILOGUES.map((epilogue) => ({
      name: `${name}: ${M}x${K}x${N}, epilogue ${epilogueName(epilogue)}`,
      shape: { M, K, N, epilogue, bias: true },
      only: epilogue === EPILOGUES[i % 3] ? undefined : (['tiled'] as MatmulVariant[]),
    })),
  ),
  { name: 'works without bias: 50x48x144', shape: { M: 50, K: 48, N: 144, epilogue: 'none', bias: false } },
];

/** matmul's checks (the definition: MATMUL, ./definition.ts). */
export const MATMUL_CHECKS: OpChecks<MatmulShape, MatmulVariant> = {
  testShapes: TEST_SHAPES,
  reference: ({ M, K, N, epilogue }, x) => linearRef(x.a, x.w, x.bias, x.residual, M, K, N, epilogue),
};
