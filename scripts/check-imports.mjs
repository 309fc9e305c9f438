#!/usr/bin/env node
// Checks the import graph of src/ and bench/: no cycles (type-only imports included: a cycle of types is
// still a tangle), and no import that runs back up the layers
//     cli, web -> model, image, hub -> runtime -> kernels -> errors
// (a module may import its own layer and any layer below it; the benchmark harness in bench/ sits
// above the CLI, which may load it only on demand, with a dynamic import). One more exception:
// src/on_demand.ts, the browser bundle's on-demand chunk, re-exports a few modules of several layers
// so that esbuild makes them one chunk (its header says why). It is a bundling boundary, not a
// layer: any module may load it with a dynamic import, taking from it only what its own layer may
// import (runtime: the tuner's timing harness; model: the explain plan and the family ops; web:
// the worker client), and nothing may import it statically. Those dynamic edges are left out of
// both checks. Prints every offence
// with the line and exits 1 when there is one. `--json` prints the graph instead. Used by test/architecture/.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');

/** Layer of a module, by its first folder under src/ (files directly in src/ are entry points). */
export const LAYERS = { errors: 0, kernels: 1, runtime: 2, model: 3, image: 3, hub: 3, cli: 4, web: 4, entry: 5, bench: 6 };

export function layerOf(file) {
  if (relative(root, file).startsWith('bench/')) return 'bench';
  const rel = relative(src, file).split('/');
  if (rel.length === 1) return rel[0] === 'errors.ts' ? 'errors' : 'entry';
  if (rel[0] === 'types') return 'errors'; // declaration shims
  return rel[0];
}

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The on-demand chunk's module (see above). */
export const ON_DEMAND = join(src, 'on_demand.ts');

const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

export function importGraph() {
  const graph = new Map();
  for (const file of [...walk(src), ...walk(join(root, 'bench'))]) {
    const text = readFileSync(file, 'utf8');
    const deps = [];
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2];
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
      const line = text.slice(0, m.index).split('\n').length + (text[m.index] === '\n' ? 1 : 0);
      const dynamic = m[2] !== undefined;
      // A dynamic import of the on-demand chunk is a bundling boundary: not an edge of the layered graph.
      if (dynamic && target === ON_DEMAND) continue;
      deps.push({ target, line, dynamic });
    }
    graph.set(file, deps);
  }
  return graph;
}

/** Strongly connected components with more than one module (or a self-import): the cycles. */
export function cycles(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const out = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const { target: w } of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).some((d) => d.target === v)) out.push(scc);
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

export function upwardImports(graph) {
  const out = [];
  for (const [file, deps] of graph) {
    const from = layerOf(file);
    for (const { target, line, dynamic } of deps) {
      const to = layerOf(target);
      if (from === 'cli' && to === 'bench' && dynamic) continue; // loaded on demand, its own chunk
      if (target === ON_DEMAND) {
        out.push(`${relative(root, file)}:${line}: imports ${relative(root, target)} statically; load it with import() (it is the on-demand chunk)`);
        continue;
      }
      if (LAYERS[to] === undefined || LAYERS[from] === undefined) {
        out.push(`${relative(root, file)}:${line}: unknown layer for ${relative(root, target)}`);
      } else if (LAYERS[to] > LAYERS[from]) {
        out.push(`${relative(root, file)}:${line}: ${from} imports ${to} (${relative(root, target)})`);
      }
    }
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const graph = importGraph();
  if (process.argv.includes('--json')) {
    const obj = Object.fromEntries([...graph].map(([f, d]) => [relative(root, f), d.map((x) => relative(root, x.target))]));
    process.stdout.write(JSON.stringify(obj, null, 2) + '\n');
    process.exit(0);
  }
  const cyc = cycles(graph).map((c) => `cycle: ${c.map((f) => relative(root, f)).join(' -> ')}`);
  const up = upwardImports(graph);
  for (const line of [...cyc, ...up]) process.stdout.write(line + '\n');
  process.stdout.write(`check-imports: ${graph.size} modules, ${cyc.length} cycle(s), ${up.length} upward import(s)\n`);
  process.exit(cyc.length || up.length ? 1 : 0);
}
