import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module script without type declarations
import { cycles, importGraph, layerOf, ON_DEMAND, upwardImports } from '../../scripts/check-imports.mjs';

// The layers of ARCHITECTURE.md, checked on every test run: no import cycles, and no import that
// runs back up cli -> model, image -> runtime -> kernels -> errors (bench/ above them all, loaded
// by the CLI only on demand).
describe('the import graph', () => {
  const graph = importGraph();

  it('has no cycles', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('has no import that runs back up the layers', () => {
    expect(upwardImports(graph)).toEqual([]);
  });

  it('the checker sees an upward import and a cycle when there is one', () => {
    const root = join(import.meta.dirname, '..', '..');
    const k = join(root, 'src/kernels/fake.ts');
    const m = join(root, 'src/model/fake.ts');
    const fake = new Map([
      [k, [{ target: m, line: 3, dynamic: false }]],
      [m, [{ target: k, line: 1, dynamic: false }]],
    ]);
    expect(layerOf(k)).toBe('kernels');
    expect(upwardImports(fake)).toEqual(['src/kernels/fake.ts:3: kernels imports model (src/model/fake.ts)']);
    expect(cycles(fake)).toHaveLength(1);
  });

  it('the on-demand chunk (src/on_demand.ts) is loaded with import() only: a static import of it is an offence, a dynamic one no edge', () => {
    const root = join(import.meta.dirname, '..', '..');
    const r = join(root, 'src/runtime/fake.ts');
    expect(upwardImports(new Map([[r, [{ target: ON_DEMAND, line: 7, dynamic: false }]]]))).toEqual(['src/runtime/fake.ts:7: imports src/on_demand.ts statically; load it with import() (it is the on-demand chunk)']);
    // The real graph holds no edge into it: every importer uses import().
    expect([...graph.values()].flat().filter((d: { target: string }) => d.target === ON_DEMAND)).toEqual([]);
  });
});
