import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensors } from '../../src/model/safetensors.js';
import { FIXTURE_COMMITS, GATED_TOKEN, hubRepoFixtures } from '../helpers/hub_repos.js';
import { prefillHfCache, startHubStandIn, type HubStandIn, type StandInRepo } from '../helpers/hub_stand_in.js';

// Self-tests of the Hub stand-in with Node's own fetch: what a client would see. Every request
// carries a timeout so no test can hang on a server that misbehaves.

const T = 15_000; // per test
const REQ = () => AbortSignal.timeout(5_000);

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const bytesOf = async (r: Response) => new Uint8Array(await r.arrayBuffer());

const CONFIG = '{"model_type": "vit"}\n';
const WEIGHTS = new Uint8Array(1000).map((_, i) => (i * 7) & 255);
const DEMO: StandInRepo = {
  id: 'acme/demo',
  files: { 'config.json': CONFIG, 'model.safetensors': WEIGHTS, 'onnx/model.onnx': WEIGHTS.subarray(0, 300), 'sub/dir/notes.txt': 'hello\n' },
  tags: ['v1.0', 'refs/pr/1'],
  renamedFrom: 'acme/old-demo',
};
const LEGACY: StandInRepo = { id: 'legacy', files: { 'config.json': CONFIG } };
const GATED: StandInRepo = { id: 'acme/gated', files: { 'config.json': CONFIG, 'model.safetensors': WEIGHTS }, gated: { token: 'hf_right' } };

let hub: HubStandIn;
const resolve = (id: string, path: string, revision = 'main') => `${hub.url}/${id}/resolve/${encodeURIComponent(revision)}/${path}`;
const get = (url: string, init: RequestInit = {}) => fetch(url, { redirect: 'manual', signal: REQ(), ...init });

beforeAll(async () => {
  hub = await startHubStandIn([DEMO, LEGACY, GATED]);
});
afterAll(async () => {
  await hub.close();
});
afterEach(() => {
  hub.setFaults([]);
});

describe('hub stand-in: regular files', () => {
  it('answers HEAD and GET with the git blob sha1 ETag, commit, size and ranges', async () => {
    const head = await get(resolve('acme/demo', 'config.json'), { method: 'HEAD' });
    expect(head.status).toBe(200);
    // `git hash-object` is the independent reference for the blob id.
    const gitSha = execFileSync('git', ['hash-object', '--stdin'], { input: CONFIG }).toString().trim();
    expect(head.headers.get('etag')).toBe(`"${gitSha}"`);
    expect(hub.etagOf('acme/demo', 'config.json')).toBe(gitSha);
    expect(head.headers.get('x-repo-commit')).toBe(hub.commitOf('acme/demo'));
    expect(hub.commitOf('acme/demo')).toMatch(/^[0-9a-f]{40}$/);
    expect(head.headers.get('content-length')).toBe(String(CONFIG.length));
    expect(head.headers.get('accept-ranges')).toBe('bytes');
    expect(head.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(head.headers.get('x-linked-etag')).toBeNull();
    const body = await get(resolve('acme/demo', 'config.json'));
    expect(await body.text()).toBe(CONFIG);
  }, T);

  it('serves a path in subfolders, a legacy single-name id, and every revision name', async () => {
    expect(await (await get(resolve('acme/demo', 'sub/dir/notes.txt'))).text()).toBe('hello\n');
    expect(await (await get(resolve('legacy', 'config.json'))).text()).toBe(CONFIG);
    for (const rev of ['main', hub.commitOf('acme/demo'), 'v1.0', 'refs/pr/1']) {
      const r = await get(resolve('acme/demo', 'config.json', rev), { method: 'HEAD' });
      expect(r.status, rev).toBe(200);
    }
    expect(resolve('acme/demo', 'config.json', 'refs/pr/1')).toContain('/resolve/refs%2Fpr%2F1/');
  }, T);

  it('honours Range on the hub: 206 with Content-Range, 416 past the end', async () => {
    const r = await get(resolve('acme/demo', 'config.json'), { headers: { Range: 'bytes=2-5' } });
    expect(r.status).toBe(206);
    expect(r.headers.get('content-range')).toBe(`bytes 2-5/${CONFIG.length}`);
    expect(await r.text()).toBe(CONFIG.slice(2, 6));
    const bad = await get(resolve('acme/demo', 'config.json'), { headers: { Range: `bytes=${CONFIG.length}-` } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe(`bytes */${CONFIG.length}`);
  }, T);
});

describe('hub stand-in: LFS files and the CDN', () => {
  it('redirects an LFS file to a presigned URL on another origin with X-Linked-Etag/Size', async () => {
    const head = await get(resolve('acme/demo', 'model.safetensors'), { method: 'HEAD' });
    expect(head.status).toBe(302);
    const location = new URL(head.headers.get('location')!);
    expect(location.origin).toBe(new URL(hub.cdnUrl).origin);
    expect(location.origin).not.toBe(new URL(hub.url).origin);
    expect(location.pathname).toContain(sha256(WEIGHTS));
    expect(location.searchParams.get('Signature')).toMatch(/^[0-9a-f]+$/);
    expect(location.searchParams.get('Expires')).toMatch(/^\d+$/);
    expect(head.headers.get('x-linked-etag')).toBe(`"${sha256(WEIGHTS)}"`);
    expect(head.headers.get('x-linked-size')).toBe(String(WEIGHTS.length));
    expect(head.headers.get('x-repo-commit')).toBe(hub.commitOf('acme/demo'));
    expect(head.headers.get('etag')).toBeNull(); // never together with X-Linked-Etag
    expect(hub.etagOf('acme/demo', 'model.safetensors')).toBe(sha256(WEIGHTS));

    const cdn = await get(location.href);
    expect(cdn.status).toBe(200);
    expect(cdn.headers.get('etag')).toBe(`"${sha256(WEIGHTS)}"`);
    expect(cdn.headers.get('content-length')).toBe(String(WEIGHTS.length));
    expect(cdn.headers.get('accept-ranges')).toBe('bytes');
    expect(cdn.headers.get('content-disposition')).toContain('model.safetensors');
    expect(await bytesOf(cdn)).toEqual(WEIGHTS);
  }, T);

  it('serves ranges on the CDN (bytes=N-, N-M, -S) and refuses an altered signature', async () => {
    const location = (await get(resolve('acme/demo', 'model.safetensors'), { method: 'HEAD' })).headers.get('location')!;
    const open = await get(location, { headers: { Range: 'bytes=990-' } });
    expect(open.status).toBe(206);
    expect(open.headers.get('content-range')).toBe('bytes 990-999/1000');
    expect(await bytesOf(open)).toEqual(WEIGHTS.subarray(990));
    const closed = await get(location, { headers: { Range: 'bytes=0-0' } });
    expect(closed.headers.get('content-range')).toBe('bytes 0-0/1000');
    const suffix = await get(location, { headers: { Range: 'bytes=-4' } });
    expect(await bytesOf(suffix)).toEqual(WEIGHTS.subarray(996));
    expect((await get(location, { headers: { Range: 'bytes=1000-' } })).status).toBe(416);
    const altered = location.replace(/Signature=[0-9a-f]/, (m) => m.endsWith('0') ? m.slice(0, -1) + '1' : m.slice(0, -1) + '0');
    expect((await get(altered)).status).toBe(403);
  }, T);

  it('a followed redirect does not carry the token to the CDN (and the CDN does not need it)', async () => {
    const before = hub.requests.length;
    const r = await fetch(resolve('acme/gated', 'model.safetensors'), { headers: { Authorization: 'Bearer hf_right' }, signal: REQ() });
    expect(r.status).toBe(200);
    expect(await bytesOf(r)).toEqual(WEIGHTS);
    const seen = hub.requests.slice(before);
    expect(seen.map((q) => q.server)).toEqual(['hub', 'cdn']);
    expect(seen[0].headers.authorization).toBe('Bearer hf_right');
    expect(seen[1].headers.authorization).toBeUndefined();
  }, T);
});

describe('hub stand-in: errors as hf_raise_for_status reads them', () => {
  const expectError = async (r: Response, status: number, code: string) => {
    expect(r.status).toBe(status);
    expect(r.headers.get('x-error-code')).toBe(code);
    expect(r.headers.get('x-error-message')).toBeTruthy();
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await r.json()) as { error: string };
    expect(body.error).toBe(r.headers.get('x-error-message'));
  };

  it('unknown repo: 401 without a token, 404 with one', async () => {
    await expectError(await get(resolve('acme/nope', 'config.json')), 401, 'RepoNotFound');
    await expectError(await get(resolve('acme/nope', 'config.json'), { headers: { Authorization: 'Bearer hf_someone' } }), 404, 'RepoNotFound');
  }, T);

  it('unknown revision, unknown file (with the commit, for .no_exist)', async () => {
    await expectError(await get(resolve('acme/demo', 'config.json', 'nope')), 404, 'RevisionNotFound');
    const missing = await get(resolve('acme/demo', 'nope.json'));
    expect(missing.headers.get('x-repo-commit')).toBe(hub.commitOf('acme/demo'));
    await expectError(missing, 404, 'EntryNotFound');
  }, T);

  it('gated: 401 without a token, 403 with another one, served with its own', async () => {
    await expectError(await get(resolve('acme/gated', 'config.json')), 401, 'GatedRepo');
    await expectError(await get(resolve('acme/gated', 'config.json'), { headers: { Authorization: 'Bearer hf_wrong' } }), 403, 'GatedRepo');
    const ok = await get(resolve('acme/gated', 'config.json'), { headers: { Authorization: 'Bearer hf_right' } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe(CONFIG);
    // HEAD carries the same headers without a body.
    const head = await get(resolve('acme/gated', 'config.json'), { method: 'HEAD' });
    expect([head.status, head.headers.get('x-error-code')]).toEqual([401, 'GatedRepo']);
  }, T);

  it('a renamed repo: relative 307 to the new id, followed as huggingface_hub does', async () => {
    const old = `${hub.url}/acme/old-demo/resolve/refs%2Fpr%2F1/sub/dir/notes.txt`;
    const r = await get(old, { method: 'HEAD' });
    expect(r.status).toBe(307);
    const location = r.headers.get('location')!;
    expect(location).toBe('/acme/demo/resolve/refs%2Fpr%2F1/sub/dir/notes.txt');
    // _httpx_follow_relative_redirects_with_backoff: same host, the Location's path.
    const next = new URL(old);
    next.pathname = location;
    expect(await (await get(next.href)).text()).toBe('hello\n');
  }, T);
});

describe('hub stand-in: CORS', () => {
  it('answers a preflight on both servers and exposes the headers a browser client reads', async () => {
    for (const base of [hub.url, hub.cdnUrl]) {
      const r = await get(`${base}/acme/demo/resolve/main/config.json`, {
        method: 'OPTIONS',
        headers: { Origin: 'http://page.test', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization,range' },
      });
      expect(r.status).toBe(204);
      expect(r.headers.get('access-control-allow-origin')).toBe('*');
      expect(r.headers.get('access-control-allow-headers')).toBe('Authorization, Range, Content-Type');
      expect(r.headers.get('access-control-allow-methods')).toContain('GET');
    }
    const head = await get(resolve('acme/demo', 'model.safetensors'), { method: 'HEAD' });
    const exposed = head.headers.get('access-control-expose-headers')!.split(', ');
    for (const h of ['X-Repo-Commit', 'X-Linked-Etag', 'X-Linked-Size', 'ETag', 'Content-Range', 'Accept-Ranges', 'X-Error-Code', 'X-Error-Message', 'Content-Length']) {
      expect(exposed).toContain(h);
    }
    const cdn = await get(head.headers.get('location')!, { method: 'HEAD' });
    expect(cdn.headers.get('access-control-allow-origin')).toBe('*');
    expect(cdn.headers.get('access-control-expose-headers')).toContain('Content-Range');
  }, T);
});

describe('hub stand-in: faults', () => {
  const cdnLocation = async (path: string) => (await get(resolve('acme/demo', path), { method: 'HEAD' })).headers.get('location')!;

  it('truncate: the full Content-Length, the body cut after N bytes, healthy afterwards', async () => {
    const location = await cdnLocation('model.safetensors');
    hub.setFaults([{ kind: 'truncate', file: 'model.safetensors', afterBytes: 100 }]);
    const cut = await get(location);
    expect(cut.headers.get('content-length')).toBe('1000');
    await expect(cut.arrayBuffer()).rejects.toThrow();
    expect(await bytesOf(await get(location))).toEqual(WEIGHTS);
    hub.setFaults([{ kind: 'truncate', file: 'model.safetensors', afterBytes: 0 }]);
    const none = await get(location);
    expect([none.status, none.headers.get('content-length')]).toEqual([200, '1000']);
    await expect(none.arrayBuffer()).rejects.toThrow();
  }, T);

  it('truncate on a regular file, twice, then healthy; resumes with Range', async () => {
    hub.setFaults([{ kind: 'truncate', file: 'config.json', afterBytes: 5, times: 2 }]);
    for (let i = 0; i < 2; i++) await expect((await get(resolve('acme/demo', 'config.json'))).text()).rejects.toThrow();
    const rest = await get(resolve('acme/demo', 'config.json'), { headers: { Range: 'bytes=5-' } });
    expect([rest.status, await rest.text()]).toEqual([206, CONFIG.slice(5)]);
  }, T);

  it('wrong-size: the stated size is one byte more than the body', async () => {
    hub.setFaults([{ kind: 'wrong-size', file: 'model.safetensors' }, { kind: 'wrong-size', file: 'config.json' }]);
    const lfs = await get(resolve('acme/demo', 'model.safetensors'), { method: 'HEAD' });
    expect(lfs.headers.get('x-linked-size')).toBe('1001');
    expect((await bytesOf(await get(lfs.headers.get('location')!))).length).toBe(1000);
    const regular = await get(resolve('acme/demo', 'config.json'), { method: 'HEAD' });
    expect(regular.headers.get('content-length')).toBe(String(CONFIG.length + 1));
    expect((await (await get(resolve('acme/demo', 'config.json'))).text()).length).toBe(CONFIG.length);
    const first = await get(lfs.headers.get('location')!, { headers: { Range: 'bytes=0-0' } });
    expect(first.headers.get('content-range')).toBe('bytes 0-0/1001'); // what fileDownloadInfo reads
  }, T);

  it('wrong-hash: X-Linked-Etag and the CDN ETag do not match the body', async () => {
    hub.setFaults([{ kind: 'wrong-hash', file: 'model.safetensors' }]);
    const head = await get(resolve('acme/demo', 'model.safetensors'), { method: 'HEAD' });
    const stated = head.headers.get('x-linked-etag')!.replaceAll('"', '');
    expect(stated).toMatch(/^[0-9a-f]{64}$/);
    const cdn = await get(head.headers.get('location')!);
    expect(cdn.headers.get('etag')).toBe(`"${stated}"`);
    expect(sha256(await bytesOf(cdn))).not.toBe(stated);
    expect(hub.etagOf('acme/demo', 'model.safetensors')).toBe(sha256(WEIGHTS)); // the fault-free value
  }, T);

  it('status: the next `times` requests for the file answer it, on either server', async () => {
    hub.setFaults([{ kind: 'status', file: 'model.safetensors', status: 503, times: 2 }]);
    expect((await get(resolve('acme/demo', 'model.safetensors'), { method: 'HEAD' })).status).toBe(503);
    expect((await get(resolve('acme/demo', 'model.safetensors'), { method: 'HEAD' })).status).toBe(503);
    const ok = await get(resolve('acme/demo', 'model.safetensors'), { method: 'HEAD' });
    expect(ok.status).toBe(302);
    hub.setFaults([{ kind: 'status', file: 'model.safetensors', status: 500 }]);
    expect((await get(ok.headers.get('location')!)).status).toBe(500);
    expect((await get(ok.headers.get('location')!)).status).toBe(200);
  }, T);

  it('no-range: a ranged request gets 200 and the whole body', async () => {
    const location = await cdnLocation('model.safetensors');
    hub.setFaults([{ kind: 'no-range', file: 'model.safetensors' }]);
    const r = await get(location, { headers: { Range: 'bytes=500-' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-range')).toBeNull();
    expect(await bytesOf(r)).toEqual(WEIGHTS);
  }, T);

  it('a fault can name one repo ("{id}/{path}")', async () => {
    hub.setFaults([{ kind: 'status', file: 'legacy/config.json', status: 500, times: 5 }]);
    expect((await get(resolve('acme/demo', 'config.json'))).status).toBe(200);
    expect((await get(resolve('legacy', 'config.json'))).status).toBe(500);
  }, T);

  it('refuses a fault it does not know', () => {
    expect(() => hub.setFaults([{ kind: 'explode', file: 'x' } as never])).toThrow(/fault kind "explode"/);
  });
});

describe('hub stand-in: stalls and close()', () => {
  it('stall: N bytes then silence until stallMs, then the connection ends', async () => {
    const stand = await startHubStandIn([DEMO], { stallMs: 300, faults: [{ kind: 'stall', file: 'config.json', afterBytes: 4 }] });
    try {
      const r = await fetch(`${stand.url}/acme/demo/resolve/main/config.json`, { signal: REQ() });
      const reader = r.body!.getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toBe(CONFIG.slice(0, 4));
      const t0 = Date.now();
      await expect(reader.read()).rejects.toThrow();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
      // times defaults to 1: the next request is healthy.
      expect(await (await fetch(`${stand.url}/acme/demo/resolve/main/config.json`, { signal: REQ() })).text()).toBe(CONFIG);
    } finally {
      await stand.close();
    }
  }, T);

  it('close() ends a stalled download at once, is idempotent, and frees the ports', async () => {
    const stand = await startHubStandIn([DEMO], { faults: [{ kind: 'stall', file: 'model.safetensors', afterBytes: 0 }] });
    const head = await fetch(`${stand.url}/acme/demo/resolve/main/model.safetensors`, { method: 'HEAD', redirect: 'manual', signal: REQ() });
    const r = await fetch(head.headers.get('location')!, { signal: REQ() });
    expect(r.status).toBe(200);
    const pending = r.arrayBuffer();
    await new Promise((done) => setTimeout(done, 50));
    const t0 = Date.now();
    await stand.close();
    await expect(pending).rejects.toThrow();
    expect(Date.now() - t0).toBeLessThan(2_000);
    await stand.close();
    await expect(fetch(`${stand.url}/acme/demo/resolve/main/config.json`, { signal: REQ() })).rejects.toThrow();
    await expect(fetch(stand.cdnUrl, { signal: REQ() })).rejects.toThrow();
  }, T);

  it('records every request on both servers in order', async () => {
    const before = hub.requests.length;
    const head = await get(resolve('acme/demo', 'model.safetensors'), { method: 'HEAD' });
    await (await get(head.headers.get('location')!)).arrayBuffer();
    const seen = hub.requests.slice(before);
    expect(seen.map((q) => [q.server, q.method])).toEqual([['hub', 'HEAD'], ['cdn', 'GET']]);
    expect(seen[0].path).toBe('/acme/demo/resolve/main/model.safetensors');
    expect(seen[1].path).toContain(sha256(WEIGHTS));
  }, T);
});

describe('prefillHfCache', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hf-cache-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lays out blobs, relative snapshot symlinks and refs as huggingface_hub does', async () => {
    const files = ['config.json', 'model.safetensors', 'onnx/model.onnx', 'sub/dir/notes.txt'];
    const out = await prefillHfCache(dir, hub, 'acme/demo', files);
    const commit = hub.commitOf('acme/demo');
    const repoDir = join(dir, 'models--acme--demo');
    expect(out).toMatchObject({ repoDir, snapshotDir: join(repoDir, 'snapshots', commit), commit });
    expect(readFileSync(join(repoDir, 'refs', 'main'), 'utf8')).toBe(commit); // no newline
    expect(readFileSync(join(dir, 'CACHEDIR.TAG'), 'utf8')).toMatch(/^Signature: 8a477f597d28d172789f06886806bc55\n/);
    const links: Record<string, string> = {
      'config.json': `../../blobs/${hub.etagOf('acme/demo', 'config.json')}`,
      'model.safetensors': `../../blobs/${sha256(WEIGHTS)}`,
      'onnx/model.onnx': `../../../blobs/${sha256(WEIGHTS.subarray(0, 300))}`,
      'sub/dir/notes.txt': `../../../../blobs/${hub.etagOf('acme/demo', 'sub/dir/notes.txt')}`,
    };
    for (const [path, target] of Object.entries(links)) {
      const pointer = join(repoDir, 'snapshots', commit, path);
      expect(out.files[path]).toBe(pointer);
      expect(lstatSync(pointer).isSymbolicLink()).toBe(true);
      expect(readlinkSync(pointer)).toBe(target);
      expect(realpathSync(pointer)).toBe(realpathSync(join(repoDir, 'blobs', target.split('/').pop()!)));
    }
    expect(readFileSync(out.files['config.json'], 'utf8')).toBe(CONFIG);
    expect(new Uint8Array(readFileSync(out.files['model.safetensors']))).toEqual(WEIGHTS);
  }, T);

  it('writes refs for a tag or PR ref, none for a commit; takes repo objects too', async () => {
    const d = join(dir, 'second');
    await prefillHfCache(d, [DEMO], 'acme/demo', ['config.json'], { revision: 'refs/pr/1' });
    const repoDir = join(d, 'models--acme--demo');
    expect(readFileSync(join(repoDir, 'refs', 'refs', 'pr', '1'), 'utf8')).toBe(hub.commitOf('acme/demo'));
    const legacy = await prefillHfCache(d, LEGACY, 'legacy', ['config.json'], { revision: hub.commitOf('legacy') });
    expect(legacy.repoDir).toBe(join(d, 'models--legacy'));
    expect(existsSync(join(legacy.repoDir, 'refs'))).toBe(false);
    await expect(prefillHfCache(d, hub, 'acme/demo', ['config.json'], { revision: 'nope' })).rejects.toThrow(/no revision "nope"/);
    await expect(prefillHfCache(d, hub, 'acme/demo', ['nope.json'])).rejects.toThrow(/no file "nope.json"/);
  }, T);
});

describe('hubRepoFixtures', () => {
  it('builds the six repos with fixed commits, served by the stand-in', async () => {
    const repos = await hubRepoFixtures();
    expect(repos.map((r) => r.id).sort()).toEqual(Object.keys(FIXTURE_COMMITS).sort());
    const stand = await startHubStandIn(repos);
    try {
      for (const [id, commit] of Object.entries(FIXTURE_COMMITS)) expect(stand.commitOf(id)).toBe(commit);
      const config = await fetch(`${stand.url}/webvit-test/vit-gated/resolve/main/config.json`, { headers: { Authorization: `Bearer ${GATED_TOKEN}` }, signal: REQ() });
      expect(config.status).toBe(200);
      const sharded = await fetch(`${stand.url}/webvit-test/vit-tiny-sharded/resolve/main/model-00002-of-00002.safetensors`, { signal: REQ() });
      expect(parseSafetensors(await bytesOf(sharded)).tensors.has('classifier.weight')).toBe(true);
      const old = await fetch(`${stand.url}/webvit-test/vit-tiny-old/resolve/v1.0/README.md`, { redirect: 'manual', signal: REQ() });
      expect(old.headers.get('location')).toBe('/webvit-test/vit-tiny/resolve/v1.0/README.md');
    } finally {
      await stand.close();
    }
  }, T);

  it('vit-tiny: the preprocessor config follows the model config', async () => {
    const repo = (await hubRepoFixtures()).find((r) => r.id === 'webvit-test/vit-tiny')!;
    const text = repo.files['preprocessor_config.json'] as string;
    const pre = JSON.parse(text);
    expect(pre).toEqual({
      do_normalize: true, do_rescale: true, do_resize: true, image_mean: [0.5, 0.5, 0.5], image_processor_type: 'ViTImageProcessor',
      image_std: [0.5, 0.5, 0.5], resample: 2, rescale_factor: 1 / 255, size: { height: 32, width: 32 },
    });
    expect(text).toContain('"rescale_factor": 0.00392156862745098');
    expect(Object.keys(pre)).toEqual(Object.keys(pre).sort());
  });

  it('timm: config.json agrees with the checkpoint shapes', async () => {
    const repo = (await hubRepoFixtures()).find((r) => r.id === 'timm/vit_tiny_test.augreg_in1k')!;
    const text = repo.files['config.json'] as string;
    expect(text).toMatch(/"mlp_ratio": 2\.0\n/);
    expect(text).toContain('caf\\u00e9 au lait');
    const cfg = JSON.parse(text);
    expect(Object.keys(cfg)).toEqual(['architecture', 'num_classes', 'num_features', 'global_pool', 'label_names', 'model_args', 'pretrained_cfg']);
    const st = parseSafetensors(repo.files['model.safetensors'] as Uint8Array);
    const shape = (n: string) => st.tensors.get(n)!.shape;
    const { img_size, patch_size, embed_dim, depth, num_heads, mlp_ratio } = cfg.model_args;
    const grid = img_size / patch_size;
    expect(shape('pos_embed')).toEqual([1, 1 + grid * grid, embed_dim]);
    expect(shape('patch_embed.proj.weight')).toEqual([embed_dim, 3, patch_size, patch_size]);
    expect(shape('head.weight')).toEqual([cfg.num_classes, cfg.num_features]);
    expect(shape(`blocks.${depth - 1}.mlp.fc1.weight`)).toEqual([embed_dim * mlp_ratio, embed_dim]);
    expect(st.tensors.has(`blocks.${depth}.norm1.weight`)).toBe(false);
    expect(embed_dim % num_heads).toBe(0);
    expect(cfg.pretrained_cfg.input_size).toEqual([3, img_size, img_size]);
    expect(cfg.pretrained_cfg.num_classes).toBe(cfg.label_names.length);
    const golden = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'layouts', 'timm_cls', 'golden.json'), 'utf8'));
    expect(golden.config.num_heads).toBe(num_heads);
  });

  it('swin and bin-only: what their configs claim', async () => {
    const repos = await hubRepoFixtures();
    const swin = repos.find((r) => r.id === 'webvit-test/swin-tiny')!;
    const cfg = JSON.parse(swin.files['config.json'] as string);
    expect([cfg.architectures, cfg.model_type]).toEqual([['SwinForImageClassification'], 'swin']);
    const st = parseSafetensors(swin.files['model.safetensors'] as Uint8Array);
    expect(st.tensors.get('classifier.weight')!.shape).toEqual([10, cfg.hidden_size]);
    expect(st.tensors.get('swin.encoder.layers.0.blocks.0.attention.self.relative_position_bias_table')!.shape).toEqual([49, 1]);
    const bin = repos.find((r) => r.id === 'webvit-test/vit-bin-only')!;
    expect(Object.keys(bin.files).sort()).toEqual(['config.json', 'pytorch_model.bin']);
    expect([...(bin.files['pytorch_model.bin'] as Uint8Array).subarray(0, 4)]).toEqual([0x50, 0x4b, 0x03, 0x04]);
  });
});
