// Hashes of encodeWeights(convertCheckpoint(dir)) for every fixture checkpoint (F32 and F16): run in two trees and diff.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpoint } from '../src/model/convert/files.js';
import { convertCheckpoint, encodeWeights } from '../src/model/convert/index.js';
const roots = ['test/fixtures/layouts', 'test/fixtures/families', 'test/fixtures/preprocess_hf', 'test/fixtures/quick_gelu', 'test/fixtures/tiny', 'test/fixtures/tiny_mean', 'test/fixtures/preprocess'];
const dirs: string[] = [];
for (const r of roots) {
  if (!existsSync(r)) continue;
  if (readdirSync(r).some((f) => f.endsWith('.safetensors') || f.endsWith('.index.json'))) dirs.push(r);
  for (const d of readdirSync(r)) if (statSync(join(r, d)).isDirectory() && readdirSync(join(r, d)).some((f) => f.endsWith('.safetensors') || f.endsWith('.index.json'))) dirs.push(join(r, d));
}
for (const d of dirs) {
  let args: string[] = [];
  try { args = JSON.parse(readFileSync(join(d, 'golden.json'), 'utf8')).convert_args ?? []; } catch {}
  const o: Record<string, unknown> = {};
  for (let i = 0; i < args.length; i += 2) if (args[i] === '--heads') o.heads = Number(args[i + 1]); else if (args[i] === '--image-size') o.imageSize = Number(args[i + 1]);
  for (const dt of ['F32', 'F16'] as const) {
    try {
      const ck = await readCheckpoint(d);
      const r = convertCheckpoint(ck, o);
      const b = encodeWeights(r.weights, dt, { 'webvit.converted_from': r.layout, ...r.metadata });
      console.log(d, dt, createHash('sha256').update(b).digest('hex').slice(0, 16), b.byteLength);
    } catch (e) { console.log(d, dt, 'ERR', (e as Error).message.slice(0, 100)); }
  }
}
