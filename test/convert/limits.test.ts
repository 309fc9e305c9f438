import { describe, expect, it } from 'vitest';
import { convertCheckpoint, type Checkpoint, type ConvertOptions, type SourceTensor } from '../../src/model/convert/index.js';
import { WebvitError } from '../../src/runtime/errors.js';
import { fixtureCheckpoint } from './layout_fixtures.js';

// Resource bombs: a few bytes in a checkpoint (a config.json number, one extra tensor name) that
// state a huge count or size. Each must be refused within a second, allocating nothing
// proportional to the stated size, with an error that names the field (or tensor) and the limit
// (docs/weights-format.md#limits). Before the limits, these hung growing past 13 GB of memory or
// aborted the process with a V8 heap OOM.

/** 1 s per case, as the issue asks; array-buffer growth must stay far below what the stated sizes would take. */
const TIME_MS = 1000;
const GROWTH_BYTES = 64 * 2 ** 20;

async function refusedQuickly(what: () => unknown, fragments: string[]): Promise<string> {
  const before = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  let err: unknown;
  try {
    await what();
  } catch (e) {
    err = e;
  }
  const ms = performance.now() - t0;
  const grown = process.memoryUsage().arrayBuffers - before;
  expect(err, 'expected a WebvitError').toBeInstanceOf(WebvitError);
  const msg = (err as WebvitError).message;
  expect(msg, 'one line').not.toMatch(/\n/);
  expect(msg.length, `a short message, got ${msg.length} characters: ${msg.slice(0, 300)}...`).toBeLessThan(1200);
  for (const f of fragments) expect(msg, `message should mention ${JSON.stringify(f)}`).toContain(f);
  expect(ms, `refused in ${ms.toFixed(0)} ms`).toBeLessThan(TIME_MS);
  expect(grown, `array buffers grew by ${grown} bytes`).toBeLessThan(GROWTH_BYTES);
  return msg;
}

function withTensor(ck: Checkpoint, name: string, shape: number[] = [64]): Checkpoint {
  const tensors = new Map(ck.tensors);
  const n = shape.reduce((a, d) => a * d, 1);
  tensors.set(name, { name, dtype: 'F32', shape, file: 'synthetic', read: () => new Float32Array(n) } satisfies SourceTensor);
  return { ...ck, tensors };
}

const withConfig = (ck: Checkpoint, edit: Record<string, unknown>): Checkpoint => ({ ...ck, config: { ...structuredClone(ck.config), ...edit } });

/** The stated limits (src/model/config.ts LIMITS, docs/weights-format.md#limits), as numbers the messages must show. */
const LIMITS = { num_layers: 1024, image_size: 16384, patches: 65536 };

const convert = (ck: Checkpoint, o: ConvertOptions = {}) => () => convertCheckpoint(ck, o);

describe('counts and sizes in a Hugging Face config.json', () => {
  it('num_hidden_layers 1e9: refused naming the field and the layer limit', async () => {
    const ck = withConfig(await fixtureCheckpoint('hf'), { num_hidden_layers: 1_000_000_000 });
    await refusedQuickly(convert(ck), ['num_hidden_layers', '1000000000', `limit of ${LIMITS.num_layers}`]);
  });

  it('image_size 8000000: refused naming the field and the limit', async () => {
    const ck = withConfig(await fixtureCheckpoint('hf'), { image_size: 8_000_000 });
    await refusedQuickly(convert(ck), ['image_size', '8000000', `limit of ${LIMITS.image_size}`]);
  });

  for (const [field, value] of [
    ['hidden_size', 1e12],
    ['intermediate_size', 1e12],
    ['num_channels', 1e9],
    ['patch_size', 1e9],
    ['num_attention_heads', 1e9],
  ] as const) {
    it(`${field} ${value}: refused naming the field and the limit`, async () => {
      const ck = withConfig(await fixtureCheckpoint('hf'), { [field]: value });
      await refusedQuickly(convert(ck), [field, String(value), 'limit of']);
    });
  }

  // Found by the format fuzzer: a positive but fractional size passed the old check (> 0) and
  // reached the tensor reshuffles, which threw a plain Error.
  it('hidden_size 5e-324 (positive, not an integer): refused naming the field', async () => {
    const ck = withConfig(await fixtureCheckpoint('hf'), { hidden_size: 5e-324 });
    await refusedQuickly(convert(ck), ['hidden_size', 'positive integer', '5e-324']);
  });

  // Within every limit, but far more than the checkpoint holds: hidden 8192 asks for 2^26-value
  // attention matrices per layer where the file has [64, 64]. Nothing that size may be allocated
  // just to report the mismatch.
  it('hidden_size 8192 and intermediate_size 32768 (within the limits) against 64-wide tensors: refused without allocating them', async () => {
    const ck = withConfig(await fixtureCheckpoint('hf'), { hidden_size: 8192, intermediate_size: 32768, num_attention_heads: 64 });
    await refusedQuickly(convert(ck), ['mis-shaped', 'vit.embeddings.patch_embeddings.projection.weight']);
  });

  it('num_hidden_layers 1000 (within the limit) with 2 layers present: the missing layers as ranges', async () => {
    const ck = withConfig(await fixtureCheckpoint('hf'), { num_hidden_layers: 1000 });
    await refusedQuickly(convert(ck), ['missing tensor(s)', 'vit.encoder.layer.{2-999}.']);
  });
});

describe('block indices in tensor names', () => {
  it('timm: one extra tensor blocks.1000000000.norm1.weight', async () => {
    const ck = withTensor(await fixtureCheckpoint('timm_cls'), 'blocks.1000000000.norm1.weight');
    await refusedQuickly(convert(ck, { heads: 4 }), ['blocks.1000000000.norm1.weight', `limit of ${LIMITS.num_layers}`]);
  });

  it('torchvision: one extra tensor encoder.layers.encoder_layer_1000000000.ln_1.weight', async () => {
    const ck = withTensor(await fixtureCheckpoint('torchvision'), 'encoder.layers.encoder_layer_1000000000.ln_1.weight');
    await refusedQuickly(convert(ck, { heads: 4 }), ['encoder_layer_1000000000', `limit of ${LIMITS.num_layers}`]);
  });

  it('hf without config.json: one extra tensor vit.encoder.layer.1000000000.layernorm_before.weight', async () => {
    const hf = await fixtureCheckpoint('hf');
    const ck = withTensor({ ...hf, config: undefined, configSource: undefined }, 'vit.encoder.layer.1000000000.layernorm_before.weight');
    await refusedQuickly(convert(ck, { heads: 4 }), ['vit.encoder.layer.1000000000.layernorm_before.weight', `limit of ${LIMITS.num_layers}`]);
  });

  it('timm: blocks.100000.* (above the limit) is refused by the limit, not by listing 99998 missing blocks', async () => {
    const ck = withTensor(await fixtureCheckpoint('timm_cls'), 'blocks.100000.norm1.weight');
    await refusedQuickly(convert(ck, { heads: 4 }), ['blocks.100000.norm1.weight', `limit of ${LIMITS.num_layers}`]);
  });

  it('timm: blocks.1000.* (within the limit): the missing blocks as one range', async () => {
    const ck = withTensor(await fixtureCheckpoint('timm_cls'), 'blocks.1000.norm1.weight');
    await refusedQuickly(convert(ck, { heads: 4 }), ['block 1000', 'no tensors for block(s) 2-999']);
  });

  it('timm: every other block up to 1000: the list of gaps is cut short with a count', async () => {
    let ck = await fixtureCheckpoint('timm_cls');
    for (let i = 3; i <= 1001; i += 2) ck = withTensor(ck, `blocks.${i}.norm1.weight`);
    const msg = await refusedQuickly(convert(ck, { heads: 4 }), ['block 1001', 'no tensors for block(s) 2, 4, 6', 'and 492 more']);
    expect(msg.length).toBeLessThan(400);
  });
});

describe('--image-size', () => {
  it('--image-size 80000: refused naming the option and the limit', async () => {
    await refusedQuickly(convert(await fixtureCheckpoint('timm_cls'), { heads: 4, imageSize: 80000 }), ['--image-size 80000', 'image_size', `limit of ${LIMITS.image_size}`]);
  });

  it('--image-size 8192 with patch 8 (1048576 patches): refused naming the patch limit', async () => {
    await refusedQuickly(convert(await fixtureCheckpoint('timm_cls'), { heads: 4, imageSize: 8192 }), ['--image-size 8192', '1048576 patches', `limit of ${LIMITS.patches}`]);
  });
});

describe('sizes read from tensor shapes', () => {
  // A tensor with a zero dimension holds no data, so its other dimensions can be anything: a
  // hidden size of 2^40 read from such a shape must be refused before it sizes a stand-in bias
  // or a zero position row (found by test/fuzz/formats.test.ts).
  const empty = (ck: Checkpoint, name: string, shape: number[]) => {
    const tensors = new Map(ck.tensors);
    tensors.set(name, { name, dtype: 'F32', shape, file: 'synthetic', read: () => new Float32Array(0) });
    return { ...ck, tensors };
  };
  it('timm: patch_embed.proj.weight [2^40, 0, 8, 8] and no bias', async () => {
    const ck = empty(await fixtureCheckpoint('timm_cls'), 'patch_embed.proj.weight', [2 ** 40, 0, 8, 8]);
    ck.tensors.delete('patch_embed.proj.bias');
    await refusedQuickly(convert(ck, { heads: 4 }), ['patch_embed.proj.weight', 'hidden_size', 'limit of 16384']);
  });
  it('torchvision: conv_proj.weight [64, 2^40, 8, 0]', async () => {
    const ck = empty(await fixtureCheckpoint('torchvision'), 'conv_proj.weight', [64, 2 ** 40, 0, 0]);
    await refusedQuickly(convert(ck, { heads: 4 }), ['conv_proj.weight', 'num_channels', 'limit of 1024']);
  });
  it('hf without config.json: classifier.weight [2^40, 0]', async () => {
    const hf = await fixtureCheckpoint('hf');
    const ck = empty({ ...hf, config: undefined, configSource: undefined }, 'classifier.weight', [2 ** 40, 0]);
    await refusedQuickly(convert(ck, { heads: 4 }), ['classifier.weight', 'num_classes', 'limit of 1000000']);
  });
});
