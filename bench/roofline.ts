import { buildGraph } from '../src/model/graph.js';
import { parseConfig } from '../src/model/config.js';
import { BENCH_MODELS, type BenchModel } from './kernels.js';

/**
 * FLOPs and bytes per op for a whole forward pass, from the same dispatches the runtime runs
 * (each kernel states the work it does). Arithmetic intensity (FLOP/byte) against the adapter's
 * ridge point (peak FLOP/s ÷ bandwidth) says which ops are memory-bound.
 */
export function roofline(models: BenchModel[], batch: number): string {
  const rows: string[] = [
    '| model | op | dispatches | GFLOP | MB moved | FLOP/byte |',
    '|---|---|---:|---:|---:|---:|',
  ];
  for (const m of models) {
    const c = parseConfig(BENCH_MODELS[m], m);
    const g = buildGraph(c, () => ({ buffer: undefined as unknown as GPUBuffer }), { batch, maxWorkgroupStorage: 16384 });
    const byOp = new Map<string, { n: number; flops: number; bytes: number }>();
    for (const d of g.dispatches) {
      const op = d.source.kernel.split('/')[0];
      const e = byOp.get(op) ?? { n: 0, flops: 0, bytes: 0 };
      e.n++;
      e.flops += d.flops;
      e.bytes += d.bytes;
      byOp.set(op, e);
    }
    let tf = 0;
    let tb = 0;
    for (const [op, e] of byOp) {
      tf += e.flops;
      tb += e.bytes;
      rows.push(`| ${m} b${batch} | ${op} | ${e.n} | ${(e.flops / 1e9).toFixed(3)} | ${(e.bytes / 1e6).toFixed(1)} | ${(e.flops / e.bytes).toFixed(1)} |`);
    }
    rows.push(`| ${m} b${batch} | **total** | ${g.dispatches.length} | ${(tf / 1e9).toFixed(2)} | ${(tb / 1e6).toFixed(1)} | ${(tf / tb).toFixed(1)} |`);
  }
  return rows.join('\n');
}
