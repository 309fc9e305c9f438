import { expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Golden {
  name: string;
  batch: number;
  config: Record<string, unknown>;
  logits: number[][];
  features: number[][];
  top5: number[][];
  seed: number;
}

export interface Fixture {
  dir: string;
  model: Uint8Array;
  input: Float32Array;
  golden: Golden;
}

const ROOT = join(import.meta.dirname, '..', 'fixtures');

/** Committed fixtures live in test/fixtures/<name>; big ones are generated into test/fixtures/generated/<name>. */
export function fixtureDir(name: string): string {
  const committed = join(ROOT, name);
  return existsSync(join(committed, 'golden.json')) ? committed : join(ROOT, 'generated', name);
}

export function loadFixture(name: string): Fixture {
  const dir = fixtureDir(name);
  if (!existsSync(join(dir, 'golden.json'))) {
    throw new Error(`fixture ${name} not found in ${dir}: generate it with \`npm run fixtures -- --only ${name}\` (bash scripts/setup.sh does this)`);
  }
  const model = new Uint8Array(readFileSync(join(dir, 'model.safetensors')));
  const raw = readFileSync(join(dir, 'input.bin'));
  const input = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as Golden;
  return { dir, model, input, golden };
}

/** max |got − golden| / max |golden| over every logit of every image. */
export function maxRelError(got: Float32Array, golden: number[][]): number {
  const flat = golden.flat();
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < flat.length; i++) {
    const g = got[i];
    maxDiff = Math.max(maxDiff, Number.isFinite(g) ? Math.abs(g - flat[i]) : Infinity);
    maxRef = Math.max(maxRef, Math.abs(flat[i]));
  }
  return maxDiff / maxRef;
}

/** max |got − want| over all values (Infinity where got is not finite): errors against a float64 golden. */
export function maxAbsDiff(got: ArrayLike<number>, want: readonly number[]): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Number.isFinite(got[i]) ? Math.abs(got[i] - want[i]) : Infinity);
  return m;
}

/**
 * Holds `got` to `factor`× PyTorch float32's own error against its float64 golden (max |f32 − f64|
 * of the goldens, the bar of the family tests), appending a one-line measurement to `report`.
 */
export function expectWithinTorch(report: string[], label: string, what: string, got: ArrayLike<number>, f64: number[][], f32: number[][], factor: number): void {
  const torchErr = maxAbsDiff(f32.flat(), f64.flat());
  const ours = maxAbsDiff(got, f64.flat());
  report.push(`${label}: ${what} ${ours.toExponential(2)} vs PyTorch f32 ${torchErr.toExponential(2)} (${(ours / torchErr).toFixed(2)}×)`);
  expect(ours, `${label} ${what}: over ${factor}× PyTorch float32's error`).toBeLessThanOrEqual(factor * torchErr);
}
