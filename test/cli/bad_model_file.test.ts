import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebvitError } from '../../src/errors.js';
import { readWeightFile } from '../../src/model/weight_file.js';

// One way to read a model file (src/model/weight_file.ts): every command that takes a model, and
// the library's loadModelFile, report the same bad file with the same message. Before, "read the
// file, wrap the error" was written four times, with different words ("the model file", "the
// weight file") and different checks.

const ROOT = join(import.meta.dirname, '..', '..');
const TINY = join(ROOT, 'test', 'fixtures', 'tiny', 'model.safetensors');
// Every case fails before the GPU is touched: no driver needed (and none found, to prove it).
const NO_GPU = { VK_ICD_FILENAMES: '/nonexistent/webvit-no-driver.json', VK_DRIVER_FILES: '/nonexistent/webvit-no-driver.json' };

let tmp: string;
const cases: [string, () => string][] = [
  ['a missing file', () => join(tmp, 'missing.safetensors')],
  ['a directory', () => join(tmp, 'a-folder')],
  ['an empty file', () => join(tmp, 'empty.safetensors')],
  ['a text file', () => join(tmp, 'notes.safetensors')],
  ['a truncated model', () => join(tmp, 'truncated.safetensors')],
];

beforeAll(() => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  tmp = mkdtempSync(join(tmpdir(), 'webvit-badmodel-'));
  mkdirSync(join(tmp, 'a-folder'));
  writeFileSync(join(tmp, 'empty.safetensors'), new Uint8Array(0));
  writeFileSync(join(tmp, 'notes.safetensors'), 'not a model\n');
  const tiny = readFileSync(TINY);
  writeFileSync(join(tmp, 'truncated.safetensors'), tiny.subarray(0, tiny.byteLength - 1000));
  writeFileSync(join(tmp, 'input.bin'), new Uint8Array(4 * 3 * 32 * 32));
  writeFileSync(join(tmp, 'image.png'), readFileSync(join(ROOT, 'examples', 'bag.png')));
});
afterAll(() => tmp && rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[]): { code: number; stderr: string } {
  const r = spawnSync(process.execPath, ['dist/cli.js', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: '1', ...NO_GPU }, timeout: 120_000 });
  return { code: r.status ?? -1, stderr: r.stderr };
}

describe('a bad model file gets the same error from every command and from the library', () => {
  for (const [name, path] of cases) {
    it(name, async () => {
      let library: unknown;
      await readWeightFile(path()).catch((e) => (library = e));
      expect(library).toBeInstanceOf(WebvitError);
      expect((library as WebvitError).code).toBe('BAD_WEIGHTS');
      const message = (library as WebvitError).message;
      expect(message.startsWith(`${path()}: `), message).toBe(true);
      expect(message).not.toMatch(/\n/);
      const runs = {
        run: cli(['run', path(), '--input', join(tmp, 'input.bin')]),
        classify: cli(['classify', join(tmp, 'image.png'), '--model', path()]),
        inspect: cli(['inspect', path()]),
      };
      for (const [command, r] of Object.entries(runs)) {
        expect(r.code, `${command}: ${r.stderr}`).toBe(1);
        expect(r.stderr, command).toBe(`webvit: ${message}\n`);
      }
    });
  }
});
