import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LAYOUT_DIR } from './layout_fixtures.js';

// Issue 17: config.json "architectures": ["X" × 20,000,000] made a 20 MB line on stderr
// ("config from … (architectures: …)"). Every note quoting the checkpoint's text is clipped.
const ROOT = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'webvit-notes-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('webvit convert notes are clipped', () => {
  it('huge architectures and ignored preprocessor keys: exit 0, every stderr line under 5000 characters', () => {
    const dir = join(tmp, 'hf');
    cpSync(join(LAYOUT_DIR, 'hf'), dir, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, architectures: ['X'.repeat(2_000_000), ...Array(5000).fill('ViTForImageClassification')] }));
    const unknown = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`key_${i}_${'k'.repeat(i === 7 ? 1_000_000 : 10)}`, 1]));
    writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({ image_processor_type: 'ViTImageProcessor', size: { height: cfg.image_size, width: cfg.image_size }, ...unknown }));
    const r = spawnSync(process.execPath, ['dist/cli.js', 'convert', dir, '-o', join(tmp, 'out.safetensors')], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 2 ** 20 });
    expect(r.status, r.stderr.slice(0, 2000)).toBe(0);
    const lines = r.stderr.split('\n');
    expect(lines.filter((l) => l.length > 5000).map((l) => `${l.slice(0, 80)}… (${l.length} characters)`)).toEqual([]);
    expect(r.stderr).toMatch(/config from .*config\.json \(architectures: X+…\(2000000 characters\)…X+, ViTForImageClassification.*, … \(5001 in all\)\)/);
    expect(r.stderr).toMatch(/ignored \(ViTImageProcessor does not read them either\): key_0_k+, .*…\(\d+ characters\)…|ignored \(ViTImageProcessor does not read them either\): key_0_k+, .*, … \(5000 in all\)/);
  });
});
