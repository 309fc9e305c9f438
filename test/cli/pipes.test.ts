import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/model/config.js';
import { encodeWeights } from '../../src/model/convert/index.js';
import { expectedTensors } from '../../src/model/weights.js';
import { freshSeed, randn, rng } from '../helpers/random.js';

// Every command's largest output through a real pipe whose reader is slow (issue 17, class 2).
// Node writes to a pipe asynchronously: past the pipe's 64 KiB the rest waits in the process, and
// `process.exit` used to drop it (`webvit inspect M --json | jq` got 65,536 bytes, exit 0). Here
// the reader reads nothing until the command is done (it exited, its stderr printed the closing
// summary, or a deadline passed), then everything: a command that exits before its output has
// left loses the rest, one that waits for the reader gives it all. Each output is several times
// the pipe's capacity and is checked whole (valid JSON, every item there).

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const BAG = join(ROOT, 'examples', 'bag.png');
const LABELS = 21_843; // ImageNet-21k's class count

let tmp: string;
const seed = freshSeed();
const why = `(seed ${seed}, replay with WEBVIT_SEED=${seed})`;

/** A webvit weight file with seeded random weights, written with the project's writer. */
function writeModel(path: string, raw: Record<string, unknown>, labels?: string[]): void {
  const config = parseConfig({ num_channels: 3, layer_norm_eps: 1e-6, qkv_bias: true, pooling: 'cls', ...raw }, path);
  const r = rng(seed);
  const tensors = new Map<string, Float32Array>();
  for (const [name, shape] of expectedTensors(config)) {
    const n = shape.reduce((a, d) => a * d, 1);
    tensors.set(name, /norm\d?\.weight$/.test(name) ? randn(r, n, 0.1, 1) : randn(r, n, 0.2));
  }
  writeFileSync(path, encodeWeights({ config, labels, tensors }));
}

interface Piped {
  code: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs the CLI with stdout a pipe that is not read until the command exits, its stderr matches
 * `done`, or `waitMs` passes; then reads it to the end. `mergeStderr`: stderr into the same pipe
 * (`2>&1`, through a shell).
 */
function throughSlowPipe(args: string[], o: { done?: RegExp; waitMs: number; mergeStderr?: boolean }): Promise<Piped> {
  const p = o.mergeStderr
    ? spawn('/bin/sh', ['-c', 'exec "$0" "$@" 2>&1', process.execPath, CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout!.pause();
  const chunks: Buffer[] = [];
  let stderr = '';
  let reading = false;
  const startReading = () => {
    if (reading) return;
    reading = true;
    p.stdout!.on('data', (c: Buffer) => chunks.push(c));
    p.stdout!.resume();
  };
  const timer = setTimeout(startReading, o.waitMs);
  p.stderr!.setEncoding('utf8');
  p.stderr!.on('data', (s: string) => {
    stderr += s;
    if (o.done?.test(stderr)) startReading();
  });
  p.on('exit', startReading);
  return new Promise((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(chunks), stderr });
    });
  });
}

beforeAll(() => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  tmp = mkdtempSync(join(tmpdir(), 'webvit-pipes-'));
  const base = { image_size: 32, patch_size: 8, hidden_size: 64, num_layers: 2, num_heads: 4, mlp_size: 128 };
  writeModel(join(tmp, 'labels.safetensors'), { ...base, num_classes: LABELS }, Array.from({ length: LABELS }, (_, i) => `n${String(i).padStart(8, '0')} label number ${i}`));
  writeModel(join(tmp, 'features.safetensors'), { ...base, hidden_size: 96, num_classes: 0 });
  // Patch 2 on 32 pixels: a 16×16 map, so each image's explain JSON is several KB.
  writeModel(join(tmp, 'grid.safetensors'), { ...base, patch_size: 2, num_classes: 10 });
  // Images under long names (links to one example), so that a few hundred make a big output.
  mkdirSync(join(tmp, 'images'));
  for (let i = 0; i < 300; i++) symlinkSync(BAG, join(tmp, 'images', `${String(i).padStart(4, '0')}-${'a-long-image-name-'.repeat(10)}.png`));
}, 120_000);
afterAll(() => tmp && rmSync(tmp, { recursive: true, force: true }));

describe('every command gives its whole output through a slow pipe (no 64 KiB cut)', () => {
  it('inspect --json of a model with 21,843 labels', async () => {
    const r = await throughSlowPipe(['inspect', join(tmp, 'labels.safetensors'), '--json'], { waitMs: 3000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(4 * 65_536);
    const info = JSON.parse(r.stdout.toString('utf8'));
    expect(info.labels).toHaveLength(LABELS);
    expect(info.labels[LABELS - 1]).toBe(`n${String(LABELS - 1).padStart(8, '0')} label number ${LABELS - 1}`);
    // The same bytes as written to a file (a file is written synchronously: never cut).
    const file = join(tmp, 'inspect.json');
    const f = spawnSync('/bin/sh', ['-c', 'exec "$0" "$@" > "$WEBVIT_TEST_OUT"', process.execPath, CLI, 'inspect', join(tmp, 'labels.safetensors'), '--json'], {
      cwd: ROOT,
      env: { ...process.env, WEBVIT_TEST_OUT: file },
    });
    expect(f.status).toBe(0);
    expect(r.stdout.length).toBe(statSync(file).size);
  });

  it('run --json: 300 feature vectors of a features-only model', async () => {
    const input = randn(rng(seed + 1), 300 * 3 * 32 * 32);
    writeFileSync(join(tmp, 'input.bin'), new Uint8Array(input.buffer));
    const r = await throughSlowPipe(['run', join(tmp, 'features.safetensors'), '--input', join(tmp, 'input.bin'), '--json', '--no-tune'], {
      done: /webvit: 2 layers, hidden 96/,
      waitMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length, why).toBeGreaterThan(4 * 65_536);
    const out = JSON.parse(r.stdout.toString('utf8'));
    expect(out.features).toHaveLength(300);
    for (const row of out.features) expect(row).toHaveLength(96);
  }, 120_000);

  it('explain --json of 40 images (16×16 maps)', async () => {
    const images = Array.from({ length: 40 }, () => BAG);
    const r = await throughSlowPipe(['explain', ...images, '-o', join(tmp, 'explained'), '--model', join(tmp, 'grid.safetensors'), '--json', '--no-tune'], {
      done: /webvit: explained \d+ of 40 images/,
      waitMs: 120_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length, why).toBeGreaterThan(3 * 65_536);
    const doc = JSON.parse(r.stdout.toString('utf8'));
    expect(doc.images).toHaveLength(40);
    for (const im of doc.images) expect(im.map).toHaveLength(16);
  }, 180_000);

  it('classify --json of 300 images', async () => {
    const r = await throughSlowPipe(['classify', join(tmp, 'images'), '--json', '--top', '10', '--no-tune'], { done: /webvit: classified \d+ of 300 images/, waitMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(3 * 65_536);
    const lines = r.stdout.toString('utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(300);
    for (const l of lines) expect(JSON.parse(l).top).toHaveLength(10);
  }, 180_000);

  it('a long error report through 2>&1: 2,000 missing files, each on its line', async () => {
    const missing = Array.from({ length: 2000 }, (_, i) => join(tmp, `missing-${String(i).padStart(4, '0')}-${'x'.repeat(100)}.png`));
    const r = await throughSlowPipe(['classify', ...missing, '--no-tune'], { waitMs: 8000, mergeStderr: true });
    expect(r.code).toBe(1);
    const text = r.stdout.toString('utf8');
    expect(text.length).toBeGreaterThan(4 * 65_536);
    const errors = text.split('\n').filter((l) => / cannot read \(ENOENT: no such file\)$/.test(l));
    expect(errors).toHaveLength(2000);
    expect(text).toMatch(/webvit: classified 0 of 2000 images .*; 2000 failed\n$/);
  }, 120_000);
});

describe('a reader that goes away (`| head -c 100`)', () => {
  /** Reads the first chunk of stdout, closes the pipe, and returns how the command ended. */
  function firstChunkThenClose(args: string[]): Promise<{ first: string; code: number | null; signal: string | null; stderr: string }> {
    const p = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let first = '';
    let stderr = '';
    p.stdout.setEncoding('utf8');
    p.stdout.once('data', (s: string) => {
      first = s;
      p.stdout.destroy();
    });
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (s: string) => (stderr += s));
    return new Promise((resolve) => p.on('close', (code, signal) => resolve({ first, code, signal, stderr })));
  }

  it('inspect --json ends quietly, with the status of a tool ended by SIGPIPE (141)', async () => {
    const r = await firstChunkThenClose(['inspect', join(tmp, 'labels.safetensors'), '--json']);
    expect(r.first).toMatch(/^\{"file":/);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(141);
  });

  it('classify (a GPU command, run by a child) ends quietly, with no internal error', async () => {
    const r = await firstChunkThenClose(['classify', join(tmp, 'images'), '--json', '--no-tune']);
    expect(JSON.parse(r.first.split('\n')[0]).top).toHaveLength(3);
    expect(r.stderr).not.toMatch(/internal error|EPIPE|Error/);
    expect(r.code).toBe(141);
  }, 120_000);
});

describe('stdout that cannot be written (a full disk)', () => {
  // A private full device (never the machine's /dev/full); skipped where mknod is not allowed.
  let full: string | undefined;
  beforeAll(() => {
    const f = join(tmp, 'full');
    if (spawnSync('mknod', [f, 'c', '1', '7']).status === 0) full = f;
  });

  it('stderr on a full disk: classify of 400 broken images ends (it hung once 64 KiB of messages filled the pipe from its GPU child)', (ctx) => {
    if (!full) return ctx.skip();
    const dir = join(tmp, 'broken400');
    mkdirSync(dir);
    for (let i = 0; i < 400; i++) writeFileSync(join(dir, `b${i}.png`), 'junk\n');
    const t0 = performance.now();
    const r = spawnSync('/bin/sh', ['-c', 'exec "$0" "$@" 2> "$WEBVIT_TEST_OUT"', process.execPath, CLI, 'classify', dir, '--no-tune'], { cwd: ROOT, encoding: 'utf8', timeout: 90_000, env: { ...process.env, WEBVIT_TEST_OUT: full } });
    expect(r.signal, `ended by the test's timeout after ${((performance.now() - t0) / 1000).toFixed(0)} s`).toBeNull();
    expect(r.status).toBe(1); // every image failed
  }, 120_000);

  for (const args of [['inspect', 'LABELS', '--json'], ['classify', 'examples/bag.png', '--json', '--no-tune']]) {
    it(`${args[0]}: exit 1 and a message saying so (not exit 0 with the output lost)`, (ctx) => {
      if (!full) return ctx.skip();
      const argv = args.map((a) => (a === 'LABELS' ? join(tmp, 'labels.safetensors') : a));
      const r = spawnSync('/bin/sh', ['-c', 'exec "$0" "$@" > "$WEBVIT_TEST_OUT"', process.execPath, CLI, ...argv], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, WEBVIT_TEST_OUT: full } });
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^webvit: cannot write to standard output \(ENOSPC: the disk is full\); the output is incomplete$/m);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    }, 60_000);
  }
});
