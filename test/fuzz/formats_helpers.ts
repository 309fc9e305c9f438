import fc from 'fast-check';
import { WebvitError } from '../../src/runtime/errors.js';

/**
 * What every fuzz case of the file formats (safetensors, configs, checkpoints) must satisfy, and
 * the generators the properties share. See test/fuzz/formats.test.ts.
 *
 * WEBVIT_FUZZ_RUNS   base number of cases per property (default 800; each property runs a
 *                    multiple of it, see RUNS in formats.test.ts). Long run:
 *                    WEBVIT_FUZZ_RUNS=200000 npx vitest run test/fuzz/formats.test.ts
 * WEBVIT_FUZZ_SEED   replay: the seed fast-check printed with a failure; WEBVIT_FUZZ_PATH the
 *                    `path` it printed, to run the shrunk case at once.
 * WEBVIT_FUZZ_CASE_MS  the time bound per case (default 1000 ms).
 */
export const FUZZ_BASE_RUNS = Number(process.env.WEBVIT_FUZZ_RUNS ?? 800);
export const FUZZ_SEED = process.env.WEBVIT_FUZZ_SEED !== undefined ? Number(process.env.WEBVIT_FUZZ_SEED) : (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) >>> 0;

/** Per case: wall time, growth of array-buffer memory (the files are at most a few hundred KB), message size. */
export const BOUNDS = {
  ms: Number(process.env.WEBVIT_FUZZ_CASE_MS ?? 1000),
  arrayBufferBytes: 64 * 2 ** 20,
  messageChars: 4000,
};

/** fast-check parameters for a property of weight `w` (runs = w × the base count). */
export function fuzzParams(w: number): { numRuns: number; seed: number; path?: string } {
  const path = process.env.WEBVIT_FUZZ_PATH;
  return { numRuns: Math.max(1, Math.round(w * FUZZ_BASE_RUNS)), seed: FUZZ_SEED, ...(path ? { path } : {}) };
}

/** How the cases of one property ended: "ok" or the WebvitError code, counted. */
export class Outcomes {
  readonly counts = new Map<string, number>();
  total = 0;
  add(k: string): void {
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    this.total++;
  }
  toString(): string {
    return [...this.counts].map(([k, n]) => `${k} ${n}`).join(', ');
  }
}

function judge(what: string, t0: number, ab0: number, err: unknown, out: Outcomes): void {
  const ms = performance.now() - t0;
  if (err !== undefined) {
    if (!(err instanceof WebvitError) || typeof err.code !== 'string') {
      const e = err as Error;
      throw new Error(`${what}: ended in ${e?.name ?? typeof err} (not a WebvitError with a code): ${e?.message}\n${e?.stack ?? ''}`);
    }
    if (err.message.includes('\n')) throw new Error(`${what}: a WebvitError message of more than one line: ${err.message.slice(0, 300)}`);
    if (err.message.length > BOUNDS.messageChars) throw new Error(`${what}: a WebvitError message of ${err.message.length} characters: ${err.message.slice(0, 300)}...`);
  }
  if (ms > BOUNDS.ms) throw new Error(`${what}: took ${ms.toFixed(0)} ms (bound ${BOUNDS.ms} ms)`);
  const grown = process.memoryUsage().arrayBuffers - ab0;
  if (grown > BOUNDS.arrayBufferBytes) throw new Error(`${what}: array-buffer memory grew by ${(grown / 2 ** 20).toFixed(0)} MiB (bound ${BOUNDS.arrayBufferBytes / 2 ** 20} MiB)`);
  out.add(err === undefined ? 'ok' : (err as WebvitError).code);
}

/** Runs one case: it must succeed or throw a one-line WebvitError with a code, within the bounds. */
export function expectCleanOutcome(what: string, out: Outcomes, fn: () => void): void {
  const ab0 = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e ?? new Error('thrown undefined');
  }
  judge(what, t0, ab0, err, out);
}

export async function expectCleanOutcomeAsync(what: string, out: Outcomes, fn: () => Promise<void>): Promise<void> {
  const ab0 = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e ?? new Error('thrown undefined');
  }
  judge(what, t0, ab0, err, out);
}

/**
 * Strings of any length a file may carry: mostly short (up to `short` characters, as before),
 * sometimes long (up to 5000: names, labels and values that messages quote), full unicode
 * (astral, combining, right-to-left), control characters and terminal escapes, and the names
 * every object has (`__proto__`, `constructor`).
 */
export function anyString(short = 12): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 12, arbitrary: fc.string({ maxLength: short }) },
    { weight: 2, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '\u001b[31mred\u001b[0m', '\r\n', '\u202eevil', '\u0000', '') },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: short + 1, maxLength: 300 }) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('a', 'é', '😀', '\u0301', '\u001b', '\n', '"', '\\'), fc.integer({ min: short + 1, max: 5000 })).map(([c, n]) => c.repeat(n)) },
  );
}

/**
 * JSON values that break parsers: boundaries of integer types and of float precision, negative
 * zero, fractions, strings where numbers belong, containers where scalars belong, and deep nesting.
 */
export const interestingJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<unknown>(0, 1, -1, 2, 3, 4, 8, 16, 64, 255, 256, 1023, 1024, 1025, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 1e9, 1e15, 1e308, -1e308, 0.5, -0, 5e-324, 1e-6) },
  { weight: 2, arbitrary: fc.constantFrom<unknown>('', 'F32', 'F16', 'BF16', 'F64', 'I64', 'U8', 'F8_E4M3', 'webvit', 'cls', 'mean', 'max', '64', '1e9', '__proto__', 'constructor') },
  { weight: 2, arbitrary: fc.constantFrom<unknown>(true, false, null, [], {}, [0], [1, 1], [2 ** 40, 2 ** 40], [0, 2 ** 60], [-1], [64, 64], { a: 1 }) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: anyString() },
  { weight: 1, arbitrary: fc.array(fc.integer({ min: -2, max: 300 }), { maxLength: 5 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 20_000 }).map((depth) => new Deep(depth)) },
);

/**
 * An array nested `depth` deep. JSON.parse reads any depth, but JSON.stringify (which messages
 * use to show a bad value) overflows the stack at a few thousand: kept as a marker until toJson
 * writes the brackets, or realised by toValue.
 */
export class Deep {
  constructor(readonly depth: number) {}
  text(): string {
    return '['.repeat(this.depth) + ']'.repeat(this.depth);
  }
}

/** Byte-level damage to a file, as data (so that fast-check can shrink it). */
export type ByteMutation =
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'append'; bytes: Uint8Array }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'lengthField'; value: bigint };

export const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({
    kind: fc.constant('lengthField' as const),
    value: fc.oneof(fc.constantFrom(0n, 1n, 2n ** 31n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, 100_000_000n, 100_000_001n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
  }),
);

/** Applies a byte mutation; positions are taken modulo the length (biased to the header by the caller's choice of `at`). */
export function mutateBytes(b: Uint8Array, m: ByteMutation): Uint8Array {
  const at = (x: number) => (b.length ? x % (b.length + 1) : 0);
  switch (m.kind) {
    case 'set': {
      if (!b.length) return b;
      const out = b.slice();
      out[m.at % b.length] = m.value;
      return out;
    }
    case 'truncate':
      return b.slice(0, at(m.at));
    case 'append': {
      const out = new Uint8Array(b.length + m.bytes.length);
      out.set(b);
      out.set(m.bytes, b.length);
      return out;
    }
    case 'insert': {
      const p = at(m.at);
      const out = new Uint8Array(b.length + m.bytes.length);
      out.set(b.subarray(0, p));
      out.set(m.bytes, p);
      out.set(b.subarray(p), p + m.bytes.length);
      return out;
    }
    case 'delete': {
      const p = at(m.at);
      const rest = b.subarray(Math.min(b.length, p + m.length));
      const out = new Uint8Array(p + rest.length);
      out.set(b.subarray(0, p));
      out.set(rest, p);
      return out;
    }
    case 'lengthField': {
      if (b.length < 8) return b;
      const out = b.slice();
      new DataView(out.buffer).setBigUint64(0, m.value, true);
      return out;
    }
  }
}

/** A copy of a generated value (fast-check hands the same objects to several cases; edits must not reach them). */
function copy(v: unknown): unknown {
  if (v instanceof Deep || typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(copy);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x)]));
}

/** Sets a copy of `value` at a path of keys / indices in a JSON value (plain objects and arrays); DELETE removes it. */
export function setPath(root: unknown, path: (string | number)[], value: unknown): unknown {
  value = copy(value);
  if (path.length === 0) return value;
  if (typeof root !== 'object' || root === null) return root;
  const [k, ...rest] = path;
  const container = root as Record<string | number, unknown>;
  if (rest.length === 0 && value === DELETE) {
    if (Array.isArray(container)) container.splice(Number(k), 1);
    else delete container[k];
  } else {
    container[k] = rest.length ? setPath(container[k], rest, value) : value;
  }
  return root;
}

export const DELETE = Symbol('delete');

/** A replacement for a JSON field: an interesting value or removal. */
export const fieldValue: fc.Arbitrary<unknown> = fc.oneof({ weight: 9, arbitrary: interestingJson }, { weight: 1, arbitrary: fc.constant(DELETE) });

/** JSON.stringify that keeps the DELETE marker out of the output and writes Deep markers as brackets. */
export function toJson(v: unknown): string {
  const deep: string[] = [];
  const s = JSON.stringify(v, (_k, x) => {
    if (x === DELETE) return undefined;
    if (x instanceof Deep) {
      deep.push(x.text());
      return `\u0000deep${deep.length - 1}\u0000`;
    }
    return x;
  });
  return s === undefined ? s! : s.replace(/"\\u0000deep(\d+)\\u0000"/g, (_m, i) => deep[Number(i)]);
}

/** A value as the code under test would get it from JSON.parse (Deep markers realised). */
export const toValue = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(toJson(v)));
