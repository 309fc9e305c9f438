import { FAMILY_PRESETS } from '../model/family_presets.js';

/** bench/kernels.ts's BENCH_MODELS, named without loading the harness. */
const MODELS = ['ti16', 's16', 'b16', ...Object.keys(FAMILY_PRESETS)].join('|');

export const BENCH_USAGE = `  webvit bench kernels [--op NAME[,..]] [--variant NAME[,..]] [--model ${MODELS}[,..]] [--batch N] [--runs N] [--out DIR]
      Validates every kernel variant at the real layer shapes, then times it (GPU timestamps);
      prints GFLOP/s and GB/s next to the adapter's measured ceilings; writes JSON, Markdown, SVG.
  webvit bench model [--model ${MODELS}[,..]] [--batches 1,8,32] [--runs N] [--out DIR] [--no-cold]
                     [--precision f32|f16|int8|q4[,..]]
      Cold start (--no-cold skips it), batch-1 latency, throughput, each op's share of GPU time,
      and a per-dispatch profile (time, TFLOP/s, GB/s) at batch 1 and at the largest batch.
      --precision f16: f16 weights, tensor-core matmuls where the adapter has them (see README);
      int8 / q4: matmul weights quantised at load (weight-only, dequantised in the matmul).
      Each precision's logits are validated before timing against the f32 model on the weights
      it holds (halves widened, codes × scales); several precisions are timed in turns.
  webvit bench roofline [--model ${MODELS}[,..]] [--batch N]
      FLOPs, bytes and arithmetic intensity per op for a whole forward pass (no GPU needed).
`;

/**
 * `webvit bench ...`: the harness (bench/) is loaded only when this command runs, so the rest of
 * the CLI does not carry it (esbuild puts it in a chunk of its own).
 */
export async function benchCommand(argv: string[]): Promise<number> {
  const { runBench } = await import('../../bench/command.js');
  return runBench(argv);
}
