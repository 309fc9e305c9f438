import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, imageExtent, RgbaPool } from '../../src/image/decode.js';
import { WebvitError } from '../../src/runtime/errors.js';
import { concatBytes, encodeJpeg, encodePng, PNG_CHANNELS, PNG_DEPTHS, pngRawBytes } from '../helpers/images.js';

const concat = (...parts: Uint8Array[]) => concatBytes(parts);
import { rng } from '../helpers/random.js';

/**
 * Fuzzing the PNG/JPEG front end (decodeImage) with fast-check. Every generated or mutated file
 * must end in a decoded image or a WebvitError BAD_INPUT (one line, naming the file) — never
 * another exception — within TIME_LIMIT_MS, and for PNGs without allocating more than the file
 * could hold. Generated valid PNGs must decode to pngjs's pixels (the reference decoder).
 *
 *   WEBVIT_FUZZ_RUNS=N   cases per property (default 1000: about 7,000 cases, about 10 s
 *                        on 2 cores); the long run: WEBVIT_FUZZ_RUNS=20000
 *   WEBVIT_FUZZ_SEED=S   replay a failure (its seed is printed with it)
 */
const RUNS = Number(process.env.WEBVIT_FUZZ_RUNS ?? 1000);
const SEED = process.env.WEBVIT_FUZZ_SEED === undefined ? (Date.now() ^ (Math.random() * 2 ** 31)) | 0 : Number(process.env.WEBVIT_FUZZ_SEED);
/** Per-case time bound: a decode of up to FUZZ_MAX_PIXELS takes milliseconds; this is for a slow, shared CI machine. */
const TIME_LIMIT_MS = 2000;
/** The pixel limit for the fuzz: a mutated header may claim anything up to it. */
const FUZZ_MAX_PIXELS = 1 << 20;

const ROOT = join(import.meta.dirname, '..', '..');
const IMAGES = join(ROOT, 'test', 'fixtures', 'preprocess', 'images');
const EXAMPLES = join(ROOT, 'examples');

let cases = 0;
/** fc.assert, with the seed to replay it named on failure. */
async function check<T>(name: string, property: fc.IAsyncProperty<T>, runs = RUNS): Promise<void> {
  try {
    await fc.assert(property, { numRuns: runs, seed: SEED, endOnFailure: true });
  } catch (e) {
    throw new Error(`${name}: failed with WEBVIT_FUZZ_SEED=${SEED} WEBVIT_FUZZ_RUNS=${RUNS}\n${(e as Error).message}`, { cause: e });
  }
}

/** A pool that records the largest buffer a decode asked for. */
class SpyPool extends RgbaPool {
  requested = 0;
  override take(bytes: number): Uint8Array {
    this.requested = Math.max(this.requested, bytes);
    return super.take(bytes);
  }
}

/**
 * Decodes `bytes` and checks the outcome: an image within the limit, or a WebvitError BAD_INPUT
 * naming the file on one line; never another exception, never past the time bound; a PNG never
 * asks for more RGBA than its compressed data could expand to (deflate: 1032:1; up to 32 RGBA
 * bytes per raw byte for 1-bit images).
 */
async function decodeChecked(bytes: Uint8Array, maxPixels = FUZZ_MAX_PIXELS): Promise<'ok' | 'refused'> {
  cases++;
  const pool = new SpyPool();
  const t0 = performance.now();
  let outcome: 'ok' | 'refused';
  try {
    const img = await decodeImage(bytes, 'fuzz.img', { maxPixels, pool });
    expect(img.width * img.height).toBeLessThanOrEqual(maxPixels);
    expect(img.rgba.length).toBe(4 * img.width * img.height);
    outcome = 'ok';
  } catch (e) {
    if (!(e instanceof WebvitError)) throw new Error(`not a WebvitError: ${(e as Error)?.stack ?? String(e)}`);
    expect(e.code, e.message).toBe('BAD_INPUT');
    expect(e.message.startsWith('fuzz.img: '), e.message).toBe(true);
    expect(e.message, 'one line').not.toMatch(/\n/);
    outcome = 'refused';
  }
  const ms = performance.now() - t0;
  expect(ms, `decode took ${ms.toFixed(0)} ms`).toBeLessThan(TIME_LIMIT_MS);
  expect(pool.requested, `asked for ${pool.requested} bytes from a ${bytes.length}-byte file`).toBeLessThanOrEqual(Math.min(4 * maxPixels, 32 * (1032 * bytes.length + 1024)));
  return outcome;
}

// ------------------------------------------------------------------------------ generated PNGs

interface GenPng {
  bytes: Uint8Array;
  /** The same image without a grey/RGB tRNS (pngjs would blacken those pixels; PIL and webvit keep them). */
  forPngjs: Uint8Array;
  depth: number;
  colorType: number;
}

/** A random valid PNG: any colour type, bit depth, interlace, size 1–40, random filtered scanlines, IDAT split anywhere. */
const genPng: fc.Arbitrary<GenPng> = fc
  .record({
    colorType: fc.constantFrom(0, 2, 3, 4, 6),
    d: fc.nat(),
    width: fc.integer({ min: 1, max: 40 }),
    height: fc.integer({ min: 1, max: 40 }),
    interlaced: fc.boolean(),
    seed: fc.integer(),
    smooth: fc.boolean(),
    fullPalette: fc.boolean(),
    trns: fc.boolean(),
    idatSize: fc.option(fc.integer({ min: 1, max: 200 })),
    level: fc.integer({ min: 0, max: 9 }),
  })
  .map((g) => {
    const depths = PNG_DEPTHS[g.colorType];
    const depth = depths[g.d % depths.length];
    const r = rng(g.seed);
    const n = pngRawBytes(g.width, g.height, depth, g.colorType, g.interlaced);
    const raw = new Uint8Array(n);
    // Filtered bytes: any bytes are a valid image once each scanline starts with a filter type 0–4.
    // "smooth" images are mostly filter 0 with few levels, so palettes and sub-byte depths see in-range values.
    for (let i = 0; i < n; i++) raw[i] = g.smooth ? Math.floor(r() * 4) : Math.floor(r() * 256);
    const bits = PNG_CHANNELS[g.colorType] * depth;
    const passes = g.interlaced ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] : [[0, 0, 1, 1]];
    let o = 0;
    for (const [x0, y0, dx, dy] of passes) {
      const w = g.width > x0 ? Math.ceil((g.width - x0) / dx) : 0;
      const h = g.height > y0 ? Math.ceil((g.height - y0) / dy) : 0;
      if (!w || !h) continue;
      for (let y = 0; y < h; y++, o += 1 + Math.ceil((w * bits) / 8)) raw[o] = Math.floor(r() * 5);
    }
    const entries = g.colorType === 3 ? (g.fullPalette ? 1 << depth : 1 + Math.floor(r() * (1 << depth))) : 0;
    const palette = entries ? Uint8Array.from({ length: 3 * entries }, () => Math.floor(r() * 256)) : undefined;
    let trns: Uint8Array | undefined;
    if (g.trns && g.colorType === 3) trns = Uint8Array.from({ length: 1 + Math.floor(r() * entries) }, () => Math.floor(r() * 256));
    if (g.trns && (g.colorType === 0 || g.colorType === 2)) trns = Uint8Array.from({ length: g.colorType === 0 ? 2 : 6 }, () => Math.floor(r() * 256));
    const spec = { width: g.width, height: g.height, depth, colorType: g.colorType, interlaced: g.interlaced, raw, palette, trns, idatSize: g.idatSize ?? undefined };
    const deflate = (b: Uint8Array) => deflateSync(b, { level: g.level });
    const keyOnly = g.colorType === 0 || g.colorType === 2;
    return { bytes: encodePng(spec, deflate), forPngjs: keyOnly ? encodePng({ ...spec, trns: undefined }, deflate) : encodePng(spec, deflate), depth, colorType: g.colorType };
  });

/** pngjs's pixels as webvit defines them: 16-bit samples' high byte (pngjs's own rescale rounds instead). */
function pngjsPixels(bytes: Uint8Array, depth: number): Uint8Array | Error {
  try {
    const p = PNG.sync.read(Buffer.from(bytes), { skipRescale: depth === 16 }) as unknown as { data: Uint8Array | Uint16Array };
    return p.data instanceof Uint16Array ? Uint8Array.from(p.data, (v) => v >> 8) : new Uint8Array(p.data);
  } catch (e) {
    return e as Error;
  }
}

// ---------------------------------------------------------------------------------- mutations

/** Interesting 32-bit values for lengths and sizes. */
const U32 = [0, 1, 2, 7, 8, 255, 256, 4096, 10000, 65535, 65536, 0x7fffffff, 0x80000000, 0xffffffff];

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'u32'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'delete'; at: number; n: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'duplicate'; at: number; n: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(0, 0xff, 0x7f, 0x80, 0xd8, 0xd9, 0xda, 0xc0, 0xc2), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ kind: fc.constant('u32' as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(...U32), fc.nat()) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 32 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 256 }) }),
);

function mutate(src: Uint8Array, m: Mutation): Uint8Array {
  if (src.length === 0) return src;
  const at = m.at % src.length;
  const b = src.slice();
  switch (m.kind) {
    case 'flip':
      b[at] ^= 1 << m.bit;
      return b;
    case 'set':
      b[at] = m.value;
      return b;
    case 'u32':
      if (at + 4 <= b.length) new DataView(b.buffer).setUint32(at, m.value >>> 0);
      return b;
    case 'truncate':
      return b.subarray(0, at);
    case 'delete':
      return concat(b.subarray(0, at), b.subarray(at + m.n));
    case 'insert':
      return concat(b.subarray(0, at), Uint8Array.from(m.bytes), b.subarray(at));
    case 'duplicate':
      return concat(b.subarray(0, at + Math.min(m.n, b.length - at)), b.subarray(at));
  }
}

/** Recomputes every PNG chunk's CRC that fits in the file, so mutations reach past the checksum check. */
function fixPngCrcs(b: Uint8Array): Uint8Array {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 8;
  while (o + 12 <= b.length) {
    const len = v.getUint32(o);
    if (len > b.length || o + 12 + len > b.length) break;
    v.setUint32(o + 8 + len, crc32(b.subarray(o + 4, o + 8 + len)));
    o += 12 + len;
  }
  return b;
}

/** Offset of a JPEG's frame header (SOFn marker), or -1. */
function sofOffset(b: Uint8Array): number {
  for (let o = 2; o + 9 < b.length; o++) if (b[o] === 0xff && b[o + 1] >= 0xc0 && b[o + 1] <= 0xc2) return o;
  return -1;
}

// ---------------------------------------------------------------------------------- the corpus

const corpus: { name: string; bytes: Uint8Array }[] = [];

beforeAll(async () => {
  for (const dir of [IMAGES, EXAMPLES]) {
    for (const f of readdirSync(dir).filter((n) => /\.(png|jpe?g)$/i.test(n))) corpus.push({ name: f, bytes: new Uint8Array(readFileSync(join(dir, f))) });
  }
  // JPEGs of the kinds a camera or a tool writes: baseline and progressive, grey, 4:4:4 and 4:2:0, odd sizes.
  const r = rng(SEED);
  const jpegs: [number, number, Parameters<typeof encodeJpeg>[3]][] = [
    [17, 9, { colorSpace: 1 }],
    [33, 21, { progressive: true }],
    [8, 8, { chromaSubsample: 1 }],
    [40, 23, { progressive: true, colorSpace: 1 }],
    [1, 1, {}],
    [64, 3, { quality: 20 }],
  ];
  for (const [w, h, o] of jpegs) {
    const rgba = Uint8Array.from({ length: 4 * w * h }, (_, i) => (i % 4 === 3 ? 255 : Math.floor(128 + 100 * Math.sin(i / 17) + 20 * r())));
    corpus.push({ name: `gen_${w}x${h}_${JSON.stringify(o)}.jpg`, bytes: await encodeJpeg(rgba, w, h, o) });
  }
  // PNGs of every colour type and depth, interlaced or not (those whose palette indices are all in range).
  const samples = fc.sample(genPng, { numRuns: 32, seed: SEED });
  for (const [i, g] of samples.entries()) {
    if (!(pngjsPixels(g.forPngjs, g.depth) instanceof Error)) corpus.push({ name: `gen_${i}_ct${g.colorType}_d${g.depth}.png`, bytes: g.bytes });
  }
  // Every seed decodes as it is (else the mutations would start from a broken file).
  for (const c of corpus) expect(await decodeChecked(c.bytes, Infinity), c.name).toBe('ok');
  console.log(`[fuzz] images: seed ${SEED} (WEBVIT_FUZZ_SEED), ${RUNS} runs per property (WEBVIT_FUZZ_RUNS), corpus of ${corpus.length} files`);
}, 120_000);

const seedFile = () => fc.nat().map((i) => corpus[i % corpus.length]);

describe('fuzz: PNG/JPEG decoding', () => {
  it('generated PNGs (every colour type, bit depth, interlace, IDAT split) decode to pngjs\'s pixels', async () => {
    await check(
      'generated PNGs',
      fc.asyncProperty(genPng, async (g) => {
        const want = pngjsPixels(g.forPngjs, g.depth);
        let got: Uint8Array | WebvitError;
        cases++;
        try {
          got = (await decodeImage(g.bytes, 'gen.png')).rgba;
        } catch (e) {
          if (!(e instanceof WebvitError)) throw e;
          got = e;
        }
        if (want instanceof Error) {
          // pngjs refuses an index past the palette; so does webvit, saying so.
          expect(want.message).toMatch(/not in palette/);
          expect(got instanceof WebvitError && got.message).toMatch(/palette entry \d+, but the palette has \d+/);
          return;
        }
        expect(got).toBeInstanceOf(Uint8Array);
        expect(Buffer.compare(Buffer.from(got as Uint8Array), Buffer.from(want))).toBe(0);
      }),
    );
  });

  it('mutated files (bit flips, bytes, 32-bit values, cuts, deletions, insertions, duplications): an image or a BAD_INPUT, in time', async () => {
    const tally = { ok: 0, refused: 0 };
    await check(
      'mutated files',
      fc.asyncProperty(seedFile(), fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), async (seed, ms, fixCrcs) => {
        let b = seed.bytes;
        for (const m of ms) b = mutate(b, m);
        // Half the PNG cases get valid checksums, so the mutation reaches the decompressor and the scanlines.
        if (fixCrcs && seed.name.endsWith('.png')) b = fixPngCrcs(b.slice());
        tally[await decodeChecked(b)]++;
      }),
      4 * RUNS,
    );
    console.log(`[fuzz] mutated files: ${tally.ok} decoded, ${tally.refused} refused`);
  });

  it('header sizes: any width × height in a PNG IHDR (valid CRC) or a JPEG frame header is refused before allocation or decoded within the limit', async () => {
    const tally = { ok: 0, refused: 0 };
    const size = fc.oneof(fc.constantFrom(0, 1, 2, 7, 8, 9, 255, 1024, 4096, 10000, 65535), fc.integer({ min: 0, max: 65535 }));
    await check(
      'header sizes',
      fc.asyncProperty(seedFile(), size, size, fc.constantFrom(FUZZ_MAX_PIXELS, 100_000_000), fc.nat(), async (seed, w, h, maxPixels, pick) => {
        const b = seed.bytes.slice();
        const v = new DataView(b.buffer);
        if (seed.name.endsWith('.png')) {
          const big = pick % 4 === 0; // sometimes the full 32-bit range
          v.setUint32(16, big ? (w * 65537) >>> 0 : w);
          v.setUint32(20, big ? (h * 65537) >>> 0 : h);
          fixPngCrcs(b);
        } else {
          const o = sofOffset(b);
          if (o < 0) return;
          v.setUint16(o + 5, h);
          v.setUint16(o + 7, w);
        }
        // With the default 100 M limit a file of a few KB must still be refused before a big
        // allocation (the compressed-size bounds) or decode quickly.
        tally[await decodeChecked(b, maxPixels)]++;
      }),
    );
    console.log(`[fuzz] header sizes: ${tally.ok} decoded, ${tally.refused} refused`);
  });

  // The CLI reads an image only up to imageExtent (a PNG's IEND, a JPEG's EOI): what it cuts
  // off must never change the outcome. Mutated files with a tail of random bytes (often an
  // image's own, so markers and chunk headers follow): the cut decodes to the same pixels as the
  // whole, or both are refused.
  it('an image with a tail: the part imageExtent reads decodes as the whole file does', async () => {
    const tally = { same: 0, cut: 0 };
    await check(
      'image extent',
      fc.asyncProperty(seedFile(), fc.array(mutation, { maxLength: 2 }), fc.oneof(fc.uint8Array({ maxLength: 300 }), seedFile().map((f) => f.bytes)), fc.boolean(), async (seed, ms, tail, fixCrcs) => {
        let b = seed.bytes;
        for (const m of ms) b = mutate(b, m);
        if (fixCrcs && seed.name.endsWith('.png')) b = fixPngCrcs(b.slice());
        const whole = concat(b, tail);
        const n = await imageExtent(whole.subarray(0, 65536), whole.byteLength, async (k, at) => whole.slice(at, at + k));
        expect(n).toBeLessThanOrEqual(whole.byteLength);
        tally[n < whole.byteLength ? 'cut' : 'same']++;
        if (n === whole.byteLength) return;
        const outcome = async (x: Uint8Array) => decodeImage(x, 'fuzz.img', { maxPixels: FUZZ_MAX_PIXELS }).then((i) => i.rgba, (e: unknown) => {
          if (!(e instanceof WebvitError)) throw e;
          return 'refused';
        });
        const [a, c] = [await outcome(whole), await outcome(whole.subarray(0, n))];
        cases += 2;
        if (a === 'refused' || c === 'refused') expect(c).toBe(a === 'refused' ? 'refused' : a);
        else expect(Buffer.compare(Buffer.from(c), Buffer.from(a))).toBe(0);
      }),
    );
    console.log(`[fuzz] image extent: ${tally.cut} cut at the image's end, ${tally.same} read whole`);
  });

  it('random bytes behind a PNG or JPEG signature', async () => {
    await check(
      'random bytes',
      fc.asyncProperty(fc.constantFrom([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], [0xff, 0xd8, 0xff], []), fc.uint8Array({ maxLength: 400 }), async (sig, rest) => {
        await decodeChecked(concat(Uint8Array.from(sig), rest));
      }),
    );
    console.log(`[fuzz] images: ${cases} cases in this file`);
  });
});
