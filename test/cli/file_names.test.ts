import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8Name } from '../../src/cli/classify.js';

// Issue 17: a folder holding a file whose name is not UTF-8 (`e\xff.png`) made classify say
// "e��.png: cannot read (ENOENT)" for a file that exists (the name was read as text, its bad
// bytes turned into U+FFFD). Now such a file is refused on its own, its name shown escaped.

const ROOT = join(import.meta.dirname, '..', '..');
let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'webvit-names-'));
  mkdirSync(join(tmp, 'u8'));
  const bag = join(ROOT, 'examples', 'bag.png');
  copyFileSync(bag, join(tmp, 'u8', 'ok.png'));
  copyFileSync(bag, Buffer.concat([Buffer.from(join(tmp, 'u8', 'e')), Buffer.from([0xff]), Buffer.from('.png')]));
  copyFileSync(bag, Buffer.concat([Buffer.from(join(tmp, 'u8', 'café')), Buffer.from([0xc3]), Buffer.from('.png')]));
});
afterAll(() => tmp && rmSync(tmp, { recursive: true, force: true }));

describe('file names that are not UTF-8', () => {
  it('utf8Name: valid names as they are; bad bytes as \\xNN, valid characters kept', () => {
    expect(utf8Name(Buffer.from('café.png'))).toEqual({ text: 'café.png', valid: true });
    expect(utf8Name(Buffer.from([0x65, 0xff, 0x2e, 0x70]))).toEqual({ text: 'e\\xff.p', valid: false });
    expect(utf8Name(Buffer.concat([Buffer.from('é'), Buffer.from([0xc3, 0x28, 0xed, 0xa0, 0x80])]))).toEqual({ text: 'é\\xc3(\\xed\\xa0\\x80', valid: false });
  });

  it('classify FOLDER: each such file refused by name (escaped), the others classified; exit 1', () => {
    const r = spawnSync(process.execPath, ['dist/cli.js', 'classify', join(tmp, 'u8'), '--no-tune'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/u8\/ok\.png: Bag /);
    expect(r.stderr).toContain(`${join(tmp, 'u8')}/e\\xff.png: file name is not valid UTF-8`);
    expect(r.stderr).toContain(`${join(tmp, 'u8')}/café\\xc3.png: file name is not valid UTF-8`);
    expect(r.stderr).toContain('rename it');
    expect(r.stderr).not.toMatch(/ENOENT|\ufffd/);
    expect(r.stderr).toMatch(/classified 1 of 3 images/);
  });
});

describe('arguments that are not UTF-8', () => {
  it('are refused before anything runs (exit 2): Node would have turned them into another name', () => {
    // Third hostile run: `convert ... -o $'o\xff.st'` exited 0 having written `o\xEF\xBF\xBD.st`;
    // `classify $'i\xfe.png'` said ENOENT for a file that exists.
    const hf = join(ROOT, 'test', 'fixtures', 'layouts', 'hf');
    for (const cmd of [
      `exec "${process.execPath}" dist/cli.js convert "${hf}" -o "${tmp}/$(printf 'o\\xff.st')"`,
      `exec "${process.execPath}" dist/cli.js classify "${tmp}/u8/$(printf 'e\\xff.png')"`,
    ]) {
      const r = spawnSync('bash', ['-c', cmd], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^webvit: argument \d+ \(.*\) is not valid UTF-8 .*rename it/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(readdirSync(tmp).filter((f) => f.startsWith('o'))).toEqual([]);
  });
});
