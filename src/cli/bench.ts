import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runKernelCase, type KernelResult, type TimingOptions } from '../../bench/harness.js';
import { BENCH_MODELS, BENCH_OPS, kernelCases, type BenchModel, type BenchOp } from '../../bench/kernels.js';
import { measureCeilings } from '../../bench/ceiling.js';
import { kernelMarkdown, kernelSvg, kernelTable } from '../../bench/report.js';
import { runModelBench } from '../../bench/model.js';
import { roofline } from '../../bench/roofline.js';
import { MATMUL_VARIANTS } from '../kernels/matmul/op.js';
import { KERNEL_VARIANTS } from '../kernels/registry.js';
import { adapterIdentity } from '../runtime/device.js';
import { getNodeDevice } from '../runtime/node-device.js';
import { parseCommandLine, positiveInt, UsageError } from './usage.js';

function list<T extends string>(flag: string, v: string | undefined, all: readonly T[], dflt: readonly T[]): T[] {
  if (v === undefined) return [...dflt];
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const i of items) if (!all.includes(i as T)) throw new UsageError(`--${flag}: unknown "${i}"; choose from ${all.join(', ')}`);
  return items as T[];
}

const positive = (flag: string, v: string | undefined, dflt: number): number => positiveInt(flag, v) ?? dflt;

const MODELS = Object.keys(BENCH_MODELS) as BenchModel[];

/** `webvit bench kernels|model`. */
export async function benchCommand(argv: string[]): Promise<number> {
  const [what, ...rest] = argv;
  const parsed = parseCommandLine({
    args: rest,
    options: {
      op: { type: 'string' },
      variant: { type: 'string' },
      model: { type: 'string' },
      batch: { type: 'string' },
      batches: { type: 'string' },
      runs: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const v = parsed.values;
  const out = v.out ?? 'bench/results';
  if (what === 'roofline') {
    process.stdout.write(roofline(list<BenchModel>('model', v.model, MODELS, MODELS), positive('batch', v.batch, 1)) + '\n');
    return 0;
  }
  const device = await getNodeDevice();
  try {
    const adapter = adapterIdentity(device);
    const date = new Date().toISOString().slice(0, 10);
    process.stderr.write(`webvit bench: adapter ${adapter.description}\n`);
    if (what === 'kernels') {
      const ops = list<BenchOp>('op', v.op, BENCH_OPS, BENCH_OPS);
      const models = list<BenchModel>('model', v.model, MODELS, MODELS);
      const batch = positive('batch', v.batch, 1);
      const allVariants = [...Object.values(KERNEL_VARIANTS).flatMap((o) => Object.keys(o)), 'tiled_gather', 'elementwise'];
      const variants = v.variant === undefined ? undefined : list<string>('variant', v.variant, allVariants, allVariants);
      const timing: TimingOptions = { runs: positive('runs', v.runs, 15), warmup: 1, budgetMs: 3000 };
      process.stderr.write('webvit bench: measuring ceilings (copy, square matmul)...\n');
      const ceil = await measureCeilings(device, { ...timing, runs: Math.min(timing.runs, 5) }, { copyMiB: 64, matmulN: 512, variants: Object.keys(MATMUL_VARIANTS).filter((x) => x !== 'naive') });
      process.stderr.write(`webvit bench: ceilings ${ceil.gbps.toFixed(2)} GB/s (copy), ${ceil.gflops.toFixed(2)} GFLOP/s (${ceil.matmulVariant} ${ceil.matmulShape})\n`);
      const results: KernelResult[] = [];
      for (const model of models) {
        for (const c of kernelCases(model, batch, device.limits.maxComputeWorkgroupStorageSize, ops)) {
          if (variants && !variants.includes(c.variant)) continue;
          const r = await runKernelCase(device, c, timing);
          process.stderr.write(`  ${r.op}/${r.variant} ${r.shape}: ${r.ok ? `${r.ms.toFixed(3)} ms` : r.note}\n`);
          results.push(r);
        }
      }
      const method = results.find((r) => r.ok)?.method ?? 'none';
      process.stdout.write(`\n${kernelTable(results, ceil)}\n\ntiming: ${method === 'timestamp-query' ? 'GPU timestamp queries' : 'submit-and-wait wall time'}, median of up to ${timing.runs} runs after validation\n`);
      mkdirSync(out, { recursive: true });
      const base = join(out, `kernels-${adapter.id}-b${batch}`);
      writeFileSync(`${base}.json`, JSON.stringify({ date, adapter: adapter.description, batch, method, ceilings: ceil, results }, null, 1));
      writeFileSync(`${base}.md`, kernelMarkdown(results, ceil) + '\n');
      writeFileSync(`${base}.svg`, kernelSvg(results, ceil, `webvit kernels, batch ${batch}, ${adapter.description}, ${date}`));
      process.stderr.write(`webvit bench: wrote ${base}.json, .md, .svg\n`);
      return results.every((r) => r.ok) ? 0 : 1;
    }
    if (what === 'model') {
      const models = list<BenchModel>('model', v.model, MODELS, MODELS);
      const batches = (v.batches ?? '1,8,32').split(',').map((b) => positive('batches', b, 1));
      const report = await runModelBench(device, { models, batches, runs: positive('runs', v.runs, 5) });
      process.stdout.write(report.text + '\n');
      mkdirSync(out, { recursive: true });
      const base = join(out, `model-${adapter.id}`);
      writeFileSync(`${base}.json`, JSON.stringify({ date, adapter: adapter.description, ...report.json }, null, 1));
      writeFileSync(`${base}.md`, report.markdown + '\n');
      process.stderr.write(`webvit bench: wrote ${base}.json, .md\n`);
      return 0;
    }
    throw new UsageError(`bench needs "kernels" or "model", got ${what === undefined ? 'nothing' : `"${what}"`}`);
  } finally {
    device.destroy();
  }
}
