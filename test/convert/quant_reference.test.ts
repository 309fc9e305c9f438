import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { quantizeTensor } from '../../src/model/convert/quantize.js';
import { parseSafetensors } from '../../src/model/safetensors.js';
import { writeSafetensors } from '../../src/model/safetensors_write.js';
import type { QuantKind } from '../../src/kernels/matmul/quant.js';
import { freshSeed, randn, rng } from '../helpers/random.js';

// The converter's quantiser (src/model/convert/quantize.ts over src/kernels/matmul/quant.ts)
// against an independent float64 NumPy quantiser (tools/quant_reference.py) on the same seeded
// tensors: codes and scales must agree byte for byte (tolerance 0), including the shapes where an
// implementation is most likely to slip: K off the 32-row block grid, N odd (q4 codes of a row
// that ends mid-byte), blocks of zeros, values exactly halfway between two codes (ties to even),
// f16-subnormal scales (where codes reach -8) and scales that underflow to 0.

const ROOT = join(import.meta.dirname, '..', '..');
const PY = '/usr/bin/python3';
const tmp = mkdtempSync(join(tmpdir(), 'webvit-quant-ref-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const hasNumpy = existsSync(PY) && spawnSync(PY, ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

interface Case {
  name: string;
  K: number;
  N: number;
  w: Float32Array;
}

/** Seeded matrices of awkward shapes and contents, for one kind. */
function cases(kind: QuantKind, seed: number): Case[] {
  const rand = rng(seed);
  const out: Case[] = [];
  const add = (what: string, K: number, N: number, w: Float32Array) => out.push({ name: `${kind}/${what}_${K}x${N}`, K, N, w });
  for (const [K, N] of [[1, 1], [31, 3], [33, 17], [70, 5], [96, 8], [200, 13], [64, 1]]) add('randn', K, N, randn(rand, K * N, 0.02 + rand()));
  // Blocks (and whole columns) of zeros, and a column whose only non-zero is negative.
  {
    const K = 75, N = 7;
    const w = randn(rand, K * N);
    for (let k = 32; k < 64; k++) for (let n = 0; n < N; n++) w[k * N + n] = 0;
    for (let k = 0; k < K; k++) w[k * N + 3] = 0;
    for (let k = 0; k < K; k++) w[k * N + 5] = k === 40 ? -0.7 : 0;
    add('zeros', K, N, w);
  }
  // Ties: every value halfway between two codes. The column's max is the largest code times a
  // power-of-two scale, so the scale is exact and w / s = c + 0.5 exactly.
  {
    const K = 45, N = 9;
    const top = kind === 'int8' ? 127 : 7;
    const w = new Float32Array(K * N);
    for (let n = 0; n < N; n++) {
      const s = 2 ** -(1 + Math.floor(rand() * 8));
      for (let k = 0; k < K; k++) {
        const c = Math.floor(rand() * 2 * top) - top; // -top .. top-1
        w[k * N + n] = (c + 0.5) * s;
      }
      for (let b = 0; b * 32 < K; b++) w[(b * 32) * N + n] = (rand() < 0.5 ? -top : top) * s; // each block's max
    }
    add('ties', K, N, w);
  }
  // Tiny values: f16-subnormal q4 scales (codes may reach -8) and scales that underflow to 0.
  add('tiny', 40, 11, randn(rand, 40 * 11, 1e-6));
  add('tinier', 33, 3, randn(rand, 33 * 3, 3e-8));
  // Clamped: a block max of 7 · (1.3 .. 1.49) f16 subnormal steps (2^-24) gets a scale of one step,
  // so the max divides to 9.1 .. 10.4: code 7, or -8 for a negative max.
  {
    const K = 50, N = 5;
    const w = randn(rand, K * N, 2 ** -24);
    for (let n = 0; n < N; n++) for (let b = 0; b * 32 < K; b++) w[(b * 32 + (n % 7)) * N + n] = (n % 2 ? -7 : 7) * (1.3 + 0.19 * rand()) * 2 ** -24;
    add('clamped', K, N, w);
  }
  // Large ones (up to the 1e6 weight limit for int8; q4's f16 scale holds |W| up to 458 528).
  add('large', 34, 5, randn(rand, 34 * 5, kind === 'int8' ? 2e5 : 5e4));
  return out;
}

describe.skipIf(!hasNumpy)('converter quantiser vs float64 NumPy (tools/quant_reference.py)', () => {
  it.each(['int8', 'q4'] as const)('%s: codes and scales bit-exact on awkward shapes', (kind) => {
    const seed = freshSeed();
    const all = cases(kind, seed);
    const inPath = join(tmp, `${kind}-in.safetensors`);
    const outPath = join(tmp, `${kind}-out.safetensors`);
    writeFileSync(inPath, writeSafetensors(all.map((c) => ({ name: c.name, shape: [c.K, c.N], data: c.w })), {}));
    const r = spawnSync(PY, [join(ROOT, 'tools', 'quant_reference.py'), inPath, outPath], { encoding: 'utf8' });
    expect(r.status, `seed ${seed}: ${r.stderr}`).toBe(0);
    const ref = parseSafetensors(readFileSync(outPath), outPath);
    let minus8 = 0;
    for (const c of all) {
      for (const t of quantizeTensor(c.name, c.w, [c.K, c.N], kind)) {
        const e = ref.tensors.get(t.name);
        expect(e, `seed ${seed}: ${t.name} missing from the reference`).toBeDefined();
        expect([e!.dtype, e!.shape], `seed ${seed}: ${t.name}`).toEqual([t.dtype, t.shape]);
        const want = ref.bytes.subarray(e!.begin, e!.end);
        const at = t.bytes.findIndex((b, i) => b !== want[i]);
        expect(at, `seed ${seed}: ${t.name} differs first at byte ${at}: converter ${t.bytes[at]}, NumPy ${want[at]}`).toBe(-1);
        expect(t.bytes.byteLength).toBe(want.byteLength);
        if (kind === 'q4' && t.dtype === 'U8') for (const b of t.bytes) minus8 += +((b & 0xf) === 8) + +(b >> 4 === 8);
      }
    }
    // The cases reach what they are for (else the comparison proves less than it says).
    if (kind === 'q4') expect(minus8, `seed ${seed}: no -8 code: the subnormal-scale cases did not reach it`).toBeGreaterThan(0);
  });

  it('q4 refuses a block beyond an f16 scale, as NumPy does', () => {
    const w = new Float32Array(33 * 2).fill(0.5);
    w[40] = 6e5; // 6e5 / 8 > 65504
    expect(() => quantizeTensor('q4/big', w, [33, 2], 'q4')).toThrow(/beyond what a 4-bit block's f16 scale holds/);
    const inPath = join(tmp, 'big.safetensors');
    writeFileSync(inPath, writeSafetensors([{ name: 'q4/big', shape: [33, 2], data: w }], {}));
    expect(spawnSync(PY, [join(ROOT, 'tools', 'quant_reference.py'), inPath, join(tmp, 'big-out.safetensors')]).status).toBe(1);
  });
});

it.runIf(!hasNumpy)('the NumPy comparison needs /usr/bin/python3 with numpy (skipped)', () => {
  console.warn('test/convert/quant_reference.test.ts: /usr/bin/python3 with numpy is missing: the converter quantiser was not compared with NumPy');
});
