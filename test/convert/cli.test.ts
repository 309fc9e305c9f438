import { spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWeights } from '../../src/model/weights.js';
import { LAYOUT_DIR } from './layout_fixtures.js';

// `webvit convert` as people run it: the built CLI (node scripts/build.mjs), exit codes, and
// one-line errors naming the file and the problem.
const ROOT = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'webvit-cli-convert-'));

beforeAll(() => {
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'pipe' });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['dist/cli.js', 'convert', ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const oneLineError = (stderr: string) => {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^webvit: /);
  return lines[0];
};

describe('webvit convert (CLI)', () => {
  it('converts an HF folder to F16, prints what it read, and the file loads', () => {
    const out = join(tmp, 'hf16.safetensors');
    const r = cli(join(LAYOUT_DIR, 'hf'), '-o', out, '--dtype', 'f16');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('webvit convert: layout hf (detected from the tensor names)');
    expect(r.stdout).toMatch(/^wrote .*hf16\.safetensors: F16, 32 tensors, 81226 parameters/);
    const w = readWeights(readFileSync(out), out);
    expect(w.config.num_heads).toBe(4);
    expect(w.labels?.[0]).toBe('tench');
  });

  it('converts torchvision with --heads, --labels and --image-size', () => {
    const out = join(tmp, 'tv48.safetensors');
    const r = cli(join(LAYOUT_DIR, 'torchvision', 'model.safetensors'), '-o', out, '--heads', '4', '--labels', join(LAYOUT_DIR, 'labels.txt'), '--image-size', '48');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('position embeddings resized 4x4 -> 6x6');
    const w = readWeights(readFileSync(out), out);
    expect(w.config.image_size).toBe(48);
    expect(w.labels?.[9]).toBe('café au lait');
  });

  it('a bad checkpoint: exit 1, one line naming the file and the problem', () => {
    const bad = join(tmp, 'bad.safetensors');
    writeFileSync(bad, Buffer.from('not a checkpoint at all'));
    const r = cli(bad, '-o', join(tmp, 'x.safetensors'));
    expect(r.code).toBe(1);
    const line = oneLineError(r.stderr);
    expect(line).toContain(bad);
    expect(line).toContain('not a safetensors file');
  });

  it('an unknown layout: exit 1, one line naming what it saw and the supported layouts', () => {
    const path = join(tmp, 'mystery.safetensors');
    const header = JSON.stringify({ 'backbone.conv.weight': { dtype: 'F32', shape: [1], data_offsets: [0, 4] } });
    const buf = Buffer.alloc(8 + header.length + 4);
    buf.writeBigUInt64LE(BigInt(header.length));
    buf.write(header, 8);
    writeFileSync(path, buf);
    const r = cli(path, '-o', join(tmp, 'x.safetensors'));
    expect(r.code).toBe(1);
    const line = oneLineError(r.stderr);
    expect(line).toContain('unknown checkpoint layout (1 tensor: backbone.conv.weight)');
    expect(line).toContain('supported layouts: hf');
  });

  it('heads it cannot infer: exit 1, one line asking for --heads; nothing written', () => {
    const out = join(tmp, 'none.safetensors');
    const r = cli(join(LAYOUT_DIR, 'timm_cls'), '-o', out);
    expect(r.code).toBe(1);
    expect(oneLineError(r.stderr)).toContain('pass --heads N');
    expect(() => readFileSync(out)).toThrow();
  });

  it('usage errors exit 2', () => {
    expect(cli(join(LAYOUT_DIR, 'hf')).code).toBe(2);
    const r = cli(join(LAYOUT_DIR, 'hf'), '-o', join(tmp, 'y.safetensors'), '--dtype', 'f8');
    expect(r.code).toBe(2);
    expect(oneLineError(r.stderr)).toContain('--dtype must be one of f32, f16');
  });
});
