import fc from 'fast-check';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, shapeOf, VIT_PRESETS } from '../../src/model/config.js';
import { checkpointFromArrays, convertCheckpoint, encodeWeights, RESIZE_MODES, type Checkpoint, type ConvertOptions } from '../../src/model/convert/index.js';
import { readCheckpoint } from '../../src/model/convert/files.js';
import { parsePreprocess } from '../../src/image/preprocess.js';
import { parseSafetensors, type Dtype } from '../../src/model/safetensors.js';
import { declaredWeights, expectedTensors, readWeights, useQuantReader } from '../../src/model/weights.js';
import { readQuantized } from '../../src/model/quant_weights.js';
import { quantize } from '../../src/kernels/matmul/quant.js';
import { assemble, joinWeightsAs, readHeader, splitWeights, toBf16Bytes, toHalfBytes, writeRaw } from '../helpers/weight_file.js';
import { configArb, randomWeights } from './models_helpers.js';
import { LAYOUT_DIR, LAYOUT_FIXTURES } from '../convert/layout_fixtures.js';
import {
  anyString,
  byteMutation,
  DELETE,
  expectCleanOutcome,
  expectCleanOutcomeAsync,
  fieldValue,
  FUZZ_BASE_RUNS,
  FUZZ_SEED,
  fuzzParams,
  interestingJson,
  mutateBytes,
  Outcomes,
  setPath,
  toJson,
  toValue,
  type ByteMutation,
} from './formats_helpers.js';

// Fuzzing the file formats: the safetensors reader (parseSafetensors + readWeights), the config
// parsers (parseConfig, webvit.preprocess, Hugging Face config.json) and the checkpoint
// converter's name mapping (convertCheckpoint, in memory and from a sharded folder on disk).
// Thousands of generated and mutated files per run, starting from the real fixtures; each case
// must end in success or a one-line WebvitError with a code, never another exception, within
// BOUNDS (1 s, 64 MiB of array buffers, 4000-character messages) — see formats_helpers.ts.
//
// On a failure fast-check prints the seed and path of the shrunk case: replay it with
// WEBVIT_FUZZ_SEED=<seed>. Cases per run: WEBVIT_FUZZ_RUNS (default 800: about 16 000 cases, 15-30 s on 2 cores) × the weights in RUNS.
// Long run: WEBVIT_FUZZ_RUNS=200000 npx vitest run test/fuzz/formats.test.ts

/** Weights of the properties: cases = weight × WEBVIT_FUZZ_RUNS. */
const RUNS = { generated: 3, generatedValid: 0.25, generatedQuantised: 0.25, mutatedFile: 6, config: 4, preprocess: 2, hfConfig: 2, converter: 3, sharded: 0.1 };

const outcomes: Record<string, Outcomes> = {};
const track = (name: string) => (outcomes[name] ??= new Outcomes());

afterAll(() => {
  const total = Object.values(outcomes).reduce((a, o) => a + o.total, 0);
  console.log(`format fuzz: seed ${FUZZ_SEED}, WEBVIT_FUZZ_RUNS ${FUZZ_BASE_RUNS}, ${total} cases`);
  for (const [name, o] of Object.entries(outcomes)) console.log(`  ${name}: ${o.total} cases (${o})`);
});

const tmp = mkdtempSync(join(tmpdir(), 'webvit-fuzz-formats-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Quantised files (int8, q4) are read synchronously here, as in Node's entry points.
useQuantReader(readQuantized);

const tinyBytes = new Uint8Array(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'tiny', 'model.safetensors')));
const tinyParts = splitWeights(tinyBytes);
const tinyConfig = tinyParts.config;
const BASE_FILES: [string, Uint8Array][] = [
  ['tiny F32', tinyBytes],
  ['tiny F16', joinWeightsAs(tinyParts, 'F16')],
  ['tiny BF16', joinWeightsAs(tinyParts, 'BF16')],
  ['tiny int8', encodeWeights(readWeights(tinyBytes, 'tiny'), 'int8')],
  ['tiny q4', encodeWeights(readWeights(tinyBytes, 'tiny'), 'q4')],
  ['tiny_mean', new Uint8Array(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'tiny_mean', 'model.safetensors')))],
  ['layouts/hf (not a webvit file)', new Uint8Array(readFileSync(join(LAYOUT_DIR, 'hf', 'model.safetensors')))],
];

/** Reads a file the way every consumer does: the safetensors framing, then the webvit checks. */
function loadBoth(bytes: Uint8Array): void {
  parseSafetensors(bytes, 'fuzz.safetensors');
  readWeights(bytes, 'fuzz.safetensors');
}

describe('safetensors reader: generated files', () => {
  // Files built from scratch: tensors of any dtype and shape (valid and not), offsets packed or
  // perturbed, metadata with or without a webvit config, trailing bytes, a wrong length field.
  const tensorSpec = fc.record({
    name: fc.oneof(fc.constantFrom(...tinyParts.tensors.map((t) => t.name)), anyString()),
    dtype: fc.oneof({ weight: 5, arbitrary: fc.constantFrom('F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL') }, { weight: 1, arbitrary: interestingJson }),
    shape: fc.oneof({ weight: 5, arbitrary: fc.array(fc.integer({ min: 0, max: 8 }), { maxLength: 4 }) }, { weight: 1, arbitrary: interestingJson }),
    offsetDelta: fc.option(fc.tuple(fc.integer({ min: -8, max: 8 }), fc.integer({ min: -8, max: 8 })), { freq: 4 }),
    offsets: fc.option(interestingJson, { freq: 8 }),
  });
  const fileSpec = fc.record({
    tensors: fc.array(tensorSpec, { maxLength: 6 }),
    metadata: fc.option(fc.dictionary(anyString(8), fc.oneof(anyString(8), interestingJson), { maxKeys: 3 }), { freq: 3 }),
    webvit: fc.option(fc.record({ config: fc.oneof(fc.constant(tinyConfig), fc.dictionary(fc.constantFrom(...Object.keys(tinyConfig)), interestingJson)), labels: fc.option(interestingJson) })),
    trailing: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 16 }) }),
    lengthDelta: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -16, max: 16 }) }),
    fill: fc.constantFrom(0, 0x3f, 0xff),
  });
  const SIZES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

  it('every file is read or refused with a WebvitError', () => {
    const out = track('safetensors generated');
    fc.assert(
      fc.property(fileSpec, (spec) => {
        const header: Record<string, unknown> = {};
        let pos = 0;
        for (const t of spec.tensors) {
          const shape = toValue(t.shape);
          const size = typeof t.dtype === 'string' ? (SIZES[t.dtype] ?? 4) : 4;
          const n = Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0 && d <= 8) ? shape.reduce((a: number, d: number) => a * d, 1) * size : 4;
          const [db, de] = t.offsetDelta ?? [0, 0];
          header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: t.offsets ?? [pos + db, pos + n + de] };
          pos += n;
        }
        const metadata: Record<string, unknown> = { ...(spec.metadata ?? {}) };
        if (spec.webvit) {
          Object.assign(metadata, { format: 'webvit', 'webvit.version': '1', 'webvit.config': toJson(spec.webvit.config) });
          if (spec.webvit.labels !== null) metadata['webvit.labels'] = toJson(spec.webvit.labels);
        }
        if (spec.metadata || spec.webvit) header.__metadata__ = metadata;
        const bytes = assemble(new TextEncoder().encode(toJson(header)), new Uint8Array(pos + spec.trailing).fill(spec.fill));
        if (spec.lengthDelta) {
          const v = new DataView(bytes.buffer);
          v.setBigUint64(0, BigInt(Math.max(0, Number(v.getBigUint64(0, true)) + spec.lengthDelta)), true);
        }
        expectCleanOutcome('generated safetensors file', out, () => loadBoth(bytes));
      }),
      fuzzParams(RUNS.generated),
    );
    if (!process.env.WEBVIT_FUZZ_PATH) expect(out.total).toBe(Math.round(RUNS.generated * FUZZ_BASE_RUNS));
  });
});

describe('safetensors reader: generated valid files', () => {
  // The generated files above are almost all refused at some check; these are valid by
  // construction — every tensor of a random small config (models_helpers.ts), each stored as
  // F32, F16 or BF16, in any order, with extra metadata (long and unicode strings, labels of
  // any text) — so the reader's accepting path is fuzzed too.
  const spec = fc.record({
    config: configArb,
    seed: fc.nat(),
    dtypes: fc.array(fc.constantFrom('F32' as const, 'F16' as const, 'BF16' as const), { minLength: 1, maxLength: 4 }),
    order: fc.nat(),
    metadata: fc.dictionary(anyString(), anyString(), { maxKeys: 3 }).map((m) => Object.fromEntries(Object.entries(m).filter(([k]) => !k.startsWith('webvit') && k !== 'format'))),
    labels: fc.option(fc.array(anyString(), { minLength: 1, maxLength: 60 })),
  });
  /** Largest rounding of a float32 value stored as `dtype` (relative, plus the smallest subnormal step). */
  const ROUNDING = { F32: [0, 0], F16: [2 ** -11, 2 ** -24], BF16: [2 ** -8, 2 ** -133] } as const;

  it('every valid file loads, to the values written (within the rounding of each dtype)', () => {
    const out = track('safetensors generated valid');
    fc.assert(
      fc.property(spec, (g) => {
        const w = randomWeights({ config: g.config, seed: g.seed, dtype: 'F32', weightScale: 1 });
        const shapes = expectedTensors(g.config);
        const names = [...w.tensors.keys()];
        // a rotation and, for odd `order`, a reversal of the canonical order
        const k = g.order % names.length;
        const ordered = [...names.slice(k), ...names.slice(0, k)];
        if (g.order % 2) ordered.reverse();
        const dtypeOf = (i: number) => g.dtypes[i % g.dtypes.length];
        const encode = { F32: (a: Float32Array) => new Uint8Array(a.slice().buffer), F16: toHalfBytes, BF16: toBf16Bytes };
        const labels = g.labels && g.config.num_classes > 0 ? Array.from({ length: g.config.num_classes }, (_, i) => g.labels![i % g.labels!.length]) : undefined;
        const metadata: Record<string, string> = { ...g.metadata, format: 'webvit', 'webvit.version': '1', 'webvit.config': JSON.stringify(g.config), ...(labels ? { 'webvit.labels': JSON.stringify(labels) } : {}) };
        const bytes = writeRaw(ordered.map((name, i) => ({ name, dtype: dtypeOf(i), shape: shapes.get(name)!, data: encode[dtypeOf(i)](w.tensors.get(name)!) })), metadata);
        expectCleanOutcome('generated valid file', out, () => {
          const r = readWeights(bytes, 'valid.safetensors');
          expect(r.config).toEqual(g.config);
          expect(r.labels).toEqual(labels);
          ordered.forEach((name, i) => {
            const [rel, abs] = ROUNDING[dtypeOf(i)];
            const want = w.tensors.get(name)!;
            const got = r.tensors.get(name)!;
            for (let j = 0; j < want.length; j++) {
              if (!(Math.abs(got[j] - want[j]) <= rel * Math.abs(want[j]) + abs)) throw new Error(`${name}[${j}] (${dtypeOf(i)}): read ${got[j]}, wrote ${want[j]}`);
            }
          });
        });
        // Valid means loaded: a refusal is a bug here.
        expect(out.counts.get('ok'), String(out)).toBe(out.total);
      }),
      fuzzParams(RUNS.generatedValid),
    );
  });
});

describe('safetensors reader: generated valid quantised files', () => {
  // Random small configs (every family's matrices), their matmul weights quantised by the
  // converter (encodeWeights int8 / q4), with tiny and zero columns mixed in: each must load, its
  // codes and scales those of src/kernels/matmul/quant.ts, the other tensors exact, no f32 copy.
  const spec = fc.record({ config: configArb, seed: fc.nat(), kind: fc.constantFrom('int8' as const, 'q4' as const), zeroColumn: fc.nat(), tiny: fc.boolean() });
  it('every quantised file loads, to the converter\'s codes and scales', () => {
    const out = track('safetensors generated quantised');
    fc.assert(
      fc.property(spec, (g) => {
        const w = randomWeights({ config: g.config, seed: g.seed, dtype: 'F32', weightScale: g.tiny ? 1e-6 : 1 });
        const declared = declaredWeights(g.config);
        for (const [name, t] of w.tensors) {
          const d = declared.get(name)!;
          if (d.matrix) for (let k = 0; k < d.shape[0]; k++) t[k * d.shape[1] + (g.zeroColumn % d.shape[1])] = 0;
        }
        expectCleanOutcome('generated quantised file', out, () => {
          const r = readWeights(encodeWeights(w, g.kind), 'q.safetensors');
          for (const [name, d] of declared) {
            if (!d.matrix) {
              expect(r.tensors.get(name), name).toEqual(w.tensors.get(name));
              continue;
            }
            expect(r.tensors.has(name), `${name}: an f32 copy beside the codes`).toBe(false);
            const want = quantize(w.tensors.get(name)!, d.shape[0], d.shape[1], g.kind);
            const got = r.quant!.get(name)!;
            expect([got.kind, got.K, got.N], name).toEqual([g.kind, d.shape[0], d.shape[1]]);
            expect(Buffer.from(got.codes).equals(Buffer.from(want.codes)), `${name}: codes`).toBe(true);
            expect(got.scales, `${name}: scales`).toEqual(want.scales);
          }
        });
        expect(out.counts.get('ok'), String(out)).toBe(out.total);
      }),
      fuzzParams(RUNS.generatedQuantised),
    );
  });
});

describe('safetensors reader: mutated real files', () => {
  type FileMutation =
    | { kind: 'bytes'; m: ByteMutation; inHeader: boolean }
    | { kind: 'header'; tensor: number; field: 'dtype' | 'shape' | 'dim' | 'data_offsets' | 'offset' | 'entry' | 'rename' | 'duplicate'; index: number; value: unknown }
    | { kind: 'config'; field: string; value: unknown }
    | { kind: 'metadata'; key: string; value: unknown }
    | { kind: 'preprocess'; field: string; value: unknown }
    | { kind: 'poison'; at: number; value: number };

  const mutation: fc.Arbitrary<FileMutation> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('bytes' as const), m: byteMutation, inHeader: fc.boolean() }) },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('header' as const),
        tensor: fc.nat(),
        field: fc.constantFrom('dtype', 'shape', 'dim', 'data_offsets', 'offset', 'entry', 'rename', 'duplicate'),
        index: fc.nat(5),
        // the dtypes of quantised files too: swapped codes and scales, an I8 norm
        value: fc.oneof({ weight: 4, arbitrary: fieldValue }, { weight: 1, arbitrary: fc.constantFrom('I8', 'U8', 'F16', 'F32') }),
      }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('config' as const), field: fc.constantFrom(...Object.keys(tinyConfig), 'class_token', 'distilled', 'fc_norm', 'bogus'), value: fieldValue }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('metadata' as const),
        key: fc.constantFrom('format', 'webvit.version', 'webvit.config', 'webvit.labels', 'webvit.preprocess', 'webvit.quant', '__proto__'),
        value: fc.oneof(fieldValue, anyString(20), fc.constantFrom('int8', 'q4', 'int4', 'INT8'), fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v))),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('preprocess' as const), field: fc.constantFrom('resize', 'crop', 'interpolation', 'mean', 'std', 'channels', 'bogus'), value: fieldValue }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('poison' as const), at: fc.nat(), value: fc.constantFrom(NaN, Infinity, -Infinity, 3e38, -1e7, 1.5e6, 65504) }) },
  );

  function apply(bytes: Uint8Array, m: FileMutation): Uint8Array {
    try {
      return applyUnsafe(bytes, m);
    } catch (e) {
      // The test's own JSON.stringify cannot write a header holding an earlier mutation's deep
      // array (parsed back from the file): leave the file as it is.
      if (e instanceof RangeError) return bytes;
      throw e;
    }
  }

  function applyUnsafe(bytes: Uint8Array, m: FileMutation): Uint8Array {
    if (m.kind === 'bytes') {
      if (!m.inHeader || bytes.length < 8) return mutateBytes(bytes, m.m);
      // Aim at the length field and the header, where the parser decides everything.
      const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
      const span = Math.min(bytes.length, 8 + Math.min(n, bytes.length) + 16);
      const at = 'at' in m.m ? m.m.at % (span + 1) : 0;
      return mutateBytes(bytes, { ...m.m, ...('at' in m.m ? { at } : {}) } as ByteMutation);
    }
    let parsed: { header: Record<string, any>; dataStart: number };
    try {
      parsed = readHeader(bytes);
      if (typeof parsed.header !== 'object' || parsed.header === null || Array.isArray(parsed.header)) return bytes;
    } catch {
      return bytes; // an earlier mutation broke the header: nothing to edit
    }
    const { header, dataStart } = parsed;
    const data = bytes.subarray(dataStart);
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    const meta = (header.__metadata__ ??= {});
    if (typeof meta !== 'object' || meta === null) return bytes;
    switch (m.kind) {
      case 'header': {
        if (!names.length) return bytes;
        const name = names[m.tensor % names.length];
        const entry = header[name];
        if (typeof entry !== 'object' || entry === null) return bytes;
        if (m.field === 'entry') setPath(header, [name], m.value);
        else if (m.field === 'rename') {
          header[typeof m.value === 'string' ? m.value : `${name}.${m.index}`] = entry;
          delete header[name];
        } else if (m.field === 'duplicate') header[`${name}_copy${m.index}`] = structuredClone(entry);
        else if (m.field === 'dim' && Array.isArray(entry.shape)) setPath(entry.shape, [m.index % Math.max(1, entry.shape.length)], m.value);
        else if (m.field === 'offset' && Array.isArray(entry.data_offsets)) setPath(entry.data_offsets, [m.index % 2], m.value);
        else setPath(entry, [m.field === 'dim' ? 'shape' : m.field === 'offset' ? 'data_offsets' : m.field], m.value);
        break;
      }
      case 'config': {
        let cfg: unknown;
        try {
          cfg = JSON.parse(meta['webvit.config']);
        } catch {
          return bytes;
        }
        meta['webvit.config'] = toJson(setPath(cfg, [m.field], m.value));
        break;
      }
      case 'metadata':
        setPath(meta, [m.key], m.value);
        break;
      case 'preprocess': {
        let pre: unknown = {};
        try {
          if (meta['webvit.preprocess'] !== undefined) pre = JSON.parse(meta['webvit.preprocess']);
        } catch {
          return bytes;
        }
        meta['webvit.preprocess'] = toJson(setPath(pre, [m.field], m.value));
        break;
      }
      case 'poison': {
        if (data.length < 4) return bytes;
        const d = data.slice();
        // A scale tensor of a quantised file half the time (its F32 or F16 values), else anywhere.
        const scale = m.at % 2 ? names.find((n, i) => n.endsWith('_scale') && i >= (m.at >> 1) % names.length) : undefined;
        const e = scale ? header[scale] : undefined;
        const [b, en] = Array.isArray(e?.data_offsets) ? e.data_offsets : [0, 0];
        if (e?.dtype === 'F16' && en - b >= 2 && en <= d.length) new DataView(d.buffer).setUint16(b + 2 * ((m.at >> 3) % ((en - b) >> 1)), [0x7c00, 0xfc00, 0x7e00, 0x8001, 0x7bff][m.at % 5], true);
        else if (e?.dtype === 'F32' && en - b >= 4 && en <= d.length) new DataView(d.buffer).setFloat32(b + 4 * ((m.at >> 3) % ((en - b) >> 2)), m.at % 3 ? m.value : -m.value, true);
        else new DataView(d.buffer).setFloat32(4 * ((m.at % (d.length >> 2)) | 0), m.value, true);
        return assemble(bytes.subarray(8, dataStart), d);
      }
    }
    return assemble(new TextEncoder().encode(toJson(header)), data);
  }

  it('every mutated file is read or refused with a WebvitError', () => {
    const out = track('safetensors mutated');
    fc.assert(
      fc.property(fc.nat(BASE_FILES.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 }), (which, ms) => {
        let bytes = BASE_FILES[which][1];
        for (const m of ms) bytes = apply(bytes, m);
        expectCleanOutcome(`${BASE_FILES[which][0]}, mutated`, out, () => loadBoth(bytes));
      }),
      fuzzParams(RUNS.mutatedFile),
    );
    // The mutations must not all be refused at the first check: some files must load.
    if (!process.env.WEBVIT_FUZZ_PATH) expect(out.counts.get('ok') ?? 0, String(out)).toBeGreaterThan(0);
  });
});

describe('config parsers', () => {
  const FIELDS = ['image_size', 'patch_size', 'num_channels', 'hidden_size', 'num_layers', 'num_heads', 'mlp_size', 'num_classes', 'layer_norm_eps', 'qkv_bias', 'pooling', 'class_token', 'distilled', 'fc_norm'];
  const edit = fc.record({ field: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...FIELDS) }, { weight: 1, arbitrary: anyString(8) }), value: fieldValue });
  const BASES = [tinyConfig, ...Object.values(VIT_PRESETS)];

  it('parseConfig: every mutated config is accepted (and its tensor list is small) or refused with a WebvitError', () => {
    const out = track('parseConfig');
    fc.assert(
      fc.property(fc.nat(BASES.length - 1), fc.array(edit, { minLength: 0, maxLength: 4 }), (which, edits) => {
        let raw: unknown = structuredClone(BASES[which]);
        for (const e of edits) raw = setPath(raw, [e.field], e.value);
        raw = toValue(raw);
        expectCleanOutcome('mutated config', out, () => {
          const c = parseConfig(raw, 'fuzz');
          // What an accepted config makes the loader build must stay small.
          expect(expectedTensors(c).size).toBeLessThanOrEqual(5 + 12 * 1024 + 4);
          expect(shapeOf(c).tokens).toBeLessThanOrEqual(65536 + 2);
        });
      }),
      fuzzParams(RUNS.config),
    );
  });

  it('webvit.preprocess: every mutated value is accepted or refused with a WebvitError', () => {
    const out = track('parsePreprocess');
    const config = parseConfig(tinyConfig, 'tiny');
    const base = { resize: 37, crop: 32, interpolation: 'bicubic', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], channels: 'rgb' };
    const pEdit = fc.record({ field: fc.constantFrom('resize', 'crop', 'interpolation', 'mean', 'std', 'channels', 'bogus'), value: fieldValue });
    fc.assert(
      fc.property(fc.array(pEdit, { minLength: 0, maxLength: 4 }), fc.option(anyString(30), { freq: 6 }), (edits, text) => {
        let raw: unknown = structuredClone(base);
        for (const e of edits) raw = setPath(raw, [e.field], e.value);
        expectCleanOutcome('mutated webvit.preprocess', out, () => void parsePreprocess(text ?? toJson(raw), config, 'fuzz'));
      }),
      fuzzParams(RUNS.preprocess),
    );
  });
});

/** A checkpoint's tensors as plain arrays, to mutate and rebuild with checkpointFromArrays. */
interface Arrays {
  name: string;
  tensors: { name: string; shape: number[]; data: Float32Array }[];
  config?: Record<string, unknown>;
  metadata: Record<string, string>;
}
const fixtures: Arrays[] = [];

beforeAll(async () => {
  for (const name of LAYOUT_FIXTURES) {
    if (name === 'timm_cls_resized') continue; // golden only, no checkpoint of its own
    const ck = await readCheckpoint(join(LAYOUT_DIR, name));
    fixtures.push({
      name,
      tensors: [...ck.tensors.values()].map((t) => ({ name: t.name, shape: [...t.shape], data: t.read() })),
      config: ck.config,
      metadata: ck.metadata,
    });
  }
});

const build = (a: Arrays, config: Record<string, unknown> | undefined, tensors = a.tensors): Checkpoint =>
  checkpointFromArrays(a.name, Object.fromEntries(tensors.map((t) => [t.name, { shape: t.shape, data: t.data }])), config, a.metadata);

/** A conversion that succeeded must give a file the loader accepts. */
function convertAndLoad(ck: Checkpoint, o: ConvertOptions): void {
  const r = convertCheckpoint(ck, o);
  const bytes = encodeWeights(r.weights, 'F32', r.metadata ?? {});
  readWeights(bytes, 'converted.safetensors');
}

const HF_KEYS = [
  'hidden_size',
  'num_hidden_layers',
  'num_attention_heads',
  'intermediate_size',
  'image_size',
  'patch_size',
  'num_channels',
  'layer_norm_eps',
  'qkv_bias',
  'hidden_act',
  'model_type',
  'architectures',
  'id2label',
  'label_names',
];

const optionsArb: fc.Arbitrary<ConvertOptions> = fc.record(
  {
    heads: fc.constantFrom(1, 2, 3, 4, 5, 8, 16, 64, 0, -1, 1e9, 2.5),
    imageSize: fc.constantFrom(8, 16, 24, 32, 33, 40, 48, 64, 0, 1024, 8192, 16384, 80000),
    pooling: fc.constantFrom('cls' as const, 'mean' as const),
    layout: fc.constantFrom('hf' as const, 'timm' as const, 'torchvision' as const, 'webvit' as const),
    labels: fc.array(anyString(6), { maxLength: 12 }),
    resize: fc.constantFrom(...RESIZE_MODES),
  },
  { requiredKeys: [] },
);

describe('Hugging Face config.json handling', () => {
  it('every mutated config.json converts (and loads) or is refused with a WebvitError', () => {
    const out = track('hf config.json');
    const hfEdit = fc.record({
      key: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...HF_KEYS) }, { weight: 1, arbitrary: anyString(8) }),
      sub: fc.option(fc.oneof(fc.constantFrom('0', '1', '9', '10', '-1', '01', 'x'), fc.nat(12).map(String)), { freq: 2 }),
      value: fieldValue,
    });
    fc.assert(
      fc.property(fc.constantFrom('hf', 'hf_vitmodel', 'hf_sharded', 'timm_cls'), fc.array(hfEdit, { minLength: 1, maxLength: 3 }), fc.option(optionsArb), (which, edits, o) => {
        const a = fixtures.find((f) => f.name === which)!;
        let cfg: unknown = structuredClone(a.config ?? {});
        for (const e of edits) cfg = setPath(cfg, e.sub !== null && typeof (cfg as Record<string, unknown>)[e.key] === 'object' ? [e.key, e.sub] : [e.key], e.value);
        cfg = toValue(cfg);
        const config = typeof cfg === 'object' && cfg !== null && !Array.isArray(cfg) ? (cfg as Record<string, unknown>) : undefined;
        expectCleanOutcome(`${which} with a mutated config.json`, out, () => convertAndLoad(build(a, config), { heads: which === 'timm_cls' ? 4 : undefined, ...(o ?? {}) }));
      }),
      fuzzParams(RUNS.hfConfig),
    );
  });
});

describe('checkpoint converter: name mapping', () => {
  type Mutation =
    | { kind: 'delete'; i: number }
    | { kind: 'renameIndex'; i: number; to: string }
    | { kind: 'renameChar'; i: number; at: number; ch: string }
    | { kind: 'prefix'; i: number; add: boolean }
    | { kind: 'add'; prefix: string; index: string; suffix: number; shape: number[] }
    | { kind: 'reshape'; i: number; how: 'permute' | 'split' | 'merge' | 'random' | 'empty'; shape: number[] }
    | { kind: 'poison'; i: number; at: number; value: number }
    | { kind: 'swap'; i: number; j: number };

  const INDICES = ['0', '1', '2', '3', '4', '10', '11', '1023', '1024', '100000', '1000000000', '007', '99999999999999999999999'];
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('delete' as const), i: fc.nat() }),
    fc.record({ kind: fc.constant('renameIndex' as const), i: fc.nat(), to: fc.constantFrom(...INDICES) }),
    fc.record({ kind: fc.constant('renameChar' as const), i: fc.nat(), at: fc.nat(), ch: fc.constantFrom('.', '_', 'x', '0', '9', '') }),
    fc.record({ kind: fc.constant('prefix' as const), i: fc.nat(), add: fc.boolean() }),
    fc.record({
      kind: fc.constant('add' as const),
      prefix: fc.constantFrom('blocks.', 'vit.encoder.layer.', 'encoder.layer.', 'encoder.layers.encoder_layer_', 'vit.', '', 'head', 'dist_token', 'fc_norm.'),
      index: fc.constantFrom(...INDICES, ''),
      suffix: fc.nat(),
      shape: fc.array(fc.integer({ min: 0, max: 70 }), { maxLength: 3 }),
    }),
    fc.record({
      kind: fc.constant('reshape' as const),
      i: fc.nat(),
      how: fc.constantFrom('permute' as const, 'split' as const, 'merge' as const, 'random' as const, 'empty' as const),
      shape: fc.array(fc.integer({ min: 0, max: 80 }), { minLength: 1, maxLength: 4 }),
    }),
    fc.record({ kind: fc.constant('poison' as const), i: fc.nat(), at: fc.nat(), value: fc.constantFrom(NaN, Infinity, -3e38, 2e6) }),
    fc.record({ kind: fc.constant('swap' as const), i: fc.nat(), j: fc.nat() }),
  );

  function apply(ts: Arrays['tensors'], m: Mutation): Arrays['tensors'] {
    if (!ts.length && m.kind !== 'add') return ts;
    const i = 'i' in m ? m.i % ts.length : 0;
    const t = ts[i];
    const replace = (nt: Arrays['tensors'][number]) => ts.map((x, k) => (k === i ? nt : x));
    switch (m.kind) {
      case 'delete':
        return ts.filter((_, k) => k !== i);
      case 'renameIndex':
        return replace({ ...t, name: t.name.replace(/\d+/, m.to) });
      case 'renameChar': {
        const at = m.at % (t.name.length + 1);
        return replace({ ...t, name: t.name.slice(0, at) + m.ch + t.name.slice(at + 1) });
      }
      case 'prefix':
        return replace({ ...t, name: m.add ? `vit.${t.name}` : t.name.replace(/^[^.]*\./, '') });
      case 'add': {
        const suffixes = ts.map((x) => x.name.replace(/^.*?\d+\./, ''));
        const n = m.shape.reduce((a, d) => a * d, 1);
        return [...ts, { name: `${m.prefix}${m.index}${m.index ? '.' : ''}${suffixes[m.suffix % suffixes.length] ?? 'weight'}`, shape: m.shape, data: new Float32Array(n).fill(0.5) }];
      }
      case 'reshape': {
        const n = t.data.length;
        let shape: number[];
        if (m.how === 'permute') shape = [...t.shape].reverse();
        else if (m.how === 'merge') shape = [n];
        else if (m.how === 'split') shape = n % 2 === 0 && n > 0 ? [2, n / 2] : [1, n];
        else if (m.how === 'empty') shape = [0, ...m.shape.map((d) => d * 2 ** 40)];
        else shape = m.shape.reduce((a, d) => a * d, 1) <= 2 ** 16 ? m.shape : m.shape.slice(0, 2); // inputs stay small: memory is bounded relative to them
        const count = shape.reduce((a, d) => a * d, 1);
        return replace({ ...t, shape, data: count === n ? t.data : new Float32Array(count).fill(0.25) });
      }
      case 'poison': {
        if (!t.data.length) return ts;
        const data = t.data.slice();
        data[m.at % data.length] = m.value;
        return replace({ ...t, data });
      }
      case 'swap': {
        const j = m.j % ts.length;
        return ts.map((x, k) => (k === i ? { ...x, name: ts[j].name } : k === j ? { ...x, name: ts[i].name } : x));
      }
    }
  }

  it('every mutated checkpoint converts (and the result loads) or is refused with a WebvitError', () => {
    const out = track('converter');
    fc.assert(
      fc.property(fc.nat(LAYOUT_FIXTURES.length - 2), fc.array(mutation, { minLength: 0, maxLength: 4 }), fc.option(optionsArb, { freq: 3 }), (which, ms, o) => {
        const a = fixtures[which % fixtures.length];
        let ts = a.tensors;
        for (const m of ms) ts = apply(ts, m);
        // Duplicate names (after a rename) would silently replace one another in the object below.
        if (new Set(ts.map((t) => t.name)).size !== ts.length) return;
        const needsHeads = !a.name.startsWith('hf');
        expectCleanOutcome(`${a.name} with ${ms.length} mutation(s)`, out, () => convertAndLoad(build(a, a.config, ts), { ...(needsHeads ? { heads: 4 } : {}), ...(o ?? {}) }));
      }),
      fuzzParams(RUNS.converter),
    );
    if (!process.env.WEBVIT_FUZZ_PATH) expect(out.counts.get('ok') ?? 0, String(out)).toBeGreaterThan(0);
  });
});

describe('sharded checkpoints on disk', () => {
  // The files readCheckpoint reads (index, shards, config.json) written to a folder and damaged.
  const indexEdit = fc.record({
    kind: fc.constantFrom('move', 'shard', 'delete', 'add', 'bytes', 'config'),
    i: fc.nat(),
    value: fc.oneof(fc.constantFrom('', '..', '.', 'missing.safetensors', 'a/b.safetensors', 'model.safetensors.index.json', 'config.json', 'model-00002-of-00002.safetensors'), fieldValue),
    m: byteMutation,
  });

  it('every damaged sharded folder converts or is refused with a WebvitError', async () => {
    const out = track('sharded on disk');
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(indexEdit, { minLength: 0, maxLength: 3 }), async (edits) => {
        const dir = join(tmp, `sharded-${n++}`);
        cpSync(join(LAYOUT_DIR, 'hf_sharded'), dir, { recursive: true });
        const indexPath = join(dir, 'model.safetensors.index.json');
        let indexText = readFileSync(indexPath, 'utf8');
        let configText = readFileSync(join(dir, 'config.json'), 'utf8');
        for (const e of edits) {
          let index: { weight_map: Record<string, unknown> };
          try {
            index = JSON.parse(indexText);
            if (typeof index?.weight_map !== 'object' || index.weight_map === null) continue;
          } catch {
            continue;
          }
          const names = Object.keys(index.weight_map);
          const name = names[e.i % Math.max(1, names.length)];
          if (e.kind === 'move') index.weight_map[name] = index.weight_map[name] === 'model-00001-of-00002.safetensors' ? 'model-00002-of-00002.safetensors' : 'model-00001-of-00002.safetensors';
          else if (e.kind === 'shard') index.weight_map[name] = e.value === DELETE ? null : e.value;
          else if (e.kind === 'delete') delete index.weight_map[name];
          else if (e.kind === 'add') index.weight_map[`extra.${e.i}`] = 'model-00001-of-00002.safetensors';
          try {
            indexText = toJson(index);
          } catch (err) {
            if (!(err instanceof RangeError)) throw err; // an earlier edit's deep array, parsed back: leave the text
          }
          if (e.kind === 'bytes') indexText = new TextDecoder().decode(mutateBytes(new TextEncoder().encode(indexText), e.m));
          if (e.kind === 'config') configText = new TextDecoder().decode(mutateBytes(new TextEncoder().encode(configText), e.m));
        }
        writeFileSync(indexPath, indexText);
        writeFileSync(join(dir, 'config.json'), configText);
        await expectCleanOutcomeAsync('damaged sharded folder', out, async () => convertAndLoad(await readCheckpoint(dir), {}));
        rmSync(dir, { recursive: true, force: true });
      }),
      fuzzParams(RUNS.sharded),
    );
  });
});
