import type { KernelResult } from './harness.js';
import type { Ceilings } from './ceiling.js';

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

/** A terminal table: each timing next to its ceiling. */
export function kernelTable(results: KernelResult[], ceil: Ceilings): string {
  const head = ['op', 'variant', 'shape', 'median ms', 'GFLOP/s', '% peak', 'GB/s', '% bw', 'rel. error', 'runs'];
  const rows = results.map((r) => [
    r.op,
    r.variant,
    r.shape,
    r.skipped ? 'skipped' : r.ok ? r.ms.toFixed(3) : 'FAILED',
    r.flops ? r.gflops.toFixed(2) : '-',
    r.flops && ceil.gflops ? `${((100 * r.gflops) / ceil.gflops).toFixed(0)}%` : '-',
    r.gbps.toFixed(2),
    ceil.gbps ? `${((100 * r.gbps) / ceil.gbps).toFixed(0)}%` : '-',
    Number.isFinite(r.error) ? r.error.toExponential(1) : 'inf',
    String(r.runs),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 3 ? lpad(c, widths[i]) : pad(c, widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Markdown version of the same table, for BENCHMARKS.md. */
export function kernelMarkdown(results: KernelResult[], ceil: Ceilings): string {
  const out = ['| op | variant | shape | median ms | GFLOP/s | % of best matmul | GB/s | % of copy | rel. error |', '|---|---|---|---:|---:|---:|---:|---:|---:|'];
  for (const r of results) {
    out.push(
      `| ${r.op} | ${r.variant} | ${r.shape} | ${r.skipped ? `skipped (${r.note})` : r.ok ? r.ms.toFixed(3) : 'FAILED'} | ${r.flops ? r.gflops.toFixed(2) : '-'} | ${r.flops && ceil.gflops ? ((100 * r.gflops) / ceil.gflops).toFixed(0) + '%' : '-'} | ${r.gbps.toFixed(2)} | ${ceil.gbps ? ((100 * r.gbps) / ceil.gbps).toFixed(0) + '%' : '-'} | ${Number.isFinite(r.error) ? r.error.toExponential(1) : 'inf'} |`,
    );
  }
  return out.join('\n');
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/**
 * A horizontal bar chart (SVG) of each result's share of its ceiling: GFLOP/s against the best
 * matmul for ops with FLOPs that matter, GB/s against the copy for the memory-bound ones.
 */
export function kernelSvg(results: KernelResult[], ceil: Ceilings, title: string): string {
  const ok = results.filter((r) => r.ok && !r.skipped);
  const rowH = 18;
  const left = 330;
  const width = 820;
  const barW = width - left - 90;
  const height = 50 + ok.length * rowH + 30;
  const items = ok.map((r) => {
    const computeBound = r.op === 'matmul' || r.op === 'attention' || r.op === 'patch_embed';
    const frac = computeBound ? r.gflops / ceil.gflops : r.gbps / ceil.gbps;
    const label = computeBound ? `${r.gflops.toFixed(1)} GFLOP/s` : `${r.gbps.toFixed(1)} GB/s`;
    return { name: `${r.op}/${r.variant} · ${r.shape}`, frac: Math.max(0, frac), label, computeBound };
  });
  const bars = items
    .map((it, i) => {
      const y = 40 + i * rowH;
      const w = Math.min(1.5, it.frac) * barW;
      return `<text x="${left - 6}" y="${y + 12}" text-anchor="end" font-size="11">${esc(it.name)}</text>` +
        `<rect x="${left}" y="${y + 2}" width="${w.toFixed(1)}" height="${rowH - 5}" fill="${it.computeBound ? '#4a78c2' : '#d08a2e'}"/>` +
        `<text x="${left + w + 4}" y="${y + 12}" font-size="10">${esc(it.label)} (${(100 * it.frac).toFixed(0)}%)</text>`;
    })
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>
<text x="10" y="34" font-size="10">blue: GFLOP/s as a share of the best matmul (${ceil.gflops.toFixed(1)} GFLOP/s, ${esc(ceil.matmulShape)}); orange: GB/s as a share of a ${(ceil.copyBytes / 2 ** 20).toFixed(0)} MiB copy (${ceil.gbps.toFixed(1)} GB/s)</text>
<line x1="${left + barW}" y1="38" x2="${left + barW}" y2="${height - 25}" stroke="#999" stroke-dasharray="3,3"/>
${bars}
</svg>
`;
}
