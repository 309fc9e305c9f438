import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { modelSourceKind } from '../../src/hub/source.js';
import { parseModelArg } from '../../src/cli/model_arg.js';

const BUNDLED = join(import.meta.dirname, '..', '..', 'models', 'fashion-mnist', 'model.safetensors');

// One decision for what a model argument names (src/hub/source.ts), made the same way by the CLI,
// createImageClassifier in Node and in a page (docs/model-ids.md).
describe('modelSourceKind', () => {
  it('bytes, a Response, URLs and ids, as a page sees them (no local files)', () => {
    expect(modelSourceKind(new ArrayBuffer(8))).toBe('bytes');
    expect(modelSourceKind(new Uint8Array(8))).toBe('bytes');
    expect(modelSourceKind(new Response('x'))).toBe('response');
    expect(modelSourceKind('google/vit-base-patch16-224')).toBe('id');
    expect(modelSourceKind('timm/vit_small_patch16_224.augreg_in21k_ft_in1k@main')).toBe('id');
    expect(modelSourceKind('hf:google/vit-base-patch16-224')).toBe('id');
    expect(modelSourceKind('/models/model.safetensors')).toBe('url');
    expect(modelSourceKind('models/model.safetensors')).toBe('url'); // a file extension: a relative URL, not a repository
    expect(modelSourceKind('https://example.org/m.safetensors')).toBe('url');
    expect(modelSourceKind(new URL('https://example.org/org/name'))).toBe('url'); // a URL object is never an id
    expect(modelSourceKind(42)).toBeUndefined();
    expect(modelSourceKind(null)).toBeUndefined();
  });

  it('in Node: an existing path wins over an id, hf: forces the Hub, file: URLs and scheme-less text are paths', () => {
    const dir = mkdtempSync(join(tmpdir(), 'webvit-source-'));
    const cwd = process.cwd();
    try {
      mkdirSync(join(dir, 'google', 'vit-base-patch16-224'), { recursive: true });
      process.chdir(dir);
      expect(modelSourceKind('google/vit-base-patch16-224', existsSync)).toBe('path');
      expect(modelSourceKind('hf:google/vit-base-patch16-224', existsSync)).toBe('id');
      expect(modelSourceKind('other/model', existsSync)).toBe('id');
      expect(modelSourceKind('missing.safetensors', existsSync)).toBe('path'); // the reader says it is missing
      expect(modelSourceKind('file:///tmp/x.safetensors', existsSync)).toBe('path');
      expect(modelSourceKind(new URL('file:///tmp/x.safetensors'), existsSync)).toBe('path');
      expect(modelSourceKind('http://127.0.0.1:1/m.safetensors', existsSync)).toBe('url');
      // The CLI reads --model through the same decision.
      expect(parseModelArg('google/vit-base-patch16-224', undefined).id).toBeUndefined();
      expect(parseModelArg('hf:google/vit-base-patch16-224', undefined).id).toBe('google/vit-base-patch16-224');
    } finally {
      process.chdir(cwd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('createImageClassifier in Node', () => {
  it('takes a local path and a file: URL: the same classes as the bytes; a missing file is named', async () => {
    const { createImageClassifier } = await import('../../src/node.js');
    const dir = mkdtempSync(join(tmpdir(), 'webvit-source-'));
    try {
      const path = join(dir, 'model copy.safetensors');
      writeFileSync(path, readFileSync(BUNDLED));
      const image = { data: new Uint8ClampedArray(28 * 31 * 4).map((_, i) => (i * 53) & 255), width: 28, height: 31 };
      const tops = [];
      for (const model of [new Uint8Array(readFileSync(BUNDLED)), path, pathToFileURL(path)]) {
        const c = await createImageClassifier({ model });
        tops.push(await c.classify(image, { topK: 3 }));
        await c.dispose();
      }
      expect(tops[1]).toEqual(tops[0]);
      expect(tops[2]).toEqual(tops[0]);
      const missing = join(dir, 'nope.safetensors');
      await expect(createImageClassifier({ model: missing })).rejects.toThrow(new RegExp(`${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*(no such file|ENOENT|does not exist)`, 'i'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
