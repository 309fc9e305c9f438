import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebvitError } from '../../src/errors.js';
import { hubEnv, type HubEnv } from '../../src/hub/node_cache.js';
import { fetchCheckpoint, hubModelFile } from '../../src/hub/node_model.js';
import { parseModelId, looksLikeModelId, resolveUrl } from '../../src/hub/id.js';
import { readWeights } from '../../src/model/weights.js';
import { FIXTURE_COMMITS, GATED_TOKEN, hubRepoFixtures } from '../helpers/hub_repos.js';
import { prefillHfCache, startHubStandIn, type HubStandIn } from '../helpers/hub_stand_in.js';

// Model ids in Node (docs/model-ids.md) against the local Hub stand-in (test/helpers/hub_stand_in.ts,
// the Hub's resolve protocol as huggingface_hub reads it): the Hugging Face cache as huggingface_hub
// lays it out, webvit's converted-model cache, resume, retries, hashes, tokens and every error.

const ROOT = join(import.meta.dirname, '..', '..');
const TINY = 'webvit-test/vit-tiny';
let hub: HubStandIn;
let tmp: string;
let n = 0;

beforeAll(async () => {
  hub = await startHubStandIn(await hubRepoFixtures(), { stallMs: 20_000 });
  tmp = mkdtempSync(join(tmpdir(), 'webvit-hub-'));
});
afterAll(async () => {
  await hub?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});
afterEach(() => hub.setFaults([]));

/** A fresh pair of caches (Hugging Face's and webvit's) and the environment that names them. */
function fresh(extra: Record<string, string> = {}): { env: Record<string, string | undefined>; hf: string; wv: string } {
  const dir = join(tmp, `run${n++}`);
  const env = { HF_HUB_CACHE: join(dir, 'hf'), WEBVIT_CACHE_DIR: join(dir, 'wv'), HF_ENDPOINT: hub.url, HF_HOME: join(dir, 'home'), HF_HUB_DOWNLOAD_TIMEOUT: '5', ...extra };
  return { env, hf: env.HF_HUB_CACHE, wv: env.WEBVIT_CACHE_DIR };
}
const opts = async (env: Record<string, string | undefined>) => ({ env: await hubEnv(env), backoffMs: () => 0 });
const model = async (id: string, env: Record<string, string | undefined>, o: { revision?: string; dtype?: 'f32' | 'f16' | 'int8' | 'q4' } = {}) =>
  hubModelFile(id, { ...o, env: await hubEnv(env), webvitCache: env.WEBVIT_CACHE_DIR, backoffMs: () => 0 });
const requestsSince = (k: number) => hub.requests.slice(k);
async function failure(p: Promise<unknown>): Promise<WebvitError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, 'expected a rejection').toBeInstanceOf(WebvitError);
  return e as WebvitError;
}

describe('model ids', () => {
  it('parses org/name, @revision and hf:, and refuses what the Hub would', () => {
    expect(parseModelId('google/vit-base-patch16-224')).toEqual({ id: 'google/vit-base-patch16-224', revision: undefined, forced: false });
    expect(parseModelId('hf:org/m@refs/pr/1')).toEqual({ id: 'org/m', revision: 'refs/pr/1', forced: true });
    expect(parseModelId('hf:bert-base')).toMatchObject({ id: 'bert-base' });
    for (const bad of ['org/a--b', 'org/a..b', 'org/-a', 'a/b/c', 'single', 'org/m.git', `org/${'x'.repeat(97)}`, 'org/m@', 'org/m@a b']) {
      expect(() => parseModelId(bad), bad).toThrow(/model id/);
    }
    expect(looksLikeModelId('google/vit-base-patch16-224')).toBe(true);
    for (const path of ['models/x.safetensors', './org/name', '/abs/path', 'examples', 'a/b/c', 'x/config.json']) expect(looksLikeModelId(path), path).toBe(false);
    expect(resolveUrl('http://h/', 'o/n', 'refs/pr/1', 'sub dir/f.json')).toBe('http://h/o/n/resolve/refs%2Fpr%2F1/sub%20dir/f.json');
  });
});

describe('the Hugging Face cache', () => {
  it('downloads into the layout huggingface_hub writes (blobs, relative snapshot links, refs) and converts once', async () => {
    const { env, hf, wv } = fresh();
    const k = hub.requests.length;
    const r = await model(TINY, env);
    expect(r.cached).toBe(false);
    expect(r.commit).toBe(FIXTURE_COMMITS[TINY]);
    const repo = join(hf, 'models--webvit-test--vit-tiny');
    expect(readFileSync(join(repo, 'refs', 'main'), 'utf8')).toBe(r.commit);
    for (const f of ['config.json', 'preprocessor_config.json', 'model.safetensors']) {
      const link = join(repo, 'snapshots', r.commit, f);
      expect(readlinkSync(link)).toBe(`../../blobs/${hub.etagOf(TINY, f)}`);
    }
    expect(readdirSync(join(repo, 'blobs')).filter((b) => b.endsWith('.incomplete'))).toEqual([]);
    expect(r.path).toBe(join(wv, 'hub', 'models--webvit-test--vit-tiny', r.commit, 'f32.format1.safetensors'));
    // The token-less requests, and none carried Authorization.
    expect(requestsSince(k).every((q) => q.headers.authorization === undefined)).toBe(true);
    // One HEAD of config.json: the one that learnt the commit also described the file.
    expect(requestsSince(k).filter((q) => q.method === 'HEAD' && q.path.endsWith('/config.json'))).toHaveLength(1);
    // A second run: one HEAD (which commit is main?), then the converted file.
    const k2 = hub.requests.length;
    const again = await model(TINY, env);
    expect(again).toMatchObject({ cached: true, path: r.path });
    expect(requestsSince(k2).map((q) => `${q.method} ${q.path}`)).toEqual([`HEAD /${TINY}/resolve/main/config.json`]);
    // With the commit as the revision: no request at all.
    const k3 = hub.requests.length;
    expect(await model(TINY, env, { revision: r.commit })).toMatchObject({ cached: true });
    expect(requestsSince(k3)).toEqual([]);
  });

  it('the converted model is the one `webvit convert` writes from the same files (same tensors, bit for bit), and f16 on request', async () => {
    const { env } = fresh();
    const viaHub = readWeights(readFileSync((await model(TINY, env)).path), "test");
    // The local conversion of the repository's own files.
    const { convertCheckpoint } = await import('../../src/model/convert/index.js');
    const { readCheckpoint } = await import('../../src/model/convert/files.js');
    const ck = await fetchCheckpoint(TINY, 'main', await opts(env));
    const direct = convertCheckpoint(await readCheckpoint(ck.dir)).weights;
    expect([...viaHub.tensors.keys()].sort()).toEqual([...direct.tensors.keys()].sort());
    for (const [name, t] of direct.tensors) expect(Buffer.from(viaHub.tensors.get(name)!.buffer).equals(Buffer.from(t.buffer)), name).toBe(true);
    expect(viaHub.config).toEqual(direct.config);
    const half = await model(TINY, env, { dtype: 'f16' });
    expect(half.path.endsWith('f16.format1.safetensors')).toBe(true);
    expect(statSync(half.path).size).toBeLessThan(statSync((await model(TINY, env)).path).size * 0.6);
    // int8 and q4: cached per dtype, the codes those of quantising the same conversion.
    const { loadWeights } = await import('../../src/model/weights.js');
    const { quantize } = await import('../../src/kernels/matmul/quant.js');
    for (const dtype of ['int8', 'q4'] as const) {
      const q = await model(TINY, env, { dtype });
      expect(q.path.endsWith(`${dtype}.format1.safetensors`)).toBe(true);
      const w = await loadWeights(readFileSync(q.path), q.path);
      expect(w.quant!.size).toBeGreaterThan(0);
      for (const [name, m] of w.quant!) expect(Buffer.from(m.codes).equals(Buffer.from(quantize(direct.tensors.get(name)!, m.K, m.N, dtype).codes)), `${dtype} ${name}`).toBe(true);
    }
  });

  it('uses a cache that Python filled, offline (HF_HUB_OFFLINE=1, no server), and says what is missing', async () => {
    const { env, hf } = fresh({ HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:9' });
    await prefillHfCache(hf, hub, TINY, ['config.json', 'preprocessor_config.json', 'model.safetensors']);
    const k = hub.requests.length;
    const r = await model(TINY, env);
    expect(r.commit).toBe(FIXTURE_COMMITS[TINY]);
    expect(readWeights(readFileSync(r.path), "test").config.num_classes).toBe(10);
    expect(hub.requests.length).toBe(k);
    const e = await failure(model('webvit-test/vit-tiny-sharded', env));
    expect(e.code).toBe('NOT_FOUND');
    expect(e.message).toMatch(/vit-tiny-sharded.*not in the Hugging Face cache.*HF_HUB_OFFLINE/);
  });

  it('reads a sharded repository and a timm one (pretrained_cfg as the preprocessing, heads from model_args)', async () => {
    const { env } = fresh();
    const sharded = readWeights(readFileSync((await model('webvit-test/vit-tiny-sharded', env)).path), "test");
    const single = readWeights(readFileSync((await model(TINY, env)).path), "test");
    for (const [name, t] of single.tensors) expect(Buffer.from(sharded.tensors.get(name)!.buffer).equals(Buffer.from(t.buffer)), name).toBe(true);
    const timmFile = readFileSync((await model('timm/vit_tiny_test.augreg_in1k', env)).path);
    const timm = readWeights(timmFile, 'timm');
    expect(timm.config.num_heads).toBe(4);
    const { parseSafetensors } = await import('../../src/model/safetensors.js');
    const pre = JSON.parse(parseSafetensors(timmFile).metadata['webvit.preprocess']);
    const raw = (await hubRepoFixtures()).find((r) => r.id === 'timm/vit_tiny_test.augreg_in1k')!.files['config.json'];
    const cfg = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw)).pretrained_cfg;
    expect(pre).toMatchObject({ crop: cfg.input_size[1], resize: Math.floor(cfg.input_size[1] / cfg.crop_pct), interpolation: cfg.interpolation, mean: cfg.mean, std: cfg.std });
  });
});

describe('transfers', () => {
  it('resumes a broken download with Range from where it stopped', async () => {
    const { env, hf } = fresh();
    hub.setFaults([{ kind: 'truncate', file: `${TINY}/model.safetensors`, afterBytes: 100_000 }]);
    const k = hub.requests.length;
    const r = await model(TINY, env);
    const gets = requestsSince(k).filter((q) => q.server === 'cdn' && q.method === 'GET');
    // The second request resumes where the first broke off: at most the 100,000 bytes sent (a
    // destroyed socket may drop what was still in flight), and not from the start.
    expect(gets).toHaveLength(2);
    expect(gets[0].headers.range).toBeUndefined();
    const from = Number(/^bytes=(\d+)-$/.exec(gets[1].headers.range ?? '')?.[1]);
    expect(from, String(gets[1].headers.range)).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(100_000);
    expect(readWeights(readFileSync(r.path), "test").config.num_classes).toBe(10);
    expect(readdirSync(join(hf, 'models--webvit-test--vit-tiny', 'blobs')).some((b) => b.endsWith('.incomplete'))).toBe(false);
  });

  it('resumes after the process was killed mid-download (a second run continues the .incomplete file)', async () => {
    const { env, hf } = fresh();
    hub.setFaults([{ kind: 'stall', file: `${TINY}/model.safetensors`, afterBytes: 150_000 }]);
    const child = spawn(process.execPath, ['dist/cli.js', 'inspect', TINY], { cwd: ROOT, env: { ...process.env, ...env, CI: '1' }, stdio: 'ignore' });
    const blobs = join(hf, 'models--webvit-test--vit-tiny', 'blobs');
    const incomplete = () => (existsSync(blobs) ? readdirSync(blobs).filter((b) => b.endsWith('.incomplete')) : []);
    const t0 = Date.now();
    while (Date.now() - t0 < 20_000 && !(incomplete().length && statSync(join(blobs, incomplete()[0])).size >= 150_000)) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(statSync(join(blobs, incomplete()[0])).size).toBe(150_000);
    hub.setFaults([]);
    const k = hub.requests.length;
    await model(TINY, env);
    expect(requestsSince(k).filter((q) => q.server === 'cdn' && q.method === 'GET').map((q) => q.headers.range)).toEqual(['bytes=150000-']);
  }, 60_000);

  it('two downloads of one file at once: one downloads, the other waits for it and uses its file (two loads in one process here; the lock is a file, so two processes alike)', async () => {
    const { env, hf } = fresh();
    const k = hub.requests.length;
    const [a, b] = await Promise.all([model(TINY, env), model(TINY, env)]);
    expect(a.path).toBe(b.path);
    expect(readWeights(readFileSync(a.path), 'test').config.num_classes).toBe(10);
    const gets = requestsSince(k).filter((q) => q.server === 'cdn' && q.method === 'GET');
    expect(gets, 'the weights were fetched once').toHaveLength(1);
    const locks = join(hf, '.locks', 'models--webvit-test--vit-tiny');
    expect(existsSync(locks) ? readdirSync(locks) : [], 'no lock left behind').toEqual([]);
  });

  it("a download lock left by a process that died is taken over; one a live process holds is waited for", async () => {
    const { env, hf } = fresh();
    const etag = hub.etagOf(TINY, 'model.safetensors'); // the blob's name
    const locks = join(hf, '.locks', 'models--webvit-test--vit-tiny');
    mkdirSync(locks, { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const lock = join(locks, `${etag}.webvit.lock`);
    writeFileSync(lock, JSON.stringify({ pid: dead, host: hostname(), started: Date.now() }));
    const r = await model(TINY, env);
    expect(readWeights(readFileSync(r.path), 'test').config.num_classes).toBe(10);
    expect(existsSync(lock)).toBe(false);
    // Held by this (live) process: the download waits, then goes on once the lock is gone.
    const again = fresh();
    const lock2 = join(again.hf, '.locks', 'models--webvit-test--vit-tiny', `${etag}.webvit.lock`);
    mkdirSync(dirname(lock2), { recursive: true });
    writeFileSync(lock2, JSON.stringify({ pid: process.pid, host: hostname(), started: Date.now() }));
    // The caller's signal stops the wait.
    const stop = new AbortController();
    const stopped = hubModelFile(TINY, { env: await hubEnv(again.env), webvitCache: again.wv, backoffMs: () => 0, signal: stop.signal });
    setTimeout(() => stop.abort(), 300);
    const e = await failure(stopped);
    expect(e.code).toBe('ABORTED');
    expect(e.message).toMatch(/waiting for another download of model\.safetensors/);
    let done = false;
    const p = model(TINY, again.env).then((x) => ((done = true), x));
    await new Promise((res) => setTimeout(res, 1500));
    expect(done, 'waited for the live holder').toBe(false);
    rmSync(lock2);
    expect(readWeights(readFileSync((await p).path), 'test').config.num_classes).toBe(10);
  }, 30_000);

  it('retries 5xx answers, and a server that ignores Range restarts cleanly', async () => {
    const { env } = fresh();
    hub.setFaults([
      { kind: 'status', file: `${TINY}/config.json`, status: 503, times: 2 },
      { kind: 'truncate', file: `${TINY}/model.safetensors`, afterBytes: 5000 },
      { kind: 'no-range', file: `${TINY}/model.safetensors` },
    ]);
    const r = await model(TINY, env);
    expect(readWeights(readFileSync(r.path), "test").config.num_layers).toBe(2);
  });

  it('refuses a file whose hash or size is not what the Hub stated, deleting it', async () => {
    for (const kind of ['wrong-hash', 'wrong-size'] as const) {
      const { env, hf } = fresh();
      hub.setFaults([{ kind, file: `${TINY}/model.safetensors` }]);
      const e = await failure(model(TINY, env));
      expect(e.code, kind).toBe('NETWORK');
      expect(e.message, kind).toMatch(kind === 'wrong-hash' ? /model\.safetensors of webvit-test\/vit-tiny@[0-9a-f]{40} does not match the hash the Hub stated \(sha256/ : /model\.safetensors of webvit-test\/vit-tiny.*(truncated|stated)/);
      const blobs = join(hf, 'models--webvit-test--vit-tiny', 'blobs');
      expect(readdirSync(blobs).filter((b) => b.length >= 64), kind).toEqual([]);
      expect(e.message, kind).toMatch(/deleted/);
    }
  });

  it('a stalled server is a NETWORK error naming the file, after the idle timeout', async () => {
    const { env } = fresh({ HF_HUB_DOWNLOAD_TIMEOUT: '0.5' });
    hub.setFaults([{ kind: 'stall', file: `${TINY}/model.safetensors`, afterBytes: 1000, times: 99 }]);
    const t0 = Date.now();
    const e = await failure(model(TINY, env));
    expect(e.code).toBe('NETWORK');
    expect(e.message).toMatch(/model\.safetensors of webvit-test\/vit-tiny@[0-9a-f]{40} stalled: no data for 500 ms after \d+ bytes.*HF_HUB_DOWNLOAD_TIMEOUT/);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it('sends the token to the Hub only, never to the CDN it redirects to', async () => {
    const { env } = fresh({ HF_TOKEN: GATED_TOKEN });
    const k = hub.requests.length;
    await model('webvit-test/vit-gated', env);
    const seen = requestsSince(k);
    expect(seen.filter((q) => q.server === 'hub').every((q) => q.headers.authorization === `Bearer ${GATED_TOKEN}`)).toBe(true);
    expect(seen.filter((q) => q.server === 'cdn').length).toBeGreaterThan(0);
    expect(seen.filter((q) => q.server === 'cdn').every((q) => q.headers.authorization === undefined)).toBe(true);
  });

  it('follows a renamed repository', async () => {
    const { env } = fresh();
    expect((await model('webvit-test/vit-tiny-old', env)).commit).toBe(FIXTURE_COMMITS[TINY]);
  });
});

describe('errors name the id, the file and the way out', () => {
  const cases: [string, string | undefined, Record<string, string>, string, RegExp][] = [
    ['webvit-test/no-such-model', undefined, {}, 'NOT_FOUND', /no model webvit-test\/no-such-model on http:\/\/127\.0\.0\.1:\d+ \(HTTP 401\).*check the id.*private model needs a token/],
    [TINY, 'no-such-branch', {}, 'NOT_FOUND', /webvit-test\/vit-tiny has no revision no-such-branch \(HTTP 404\).*branch, tag or commit/],
    ['webvit-test/vit-gated', undefined, {}, 'UNAUTHORIZED', /vit-gated is gated or private: it needs an access token \(HTTP 401\).*settings\/tokens.*HF_TOKEN/],
    ['webvit-test/vit-gated', undefined, { HF_TOKEN: 'hf_other' }, 'UNAUTHORIZED', /token given has no access to it \(HTTP 403\)/],
    ['webvit-test/vit-bin-only', undefined, {}, 'UNSUPPORTED', /only as pytorch_model\.bin.*safetensors.*refs\/pr\/N.*safe_serialization=True/],
    ['webvit-test/swin-tiny', undefined, {}, 'UNSUPPORTED', /swin-tiny is a SwinForImageClassification \(model_type "swin"\) model, which webvit does not run: webvit runs ViT/],
  ];
  it('a shard the index names but the repository lacks: NOT_FOUND naming the file and the id', async () => {
    const base = (await hubRepoFixtures()).find((r) => r.id === 'webvit-test/vit-tiny-sharded')!;
    const files = { ...base.files };
    delete files['model-00002-of-00002.safetensors'];
    hub.addRepo({ id: 'webvit-test/vit-missing-shard', files, commit: 'c'.repeat(40) });
    const { env } = fresh();
    const e = await failure(model('webvit-test/vit-missing-shard', env));
    expect(e.code).toBe('NOT_FOUND');
    expect(e.message).toMatch(/model-00002-of-00002\.safetensors of webvit-test\/vit-missing-shard@c{40}: no such file \(HTTP 404\)/);
  });

  it('a connection that keeps breaking, and a server that keeps failing: NETWORK after the retries, naming the file', async () => {
    const { env } = fresh();
    hub.setFaults([{ kind: 'truncate', file: `${TINY}/model.safetensors`, afterBytes: 1000, times: 99 }]);
    let e = await failure(model(TINY, env));
    expect(e.code).toBe('NETWORK');
    expect(e.message).toMatch(/model\.safetensors of webvit-test\/vit-tiny@[0-9a-f]{40} (broke off|is truncated).*\(tried 5 times\)/);
    hub.setFaults([{ kind: 'status', file: `${TINY}/config.json`, status: 500, times: 99 }]);
    e = await failure(model(TINY, fresh().env));
    expect(e.code).toBe('NETWORK');
    expect(e.message).toMatch(/answered HTTP 500 for config\.json of webvit-test\/vit-tiny.*try again later/);
  });

  for (const [id, revision, extra, code, message] of cases) {
    it(`${id}${revision ? `@${revision}` : ''}${extra.HF_TOKEN ? ' (another token)' : ''}: ${code}`, async () => {
      const { env, hf } = fresh(extra);
      const e = await failure(model(id, env, { revision }));
      expect(e.code).toBe(code);
      expect(e.message).toMatch(message);
      // No weights were downloaded for a model that cannot run.
      if (code === 'UNSUPPORTED') expect(existsSync(join(hf, `models--${id.replace('/', '--')}`, 'blobs')) ? readdirSync(join(hf, `models--${id.replace('/', '--')}`, 'blobs')).filter((b) => b.length === 64) : []).toEqual([]);
    });
  }
});

describe('the Node library', () => {
  it('createImageClassifier({ model: ID }) goes through the caches on disk: the second one downloads and converts nothing', async () => {
    const { env } = fresh();
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const { createImageClassifier } = await import('../../src/node.js');
      const image = { data: new Uint8ClampedArray(40 * 30 * 4).map((_, i) => (i * 37) & 255), width: 40, height: 30 };
      const stages: string[] = [];
      const a = await createImageClassifier({ model: TINY, hubUrl: hub.url, onProgress: (e) => stages.push(e.stage) });
      const topA = await a.classify(image, { topK: 3 });
      await a.dispose();
      expect(stages).toContain('convert');
      const k = hub.requests.length;
      const stagesB: string[] = [];
      const b = await createImageClassifier({ model: TINY, hubUrl: hub.url, onProgress: (e) => stagesB.push(e.stage) });
      expect(await b.classify(image, { topK: 3 })).toEqual(topA);
      await b.dispose();
      expect(stagesB).not.toContain('convert');
      expect(requestsSince(k).map((q) => q.method)).toEqual(['HEAD']);
      await expect(createImageClassifier({ model: 'webvit-test/vit-gated', hubUrl: hub.url })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    } finally {
      for (const key of Object.keys(env)) if (saved[key] === undefined) delete process.env[key];
      Object.assign(process.env, saved);
    }
  }, 120_000);
});

describe('the terminal', () => {
  const run = (args: string[], env: Record<string, string | undefined>) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['dist/cli.js', ...args], { cwd: ROOT, env: { ...process.env, ...env, CI: '1' }, timeout: 120_000, maxBuffer: 1 << 26 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      );
    });
  beforeAll(async () => {
    const { spawnSync } = await import('node:child_process');
    const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  });

  it('classify --model ID gives what classify gives with the file `webvit convert ID` wrote, and convert/inspect take ids', async () => {
    const { env } = fresh();
    const out = join(tmp, `conv${n++}.safetensors`);
    const conv = await run(['convert', TINY, '-o', out], env);
    expect(conv.code, conv.stderr).toBe(0);
    const images = ['test/fixtures/preprocess/images'];
    const byId = await run(['classify', ...images, '--model', TINY, '--json', '--no-tune', '--top', '5'], env);
    expect(byId.code, byId.stderr).toBe(0);
    expect(byId.stderr).toMatch(/webvit-test\/vit-tiny \(commit ffc4dce1947c\) converted and cached in/);
    const byFile = await run(['classify', ...images, '--model', out, '--json', '--no-tune', '--top', '5'], env);
    expect(byFile.code, byFile.stderr).toBe(0);
    expect(byId.stdout).toBe(byFile.stdout);
    const inspect = await run(['inspect', `${TINY}@${FIXTURE_COMMITS[TINY]}`, '--json'], env);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout).config.num_layers).toBe(2);
    const outDir = join(tmp, `explain${n++}`);
    const explained = await run(['explain', 'examples/bag.png', '--model', TINY, '-o', outDir, '--no-tune'], env);
    expect(explained.code, explained.stderr).toBe(0);
    expect(readdirSync(outDir)).toContain('explain.json');
    const missing = await run(['classify', 'examples/bag.png', '--model', 'webvit-test/nope'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no model webvit-test\/nope.*\(read as a Hugging Face model id: there is no file or folder webvit-test\/nope here\)/);
    const forced = await run(['inspect', 'hf:webvit-test/nope'], env);
    expect(forced.stderr).toMatch(/no model webvit-test\/nope/);
    expect(forced.stderr).not.toMatch(/no file or folder/);
    const both = await run(['inspect', `${TINY}@main`, '--revision', 'v1.0'], env);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/names revision main and --revision says v1\.0/);
  }, 120_000);

  it("README's terminal example with a model id runs as written against the stand-in (HF_ENDPOINT)", async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const line = /^webvit classify photo\.jpg --model google\/vit-base-patch16-224[^#\n]*/m.exec(readme)?.[0].trim();
    expect(line, 'README: the classify line with a model id').toBeTruthy();
    const dir = join(tmp, `readme${n++}`);
    const { mkdirSync, copyFileSync } = await import('node:fs');
    mkdirSync(dir);
    copyFileSync(join(ROOT, 'test/fixtures/preprocess/images/astronaut_300.jpg'), join(dir, 'photo.jpg'));
    const { env } = fresh();
    const args = line!.split(/\s+/).slice(1);
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [join(ROOT, 'dist/cli.js'), ...args], { cwd: dir, env: { ...process.env, ...env, CI: '1' }, timeout: 120_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      ),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^photo\.jpg: .+ \d+\.\d%(, .+ \d+\.\d%){4}\n$/);
  }, 120_000);

  it('an existing local path wins over an id of the same name', async () => {
    const { env } = fresh({ HF_ENDPOINT: 'http://127.0.0.1:9' });
    const r = await run(['inspect', 'test/fixtures/tiny/model.safetensors'], env);
    expect(r.code, r.stderr).toBe(0);
  });
});
