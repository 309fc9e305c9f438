import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rng } from '../../src/kernels/sample.js';
import { convertCheckpointStreamed, readCheckpoint, readCheckpointHeads } from '../../src/model/convert/files.js';
import { convertCheckpoint, encodeWeights, sourceTensors, type Checkpoint, type ConvertOptions, type OutputDtype, type Planned } from '../../src/model/convert/index.js';
import { headSize, impliedSize, StreamedConversion, streamedCheckpoint, streamFile, type StreamFile } from '../../src/model/convert/stream.js';
import { parseSafetensors } from '../../src/model/safetensors.js';
import { writeSafetensors } from '../../src/model/safetensors_write.js';
import { hubRepoFixtures } from '../helpers/hub_repos.js';
import { expectConvertError } from './layout_fixtures.js';

/**
 * The streamed conversion (src/model/convert/stream.ts) against the whole-file converter, the
 * reference: for every checkpoint the tests make, in F32 and F16, the streamed file must be the
 * same bytes as encodeWeights(convertCheckpoint(...)) (tolerance: none), whatever the chunks.
 */

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const hasWeights = (d: string) => readdirSync(d).some((f) => f.endsWith('.safetensors') || f.endsWith('.safetensors.index.json'));

/** Every fixture folder holding a checkpoint (layouts, families, the small ViTs), with its golden convert_args. */
function checkpointDirs(): { dir: string; options: ConvertOptions }[] {
  const out: { dir: string; options: ConvertOptions }[] = [];
  for (const root of ['layouts', 'families', 'tiny', 'tiny_mean', 'quick_gelu', 'preprocess']) {
    const r = join(FIXTURES, root);
    if (!existsSync(r)) continue;
    const dirs = [r, ...readdirSync(r).map((d) => join(r, d)).filter((d) => statSync(d).isDirectory())];
    for (const dir of dirs.filter(hasWeights)) {
      const golden = join(dir, 'golden.json');
      const args: string[] = existsSync(golden) ? ((JSON.parse(readFileSync(golden, 'utf8')) as { convert_args?: string[] }).convert_args ?? []) : [];
      const options: ConvertOptions = {};
      for (let i = 0; i < args.length; i += 2) {
        if (args[i] === '--heads') options.heads = Number(args[i + 1]);
        if (args[i] === '--image-size') options.imageSize = Number(args[i + 1]);
      }
      out.push({ dir, options });
    }
  }
  return out;
}

const extra = (p: Pick<Planned, 'layout' | 'metadata'>) => ({ 'webvit.converted_from': p.layout, 'webvit.source': 'test', ...p.metadata });

/** The reference: the whole-file converter's bytes, or its error message. */
async function reference(dir: string, dtype: OutputDtype, options: ConvertOptions): Promise<Uint8Array | string> {
  try {
    const r = convertCheckpoint(await readCheckpoint(dir), options);
    return encodeWeights(r.weights, dtype, extra(r));
  } catch (e) {
    return (e as Error).message;
  }
}

/** Feeds `bytes` of `file` in seeded random chunks (1 byte to 64 KiB), going back to byte 0 once part-way (a restarted download). */
function feedRandomly(conv: StreamedConversion, file: string, bytes: Uint8Array, seed: number): void {
  const r = rng(seed);
  const restartAt = Math.floor(r() * bytes.byteLength);
  let restarted = false;
  for (let at = 0; at < bytes.byteLength; ) {
    const n = 1 + Math.floor(r() ** 3 * 65536);
    const end = Math.min(bytes.byteLength, at + n);
    conv.feed(file, at, bytes.subarray(at, end));
    at = end;
    if (!restarted && at >= restartAt) [restarted, at] = [true, 0];
  }
}

describe('streamed conversion: the same bytes as the whole-file converter', () => {
  const dirs = checkpointDirs();
  it('finds the fixture checkpoints (layouts and families)', () => {
    expect(dirs.length).toBeGreaterThanOrEqual(19);
    expect(dirs.some((d) => d.dir.endsWith('hf_sharded'))).toBe(true);
    expect(dirs.some((d) => d.dir.endsWith('beit_shared'))).toBe(true);
  });
  for (const dtype of ['F32', 'F16'] as const) {
    it(`every fixture checkpoint, ${dtype}, read from disk in chunks (convertCheckpointStreamed)`, async () => {
      let compared = 0;
      for (const { dir, options } of dirs) {
        const want = await reference(dir, dtype, options);
        if (typeof want === 'string') {
          // A checkpoint the converter refuses is refused streamed too, with the same message.
          await expect(convertCheckpointStreamed(dir, dtype, extra, options), dir).rejects.toThrow(want);
          continue;
        }
        const { bytes } = await convertCheckpointStreamed(dir, dtype, extra, options);
        expect(Buffer.from(bytes).equals(Buffer.from(want)), `${dir} ${dtype}`).toBe(true);
        compared++;
      }
      expect(compared).toBeGreaterThanOrEqual(19);
    });
  }

  it('in random chunks, with a restart part-way, for the Hub stand-in repositories (the page builds its checkpoint so)', async () => {
    let seed = 1;
    let compared = 0;
    for (const repo of await hubRepoFixtures()) {
      const f = repo.files as Record<string, Uint8Array | string>;
      const config = typeof f['config.json'] === 'string' ? JSON.parse(f['config.json']) : JSON.parse(new TextDecoder().decode(f['config.json'] as Uint8Array));
      const weightFiles = f['model.safetensors'] ? ['model.safetensors'] : f['model.safetensors.index.json'] ? Object.keys(f).filter((n) => /^model-.*\.safetensors$/.test(n)).sort() : [];
      if (!weightFiles.length) continue;
      const bytesOf = (n: string) => f[n] as Uint8Array;
      const base = { config, configSource: `${repo.id} config.json` };
      for (const dtype of ['F32', 'F16'] as const) {
        // The reference: the whole files parsed and converted as before.
        let want: Uint8Array | string;
        try {
          const files = weightFiles.map((n) => parseSafetensors(bytesOf(n), n));
          const whole: Checkpoint = { ...base, source: repo.id, tensors: new Map(files.flatMap(sourceTensors).map((t) => [t.name, t])), metadata: files[0].metadata };
          const r = convertCheckpoint(whole);
          want = encodeWeights(r.weights, dtype, extra(r));
        } catch (e) {
          want = (e as Error).message;
        }
        const heads: StreamFile[] = weightFiles.map((n) => {
          const b = bytesOf(n);
          return streamFile(n, b.subarray(0, headSize(b, b.byteLength, n)), b.byteLength);
        });
        if (typeof want === 'string') {
          expect(() => new StreamedConversion(streamedCheckpoint(repo.id, heads, base), heads, dtype, extra), repo.id).toThrow(want);
          continue;
        }
        const conv = new StreamedConversion(streamedCheckpoint(repo.id, heads, base), heads, dtype, extra);
        for (const n of weightFiles) feedRandomly(conv, n, bytesOf(n), seed++);
        expect(Buffer.from(conv.finish()).equals(Buffer.from(want)), `${repo.id} ${dtype}`).toBe(true);
        compared++;
      }
    }
    expect(compared).toBeGreaterThanOrEqual(8);
  });

  it('holds a few source tensors at a time, not the checkpoint (hf: one block\'s q, k, v at most)', async () => {
    const dir = join(FIXTURES, 'layouts', 'hf');
    const { ckpt } = await readCheckpointHeads(dir);
    const b = new Uint8Array(readFileSync(join(dir, 'model.safetensors')));
    const head = streamFile('model.safetensors', b.subarray(0, headSize(b, b.byteLength, 'x')), b.byteLength);
    const conv = new StreamedConversion(streamedCheckpoint(ckpt.source, [head], { config: ckpt.config }), [head], 'F32', extra);
    feedRandomly(conv, 'model.safetensors', b, 99);
    conv.finish();
    const sizes = [...head.tensors.values()].map((t) => t.end - t.begin).sort((x, y) => y - x);
    // Whatever the file's order, never more than every tensor but the pass-through ones; in this file's order, far less.
    expect(conv.peakHeld).toBeGreaterThan(0);
    expect(conv.peakHeld).toBeLessThan(b.byteLength / 4);
    expect(conv.peakHeld).toBeLessThanOrEqual(sizes.slice(0, 8).reduce((a, x) => a + x, 0));
  });
});

describe('streamed conversion: bad input', () => {
  const dir = join(FIXTURES, 'layouts', 'hf');
  const bytes = () => new Uint8Array(readFileSync(join(dir, 'model.safetensors')));
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const start = (b: Uint8Array, size = b.byteLength) => {
    const head = streamFile('model.safetensors', b.subarray(0, headSize(b, size, 'model.safetensors')), size);
    return new StreamedConversion(streamedCheckpoint('org/vit', [head], { config }), [head], 'F32', extra);
  };

  const feedAll = (conv: StreamedConversion, b: Uint8Array) => {
    conv.feed('model.safetensors', 0, b);
    return conv.finish();
  };

  it('a truncated download: finish() names the file, the tensor and what to do', async () => {
    const b = bytes();
    const conv = start(b);
    conv.feed('model.safetensors', 0, b.subarray(0, b.byteLength - 100));
    await expectConvertError(() => conv.finish(), ['model.safetensors', 'ended within tensor', 'truncated', 'try again']);
  });

  it('a download of no stated size is held to the size its header implies', async () => {
    const b = bytes();
    const head = b.subarray(0, headSize(b, Number.MAX_SAFE_INTEGER, 'm'));
    expect(impliedSize(head, 'm')).toBe(b.byteLength);
    const conv = start(b, impliedSize(head, 'm'));
    conv.feed('model.safetensors', 0, b);
    expect(Buffer.from(conv.finish()).equals(Buffer.from(feedAll(start(b), b)))).toBe(true);
    await expectConvertError(() => start(b, impliedSize(head, 'm')).feed('model.safetensors', b.byteLength, new Uint8Array(1)), ['more bytes than']);
  });

  it('more bytes than the stated size is refused', async () => {
    const b = bytes();
    const conv = start(b);
    await expectConvertError(() => conv.feed('model.safetensors', 0, new Uint8Array(b.byteLength + 1)), ['model.safetensors', `more bytes than the ${b.byteLength}`]);
  });

  it('a header that lies is refused from the header alone: offsets out of range, overlapping, a size that does not match', async () => {
    const t = (data: number[]) => ({ name: 'a', shape: [data.length], data: Float32Array.from(data) });
    const file = writeSafetensors([t([1, 2]), { ...t([3, 4]), name: 'b' }], {});
    const edit = (f: (h: Record<string, { data_offsets: number[] }>) => void) => {
      const n = Number(new DataView(file.buffer).getBigUint64(0, true));
      const h = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n)));
      f(h);
      const json = new TextEncoder().encode(JSON.stringify(h).padEnd(n, ' '));
      const out = file.slice();
      out.set(json.subarray(0, n), 8);
      return out;
    };
    const head = (b: Uint8Array, size = b.byteLength) => streamFile('x.safetensors', b.subarray(0, headSize(b, size, 'x.safetensors')), size);
    await expectConvertError(() => head(edit((h) => (h.b.data_offsets = [12, 20]))), ['x.safetensors', 'run past the end']);
    await expectConvertError(() => head(edit((h) => (h.b.data_offsets = [4, 12]))), ['x.safetensors', 'overlap']);
    await expectConvertError(() => head(file, file.byteLength - 4), ['x.safetensors', 'run past the end']);
    await expectConvertError(() => head(file, 4), ['x.safetensors', 'too short']);
  });

  it('a NaN in a tensor copied as it is, and in one transposed, is refused naming the tensor', async () => {
    const b = bytes();
    const h = streamFile('m', b.subarray(0, headSize(b, b.byteLength, 'm')), b.byteLength);
    for (const name of ['vit.layernorm.weight', 'vit.encoder.layer.0.intermediate.dense.weight']) {
      const e = h.tensors.get(name)!;
      const bad = b.slice();
      new DataView(bad.buffer).setFloat32(e.begin + 4, NaN, true);
      const conv = start(bad);
      await expectConvertError(() => conv.feed('model.safetensors', 0, bad), [`tensor ${name} holds NaN at flat index 1`]);
    }
  });
});
