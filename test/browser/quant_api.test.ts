import { launchChromium, openPage } from '../helpers/chromium.js';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStaticServer } from '../../scripts/static-server.mjs';
import { decodeImage } from '../../src/image/decode.js';
import { createImageClassifier } from '../../src/node.js';
import type { Classification } from '../../src/web/types.js';

// int8 and q4 weight files through the web API in headless Chromium (WebGPU on SwiftShader), on
// the page and with `worker: true`: files made at test time by the converter (`webvit convert
// models/fashion-mnist/model.safetensors --dtype int8|q4`, dist/cli.js) into a temporary folder
// served to the page, classified there, and compared with Node's createImageClassifier (src/node.ts,
// Dawn) on the same file: the same top-5 classes in the same order, probabilities within 1e-4 (the
// rule of test/browser/api.test.ts: another GPU, another rounding). A damaged quantised file is
// refused with BAD_WEIGHTS. The page is test/browser/api_page.html (its apiCreate takes the model).
const REPO = resolve(import.meta.dirname, '..', '..');
const MODEL_PATH = join(REPO, 'models', 'fashion-mnist', 'model.safetensors');
const EXAMPLES = readdirSync(join(REPO, 'examples')).filter((f) => f.endsWith('.png')).sort();
const SCORE_TOL = 1e-4;
const GEN = mkdtempSync(join(tmpdir(), 'webvit-quant-api-'));
const KINDS = ['int8', 'q4'] as const;

let server: { url: string; close: () => Promise<void> } | undefined;
let browser: Browser | undefined;
let page: Page;
const log: string[] = [];
/** Node's top-5 per quantised file and example. */
const reference = new Map<string, Map<string, Classification[]>>();

type Failure = { error: { name: string; code?: string; message: string } };
const evaluate = (fn: string, ...args: unknown[]): Promise<unknown> =>
  page.evaluate(([f, a]) => (window as unknown as Record<string, (...x: unknown[]) => Promise<unknown>>)[f as string](...(a as unknown[])), [fn, args] as const);
async function call<T>(fn: string, ...args: unknown[]): Promise<T> {
  const r = await evaluate(fn, ...args);
  if (r && typeof r === 'object' && 'error' in r) throw new Error(`${fn}: ${JSON.stringify((r as Failure).error)}\n${log.slice(-30).join('\n')}`);
  return r as T;
}

function expectLikeNode(got: Classification[], kind: string, file: string, what: string): void {
  const ref = reference.get(kind)!.get(file)!;
  expect(got.map((c) => c.index), `${what}: ${file}`).toEqual(ref.slice(0, got.length).map((c) => c.index));
  expect(got.map((c) => c.label), `${what}: ${file}`).toEqual(ref.slice(0, got.length).map((c) => c.label));
  got.forEach((c, i) => expect(Math.abs(c.score - ref[i].score), `${what}: ${file}, class ${c.index}`).toBeLessThanOrEqual(SCORE_TOL));
}

beforeAll(async () => {
  if (!existsSync(join(REPO, 'dist', 'cli.js')) || !existsSync(join(REPO, 'dist', 'webvit.worker.js'))) throw new Error('dist/ is incomplete: run `npm run build` first');
  for (const kind of ['f32', ...KINDS]) {
    const out = kind === 'f32' ? MODEL_PATH : join(GEN, `${kind}.safetensors`);
    if (kind !== 'f32') execFileSync(process.execPath, [join(REPO, 'dist', 'cli.js'), 'convert', MODEL_PATH, '-o', out, '--dtype', kind], { cwd: REPO, stdio: 'pipe' });
    const clf = await createImageClassifier({ model: out });
    const refs = new Map<string, Classification[]>();
    for (const f of EXAMPLES) {
      const d = await decodeImage(new Uint8Array(readFileSync(join(REPO, 'examples', f))), f);
      refs.set(f, await clf.classify({ data: d.rgba, width: d.width, height: d.height }, { topK: 5 }));
    }
    await clf.dispose();
    reference.set(kind, refs);
  }
  // The comparison has teeth: q4's probabilities are further from f32's than the tolerance.
  const gap = Math.max(...EXAMPLES.map((f) => Math.abs(reference.get('q4')!.get(f)![0].score - reference.get('f32')!.get(f)![0].score)));
  if (!(gap > SCORE_TOL)) throw new Error(`q4's top-1 probabilities are within ${SCORE_TOL} of f32's (${gap}): the test could not tell them apart`);
  // Damaged q4 files: the marker names no kind; the last byte of the codes cut off.
  const q4 = new Uint8Array(readFileSync(join(GEN, 'q4.safetensors')));
  const text = new TextDecoder().decode(q4.subarray(0, 8192));
  const at = text.indexOf('"webvit.quant":"q4"');
  if (at < 0) throw new Error('the converted q4 file has no "webvit.quant":"q4" marker');
  const marker = q4.slice();
  marker.set(new TextEncoder().encode('"webvit.quant":"i8"'), at);
  writeFileSync(join(GEN, 'bad-marker.safetensors'), marker);
  writeFileSync(join(GEN, 'bad-short.safetensors'), q4.subarray(0, q4.byteLength - 1));

  server = await startStaticServer({
    page: join(import.meta.dirname, 'api_page.html'),
    mounts: [
      ['/dist/', join(REPO, 'dist')],
      ['/examples/', join(REPO, 'examples')],
      ['/models/', join(REPO, 'models')],
      ['/gen/', GEN],
    ],
  });
  browser = await launchChromium();
  page = await openPage(browser, `${server.url}/`, log, { ready: 'apiReady' });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(GEN, { recursive: true, force: true });
});

describe('int8 and q4 files through createImageClassifier in Chromium (SwiftShader)', () => {
  for (const kind of KINDS) {
    for (const worker of [false, true]) {
      it(`${kind}, ${worker ? 'in a worker' : 'on the page'}: Node's top-5 for the same file`, async () => {
        const c = await call<{ worker: boolean }>('apiCreate', { model: `/gen/${kind}.safetensors`, worker });
        expect(c.worker).toBe(worker);
        const r = await call<{ singles: Classification[][]; batch: Classification[][] }>('apiClassify', EXAMPLES, 'url');
        EXAMPLES.forEach((f, i) => {
          expectLikeNode(r.singles[i], kind, f, `${kind} ${worker ? 'worker' : 'page'}`);
          expectLikeNode(r.batch[i], kind, f, `${kind} ${worker ? 'worker' : 'page'} (array)`);
        });
      }, 180_000);
    }
  }

  for (const worker of [false, true]) {
    it(`a damaged q4 file is refused with BAD_WEIGHTS, ${worker ? 'in a worker' : 'on the page'}`, async () => {
      const marker = (await evaluate('apiCreate', { model: '/gen/bad-marker.safetensors', worker })) as Failure;
      expect(marker.error, JSON.stringify(marker)).toMatchObject({ name: 'WebvitError', code: 'BAD_WEIGHTS' });
      expect(marker.error.message).toContain('"webvit.quant"] must be "int8" or "q4", got "i8"');
      const short = (await evaluate('apiCreate', { model: '/gen/bad-short.safetensors', worker })) as Failure;
      expect(short.error, JSON.stringify(short)).toMatchObject({ name: 'WebvitError', code: 'BAD_WEIGHTS' });
      // The page still works after a refusal.
      await call('apiCreate', { model: '/gen/int8.safetensors', worker });
      const r = await call<{ singles: Classification[][] }>('apiClassify', EXAMPLES.slice(0, 1), 'url');
      expectLikeNode(r.singles[0], 'int8', EXAMPLES[0], 'after a refusal');
    }, 120_000);
  }
});
