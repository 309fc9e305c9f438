import { describe, expect, it } from 'vitest';
import { halfToFloat, parseSafetensors, type Dtype } from '../../src/model/safetensors.js';
import { readWeights } from '../../src/model/weights.js';
import { ViTModel } from '../../src/model/vit.js';
import { expectWebvitError } from '../helpers/errors.js';
import { loadFixture, maxRelError } from '../helpers/fixtures.js';
import { testDevice } from '../helpers/gpu.js';
import {
  assemble,
  cloneParts,
  floatToBf16,
  floatToHalf,
  joinWeights,
  joinWeightsAs,
  readHeader,
  splitWeights,
  withHeader,
  writeRaw,
  type RawTensor,
  type WeightParts,
} from '../helpers/weight_file.js';

// Every way a weight file can be wrong must be refused at load with a WebvitError whose message
// names the tensor or config field and gives the expected and the actual value: a user with a
// bad file should learn what is wrong from the message alone, never from a GPU validation error
// or wrong logits later. Each variant is made in memory from the tiny fixture (config 32×32
// image, patch 8, D 64, 2 layers, 4 heads, MLP 256, 10 classes, T = 17).

const SRC = 'test.safetensors';
const f = loadFixture('tiny');
const base = splitWeights(f.model);
const good = joinWeights(base);
const load = (bytes: Uint8Array | ArrayBuffer) => readWeights(bytes, SRC);
const parts = (edit: (p: WeightParts) => void): Uint8Array => {
  const p = cloneParts(base);
  edit(p);
  return joinWeights(p);
};
const offsetsOf = (bytes: Uint8Array, name: string): [number, number] => readHeader(bytes).header[name].data_offsets;
const dataLenOf = (bytes: Uint8Array): number => bytes.length - readHeader(bytes).dataStart;

describe('control', () => {
  // If the helpers re-encoded the fixture wrongly, every "rejects" test below could pass for the
  // wrong reason; the unmodified round trip must load, with every value bit-identical.
  it('the fixture taken apart and written back loads, with identical tensors', () => {
    const w = load(good);
    expect(w.config).toMatchObject(f.golden.config); // parseConfig may add defaulted fields
    expect(w.labels).toHaveLength(10);
    expect(w.tensors.size).toBe(base.tensors.length);
    for (const t of base.tensors) expect(w.tensors.get(t.name), t.name).toEqual(t.data);
  });

  // The loader must read through DataViews at the view's own offset: a Uint8Array that is an
  // unaligned window into a larger buffer (as from fs.readFileSync's pooled Buffers) must give
  // the same values, and so must a bare ArrayBuffer.
  it('reads a file from an unaligned view and from an ArrayBuffer', () => {
    const big = new Uint8Array(good.length + 7);
    big.set(good, 3);
    const view = big.subarray(3, 3 + good.length);
    const fromView = load(view);
    const fromBuffer = load(good.slice().buffer);
    for (const t of base.tensors) {
      expect(fromView.tensors.get(t.name), t.name).toEqual(t.data);
      expect(fromBuffer.tensors.get(t.name), t.name).toEqual(t.data);
    }
  });
});

describe('safetensors framing', () => {
  // The 8-byte length prefix is the first thing a truncated or foreign file gets wrong.
  it('header length field larger than the file', async () => {
    const bytes = good.slice();
    new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length), true);
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', [SRC, 'header length', `says ${bytes.length} bytes`, `only ${bytes.length - 8}`]);
  });

  // A huge length (e.g. a text file's first 8 bytes) must not make us allocate or decode 2^60 bytes.
  it('absurd header length (not a safetensors file)', async () => {
    const bytes = new TextEncoder().encode('this is not a model file at all');
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', [SRC, `says ${n} bytes`, 'limit']);
  });

  it('file shorter than the 8-byte length prefix', async () => {
    await expectWebvitError(() => load(new Uint8Array(5)), 'BAD_WEIGHTS', [SRC, '5 bytes', '8-byte']);
  });

  // Cut inside one tensor's data: that tensor is the one named, with its offsets and the data
  // length actually there.
  it('truncated file: data cut short inside blocks.0.mlp.fc1.weight', async () => {
    const name = 'blocks.0.mlp.fc1.weight';
    const [b, e] = offsetsOf(good, name);
    const { dataStart } = readHeader(good);
    const cut = good.subarray(0, dataStart + b + 100);
    await expectWebvitError(() => load(cut), 'BAD_WEIGHTS', [SRC, `tensor ${name}`, `[${b}, ${e}]`, `(${b + 100} bytes)`, 'truncated']);
  });

  it('truncated file: last 10 bytes missing', async () => {
    const last = base.tensors.at(-1)!.name;
    const [b, e] = offsetsOf(good, last);
    const cut = good.subarray(0, good.length - 10);
    await expectWebvitError(() => load(cut), 'BAD_WEIGHTS', [`tensor ${last}`, `[${b}, ${e}]`, `(${dataLenOf(good) - 10} bytes)`]);
  });
});

describe('the data section must be covered exactly (safetensors: "entirely indexed, no holes")', () => {
  // The reference reader (huggingface/safetensors, Metadata::validate and read_metadata) refuses
  // a data section with bytes no tensor owns: a gap between tensors (InvalidOffset) or bytes after
  // the last one (MetadataIncompleteBuffer). Such bytes would let a file carry a second payload
  // (a polyglot file) and usually mean a truncated header or a mis-written file. webvit used to
  // accept trailing bytes silently.
  const { dataStart } = readHeader(good);
  const data = good.subarray(dataStart);
  /** The file with `extra` bytes spliced into the data section at `at`; tensors that begin there or later move up. */
  const spliced = (at: number, extra: number) => {
    const { header } = readHeader(good);
    for (const [k, v] of Object.entries(header)) {
      if (k === '__metadata__') continue;
      if (v.data_offsets[0] >= at) v.data_offsets = v.data_offsets.map((o: number) => o + extra);
    }
    const d = new Uint8Array(data.length + extra);
    d.set(data.subarray(0, at));
    d.set(data.subarray(at), at + extra);
    return assemble(new TextEncoder().encode(JSON.stringify(header)), d);
  };

  it('trailing bytes after the last tensor: refused naming both byte counts', async () => {
    const bytes = assemble(good.subarray(8, dataStart), new Uint8Array([...data, ...new Uint8Array(16).fill(7)]));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', [SRC, `${data.length + 16} bytes`, `${data.length}`, '16 trailing bytes', base.tensors.at(-1)!.name]);
  });

  it('one trailing byte is enough', async () => {
    const bytes = assemble(good.subarray(8, dataStart), new Uint8Array([...data, 0]));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', ['1 trailing byte']);
  });

  it('a gap between two tensors: refused naming both and the unowned bytes', async () => {
    const [, end] = offsetsOf(good, 'blocks.0.norm1.weight');
    const next = base.tensors[base.tensors.findIndex((t) => t.name === 'blocks.0.norm1.weight') + 1].name;
    await expectWebvitError(() => load(spliced(end, 8)), 'BAD_WEIGHTS', [SRC, `[${end}, ${end + 8})`, 'blocks.0.norm1.weight', next, 'no tensor']);
  });

  it('a gap before the first tensor', async () => {
    await expectWebvitError(() => load(spliced(0, 12)), 'BAD_WEIGHTS', [SRC, '[0, 12)', 'no tensor', base.tensors[0].name]);
  });

  // A file with no tensors at all is valid safetensors; data after its header is not.
  it('a header with no tensors and data after it', async () => {
    const bytes = assemble(new TextEncoder().encode('{}'), new Uint8Array(4));
    await expectWebvitError(() => parseSafetensors(bytes, SRC), 'BAD_WEIGHTS', ['4 trailing bytes']);
    expect(parseSafetensors(assemble(new TextEncoder().encode('{}'), new Uint8Array(0)), SRC).tensors.size).toBe(0);
  });
});

describe('header numbers that would make a reader allocate or loop', () => {
  // Each refused without allocating anything like the stated size (the file is a few KB).
  const refused = async (bytes: Uint8Array, fragments: (string | number)[]) => {
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    await expectWebvitError(() => parseSafetensors(bytes, SRC), 'BAD_WEIGHTS', fragments);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 2 ** 20);
  };
  for (const [label, n] of [
    ['2^63', 2n ** 63n],
    ['2^64 - 1', 2n ** 64n - 1n],
    ['100 MB + 1 (the reference limit is 100 MB)', 100_000_001n],
  ] as const) {
    it(`header length ${label}`, async () => {
      const bytes = good.slice();
      new DataView(bytes.buffer).setBigUint64(0, n, true);
      await refused(bytes, [`says ${Number(n)} bytes`, 'limit']);
    });
  }
  const name = 'blocks.0.mlp.fc1.weight';
  for (const [label, shape, fragment] of [
    ['a shape whose product is 2^80', [2 ** 40, 2 ** 40], 'shape'],
    ['a shape whose product overflows to Infinity', [1e300, 1e300], 'shape'],
    ['a negative dimension', [-64, 256], 'non-negative integers'],
    ['a fractional dimension', [64, 255.5], 'non-negative integers'],
    ['a dimension written as a string', [64, '256'], 'non-negative integers'],
    ['a dimension above 2^53', [2 ** 60, 0], 'non-negative integers'],
    ['a million dimensions', new Array(1_000_000).fill(1), 'dimensions'],
  ] as [string, unknown[], string][]) {
    it(label, async () => {
      await refused(withHeader(good, (h) => (h[name].shape = shape)), [`tensor ${name}`, fragment]);
    });
  }
  for (const [label, offsets] of [
    ['data_offsets beyond 2^53', [2 ** 60, 2 ** 60 + 65536]],
    ['negative data_offsets', [-4, 65532]],
    ['fractional data_offsets', [0.5, 65536.5]],
    ['three data_offsets', [0, 65536, 4]],
  ] as [string, unknown[]][]) {
    it(label, async () => {
      await refused(withHeader(good, (h) => (h[name].data_offsets = offsets)), [`tensor ${name}`, 'data_offsets']);
    });
  }
  it('__metadata__ that is an array', async () => {
    await refused(withHeader(good, (h) => (h.__metadata__ = ['webvit'])), ['__metadata__', 'object']);
  });
});

describe('found by the format fuzzer (test/fuzz/formats.test.ts)', () => {
  // JSON.parse reads arrays nested any depth; JSON.stringify, which messages used to show the bad
  // value, overflows the stack at a few thousand: a RangeError instead of a refusal.
  const deep = (d: number) => '['.repeat(d) + ']'.repeat(d);
  it('a dtype that is an array nested 20000 deep', async () => {
    const { dataStart } = readHeader(good);
    const text = new TextDecoder().decode(good.subarray(8, dataStart)).replace('"dtype":"F32"', `"dtype":${deep(20000)}`);
    await expectWebvitError(() => load(assemble(new TextEncoder().encode(text), good.subarray(dataStart))), 'BAD_WEIGHTS', ['unknown dtype', 'nested too deep']);
  });
  it('a config field that is an array nested 20000 deep', async () => {
    const bytes = withHeader(good, (h) => (h.__metadata__['webvit.config'] = JSON.stringify({ ...f.golden.config, mlp_size: 0 }).replace('"mlp_size":0', `"mlp_size":${deep(20000)}`)));
    await expectWebvitError(() => load(bytes), 'BAD_CONFIG', ['mlp_size', 'nested too deep']);
  });
  // A message must stay one line: V8's JSON syntax errors quote the text around the error, and a
  // tensor name may hold a newline.
  it('a JSON syntax error next to a newline in the header', async () => {
    const { dataStart } = readHeader(good);
    const text = new TextDecoder().decode(good.subarray(8, dataStart)).replace('"dtype":"F32"', '"dtype":\nF32"');
    const msg = await expectWebvitError(() => load(assemble(new TextEncoder().encode(text), good.subarray(dataStart))), 'BAD_WEIGHTS', ['not valid UTF-8 JSON', '\\n']);
    expect(msg).not.toMatch(/[\n\r]/);
  });
  it('a tensor name with a newline', async () => {
    const bytes = parts((p) => p.tensors.push({ name: 'extra\nline', shape: [1], data: new Float32Array(1) }));
    const msg = await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', ['extra\\nline']);
    expect(msg).not.toMatch(/[\n\r]/);
  });
});

describe('header that lies about data_offsets', () => {
  it('span ≠ shape × dtype size (end moved)', async () => {
    const name = 'blocks.0.attn.proj.weight';
    const [b, e] = offsetsOf(good, name);
    const bytes = withHeader(good, (h) => (h[name].data_offsets = [b, e - 4]));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', [`tensor ${name}`, `[${b}, ${e - 4}]`, `span ${64 * 64 * 4 - 4} bytes`, 'F32 shape [64, 64]', `needs ${64 * 64 * 4}`]);
  });

  it('span ≠ shape × dtype size (shape changed)', async () => {
    const name = 'blocks.1.mlp.fc2.weight';
    const bytes = withHeader(good, (h) => (h[name].shape = [256, 65]));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', [`tensor ${name}`, `span ${256 * 64 * 4} bytes`, 'shape [256, 65]', `needs ${256 * 65 * 4}`]);
  });

  it('span ≠ shape × dtype size (dtype changed to F16 without the data)', async () => {
    const name = 'norm.weight';
    const bytes = withHeader(good, (h) => (h[name].dtype = 'F16'));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', [`tensor ${name}`, `span ${64 * 4} bytes`, 'F16 shape [64]', `needs ${64 * 2}`]);
  });

  it('offsets past the end of the data', async () => {
    const name = 'head.bias';
    const n = dataLenOf(good);
    const bytes = withHeader(good, (h) => (h[name].data_offsets = [n, n + 40]));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', [`tensor ${name}`, `[${n}, ${n + 40}]`, `(${n} bytes)`]);
  });

  it('end before begin', async () => {
    const name = 'cls_token';
    const [b, e] = offsetsOf(good, name);
    const bytes = withHeader(good, (h) => (h[name].data_offsets = [e, b]));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', [`tensor ${name}`, `[${e}, ${b}]`]);
  });

  // Two tensors sharing bytes would silently alias weights. The message must name both tensors
  // and both byte ranges, so the header can be fixed without a hex editor.
  it('overlapping tensors (partial overlap)', async () => {
    const [wb] = offsetsOf(good, 'blocks.0.norm1.weight');
    const moved: [number, number] = [wb + 4, wb + 4 + 256];
    const bytes = withHeader(good, (h) => (h['blocks.0.norm1.bias'].data_offsets = moved));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', ['blocks.0.norm1.weight', 'blocks.0.norm1.bias', 'overlap', `[${wb}, ${wb + 256}]`, `[${moved[0]}, ${moved[1]}]`]);
  });

  it('overlapping tensors (same range twice)', async () => {
    const range = offsetsOf(good, 'norm.weight');
    const bytes = withHeader(good, (h) => (h['norm.bias'].data_offsets = [...range]));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', ['norm.weight', 'norm.bias', 'overlap', `[${range[0]}, ${range[1]}]`]);
  });

  it('header is not JSON', async () => {
    const { dataStart } = readHeader(good);
    const junk = new TextEncoder().encode('{"patch_embed.weight": {dtype: F32}'.padEnd(dataStart - 8, ' '));
    await expectWebvitError(() => load(assemble(junk, good.subarray(dataStart))), 'BAD_WEIGHTS', [SRC, 'not valid UTF-8 JSON']);
  });

  it('header is not UTF-8', async () => {
    const { dataStart } = readHeader(good);
    await expectWebvitError(() => load(assemble(new Uint8Array(dataStart - 8).fill(0xff), good.subarray(dataStart))), 'BAD_WEIGHTS', [SRC, 'not valid UTF-8 JSON']);
  });

  it('header is JSON but not an object', async () => {
    await expectWebvitError(() => load(assemble(new TextEncoder().encode('[1, 2, 3]'), new Uint8Array(0))), 'BAD_WEIGHTS', [SRC, 'JSON object']);
  });

  it('tensor entry with a malformed shape', async () => {
    const bytes = withHeader(good, (h) => (h['norm.bias'].shape = [64.5]));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', ['tensor norm.bias', 'shape', '[64.5]']);
  });

  it('metadata value that is not a string', async () => {
    const bytes = withHeader(good, (h) => (h.__metadata__['webvit.version'] = 1));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', ['__metadata__.webvit.version', 'string', 'number']);
  });
});

describe('tensors against the config', () => {
  it('a missing tensor', async () => {
    const bytes = parts((p) => (p.tensors = p.tensors.filter((t) => t.name !== 'blocks.1.mlp.fc2.bias')));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', [SRC, 'missing tensor(s) blocks.1.mlp.fc2.bias', '2 layers']);
  });

  it('an extra tensor (a third block for a 2-layer config)', async () => {
    const bytes = parts((p) => p.tensors.push({ name: 'blocks.2.norm1.weight', shape: [64], data: new Float32Array(64) }));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', [SRC, 'unexpected tensor(s) blocks.2.norm1.weight', '2 layers']);
  });

  // qkv_bias false in the config means the file must not carry the biases: they would be ignored.
  it('qkv biases present but the config says qkv_bias false', async () => {
    const bytes = parts((p) => (p.config.qkv_bias = false));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', ['unexpected tensor(s) blocks.0.attn.qkv.bias, blocks.1.attn.qkv.bias', 'qkv_bias false']);
  });

  // Same element count, PyTorch layout ([out, in]): only the shape check can catch it.
  it('a transposed (PyTorch-layout) weight', async () => {
    const bytes = parts((p) => (p.tensors.find((t) => t.name === 'blocks.0.attn.qkv.weight')!.shape = [192, 64]));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', ['tensor blocks.0.attn.qkv.weight', 'shape [192, 64]', 'expected [64, 192]']);
  });

  it('a head with the wrong number of classes', async () => {
    const bytes = parts((p) => {
      const t = p.tensors.find((x) => x.name === 'head.weight')!;
      t.shape = [64, 11];
      t.data = new Float32Array(64 * 11);
    });
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', ['tensor head.weight', 'shape [64, 11]', 'expected [64, 10]']);
  });

  it('an unsqueezed (torchvision-shaped) class token', async () => {
    const bytes = parts((p) => (p.tensors.find((t) => t.name === 'cls_token')!.shape = [1, 1, 64]));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', ['tensor cls_token', 'shape [1, 1, 64]', 'expected [64]']);
  });

  // The config disagrees with every tensor: the first mismatch is named with both shapes.
  it('config hidden_size that does not match the tensors', async () => {
    const bytes = parts((p) => (p.config.hidden_size = 32));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', ['tensor patch_embed.weight', 'shape [192, 64]', 'expected [192, 32]']);
  });

  for (const dtype of ['I64', 'I32', 'F64', 'U8', 'BOOL'] as Dtype[]) {
    it(`a tensor with unsupported dtype ${dtype}`, async () => {
      const size = { I64: 8, I32: 4, F64: 8, U8: 1, BOOL: 1 }[dtype as 'I64'];
      const raw: RawTensor[] = base.tensors.map((t) =>
        t.name === 'norm.bias'
          ? { name: t.name, dtype, shape: t.shape, data: new Uint8Array(64 * size) }
          : { name: t.name, dtype: 'F32', shape: t.shape, data: new Uint8Array(t.data.slice().buffer) },
      );
      const bytes = writeRaw(raw, { ...base.metadata });
      await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', ['tensor norm.bias', `dtype ${dtype}`, 'F32, F16 or BF16']);
    });
  }

  it('a dtype safetensors does not know', async () => {
    const bytes = withHeader(good, (h) => (h['norm.bias'].dtype = 'F8_E4M3'));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', ['tensor norm.bias', 'unknown dtype', 'F8_E4M3']);
  });
});

describe('foreign checkpoints get a hint', () => {
  const D = 64;
  const tv: [string, number[]][] = [
    ['conv_proj.weight', [D, 3, 8, 8]],
    ['conv_proj.bias', [D]],
    ['class_token', [1, 1, D]],
    ['encoder.pos_embedding', [1, 17, D]],
    ['encoder.layers.encoder_layer_0.ln_1.weight', [D]],
    ['heads.head.weight', [10, D]],
  ];
  const file = (names: [string, number[]][], metadata: Record<string, string>) =>
    writeRaw(names.map(([name, shape]) => ({ name, dtype: 'F32', shape, data: new Uint8Array(4 * shape.reduce((a, d) => a * d, 1)) })), metadata);

  // A raw torchvision export (no webvit metadata) is the most likely wrong input.
  it('torchvision state dict without webvit metadata', async () => {
    await expectWebvitError(() => load(file(tv, { format: 'pt' })), 'BAD_WEIGHTS', [SRC, 'not a webvit model', 'looks like a torchvision ViT state dict', 'docs/weights-format.md']);
  });

  // Someone copied the webvit metadata but not the renaming: still the hint, after the name lists.
  it('torchvision names under webvit metadata', async () => {
    await expectWebvitError(() => load(file(tv, { ...base.metadata })), 'BAD_WEIGHTS', ['missing tensor(s) patch_embed.weight', 'unexpected tensor(s) conv_proj.weight', 'looks like a torchvision ViT state dict']);
  });

  it('Hugging Face and timm names', async () => {
    await expectWebvitError(() => load(file([['vit.embeddings.patch_embeddings.projection.weight', [D, 3, 8, 8]]], {})), 'BAD_WEIGHTS', ['Hugging Face']);
    await expectWebvitError(() => load(file([['patch_embed.proj.weight', [D, 3, 8, 8]]], {})), 'BAD_WEIGHTS', ['timm']);
  });
});

describe('config checks', () => {
  const withConfig = (edit: (c: Record<string, unknown>) => void) => parts((p) => edit(p.config));
  const cases: [string, (c: Record<string, unknown>) => void, (string | number)[]][] = [
    ['hidden_size not divisible by num_heads', (c) => (c.num_heads = 5), ['hidden_size 64', 'num_heads 5']],
    ['image_size not divisible by patch_size', (c) => (c.image_size = 36), ['image_size 36', 'patch_size 8']],
    ['negative field', (c) => (c.num_layers = -1), ['num_layers', 'integer ≥ 1', 'got -1']],
    ['zero heads', (c) => (c.num_heads = 0), ['num_heads', 'integer ≥ 1', 'got 0']],
    ['negative num_classes', (c) => (c.num_classes = -1), ['num_classes', 'integer ≥ 0', 'got -1']],
    ['non-integer field', (c) => (c.mlp_size = 256.5), ['mlp_size', 'integer ≥ 1', 'got 256.5']],
    ['integer as a string', (c) => (c.num_heads = '4'), ['num_heads', 'integer ≥ 1', 'got "4"']],
    ['layer_norm_eps out of range', (c) => (c.layer_norm_eps = -1e-6), ['layer_norm_eps', '(0, 1)', 'got -0.000001']],
    ['missing layer_norm_eps', (c) => delete c.layer_norm_eps, ['layer_norm_eps', '(0, 1)', 'undefined']],
    ['unknown field (typo)', (c) => (c.hiden_size = 64), ['unknown field(s) hiden_size', 'known fields', 'hidden_size']],
    ['missing field', (c) => delete c.num_heads, ['missing num_heads']],
    ['layer_norm_eps below float32 (round eleven: 1e-50 became 0 in the kernels, and the NaN was blamed on the weights)', (c) => (c.layer_norm_eps = 1e-50), ['layer_norm_eps is 1e-50', "below float32's smallest normal number 1.18e-38"]],
    ['bad pooling value', (c) => (c.pooling = 'max'), ['pooling', '"cls", "mean", "cls+mean" or "map"', 'got "max"']],
    ['qkv_bias not a boolean', (c) => (c.qkv_bias = 'yes'), ['qkv_bias', 'true or false', 'got "yes"']],
  ];
  for (const [name, edit, fragments] of cases) {
    it(name, async () => {
      await expectWebvitError(() => load(withConfig(edit)), 'BAD_CONFIG', [SRC, ...fragments]);
    });
  }

  it('config that is not an object', async () => {
    const bytes = withHeader(good, (h) => (h.__metadata__['webvit.config'] = '[64]'));
    await expectWebvitError(() => load(bytes), 'BAD_CONFIG', [SRC, 'JSON object', '[64]']);
  });

  it('config that is not JSON', async () => {
    const bytes = withHeader(good, (h) => (h.__metadata__['webvit.config'] = '{"image_size": 32,'));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', [SRC, 'webvit.config', 'not valid JSON']);
  });

  it('labels count ≠ num_classes', async () => {
    const bytes = parts((p) => p.labels!.pop());
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', [SRC, '9 labels', 'num_classes is 10']);
  });

  it('labels that are not a list of strings', async () => {
    const bytes = withHeader(good, (h) => (h.__metadata__['webvit.labels'] = '[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]'));
    await expectWebvitError(() => load(bytes), 'BAD_WEIGHTS', [SRC, 'webvit.labels', 'array of strings']);
  });
});

describe('non-finite and overflowing weights are refused at load', () => {
  // NaN, ±Inf or a finite 3e38 in a weight used to load and run, giving null / NaN logits and
  // "T-shirt/top NaN%" with exit 0. The loader must name the tensor, the flat index and the value.
  const poisoned = (name: string, index: number, value: number, dtype: 'F32' | 'F16' | 'BF16' = 'F32') => {
    const p = cloneParts(base);
    p.tensors.find((t) => t.name === name)!.data[index] = value;
    return dtype === 'F32' ? joinWeights(p) : joinWeightsAs(p, dtype);
  };
  for (const [value, dtype, why] of [
    [NaN, 'F32', 'not finite'],
    [Infinity, 'F32', 'not finite'],
    [-Infinity, 'F32', 'not finite'],
    [3e38, 'F32', 'overflow float32 arithmetic'],
    [-2e6, 'F32', 'overflow float32 arithmetic'],
    [NaN, 'F16', 'not finite'],
    [Infinity, 'F16', 'not finite'],
    [NaN, 'BF16', 'not finite'],
    [-Infinity, 'BF16', 'not finite'],
    [3e38, 'BF16', 'overflow float32 arithmetic'],
  ] as const) {
    it(`${value} (${dtype}) in blocks.1.mlp.fc1.weight[1234]: refused naming tensor, index and value`, async () => {
      const shown = dtype === 'BF16' && value === 3e38 ? '' : String(value); // BF16 rounds 3e38 to another value
      await expectWebvitError(() => load(poisoned('blocks.1.mlp.fc1.weight', 1234, value, dtype)), 'BAD_WEIGHTS', [
        SRC,
        'tensor blocks.1.mlp.fc1.weight',
        'index 1234',
        shown,
        why,
      ]);
    });
  }
  it('the first bad value is the one named (index 0 and the last index too)', async () => {
    await expectWebvitError(() => load(poisoned('patch_embed.bias', 0, NaN)), 'BAD_WEIGHTS', ['tensor patch_embed.bias', 'index 0']);
    await expectWebvitError(() => load(poisoned('head.bias', 9, -Infinity)), 'BAD_WEIGHTS', ['tensor head.bias', 'index 9', '-Infinity']);
  });
  it('values up to the bound (±1e6) load', () => {
    const p = cloneParts(base);
    p.tensors.find((t) => t.name === 'norm.bias')!.data.set([1e6, -1e6, 65504, -3.4e-38]);
    expect(load(joinWeights(p)).tensors.get('norm.bias')!.slice(0, 3)).toEqual(new Float32Array([1e6, -1e6, 65504]));
  });
});

describe('resource bombs: sizes in the config are bounded before anything is allocated', () => {
  // A few bytes of config (num_layers 1e308) used to make the loader build a map entry per layer
  // before comparing with the file: "Map maximum size exceeded" after 22-56 s at 2.4 GB. Each case
  // must be refused within a second (the bound), naming the field and the limit.
  const refusedQuickly = async (bytes: Uint8Array, fragments: (string | number)[], code: 'BAD_CONFIG' | 'BAD_WEIGHTS' = 'BAD_CONFIG') => {
    const t0 = performance.now();
    await expectWebvitError(() => load(bytes), code, fragments);
    const ms = performance.now() - t0;
    expect(ms, `refused in ${ms.toFixed(0)} ms`).toBeLessThan(1000);
  };
  for (const n of [1e7, 1e9, 1e308]) {
    it(`num_layers ${n}: refused naming the field and the limit (1024)`, async () => {
      await refusedQuickly(parts((p) => (p.config.num_layers = n)), ['num_layers', String(n), 'limit of 1024', 'docs/weights-format.md#limits']);
    });
  }
  // Within the limit, but the file holds 32 tensors: both counts are named, the list of missing
  // tensors is cut short.
  it('num_layers 1000 (within the limit) in a file with 32 tensors: refused naming both counts', async () => {
    await refusedQuickly(parts((p) => (p.config.num_layers = 1000)), ['1000 layers', '12008 tensors, the file has 32', 'more'], 'BAD_WEIGHTS');
  });
  for (const [field, value] of [
    ['image_size', 8_000_000],
    ['hidden_size', 1e9],
    ['mlp_size', 1e9],
    ['num_classes', 1e9],
    ['num_channels', 1e9],
  ] as const) {
    it(`${field} ${value}: refused naming the field and the limit`, async () => {
      await refusedQuickly(parts((p) => (p.config[field] = value)), [field, String(value), 'limit of']);
    });
  }
  it('image_size 8192 with patch_size 8 (each field within its limit): too many patches', async () => {
    await refusedQuickly(parts((p) => (p.config.image_size = 8192)), ['1048576 patches', 'limit of 65536']);
  });
  it('hidden_size 16384 and mlp_size 65536 (each within its limit): a tensor too big', async () => {
    await refusedQuickly(parts((p) => Object.assign(p.config, { hidden_size: 16384, mlp_size: 65536, num_heads: 4 })), ['blocks.*.attn.qkv.weight', 'values per tensor']);
  });
});

describe('half-precision weights', () => {
  // The F16 / BF16 tests below are only as good as the converters that make their files: every
  // finite half must survive float → half exactly (this covers subnormals, ±0 and rounding
  // carries into the exponent), and the library's decoder must agree with it.
  it('test converter: floatToHalf inverts halfToFloat on all 63 488 finite halves', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      const back = floatToHalf(halfToFloat(h));
      if (back !== h) expect.fail(`half 0x${h.toString(16)} -> ${halfToFloat(h)} -> 0x${back.toString(16)}`);
    }
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // tie to even (down)
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie to even (up)
    expect(floatToHalf(65520)).toBe(0x7c00); // rounds past the largest half: Inf
    expect(floatToBf16(1 + 2 ** -8)).toBe(0x3f80);
    expect(floatToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82);
  });

  for (const [dtype, tol] of [
    // Weights rounded to half carry ≤ 2^-11 ≈ 4.9e-4 relative error each; through two blocks the
    // logits move by ~1e-3 of their scale. 1e-2 leaves headroom while any decoding mistake
    // (byte order, exponent bias, treating halves as F32) gives O(1) errors.
    ['F16', 1e-2],
    // bfloat16 keeps 8 significant bits (≤ 2^-9 ≈ 2e-3 per weight): 5e-2.
    ['BF16', 5e-2],
  ] as const) {
    it(`${dtype} weights decode exactly to the rounded values, load, and run close to golden (max rel error ≤ ${tol})`, async () => {
      const bytes = joinWeightsAs(base, dtype);
      const file = parseSafetensors(bytes, SRC);
      for (const t of file.tensors.values()) expect(t.dtype).toBe(dtype);
      const w = load(bytes);
      const decode = (x: number) => (dtype === 'F16' ? halfToFloat(floatToHalf(x)) : new Float32Array(new Uint32Array([floatToBf16(x) << 16]).buffer)[0]);
      for (const t of base.tensors) {
        const got = w.tensors.get(t.name)!;
        const want = Float32Array.from(t.data, decode);
        expect(got, t.name).toEqual(want);
      }
      const device = await testDevice();
      const model = await ViTModel.load(device, bytes, { label: `tiny.${dtype}`, batch: f.golden.batch });
      try {
        const out = await model.forward(f.input);
        const err = maxRelError(out.logits, f.golden.logits);
        console.log(`${dtype} weights: max logit error / max |logit| = ${err.toExponential(3)} (tolerance ${tol})`);
        expect(err).toBeLessThanOrEqual(tol);
      } finally {
        await model.dispose();
      }
    });
  }
});
