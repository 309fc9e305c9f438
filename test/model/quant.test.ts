import { afterAll, describe, expect, it } from 'vitest';
import { ViTModel } from '../../src/model/vit.js';
import { declaredWeights, loadWeights, readWeights, type LoadedWeights } from '../../src/model/weights.js';
import { encodeWeights } from '../../src/model/convert/index.js';
import { dequantize, quantize, type QuantizedMatrix, type QuantKind } from '../../src/kernels/matmul/quant.js';
import { loadFixture } from '../helpers/fixtures.js';
import { testDevice } from '../helpers/gpu.js';
import { explainReference, maxRel } from './explain_reference.js';

// Quantised matmul weights end to end (issue 21): the tiny fixture's (seeded) weights quantised in
// memory with quant.ts, as a weight file's LoadedWeights.quant would hold them, and loaded as
// they are. Logits against a float64 forward pass of the dequantised model (the kernels' float64
// references; the explain reference's pass), max |Δ| / max |logit| ≤ 1e-4: what the f32 model is
// held to against PyTorch's float64 (golden.test.ts), as the GPU multiplies by exactly the
// dequantised weights and only its f32 arithmetic differs. Every matmul weight is quantised,
// the patch embedding's too.
const TOL = 1e-4;
const models: ViTModel[] = [];
afterAll(async () => {
  for (const m of models) await m.dispose();
});

const pad4 = (n: number) => Math.ceil(n / 4) * 4;

function quantised(w: LoadedWeights, kind: QuantKind): { weights: LoadedWeights; f64: Map<string, ArrayLike<number>> } {
  const tensors = new Map(w.tensors);
  const quant = new Map<string, QuantizedMatrix>();
  const f64 = new Map<string, ArrayLike<number>>(w.tensors);
  for (const [name, d] of declaredWeights(w.config)) {
    if (!d.matrix) continue;
    const q = quantize(w.tensors.get(name)!, d.shape[0], d.shape[1], kind, name);
    quant.set(name, q);
    tensors.delete(name);
    f64.set(name, dequantize(q));
  }
  return { weights: { ...w, tensors, quant }, f64 };
}

describe('a model with quantised matmul weights', () => {
  for (const kind of ['int8', 'q4'] as QuantKind[]) {
    it(`${kind}: logits match float64 of the dequantised model; GPU memory is the quantised size`, async () => {
      const device = await testDevice();
      const f = loadFixture('tiny');
      const w = readWeights(f.model, 'tiny');
      const B = f.golden.batch;
      const { weights, f64 } = quantised(w, kind);
      const model = await ViTModel.fromWeights(device, weights, { label: `tiny.${kind}`, batch: B });
      models.push(model);
      const got = (await model.forward(f.input)).logits;
      const want = explainReference(w, f.input, B, f64).logits!;
      const err = maxRel(got, want);
      const off = maxRel(got, f.golden.logits.flat());
      console.log(`tiny ${kind}: logits vs float64 of the dequantised model ${err.toExponential(2)}; vs the f32 model's golden ${off.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(TOL);
      // The explain plan (its own graph) reads the same codes and scales.
      expect(maxRel((await model.explain(f.input)).logits, want)).toBeLessThanOrEqual(TOL);
      // The variants are picked for the quantised problems (their own tuning keys).
      expect(Object.keys(model.kernels(B)!).filter((k) => k.endsWith(`.${kind}`)).length).toBeGreaterThan(0);
      // Quantisation does move the logits: the kernels are not reading f32 weights.
      expect(off).toBeGreaterThan(10 * TOL);

      // GPU memory for the weights: f32 tensors as they are, quantised ones as codes and scales.
      let expected = 0;
      for (const t of weights.tensors.values()) expected += pad4(t.byteLength);
      for (const q of weights.quant!.values()) expected += pad4(q.codes.byteLength) + pad4(q.scales.byteLength);
      expect(model.weightBytes).toBe(expected);
      const f32Bytes = [...w.tensors.values()].reduce((n, t) => n + t.byteLength, 0);
      const matrixF32 = [...weights.quant!.keys()].reduce((n, k) => n + w.tensors.get(k)!.byteLength, 0);
      const matrixGpu = [...weights.quant!.values()].reduce((n, q) => n + pad4(q.codes.byteLength) + pad4(q.scales.byteLength), 0);
      console.log(`tiny ${kind}: weights on the GPU ${model.weightBytes} B (f32 model: ${f32Bytes} B); quantised matrices ${matrixGpu} B for ${matrixF32} B in f32`);
      // int8: 1 byte per weight + 4 per column; q4: half a byte + 2 bytes per 32 weights.
      expect(matrixGpu / matrixF32).toBeLessThan(kind === 'int8' ? 0.27 : 0.15);

      // precision 'int8' / 'q4' quantises an f32 model the same way at load: the same logits.
      const same = await ViTModel.fromWeights(device, w, { label: `tiny.${kind}.precision`, batch: B, precision: kind });
      models.push(same);
      expect(Array.from((await same.forward(f.input)).logits)).toEqual(Array.from(got));
      expect(same.weightBytes).toBe(model.weightBytes);
    });
  }

  // A quantised weight file (the converter's, docs/quantization.md) loads through ViTModel.load
  // with its codes and scales as they are.
  for (const kind of ['int8', 'q4'] as QuantKind[]) {
    it(`a ${kind} weight file: ViTModel.load, logits against float64 of its dequantised weights`, async () => {
      const device = await testDevice();
      const f = loadFixture('tiny');
      const bytes = encodeWeights(readWeights(f.model, 'tiny'), kind);
      const w = await loadWeights(bytes, `tiny.${kind}.safetensors`);
      expect(w.quant?.size).toBeGreaterThan(0);
      const f64 = new Map<string, ArrayLike<number>>(w.tensors);
      for (const [name, q] of w.quant!) f64.set(name, dequantize(q));
      const B = f.golden.batch;
      const model = await ViTModel.load(device, bytes, { label: `tiny.${kind}.file`, batch: B });
      models.push(model);
      const err = maxRel((await model.forward(f.input)).logits, explainReference(w, f.input, B, f64).logits!);
      console.log(`tiny ${kind} file: logits vs float64 of its dequantised weights ${err.toExponential(2)}; weights on the GPU ${model.weightBytes} B for a ${bytes.byteLength}-byte file`);
      expect(err).toBeLessThanOrEqual(TOL);
      let expected = 0;
      for (const t of w.tensors.values()) expected += pad4(t.byteLength);
      for (const q of w.quant!.values()) expected += pad4(q.codes.byteLength) + pad4(q.scales.byteLength);
      expect(model.weightBytes).toBe(expected);
    });
  }

  it('a quantised weight of the wrong shape is refused, naming it', async () => {
    const device = await testDevice();
    const f = loadFixture('tiny');
    const w = readWeights(f.model, 'tiny');
    const { weights } = quantised(w, 'int8');
    const name = 'blocks.0.mlp.fc1.weight';
    const q = weights.quant!.get(name)!;
    weights.quant!.set(name, { ...q, K: q.N, N: q.K });
    await expect(ViTModel.fromWeights(device, weights, { label: 'tiny.bad' })).rejects.toThrow(/blocks\.0\.mlp\.fc1\.weight is \[256, 64\] but the model reads \[64,256\]/);
  });
});
