import type { PlanProfile } from './plan.js';

/** Per-dispatch timings as text: label, kernel, ms, GFLOP/s, GB/s; then a per-op summary. */
export function formatProfile(p: PlanProfile): string {
  const lines = [`per-dispatch ${p.method === 'timestamp-query' ? 'GPU time (timestamp queries)' : 'wall time (submit and wait)'}, total ${p.totalMs.toFixed(2)} ms`];
  const byOp = new Map<string, number>();
  for (const d of p.dispatches) {
    const rate = (x: number) => (d.ms > 0 ? (x / (d.ms * 1e6)).toFixed(2) : '-');
    lines.push(`  ${d.label.padEnd(24)} ${d.kernel.padEnd(28)} ${d.ms.toFixed(3).padStart(9)} ms ${rate(d.flops).padStart(9)} GFLOP/s ${rate(d.bytes).padStart(8)} GB/s`);
    const op = d.kernel.split('/')[0];
    byOp.set(op, (byOp.get(op) ?? 0) + d.ms);
  }
  lines.push(`  by op: ${[...byOp].sort((a, b) => b[1] - a[1]).map(([op, ms]) => `${op} ${ms.toFixed(1)} ms (${((100 * ms) / p.totalMs).toFixed(0)}%)`).join(', ')}`);
  return lines.join('\n');
}

/** WEBVIT_PROFILE=1 (Node): every forward() is profiled and its timings printed to stderr. */
export function profileFromEnv(): boolean {
  return typeof process !== 'undefined' && !!process.env?.WEBVIT_PROFILE && process.env.WEBVIT_PROFILE !== '0';
}
