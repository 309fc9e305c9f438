import { launchChromium } from '../helpers/chromium.js';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStaticServer } from '../../scripts/static-server.mjs';
import { encodeWeights } from '../../src/model/convert/index.js';
import { quantize, type QuantKind } from '../../src/kernels/matmul/quant.js';
import { declaredWeights } from '../../src/model/weights.js';
import { parseConfig } from '../../src/model/config.js';
import { randomWeights } from '../fuzz/models_helpers.js';
import { freshSeed } from '../helpers/random.js';

// Quantised weight files in the browser bundle (dist/webvit.browser.js, headless Chromium): the
// page's readWeights leaves them to loadWeights, which fetches the on-demand chunk with their
// reader (src/on_demand.ts) and gives the codes and scales of src/kernels/matmul/quant.ts; a
// damaged one is refused by that reader with its message. No GPU work: this is the file format.
const REPO = resolve(import.meta.dirname, '..', '..');
const seed = freshSeed();
const config = parseConfig(
  { image_size: 10, patch_size: 5, num_channels: 3, hidden_size: 24, num_layers: 1, num_heads: 3, mlp_size: 40, num_classes: 7, layer_norm_eps: 1e-6, qkv_bias: true, pooling: 'cls' },
  'awkward',
);
const weights = randomWeights({ config, seed, dtype: 'F32', weightScale: 1 });

let server: { url: string; close: () => Promise<void> };
let browser: Browser;
let page: Page;
type Read = { tensors?: string[]; quant?: Record<string, { kind: string; K: number; N: number; codes: number[]; scales: number[] }>; error?: { name: string; code?: string; message: string } };
const read = (bytes: Uint8Array, how: 'sync' | 'load'): Promise<Read> => page.evaluate(([b, h]) => (window as unknown as { read: (b: number[], h: string) => Promise<Read> }).read(b, h), [Array.from(bytes), how] as const);

beforeAll(async () => {
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO, stdio: 'pipe' });
  server = await startStaticServer({ page: join(import.meta.dirname, 'quant_page.html'), mounts: [['/dist/', join(REPO, 'dist')]] });
  browser = await launchChromium({ webgpu: false });
  page = await browser.newPage();
  await page.goto(server.url);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

it.each(['int8', 'q4'] as QuantKind[])('%s: readWeights asks for loadWeights; loadWeights fetches the reader and gives quant.ts codes', async (kind) => {
  const bytes = encodeWeights(weights, kind);
  const sync = await read(bytes, 'sync');
  // Before any load fetched the reader (the first case) readWeights asks for loadWeights; after, it reads quantised files too.
  if (kind === 'int8') expect(sync.error?.message, `seed ${seed}`).toContain('load with loadWeights');
  else expect(sync.error).toBeUndefined();
  const r = await read(bytes, 'load');
  expect(r.error, `seed ${seed}: ${r.error?.message}`).toBeUndefined();
  for (const [name, d] of declaredWeights(config)) {
    if (!d.matrix) {
      expect(r.tensors).toContain(name);
      continue;
    }
    expect(r.tensors).not.toContain(name);
    const want = quantize(weights.tensors.get(name)!, d.shape[0], d.shape[1], kind);
    const got = r.quant![name];
    expect([got.kind, got.K, got.N]).toEqual([kind, d.shape[0], d.shape[1]]);
    expect(got.codes, `seed ${seed}: ${name}`).toEqual(Array.from(want.codes));
    expect(got.scales, `seed ${seed}: ${name}`).toEqual(Array.from(want.scales));
  }
  expect((await read(bytes, 'sync')).quant).toEqual(r.quant);
});

it('a damaged quantised file is refused by the reader, with its message', async () => {
  const bytes = encodeWeights(weights, 'q4');
  // "webvit.quant": "q4" -> "int8": the U8 codes no longer fit the marker (same header length).
  const text = new TextDecoder().decode(bytes.subarray(0, 4096));
  const at = text.indexOf('"webvit.quant":"q4"');
  expect(at).toBeGreaterThan(0);
  const bad = bytes.slice();
  bad.set(new TextEncoder().encode('"webvit.quant":"i8"'), at);
  const r = await read(bad, 'load');
  expect(r.error?.code).toBe('BAD_WEIGHTS');
  expect(r.error?.message).toContain('"webvit.quant"] must be "int8" or "q4", got "i8"');
});
