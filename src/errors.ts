/**
 * One error type for everything webvit rejects. `code` is stable for programs; the message is
 * for people: it names the thing (tensor, field, binding) and the expected versus actual value,
 * and where a common mistake is likely, what to do instead.
 */
export type WebvitErrorCode =
  | 'NO_WEBGPU'
  | 'NO_ADAPTER'
  | 'DEVICE_LIMITS'
  | 'BAD_WEIGHTS'
  | 'BAD_CONFIG'
  | 'BAD_INPUT'
  /** A kernel called with arguments it cannot run (a caller's or webvit's own bug, not bad data). */
  | 'BAD_ARGUMENT'
  | 'BINDING_MISMATCH'
  | 'SHADER'
  | 'DISPOSED'
  /** A file could not be written (full disk, file size limit, permissions): nothing was changed. */
  | 'IO'
  /** A download failed: an HTTP error status, a broken or truncated transfer (web API). */
  | 'NETWORK'
  /** The GPU device was lost and webvit cannot make a new one (it was the app's device). */
  | 'DEVICE_LOST'
  /** The caller's AbortSignal stopped it (createImageClassifier's `signal`). */
  | 'ABORTED'
  /** Worker mode: the worker script did not load, did not answer, or is of another webvit build. */
  | 'WORKER'
  /** Node: an optional npm package a feature needs is not installed (`@jsquash/jpeg` for JPEG decoding); the message says which. */
  | 'MISSING_PACKAGE'
  /** A model id, revision or file that the Hub (or the local Hugging Face cache, offline) does not have. */
  | 'NOT_FOUND'
  /** A gated or private model: an access token is needed, or the one given was refused. */
  | 'UNAUTHORIZED'
  /** A model webvit does not run: another architecture, or weights only in a format it does not read (pytorch_model.bin). */
  | 'UNSUPPORTED'
  | 'GPU';

/** Every code, at run time: a code that crossed a boundary (a worker's reply) is checked against it. */
export const isErrorCode = (c: unknown): c is WebvitErrorCode =>
  Object.hasOwn(
    {
      NO_WEBGPU: 0, NO_ADAPTER: 0, DEVICE_LIMITS: 0, BAD_WEIGHTS: 0, BAD_CONFIG: 0, BAD_INPUT: 0, BAD_ARGUMENT: 0, BINDING_MISMATCH: 0, SHADER: 0,
      DISPOSED: 0, IO: 0, NETWORK: 0, DEVICE_LOST: 0, ABORTED: 0, WORKER: 0, MISSING_PACKAGE: 0, GPU: 0,
      NOT_FOUND: 0, UNAUTHORIZED: 0, UNSUPPORTED: 0,
    } satisfies Record<WebvitErrorCode, 0>,
    c as string,
  );

export class WebvitError extends Error {
  readonly code: WebvitErrorCode;
  constructor(code: WebvitErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WebvitError';
    this.code = code;
  }
}

/** A chunk of the split browser bundle (explain, profile, the tuner's timing) that did not load. */
export const chunkMissing = (e: unknown): WebvitError =>
  new WebvitError('NETWORK', `a part of webvit could not be loaded (${(e as Error)?.message}); deploy the webvit.browser-*.js chunks beside webvit.browser.js`, { cause: e });

/** A chunk's dynamic import, wrapped: its failure is a chunkMissing error (a NETWORK WebvitError naming what to deploy). */
export const chunk = <T>(module: Promise<T>): Promise<T> => module.catch((e: unknown) => Promise.reject(chunkMissing(e)));

export function fail(code: WebvitErrorCode, message: string): never {
  throw new WebvitError(code, message);
}

/**
 * A value from outside (a tensor or file name, a label, a JSON key, an argument) as a message
 * shows it: longer than `max` characters, it is cut to its head and tail around its length, so a
 * 20 MB tensor name makes a short message that still says which name and what is wrong with it.
 */
export function clip(s: string, max = 200): string {
  return s.length > max ? `${s.slice(0, max >> 1)}…(${s.length} characters)…${s.slice(-(max >> 2))}` : s;
}

/** What a caller's value is, for a message: null, a primitive's type, an object's class (Array, Object, ImageBitmap). */
export function describeSource(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  return Object.prototype.toString.call(x).slice(8, -1);
}

/** A caller's value in a message: a primitive as text (clipped), an object or function by its kind (String() of one can throw). */
export const valueText = (x: unknown): string =>
  typeof x == 'object' || typeof x == 'function'
    ? describeSource(x)
    : typeof x == 'string'
      ? `the string ${JSON.stringify(clip(x))}` // '3' is not 3: the message shows which was passed
      : typeof x == 'bigint'
        ? `the BigInt ${clip(String(x))}n`
        : clip(String(x));

/**
 * A caller's options: an object (not null, not an array) of only the keys `where` reads, or a
 * BAD_ARGUMENT naming `where` and the keys it takes. An unknown key, a typo (`topk`, `maxbatch`)
 * or another call's option (`explain(img, { layer })`), was ignored without a word.
 */
export function checkOptionKeys(o: unknown, keys: readonly string[], where: string): asserts o is object {
  const takes = `; it takes ${keys.join(', ') || 'none'}`;
  if (typeof o != 'object' || o === null || Array.isArray(o)) throw new WebvitError('BAD_ARGUMENT', `${where}: options must be an object, got ${valueText(o)}${takes}`);
  const extra = Object.keys(o).filter((k) => !keys.includes(k));
  if (extra.length) throw new WebvitError('BAD_ARGUMENT', `${where}: unknown option ${clip(extra.join(', '))}${takes}`);
}

/** `name must be what, got value`: a caller's argument or option of the wrong kind (BAD_ARGUMENT). */
export const mustBe = (name: string, what: string, value: unknown): WebvitError => new WebvitError('BAD_ARGUMENT', `${name} must be ${what}, got ${valueText(value)}`);

/** A GPUDevice given by the caller, or a BAD_ARGUMENT naming `where` (a null or a plain object would fail later as a TypeError). */
/** A name used in messages (a file, a source) given by the caller: a string, or a BAD_ARGUMENT naming `where` (a Symbol made every message throw). */
export function checkSourceName(source: unknown, where: string): asserts source is string {
  if (typeof source !== 'string') throw new WebvitError('BAD_ARGUMENT', `${where}: source must be a string naming the input in messages, got ${source === null ? 'null' : typeof source}`);
}

export function checkDevice(device: unknown, where: string): asserts device is GPUDevice {
  let ok = false;
  try {
    ok = typeof (device as GPUDevice)?.createBuffer == 'function';
  } catch {
    /* a getter or Proxy trap that throws: not a device */
  }
  if (!ok) throw new WebvitError('BAD_ARGUMENT', `${where}: device must be a GPUDevice, got ${device === null ? 'null' : typeof device}`);
}

/**
 * A device whose features can be read (what the adapter-default and tuning helpers read first;
 * tests pass stand-ins that have little more), or a BAD_ARGUMENT naming `where`.
 */
export function checkDeviceFacts(device: unknown, where: string): asserts device is GPUDevice {
  let ok = false;
  try {
    const d = device as GPUDevice;
    ok = typeof d?.features?.has == 'function';
  } catch {
    /* a getter or Proxy trap that throws: not a device */
  }
  if (!ok) throw new WebvitError('BAD_ARGUMENT', `${where}: device must be a GPUDevice, got ${device === null ? 'null' : typeof device}`);
}
