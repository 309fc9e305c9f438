// The benchmark command's implementation: src/cli/bench.ts holds its usage and loads this on demand.
import { join } from 'node:path';
import { runKernelCase, type KernelResult, type TimingOptions } from './harness.js';
import { BENCH_MODELS, BENCH_OPS, kernelCases, type BenchModel, type BenchOp } from './kernels.js';
import { measureCeilings } from './ceiling.js';
import { kernelMarkdown, kernelSvg, kernelTable } from './report.js';
import { runModelBench } from './model.js';
import { roofline } from './roofline.js';
import { shown } from '../src/cli/shown.js';
import { MATMUL_VARIANTS } from '../src/kernels/matmul/op.js';
import { allOps } from '../src/model/ops.js';
import { adapterIdentity } from '../src/runtime/device.js';
import { getNodeDevice } from '../src/runtime/node-device.js';
import { helpHint, parseCommandLine, positiveInt, UsageError } from '../src/cli/usage.js';
import { checkOutputs, prepareOutputFolder, WriteBatch } from '../src/runtime/node-write-file.js';
import { clip, WebvitError } from '../src/runtime/errors.js';
import type { Precision } from '../src/kernels/definition.js';

const PRECISIONS: Precision[] = ['f32', 'f16', 'int8', 'q4'];

function list<T extends string>(flag: string, v: string | undefined, all: readonly T[], dflt: readonly T[]): T[] {
  if (v === undefined) return [...dflt];
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const i of items) if (!all.includes(i as T)) throw new UsageError(`--${flag}: unknown "${clip(i, 80)}"; choose from ${all.join(', ')}`);
  return items as T[];
}

const positive = (flag: string, v: string | undefined, dflt: number): number => positiveInt(flag, v) ?? dflt;

const MODELS = Object.keys(BENCH_MODELS) as BenchModel[];

/** The report names are picked by bench inside --out: a symlink there is refused, not followed. */
const PICKED = { follow: false } as const;

/**
 * A report's files (JSON, Markdown, SVG) written together: each staged as it comes, all renamed
 * into place at the end, so a failure (a full disk, a FIFO planted in the folder mid-run) leaves
 * none of them half-replaced and the message says so (hostile round twelve: the set was left
 * partial, and the message said "nothing was written").
 */
async function writeTogether(folder: string, files: [string, string][]): Promise<void> {
  const batch = new WriteBatch(PICKED);
  try {
    for (const [path, text] of files) await batch.write(path, text);
    await batch.commit();
  } catch (e) {
    batch.abort();
    throw e instanceof WebvitError && e.code === 'IO' ? new WebvitError('IO', `${e.message.replace(/; nothing was written, .* is as it was$/, '')}; no report file in ${folder} was replaced (bench writes its files together)`, { cause: e }) : e;
  }
}


const str = { type: 'string' } as const;
/** Each sub-command's options: one that belongs to another sub-command is refused, not ignored. */
const OPTIONS = {
  kernels: { op: str, variant: str, model: str, batch: str, runs: str, out: str },
  model: { model: str, batches: str, runs: str, out: str, precision: str, 'no-cold': { type: 'boolean' } },
  roofline: { model: str, batch: str },
} as const;
type What = keyof typeof OPTIONS;

/**
 * `webvit bench kernels|model|roofline`, loaded by the CLI only when asked for (it is its own
 * chunk, not part of dist/cli.js). Every argument is checked before the GPU is started.
 */
export async function runBench(argv: string[]): Promise<number> {
  const [what, ...rest] = argv;
  if (what === undefined || !Object.hasOwn(OPTIONS, what)) {
    throw new UsageError(`bench needs "kernels", "model" or "roofline", got ${what === undefined ? 'nothing' : `"${what}"`}; ${helpHint()}`);
  }
  const options: Record<string, { type: 'string' | 'boolean' }> = OPTIONS[what as What];
  const v = parseCommandLine({ args: rest, options }).values as Partial<Record<'op' | 'variant' | 'model' | 'batch' | 'batches' | 'runs' | 'out' | 'precision', string>> & { 'no-cold'?: boolean };
  const out = v.out ?? 'bench/results';
  const models = list<BenchModel>('model', v.model, MODELS, MODELS);
  const batch = positive('batch', v.batch, 1);
  const runs = positive('runs', v.runs, what === 'kernels' ? 15 : 5);
  if (what === 'roofline') {
    process.stdout.write(roofline(models, batch) + '\n');
    return 0;
  }
  const ops = list<BenchOp>('op', v.op, BENCH_OPS, BENCH_OPS);
  // The chosen ops' own variants, each once (a variant of another op would select nothing: an empty report).
  const allVariants = [...new Set(allOps().filter((d) => ops.includes(d.name)).flatMap((d) => Object.keys(d.variants)))];
  const variants = v.variant === undefined ? undefined : list<string>('variant', v.variant, allVariants, allVariants);
  const precisions = (v.precision ?? 'f32').split(',') as Precision[];
  for (const p of precisions) if (!PRECISIONS.includes(p)) throw new UsageError(`--precision: ${PRECISIONS.join(', ')} (or several, comma-separated), got "${p}"`);
  const precision = precisions.join('-');
  const batches = (v.batches ?? '1,8,32').split(',').map((b) => positive('batches', b, 1));
  // --out is checked (a folder, created if missing, writable) before the GPU is started, and the
  // report files (named after the adapter) before anything is measured: a benchmark of minutes
  // must not end in a refusal.
  await prepareOutputFolder(out, '--out');
  const device = await getNodeDevice();
  try {
    const adapter = adapterIdentity(device);
    const date = new Date().toISOString().slice(0, 10);
    const base = join(out, what === 'kernels' ? `kernels-${adapter.id}-b${batch}` : `model-${adapter.id}${precision === 'f32' ? '' : `-${precision}`}`);
    const reports = (what === 'kernels' ? ['.json', '.md', '.svg'] : ['.json', '.md']).map((x) => base + x);
    await checkOutputs(reports, PICKED);
    process.stderr.write(`webvit bench: adapter ${adapter.description}\n`);
    if (what === 'kernels') {
      const timing: TimingOptions = { runs, warmup: 1, budgetMs: 3000 };
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
      await writeTogether(out, [
        [`${base}.json`, JSON.stringify({ date, adapter: adapter.description, batch, method, ceilings: ceil, results }, null, 1)],
        [`${base}.md`, kernelMarkdown(results, ceil) + '\n'],
        [`${base}.svg`, kernelSvg(results, ceil, `webvit kernels, batch ${batch}, ${adapter.description}, ${date}`)],
      ]);
      process.stderr.write(`webvit bench: wrote ${shown(`${base}.json`)}, .md, .svg\n`);
      return results.every((r) => r.ok) ? 0 : 1;
    }
    const report = await runModelBench(device, { models, batches, runs, noCold: v['no-cold'] === true, precisions });
    process.stdout.write(report.text + '\n');
    await writeTogether(out, [
      [`${base}.json`, JSON.stringify({ date, adapter: adapter.description, ...report.json }, null, 1)],
      [`${base}.md`, report.markdown + '\n'],
    ]);
    process.stderr.write(`webvit bench: wrote ${shown(`${base}.json`)}, .md\n`);
    return 0;
  } finally {
    device.destroy();
  }
}
