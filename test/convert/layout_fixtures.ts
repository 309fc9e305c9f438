import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { readCheckpoint, readLabelsFile } from '../../src/model/convert/files.js';
import type { ConvertOptions } from '../../src/model/convert/index.js';
import { WebvitError } from '../../src/runtime/errors.js';

/** The layout fixtures of tools/make_layout_fixtures.py (one torchvision ViT in every layout). */
export const LAYOUT_DIR = join(import.meta.dirname, '..', 'fixtures', 'layouts');

export const LAYOUT_FIXTURES = ['hf', 'hf_sharded', 'hf_vitmodel', 'timm_cls', 'timm_avg', 'timm_avg_nocls', 'deit', 'torchvision', 'timm_cls_resized'] as const;

export interface LayoutGolden {
  name: string;
  layout: string;
  checkpoint: string;
  convert_args: string[];
  batch: number;
  config: Record<string, unknown>;
  labels: string[] | null;
  logits: number[][];
  features: number[][];
  top5: number[][];
  seed: number;
}

export function layoutGolden(name: string): { golden: LayoutGolden; input: Float32Array } {
  const dir = join(LAYOUT_DIR, name);
  const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as LayoutGolden;
  const raw = readFileSync(join(dir, 'input.bin'));
  return { golden, input: new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)) };
}

/** The ConvertOptions a fixture's convert_args stand for (the same flags the CLI takes). */
export async function optionsFromArgs(args: string[]): Promise<ConvertOptions> {
  const o: ConvertOptions = {};
  for (let i = 0; i < args.length; i += 2) {
    const [k, v] = [args[i], args[i + 1]];
    if (k === '--heads') o.heads = Number(v);
    else if (k === '--image-size') o.imageSize = Number(v);
    else if (k === '--labels') {
      o.labels = await readLabelsFile(join(LAYOUT_DIR, v));
      o.labelsSource = v;
    } else throw new Error(`unknown fixture arg ${k}`);
  }
  return o;
}

export const fixtureCheckpoint = (name: string) => readCheckpoint(join(LAYOUT_DIR, name));

/** Asserts `fn` throws a WebvitError with `code` whose one-line message contains every fragment; returns the message. */
export async function expectConvertError(fn: () => unknown, fragments: string[], code = 'BAD_WEIGHTS'): Promise<string> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an error').toBeInstanceOf(WebvitError);
  const e = err as WebvitError;
  expect(e.code, e.message).toBe(code);
  expect(e.message, 'one line').not.toMatch(/\n/);
  for (const f of fragments) expect(e.message, `message should mention ${JSON.stringify(f)}`).toContain(f);
  return e.message;
}
