import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeImage, RgbaPool } from '../../src/image/decode.js';
import { JPEG_SCANS_PER_PIXEL, MAX_JPEG_SCANS } from '../../src/image/jpeg.js';
import { expectWebvitError } from '../helpers/errors.js';
import { concatBytes, encodeJpeg, encodePng, jpegWithHeader, pngChunk, pngRawBytes, PNG_SIGNATURE, pngWithHeader } from '../helpers/images.js';
import { MAX_PNG_CHUNKS } from '../../src/image/png.js';

// Decoding errors: each is a WebvitError (BAD_INPUT) with one line naming the file and the
// problem. That decoded pixels equal PIL's is tested against the fixtures in
// test/kernels/preprocess.test.ts (SHA-256 of PIL's convert('RGB') and convert('L')).

const IMAGES = join(import.meta.dirname, '..', 'fixtures', 'preprocess', 'images');
const read = (name: string) => new Uint8Array(readFileSync(join(IMAGES, name)));

describe('decodeImage', () => {
  it('reads PNG and JPEG flavours with their sizes', async () => {
    for (const [name, w, h, kind] of [
      ['coffee_rgb16.png', 96, 64, 'PNG 16-bit RGB'],
      ['chelsea_palette.png', 150, 100, 'PNG 8-bit palette'],
      ['camera_gray16.png', 64, 80, 'PNG 16-bit grey'],
      ['gray2bit.png', 33, 20, 'PNG 2-bit grey'],
      ['camera_gray.jpg', 200, 150, 'JPEG baseline, 1 component'],
      ['rocket_progressive.jpg', 200, 133, 'JPEG progressive, 3 components'],
    ] as const) {
      const img = await decodeImage(read(name), name);
      expect([img.width, img.height, img.kind, img.rgba.length]).toEqual([w, h, kind, w * h * 4]);
    }
  });

  it('returns pixels it owns (a later decode does not overwrite an earlier one)', async () => {
    const a = await decodeImage(read('astronaut_300.jpg'), 'a');
    const copy = a.rgba.slice();
    await decodeImage(read('rocket_progressive.jpg'), 'b');
    await decodeImage(read('camera_gray.jpg'), 'c');
    expect(Buffer.compare(Buffer.from(a.rgba), Buffer.from(copy))).toBe(0);
  });

  it('not an image: names the file and what it is', async () => {
    await expectWebvitError(() => decodeImage(new TextEncoder().encode('# README\nhello'), 'notes.png'), 'BAD_INPUT', ['notes.png', 'not a PNG or JPEG image', '23 20 52 45']);
    await expectWebvitError(() => decodeImage(new TextEncoder().encode('GIF89a....'), 'x.gif'), 'BAD_INPUT', ['x.gif', 'is a GIF image', 'PNG and JPEG images only']);
    await expectWebvitError(() => decodeImage(new Uint8Array(0), 'empty.jpg'), 'BAD_INPUT', ['empty.jpg', 'empty']);
  });

  it('truncated and corrupt PNGs', async () => {
    const png = read('coffee_173x115.png');
    await expectWebvitError(() => decodeImage(png.subarray(0, png.length >> 1), 'half.png'), 'BAD_INPUT', ['half.png', 'truncated PNG']);
    await expectWebvitError(() => decodeImage(png.subarray(0, 20), 'head.png'), 'BAD_INPUT', ['head.png', 'truncated or corrupt PNG']);
    const flipped = png.slice();
    flipped[200] ^= 0xff; // inside the first IDAT: CRC mismatch
    await expectWebvitError(() => decodeImage(flipped, 'flipped.png'), 'BAD_INPUT', ['flipped.png', 'corrupt PNG 8-bit RGB']);
    // Valid chunks, but the compressed data does not hold the rows the header promises.
    const short = pngWithHeader(50, 40, deflateSync(new Uint8Array(10 * (1 + 50 * 3))));
    await expectWebvitError(() => decodeImage(short, 'short.png'), 'BAD_INPUT', ['short.png', 'corrupt PNG 8-bit RGB']);
  });

  it('truncated and corrupt JPEGs (an error, as in PIL; libjpeg alone would pad with grey)', async () => {
    const jpg = read('astronaut_300.jpg');
    await expectWebvitError(() => decodeImage(jpg.subarray(0, Math.floor(jpg.length * 0.6)), 'cut.jpg'), 'BAD_INPUT', ['cut.jpg', 'truncated JPEG', 'Premature end']);
    await expectWebvitError(() => decodeImage(jpg.subarray(0, 100), 'stub.jpg'), 'BAD_INPUT', ['stub.jpg', 'JPEG']);
    const garbled = jpg.slice();
    for (let i = 0; i < 400; i++) garbled[300 + i] = 0xff; // quantisation/Huffman tables
    await expectWebvitError(() => decodeImage(garbled, 'garbled.jpg'), 'BAD_INPUT', ['garbled.jpg', 'JPEG']);
    // The decoder is usable after a fatal error.
    expect((await decodeImage(jpg, 'ok.jpg')).width).toBe(300);
  });

  it('refuses images above the pixel limit before decompressing anything (decompression bombs)', async () => {
    await expectWebvitError(() => decodeImage(pngWithHeader(30000, 30000), 'bomb.png'), 'BAD_INPUT', ['bomb.png', '30000×30000 = 900,000,000 pixels', 'limit of 100,000,000 pixels', '--max-pixels']);
    await expectWebvitError(() => decodeImage(jpegWithHeader(65000, 65000), 'bomb.jpg'), 'BAD_INPUT', ['bomb.jpg', '65000×65000 = 4,225,000,000 pixels']);
    await expectWebvitError(() => decodeImage(pngWithHeader(0, 10), 'zero.png'), 'BAD_INPUT', ['zero.png', '0×10']);
  });

  it('states pixel counts exactly at every scale (a limit of 100 is not "0.0 megapixels")', async () => {
    const coffee = read('coffee_173x115.png');
    await expectWebvitError(() => decodeImage(coffee, 'c.png', { maxPixels: 10_000 }), 'BAD_INPUT', ['c.png', '173×115 = 19,895 pixels, above the limit of 10,000 pixels']);
    await expectWebvitError(() => decodeImage(coffee, 'c.png', { maxPixels: 100 }), 'BAD_INPUT', ['173×115 = 19,895 pixels, above the limit of 100 pixels']);
    await expectWebvitError(() => decodeImage(coffee, 'c.png', { maxPixels: 1 }), 'BAD_INPUT', ['above the limit of 1 pixel ']);
    await expectWebvitError(() => decodeImage(pngWithHeader(10000, 10001), 'big.png'), 'BAD_INPUT', ['10000×10001 = 100,010,000 pixels, above the limit of 100,000,000 pixels']);
    expect((await decodeImage(coffee, 'c.png', { maxPixels: 173 * 115 })).width).toBe(173); // the limit itself is allowed
    await expectWebvitError(() => decodeImage(coffee, 'c.png', { maxPixels: 0 }), 'BAD_ARGUMENT', ['maxPixels', 'got 0']);
    await expectWebvitError(() => decodeImage(coffee, 'c.png', { maxPixels: NaN }), 'BAD_ARGUMENT', ['maxPixels', 'got NaN']);
  });

  it('a small file whose header claims a large size is refused before the pixels are allocated (PNG, baseline and progressive JPEG)', async () => {
    // 10000 × 10000 is within the default limit; a file this small cannot hold it.
    const pool = new (class extends RgbaPool {
      asked = 0;
      override take(bytes: number) {
        this.asked += bytes;
        return super.take(bytes);
      }
    })();
    const png = pngWithHeader(10000, 10000, deflateSync(new Uint8Array(5000)));
    await expectWebvitError(() => decodeImage(png, 'claims.png', { pool }), 'BAD_INPUT', ['claims.png', 'compressed image data cannot hold the 300010000 bytes its 10000×10000 header promises', '1032:1']);
    expect(pool.asked).toBe(0);
    const rgba = new Uint8Array(33 * 21 * 4).fill(128);
    for (const progressive of [false, true]) {
      const jpg = await encodeJpeg(rgba, 33, 21, { progressive });
      const sof = jpg.findIndex((b, i) => b === 0xff && jpg[i + 1] === (progressive ? 0xc2 : 0xc0));
      new DataView(jpg.buffer).setUint16(sof + 5, 10000);
      new DataView(jpg.buffer).setUint16(sof + 7, 10000);
      const t0 = performance.now();
      await expectWebvitError(() => decodeImage(jpg, 'claims.jpg'), 'BAD_INPUT', ['claims.jpg', `${jpg.length} bytes cannot hold the 10000×10000 pixels`, progressive ? 'at least 1 bit per 8×8 block' : 'at least 2 bits per 8×8 block']);
      expect(performance.now() - t0).toBeLessThan(200); // was seconds (and a gigabyte) for the progressive one
    }
    // A progressive JPEG must have a DC scan for each component (libjpeg would fill it with grey).
    const prog = await encodeJpeg(rgba, 33, 21, { progressive: true });
    const sos = prog.findIndex((b, i) => b === 0xff && prog[i + 1] === 0xda);
    prog[sos + 5 + 2 * prog[sos + 4]] = 1; // the first scan (DC) now starts at coefficient 1
    await expectWebvitError(() => decodeImage(prog, 'nodc.jpg'), 'BAD_INPUT', ['nodc.jpg', 'components 1, 2, 3 have no DC scan']);
  });

  it('PNG: interlaced, every bit depth and palette index checks (the decoder streams scanlines; its pixels are pngjs\'s and PIL\'s, see test/fuzz/images.test.ts)', async () => {
    // A 3×2 2-bit palette image whose second row uses an entry past its 3-entry palette.
    const raw = Uint8Array.from([0, 0b00011000, 0, 0b11000000]);
    const pal = encodePng({ width: 3, height: 2, depth: 2, colorType: 3, raw, palette: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]) }, (b) => deflateSync(b));
    await expectWebvitError(() => decodeImage(pal, 'pal.png'), 'BAD_INPUT', ['pal.png', 'PNG 2-bit palette', 'palette entry 3, but the palette has 3']);
    // Filter type 5 does not exist.
    const bad = encodePng({ width: 2, height: 1, depth: 8, colorType: 0, raw: Uint8Array.from([5, 1, 2]) }, (b) => deflateSync(b));
    await expectWebvitError(() => decodeImage(bad, 'f5.png'), 'BAD_INPUT', ['f5.png', 'scanline 0 has filter type 5']);
    // Interlaced 16-bit RGBA of 3×3 (Adam7 passes 1, 4, 5, 6 and 7 are non-empty), all zero.
    const inter = encodePng({ width: 3, height: 3, depth: 16, colorType: 6, interlaced: true, raw: new Uint8Array(pngRawBytes(3, 3, 16, 6, true)) }, (b) => deflateSync(b));
    const img = await decodeImage(inter, 'i.png');
    expect([img.width, img.height, img.kind]).toEqual([3, 3, 'PNG 16-bit RGBA']);
    expect(img.rgba.every((v) => v === 0)).toBe(true);
  });

  it('JPEG scan bombs: too many scans, or scans × pixels above the bound, are refused before decoding', async () => {
    // A real progressive JPEG (mozjpeg) with its last scan, an AC refinement, repeated: each copy
    // makes libjpeg pass over every block again (the 0.6 MB file with 2000 copies at
    // 8000 × 8000 decoded for over 150 s).
    const w = 256;
    const rgba = new Uint8Array(w * w * 4).map((_, i) => (i * 7919 + (i >> 10) * 31) % 251);
    const prog = await encodeJpeg(rgba, w, w, { progressive: true });
    const base = scansOf(prog);
    expect(base.length).toBeGreaterThan(1);
    expect(base.length).toBeLessThan(12);
    const plain = await decodeImage(prog, 'ok.jpg');
    // Repeated scans under both bounds still decode (libjpeg only warns about the odd progression).
    const some = withRepeatedLastScan(prog, 20);
    expect(scansOf(some).length).toBe(base.length + 20);
    expect((await decodeImage(some, 'some.jpg')).width).toBe(plain.width);

    const bomb = withRepeatedLastScan(prog, 2000);
    const n = base.length + 2000;
    const t0 = performance.now();
    await expectWebvitError(() => decodeImage(bomb, 'bomb.jpg'), 'BAD_INPUT', ['bomb.jpg', 'JPEG progressive', `has ${n} scans, above the limit of ${MAX_JPEG_SCANS}`, 're-encode it']);
    expect(performance.now() - t0).toBeLessThan(500); // a walk over the markers; decoding it took seconds
    const atLimit = withRepeatedLastScan(prog, MAX_JPEG_SCANS - base.length);
    const over = withRepeatedLastScan(prog, MAX_JPEG_SCANS - base.length + 1);
    await expect(decodeImage(atLimit, 'at.jpg', { maxPixels: 10 * w * w })).resolves.toMatchObject({ width: w });
    await expectWebvitError(() => decodeImage(over, 'over.jpg', { maxPixels: 10 * w * w }), 'BAD_INPUT', ['over.jpg', `has ${MAX_JPEG_SCANS + 1} scans, above the limit of ${MAX_JPEG_SCANS}`]);

    // Work per pixel: scans × pixels against JPEG_SCANS_PER_PIXEL × the pixel limit (so a large
    // image gets fewer scans than a small one). With the limit at this image's size:
    const k = JPEG_SCANS_PER_PIXEL;
    const fits = withRepeatedLastScan(prog, k - base.length);
    expect((await decodeImage(fits, 'fits.jpg', { maxPixels: w * w })).width).toBe(w);
    const heavy = withRepeatedLastScan(prog, k - base.length + 1);
    await expectWebvitError(() => decodeImage(heavy, 'heavy.jpg', { maxPixels: w * w }), 'BAD_INPUT', [
      'heavy.jpg',
      `has ${k + 1} scans of 256×256 = 65,536 pixels: ${(((k + 1) * w * w).toLocaleString('en-US'))} pixel-scans, above the limit of ${(k * w * w).toLocaleString('en-US')}`,
      `${k} scans per pixel at the limit of 65,536 pixels`,
      '--max-pixels',
    ]);
    expect((await decodeImage(heavy, 'heavy.jpg', { maxPixels: 2 * w * w })).width).toBe(w); // a higher limit admits it
  });

  it('PNG chunk bombs: millions of empty IDAT chunks are refused at once; many tiny ones decode in linear time', async () => {
    // Issue 17: a 2000×2000 grey PNG after 2,000,000 empty IDAT chunks (24 MB) took 48 s and
    // 680 MB (one zlib write per chunk). A 2000×2000 grey image: 4,002,000 filtered bytes.
    const [w, h] = [2000, 2000];
    const z = deflateSync(new Uint8Array(h * (1 + w)), { level: 9 });
    const ihdr = new Uint8Array(13);
    new DataView(ihdr.buffer).setUint32(0, w);
    new DataView(ihdr.buffer).setUint32(4, h);
    ihdr.set([8, 0, 0, 0, 0], 8);
    /** The image with `parts` (IDAT payloads) for its data, each chunk `repeat` times when given. */
    const png = (parts: Uint8Array[], emptyBefore = 0) => {
      const empty = pngChunk('IDAT', new Uint8Array(0));
      const head = concatBytes([PNG_SIGNATURE, pngChunk('IHDR', ihdr)]);
      const data = concatBytes(parts.map((p) => pngChunk('IDAT', p)));
      const tail = concatBytes([pngChunk('IEND', new Uint8Array(0))]);
      const out = new Uint8Array(head.length + emptyBefore * empty.length + data.length + tail.length);
      out.set(head, 0);
      for (let i = 0; i < emptyBefore; i++) out.set(empty, head.length + i * empty.length);
      out.set(data, head.length + emptyBefore * empty.length);
      out.set(tail, out.length - tail.length);
      return out;
    };
    let t0 = Date.now();
    await expectWebvitError(() => decodeImage(png([z], 2_000_000), 'idat.png'), 'BAD_INPUT', ['idat.png', `has more than ${MAX_PNG_CHUNKS} chunks`, 'decoding-time bomb']);
    expect(Date.now() - t0, 'refused within 3 s').toBeLessThan(3000);
    // Just under the bound: empty chunks, then the data one byte per chunk.
    const bytes = Array.from(z, (_, i) => z.subarray(i, i + 1));
    t0 = Date.now();
    const img = await decodeImage(png(bytes, MAX_PNG_CHUNKS - bytes.length - 2), 'tiny_chunks.png');
    expect([img.width, img.height, img.rgba[4 * 1234 + 1]]).toEqual([w, h, 0]);
    expect(Date.now() - t0, 'decoded within 5 s').toBeLessThan(5000);
  }, 30_000);

  it('takes an ArrayBuffer or any view of one; anything else is BAD_ARGUMENT naming what was given', async () => {
    // Issue 17: decodeImage(arrayBuffer, 'x') and decodeImage('abc', 'x') ended in a raw TypeError.
    const png = read('chelsea_palette.png');
    const copy = png.slice();
    const inBig = new Uint8Array(png.length + 8);
    inBig.set(png, 8);
    for (const input of [copy.buffer, new DataView(inBig.buffer, 8, png.length), Buffer.from(png), new Uint8Array(inBig.buffer, 8, png.length), new Int8Array(copy.buffer)]) {
      expect((await decodeImage(input, 'x.png')).width).toBe(150);
    }
    for (const [bad, say] of [
      ['abc', 'got a string of 3 characters'],
      [null, 'got null'],
      [undefined, 'got undefined'],
      [42, 'got a number'],
      [[137, 80, 78, 71], 'got an Array'],
      [{ byteLength: 4 }, 'got an Object'],
    ] as const) {
      await expectWebvitError(() => decodeImage(bad as unknown as Uint8Array, 'x'), 'BAD_ARGUMENT', ['decodeImage: bytes must be', 'ArrayBuffer', say]);
    }
    await expectWebvitError(() => decodeImage(png, 7 as unknown as string), 'BAD_ARGUMENT', ['decodeImage: source must be a string', 'got a number']);
    // A transferred (detached) buffer, or a view of one: raw TypeError / "is empty" before.
    const gone = new Uint8Array(png); // a copy with its own buffer
    structuredClone(gone.buffer, { transfer: [gone.buffer] });
    await expectWebvitError(() => decodeImage(gone.buffer, 'x.png'), 'BAD_ARGUMENT', ['decodeImage', 'detached', 'transferred']);
    await expectWebvitError(() => decodeImage(gone, 'x.png'), 'BAD_ARGUMENT', ['decodeImage', 'detached', 'transferred']);
  });

  it('CMYK JPEGs are refused clearly', async () => {
    await expectWebvitError(() => decodeImage(jpegWithHeader(10, 10, 4), 'cmyk.jpg'), 'BAD_INPUT', ['cmyk.jpg', 'CMYK JPEG']);
  });
});

/** [start, end) of each scan (its SOS segment and entropy-coded data) of a JPEG. */
function scansOf(b: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  let o = 2;
  while (o + 4 <= b.length && b[o + 1] !== 0xd9) {
    const start = o;
    o += 2 + ((b[o + 2] << 8) | b[o + 3]);
    if (b[start + 1] !== 0xda) continue;
    while (!(b[o] === 0xff && b[o + 1] !== 0 && (b[o + 1] < 0xd0 || b[o + 1] > 0xd7))) o++;
    out.push([start, o]);
  }
  return out;
}

/** The JPEG with its last scan repeated `times` more times, right after it. */
function withRepeatedLastScan(b: Uint8Array, times: number): Uint8Array {
  const [s, e] = scansOf(b).at(-1)!;
  const parts = [b.subarray(0, e), ...Array.from({ length: times }, () => b.subarray(s, e)), b.subarray(e)];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('an arithmetic-coded JPEG (hostile run, round 5)', () => {
  it('is refused as what it is, with the way out (it was called corrupt)', async () => {
    const jpeg = read('astronaut_300.jpg').slice();
    // The frame marker SOF0 (0xFFC0) becomes SOF9, arithmetic coding, sequential.
    let at = -1;
    for (let i = 2; i + 1 < jpeg.length; i++) {
      if (jpeg[i] === 0xff && (jpeg[i + 1] === 0xc0 || jpeg[i + 1] === 0xc2)) {
        at = i;
        break;
      }
    }
    expect(at).toBeGreaterThan(0);
    jpeg[at + 1] = 0xc9;
    await expectWebvitError(() => decodeImage(jpeg, 'arith.jpg'), 'BAD_INPUT', ['arith.jpg', 'arithmetic-coded JPEG (SOF9)', 're-encode it']);
    // Lossless (SOF3) and hierarchical (SOF5) too (round twelve: they read as "corrupt").
    jpeg[at + 1] = 0xc3;
    await expectWebvitError(() => decodeImage(jpeg, 'lossless.jpg'), 'BAD_INPUT', ['lossless.jpg', 'lossless JPEG (SOF3)', 're-encode it']);
    jpeg[at + 1] = 0xc5;
    await expectWebvitError(() => decodeImage(jpeg, 'hier.jpg'), 'BAD_INPUT', ['hier.jpg', 'hierarchical JPEG (SOF5)', 're-encode it']);
  });
});

describe('messages of round 5', () => {
  it('a header of 2147483647 × 2147483647 pixels states the exact count (a double rounded it)', async () => {
    await expectWebvitError(() => decodeImage(pngWithHeader(2147483647, 2147483647), 'huge.png'), 'BAD_INPUT', ['2147483647×2147483647 = 4,611,686,014,132,420,609 pixels']);
  });
  it('a JPEG that is only its start marker is called truncated (it was "not a PNG or JPEG")', async () => {
    await expectWebvitError(() => decodeImage(new Uint8Array([0xff, 0xd8]), 'two.jpg'), 'BAD_INPUT', ['two.jpg: is a truncated JPEG (2 bytes']);
  });
});
