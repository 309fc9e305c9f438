import { describe, expect, it } from 'vitest';
import { parseConfig, type ViTConfig } from '../../src/model/config.js';
import { checkpointFromArrays, convertCheckpoint, encodeWeights } from '../../src/model/convert/index.js';
import { codeAt, dequantize, quantize, Q4_BLOCK, type QuantKind } from '../../src/kernels/matmul/quant.js';
import { halfToFloat, parseSafetensors, type Dtype } from '../../src/model/safetensors.js';
import { declaredWeights, loadWeights, readWeights, type LoadedWeights } from '../../src/model/weights.js';
import { expectWebvitError } from '../helpers/errors.js';
import { loadFixture } from '../helpers/fixtures.js';
import { freshSeed } from '../helpers/random.js';
import { writeRaw, type RawTensor } from '../helpers/weight_file.js';
import { writeSafetensors } from '../../src/model/safetensors_write.js';
import { patchFilterComponents } from '../../src/model/analysis.js';
import { randomWeights } from '../fuzz/models_helpers.js';

// Quantised weight files (docs/quantization.md, docs/weights-format.md): what the converter
// writes loads to the codes and scales of src/kernels/matmul/quant.ts with no f32 copy, the bytes
// laid out as the GPU uploads them; every way such a file can be wrong is refused naming the
// tensor and the way out. Weights are seeded random (the seed is in every message) on the tiny
// fixture's config and on an awkward one (K = 75 and 40 off the 32-row grid, N = 7 odd).

const SRC = 'q.safetensors';
const tiny = readWeights(loadFixture('tiny').model, 'tiny');
const AWKWARD: ViTConfig = parseConfig(
  { image_size: 10, patch_size: 5, num_channels: 3, hidden_size: 24, num_layers: 2, num_heads: 3, mlp_size: 40, num_classes: 7, layer_norm_eps: 1e-6, qkv_bias: true, pooling: 'cls' },
  'awkward',
);
const seed = freshSeed();
const awkward = randomWeights({ config: AWKWARD, seed, dtype: 'F32', weightScale: 1 });

/** A file's tensors (in file order) and metadata, to edit and write back with writeRaw. */
function split(bytes: Uint8Array): { tensors: RawTensor[]; metadata: Record<string, string> } {
  const f = parseSafetensors(bytes, 'split');
  const tensors = [...f.tensors.values()].sort((a, b) => a.begin - b.begin).map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape], data: f.bytes.slice(t.begin, t.end) }));
  return { tensors, metadata: { ...f.metadata } };
}
function edit(bytes: Uint8Array, fn: (t: Map<string, RawTensor>, metadata: Record<string, string>) => void): Uint8Array {
  const { tensors, metadata } = split(bytes);
  const m = new Map(tensors.map((t) => [t.name, t]));
  fn(m, metadata);
  return writeRaw([...m.values()], metadata);
}

it('readWeights alone asks for loadWeights (the reader is on demand); loadWeights reads the file', async () => {
  // First in this file: nothing has registered the reader yet (each test file runs in its own process).
  const bytes = encodeWeights(tiny, 'q4');
  await expectWebvitError(() => readWeights(bytes, SRC), 'BAD_WEIGHTS', [SRC, 'int8/q4', 'loadWeights']);
  const w = await loadWeights(bytes, SRC);
  expect(w.quant?.size).toBe([...declaredWeights(tiny.config).values()].filter((d) => d.matrix).length);
  expect(readWeights(bytes, SRC).quant?.size).toBe(w.quant!.size); // registered from then on
});

describe.each([
  ['tiny', tiny],
  ['awkward', awkward],
] as [string, LoadedWeights][])('%s config', (label, src) => {
  const declared = declaredWeights(src.config);
  it.each(['int8', 'q4'] as QuantKind[])('%s: loads to quant.ts codes and scales, the rest exact, no f32 copy, the bytes as uploaded', async (kind) => {
    const bytes = encodeWeights(src, kind);
    const w = await loadWeights(bytes, SRC);
    const file = parseSafetensors(bytes, SRC);
    expect(file.metadata['webvit.quant']).toBe(kind);
    let stored = 0;
    for (const [name, d] of declared) {
      const values = src.tensors.get(name)!;
      if (!d.matrix) {
        expect(w.tensors.get(name), `${label} seed ${seed}: ${name}`).toEqual(values);
        expect(file.tensors.get(name)!.dtype).toBe('F32');
        stored += 4 * values.length;
        continue;
      }
      const [K, N] = d.shape;
      expect(w.tensors.has(name), `${name}: no f32 copy`).toBe(false);
      const q = w.quant!.get(name)!;
      const want = quantize(values, K, N, kind);
      expect([q.kind, q.K, q.N]).toEqual([kind, K, N]);
      expect(Buffer.from(q.codes).equals(Buffer.from(want.codes)), `${label} seed ${seed}: ${name} codes`).toBe(true);
      expect(q.scales, `${label} seed ${seed}: ${name} scales`).toEqual(want.scales);
      // The file's bytes are what the GPU uploads: codes, then scales as stored (little-endian).
      const c = file.tensors.get(name)!;
      const s = file.tensors.get(`${name}_scale`)!;
      expect(Buffer.from(bytes.subarray(c.begin, c.end)).equals(Buffer.from(q.codes))).toBe(true);
      expect(Buffer.from(bytes.subarray(s.begin, s.end)).equals(Buffer.from(q.scales.buffer, q.scales.byteOffset, q.scales.byteLength))).toBe(true);
      stored += q.codes.byteLength + q.scales.byteLength;
      // Dequantised within half a step of the weight (tolerance: s/2 per value, plus float64 rounding),
      // except where a q4 scale is an f16 subnormal (never at these magnitudes).
      const deq = dequantize(q);
      for (let i = 0; i < deq.length; i++) {
        const k = Math.floor(i / N);
        const step = kind === 'int8' ? (q.scales as Float32Array)[i % N] : halfToFloat(q.scales[Math.floor(k / Q4_BLOCK) * N + (i % N)]);
        const err = Math.abs(deq[i] - values[i]);
        // q4: a value near the negated extreme of its block is clamped to code +7: up to one step
        // (and 8 · 2^-11 of one more where the f16 scale was rounded down).
        const bound = Math.abs(step) * (kind === 'q4' && codeAt(q, i) === 7 ? 1 + 2 ** -8 : 0.5);
        if (!(err <= bound + 1e-12 * Math.abs(values[i]))) throw new Error(`${label} seed ${seed}: ${name}[${i}] dequantises to ${deq[i]}, weight ${values[i]}, step ${step}`);
      }
    }
    // Weight data is the file's data section exactly, F32 tensors aligned for views.
    const dataStart = Math.min(...[...file.tensors.values()].map((t) => t.begin));
    expect(bytes.length - dataStart).toBe(stored);
    for (const t of file.tensors.values()) if (t.dtype === 'F32') expect((t.begin - dataStart) % 4, t.name).toBe(0);
  });
});

it('views: the codes are the file\'s bytes for a caller that owns them, a copy otherwise', async () => {
  const bytes = encodeWeights(awkward, 'int8');
  const q = (await loadWeights(bytes, SRC, true)).quant!.get('blocks.0.mlp.fc1.weight')!;
  expect(q.codes.buffer).toBe(bytes.buffer);
  expect((await loadWeights(bytes, SRC)).quant!.get('blocks.0.mlp.fc1.weight')!.codes.buffer).not.toBe(bytes.buffer);
  // A Node Buffer (whose slice() is a view, not a copy) is copied too, to the same codes.
  const buf = Buffer.from(bytes);
  const fromBuffer = (await loadWeights(buf, SRC)).quant!.get('blocks.0.mlp.fc1.weight')!;
  expect(fromBuffer.codes.buffer).not.toBe(buf.buffer);
  expect(Buffer.from(fromBuffer.codes).equals(Buffer.from(q.codes))).toBe(true);
});

it('the model-only analyses read a quantised patch embedding as code · scale', async () => {
  const w = await loadWeights(encodeWeights(awkward, 'q4'), SRC);
  const dense = { config: w.config, tensors: new Map([...w.tensors, ['patch_embed.weight', Float32Array.from(dequantize(w.quant!.get('patch_embed.weight')!))]]) };
  expect(patchFilterComponents(w, 5)).toEqual(patchFilterComponents(dense, 5));
  // and not the f32 weights' (q4 moves them by several per cent)
  expect(patchFilterComponents(w, 5)).not.toEqual(patchFilterComponents(awkward, 5));
});

it('writeSafetensors stores raw tensors as they are, and refuses bytes that do not fit the shape', () => {
  const bytes = new Uint8Array([1, 2, 3, 250]);
  const f = parseSafetensors(writeSafetensors([{ name: 'a', shape: [3], data: new Float32Array([1, 2, 3]) }, { name: 'c', shape: [2, 2], dtype: 'I8', bytes }], {}), 'w');
  const c = f.tensors.get('c')!;
  expect([c.dtype, [...f.bytes.subarray(c.begin, c.end)]]).toEqual(['I8', [1, 2, 3, 250]]);
  expect(() => writeSafetensors([{ name: 'c', shape: [5], dtype: 'I8', bytes }], {})).toThrow(/tensor c has 4 bytes of I8 for shape \[5\]/);
  expect(() => writeSafetensors([{ name: 'c', shape: [4], dtype: 'X9' as Dtype, bytes }], {})).toThrow(/tensor c: data must be/);
});

it('f32 and f16 files read as before: no quant, every tensor as float32', async () => {
  for (const dtype of ['F32', 'F16'] as const) {
    // A stray marker in the caller's metadata is not written: the encoder sets it.
    const w = await loadWeights(encodeWeights(awkward, dtype, { 'webvit.quant': 'q4' }), SRC);
    expect(w.quant).toBeUndefined();
    expect(w.tensors.size).toBe(declaredWeights(AWKWARD).size);
  }
});

describe('refused, naming the tensor and the way out', () => {
  const int8 = encodeWeights(awkward, 'int8');
  const q4 = encodeWeights(awkward, 'q4');
  const fc1 = 'blocks.1.mlp.fc1.weight'; // [24, 40]
  const fc2 = 'blocks.0.mlp.fc2.weight'; // [40, 24]: K = 40, two q4 blocks
  const read = (b: Uint8Array) => loadWeights(b, SRC);
  const way = '--dtype int8|q4';

  it('I8/U8 codes without the webvit.quant marker (the marker makes a file quantised)', async () => {
    await expectWebvitError(() => read(edit(int8, (_, m) => delete m['webvit.quant'])), 'BAD_WEIGHTS', [SRC, 'unexpected tensor(s)', '_scale']);
    const noScales = (b: Uint8Array) => edit(b, (t, m) => {
      delete m['webvit.quant'];
      for (const n of [...t.keys()]) if (n.endsWith('_scale')) t.delete(n);
    });
    await expectWebvitError(() => read(noScales(int8)), 'BAD_WEIGHTS', ['has dtype I8', 'F32, F16 or BF16']);
    await expectWebvitError(() => read(noScales(q4)), 'BAD_WEIGHTS', ['tensor patch_embed.weight has shape [900], expected [75, 24]']);
  });

  it('an unknown webvit.quant, or one with no codes to read', async () => {
    await expectWebvitError(() => read(edit(int8, (_, m) => (m['webvit.quant'] = 'int4'))), 'BAD_WEIGHTS', ['"webvit.quant"', 'must be "int8" or "q4"', '"int4"']);
    await expectWebvitError(() => read(edit(encodeWeights(awkward), (_, m) => (m['webvit.quant'] = 'q4'))), 'BAD_WEIGHTS', ['"webvit.quant": "q4"', 'no tensor the config reads holds U8 codes']);
  });

  it('codes of the other kind (int8 codes in a q4 file, and the reverse)', async () => {
    await expectWebvitError(() => read(edit(int8, (_, m) => (m['webvit.quant'] = 'q4'))), 'BAD_WEIGHTS', ['is I8', '"webvit.quant": "q4"', 'as U8']);
    await expectWebvitError(() => read(edit(q4, (_, m) => (m['webvit.quant'] = 'int8'))), 'BAD_WEIGHTS', ['is U8', 'as I8']);
  });

  it('a quantised tensor that no matmul reads', async () => {
    const bad = edit(int8, (t) => {
      const p = t.get('pos_embed')!;
      t.set('pos_embed', { ...p, dtype: 'I8', data: p.data.subarray(0, p.data.length / 4) });
    });
    await expectWebvitError(() => read(bad), 'BAD_WEIGHTS', ['tensor pos_embed', 'only matmul weights may be', way]);
  });

  it('codes of the wrong shape for the declared [K, N]', async () => {
    // q4 codes of [40, 24] are 480 bytes, flat: [480]; the same bytes as [40, 12] are refused.
    await expectWebvitError(() => read(edit(q4, (t) => (t.get(fc2)!.shape = [40, 12]))), 'BAD_WEIGHTS', [fc2, '[40, 12]', 'expected [480]', 'q4 codes of a [40, 24] weight']);
    await expectWebvitError(() => read(edit(int8, (t) => (t.get(fc1)!.shape = [40, 24]))), 'BAD_WEIGHTS', [fc1, '[40, 24]', 'expected [24, 40]']);
    // Codes a column short (a consistent file of the wrong size).
    await expectWebvitError(() => read(edit(int8, (t) => Object.assign(t.get(fc1)!, { shape: [24, 39], data: t.get(fc1)!.data.subarray(24) }))), 'BAD_WEIGHTS', [fc1, '[24, 39]', 'expected [24, 40]']);
  });

  it('scales missing, of the wrong dtype or shape', async () => {
    await expectWebvitError(() => read(edit(int8, (t) => t.delete(`${fc1}_scale`))), 'BAD_WEIGHTS', [fc1, `${fc1}_scale`, 'F32 [40]', 'are missing', way]);
    const asHalf = edit(int8, (t) => {
      const s = t.get(`${fc1}_scale`)!;
      t.set(`${fc1}_scale`, { ...s, dtype: 'F16', data: s.data.subarray(0, s.data.length / 2) });
    });
    await expectWebvitError(() => read(asHalf), 'BAD_WEIGHTS', [`${fc1}_scale`, 'is F16 [40]', 'expected F32 [40]']);
    await expectWebvitError(() => read(edit(q4, (t) => (t.get(`${fc2}_scale`)!.shape = [1, 48]))), 'BAD_WEIGHTS', [`${fc2}_scale`, 'F16 [1, 48]', 'expected F16 [2, 24]']);
  });

  it('scales that are not finite, negative or too large', async () => {
    const setScale = (bytes: Uint8Array, name: string, dtype: Dtype, i: number, bits: number) =>
      edit(bytes, (t) => {
        const s = t.get(`${name}_scale`)!;
        const v = new DataView(s.data.buffer, s.data.byteOffset);
        if (dtype === 'F32') v.setUint32(4 * i, bits, true);
        else v.setUint16(2 * i, bits, true);
      });
    const f32 = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];
    for (const [bits, shown] of [[f32(NaN), 'NaN'], [f32(Infinity), 'Infinity'], [f32(-0.5), '-0.5'], [f32(1e5), '100000']] as const) {
      await expectWebvitError(() => read(setScale(int8, fc1, 'F32', 7, bits)), 'BAD_WEIGHTS', [`${fc1}_scale holds ${shown} at flat index 7 (column 7)`, 'finite, ≥ 0 and at most 7874', way]);
    }
    for (const [bits, shown] of [[0x7e00, 'NaN'], [0x7c00, 'Infinity'], [0xfc00, '-Infinity']] as const) {
      await expectWebvitError(() => read(setScale(q4, fc2, 'F16', 30, bits)), 'BAD_WEIGHTS', [`${fc2}_scale holds ${shown} at flat index 30 (column 6)`, 'finite, of magnitude at most']);
    }
    // A q4 scale is negative where its block's extreme is positive (code -8); -0 and 0 are scales too.
    for (const bits of [0xbc00, 0x8000]) expect((await read(setScale(q4, fc2, 'F16', 30, bits))).quant!.get(fc2)!.scales[30]).toBe(bits);
  });

  it('a scale tensor beside a matrix that is not quantised', async () => {
    const extra = edit(int8, (t) => t.set(fc1, { name: fc1, dtype: 'F32', shape: [24, 40], data: new Uint8Array(awkward.tensors.get(fc1)!.slice().buffer) }));
    await expectWebvitError(() => read(extra), 'BAD_WEIGHTS', ['unexpected tensor(s)', `${fc1}_scale`]);
  });

  it('webvit convert refuses a quantised file as input (its weights are codes)', () => {
    const { tensors, metadata } = split(int8);
    const ckpt = checkpointFromArrays(SRC, Object.fromEntries(tensors.map((t) => [t.name, { shape: t.shape, data: new Float32Array(t.shape.reduce((a, d) => a * d, 1)) }])), undefined, metadata);
    expect(() => convertCheckpoint(ckpt)).toThrow(/already quantised \(webvit.quant int8\).*f32 or f16/);
  });
});
