import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WriteBatch } from '../../src/runtime/node-write-file.js';
import { WebvitError } from '../../src/runtime/errors.js';

// Files written together (explain's outputs): nothing replaced until commit, everything or nothing.
const tmp = mkdtempSync(join(tmpdir(), 'webvit-batch-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('WriteBatch', () => {
  it('writes stay temporary until commit, which renames them all; the old files are untouched before', async () => {
    const dir = mkdtempSync(join(tmp, 'commit-'));
    writeFileSync(join(dir, 'a.txt'), 'old a\n');
    const b = new WriteBatch({ follow: false });
    await b.write(join(dir, 'a.txt'), 'new a\n');
    await b.write(join(dir, 'b.txt'), new Uint8Array([1, 2, 3]));
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('old a\n');
    expect(readdirSync(dir).filter((n) => n !== 'a.txt').length, 'two temporary files').toBe(2);
    await b.commit();
    expect(readdirSync(dir).sort()).toEqual(['a.txt', 'b.txt']);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('new a\n');
    expect([...readFileSync(join(dir, 'b.txt'))]).toEqual([1, 2, 3]);
  });
  it('abort (a later write failed) removes every staged file and replaces nothing', async () => {
    const dir = mkdtempSync(join(tmp, 'abort-'));
    writeFileSync(join(dir, 'a.txt'), 'old a\n');
    const b = new WriteBatch({ follow: false });
    await b.write(join(dir, 'a.txt'), 'new a\n');
    let err: unknown;
    try {
      await b.write(join(dir, 'no-such-folder', 'b.txt'), 'b');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WebvitError);
    expect((err as WebvitError).code).toBe('IO');
    b.abort();
    expect(readdirSync(dir)).toEqual(['a.txt']);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('old a\n');
  });
});
