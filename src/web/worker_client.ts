import { isErrorCode, WebvitError } from '../errors.js';
import { shapeOf } from '../model/config.js';
import { absoluteUrl, asWebvitError, finish, isList, notOne, nameOf, taken, why, wireSource, type Wait } from './sources.js';
import type { Classification, ClassifierInfo, ClassifierOptions, ClassifierStats, ImageExplanation, ClassifyOptions, ImageClassifier, ImageSource } from './types.js';
import type { ClassifyProfile } from './types.js';
import { isHubModel, topKOf } from './options.js';
import { checkTopK } from './engine.js';
import { SerialQueue } from './queue.js';
import { aborted, checkAborted, DEFAULT_IDLE_MS, fetchModel } from './weights.js';
import { ALIVE_LOST_MS, WIRE_VERSION, type Reply, type Request, type WireOptions, type WireSource } from './wire.js';

/** Workers given by the app that serve a classifier: one Worker cannot serve two (their replies would cross). */
const serving = new WeakSet<Worker>();

/** How long the worker has to load and answer 'hello': another script never answers. */
const HELLO_MS = 10_000;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A call waiting for its reply; `valid`: whether a reply's value has the shape this call returns. */
type Pending = { resolve: (v: { value: unknown; info?: ClassifierInfo }) => void; reject: (e: unknown) => void; valid: (value: unknown) => boolean; create?: boolean };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v == 'object' && v !== null;
/** One class of a result: a label, a probability and the class's index. */
const isClass = (c: unknown, classes: number): boolean =>
  isObject(c) && typeof c.label == 'string' && typeof c.score == 'number' && c.score >= 0 && c.score <= 1 && Number.isInteger(c.index) && (c.index as number) >= 0 && (c.index as number) < classes;
const isStats = (v: unknown): boolean => isObject(v) && ['buffers', 'bytes', 'textures', 'textureBytes', 'calls'].every((k) => typeof v[k] == 'number');
const isTop = (row: unknown, classes: number): boolean => Array.isArray(row) && row.length <= classes && row.every((c) => isClass(c, classes));

/**
 * The shape of the value each request's reply carries: a script that passes the handshake and then
 * answers well-formed replies with the wrong values (a score of "x", two rows for one image,
 * features of another width) would otherwise reach the app as webvit's results.
 */
function replyShape(m: DistributiveOmit<Request, 'id'>, info: ClassifierInfo | undefined): (v: unknown) => boolean {
  const classes = info?.config?.num_classes ?? Infinity;
  let width: number | undefined;
  try {
    width = info?.config ? shapeOf(info.config).featureSize : undefined;
  } catch {
    width = NaN; // a config that is not one (a worker that lies): no features match it
  }
  switch (m.type) {
    case 'classify':
      return (v) => Array.isArray(v) && v.length === m.sources.length && v.every((row) => isTop(row, classes));
    case 'embed':
      return (v) => Array.isArray(v) && v.length === m.sources.length && v.every((f) => f instanceof Float32Array && (width === undefined || f.length === width));
    case 'profile':
      return (v) => isObject(v) && isTop(v.top, classes);
    case 'explain':
      return (v) => isObject(v) && v.rollout instanceof Float32Array && Array.isArray(v.layers) && Array.isArray(v.distance) && Number.isInteger(v.grid);
    case 'stats':
      return isStats;
    case 'dispose':
      return (v) => v === undefined || isStats(v); // undefined: the worker's classifier was never made
    default:
      return () => true;
  }
}

/**
 * The classifier API with the work in a Web Worker (dist/webvit.worker.js). On this thread a
 * source only becomes something that can be transferred: DOM images, canvases and videos a new
 * ImageBitmap (decoded as the file's bytes), an ImageBitmap or VideoFrame of the caller's a copy
 * (so the caller's stays usable), ImageData a structured copy; Blobs and URLs go as they are and
 * are decoded in the worker.
 */
export class WorkerClassifier implements ImageClassifier {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private disposed = false;
  private failure?: WebvitError;
  /** The worker's stats() after dispose. */
  private final?: ClassifierStats;
  /** What the worker said of its classifier: kept here, and given to the app as a copy (an edit of it changes nothing). */
  private known!: ClassifierInfo;
  get info(): ClassifierInfo {
    return structuredClone(this.known);
  }
  /** Aborted by dispose() (after its grace): an <img> load that a call waits for here ends with DISPOSED. */
  private readonly stop = new AbortController();
  private readonly wait: Wait;

  private constructor(private readonly worker: Worker, private readonly options: ClassifierOptions, where: string) {
    worker.onmessage = (e: MessageEvent<Reply>) => this.receive(e.data);
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault?.();
      const why = e.message ? `: ${e.message}` : '';
      this.fail(
        this.known ? new WebvitError('GPU', `webvit's worker crashed${why}; create a new classifier`) : notStarted(where, `did not start${why}`),
      );
    };
    worker.onmessageerror = () => this.fail(new WebvitError('GPU', "webvit's worker sent a message that could not be read"));
    this.wait = { ms: options.idleTimeoutMs ?? DEFAULT_IDLE_MS, signal: this.stop.signal };
  }

  /** Options were checked by createImageClassifier. */
  static async create(options: ClassifierOptions): Promise<WorkerClassifier> {
    const { model, onProgress, worker: w, tune, signal } = options;
    if (tune !== undefined && typeof tune !== 'boolean') throw new WebvitError('BAD_ARGUMENT', 'in worker mode `tune` must be true or false (a TuneStore cannot be sent to a worker)');
    let wireModel: string | ArrayBuffer;
    let modelName: string | undefined;
    const transfer: Transferable[] = [];
    const hub = isHubModel(options);
    // A model id goes over as it is: the worker fetches and converts it (the page's thread stays free).
    if (hub) wireModel = model as string;
    else if (typeof model === 'string' || model instanceof URL) wireModel = absoluteUrl(model, 'model URL', 'BAD_ARGUMENT');
    else {
      // Bytes and Responses are read here (a Response cannot be sent) and a copy goes over.
      const fetched = await fetchModel(model, { onProgress, signal, idleTimeoutMs: options.idleTimeoutMs }, (b) => b);
      const bytes = fetched.value;
      modelName = fetched.source; // a Response's URL: named in the worker as on the page
      const copy = bytes.slice();
      wireModel = copy.buffer;
      transfer.push(copy.buffer);
    }
    checkAborted(signal, 'before the worker started');
    let worker: Worker;
    let where = '(the Worker given)';
    let given: boolean;
    try {
      given = typeof w === 'object' && w !== null && typeof (w as Worker).postMessage === 'function' && typeof (w as Worker).terminate === 'function';
    } catch (e) {
      throw new WebvitError('BAD_ARGUMENT', `worker could not be read (${why(e)})`); // a getter of the app's that throws
    }
    if (given) {
      worker = w as Worker;
      if (serving.has(worker)) throw new WebvitError('BAD_ARGUMENT', 'worker: this Worker was given to a classifier before (which ends it when it fails or is disposed); give each classifier a new Worker, or worker: true');
      serving.add(worker);
    } else {
      if (typeof w !== 'string' && !(w instanceof URL) && w !== true) throw new WebvitError('BAD_ARGUMENT', 'worker must be true, a URL (string or URL) or a Worker');
      if (typeof Worker === 'undefined') throw new WebvitError('BAD_ARGUMENT', 'worker: true needs Web Workers, which this environment lacks');
      // For messages: the URL the unbundled file asks for (a bundler rewrites the one below; a
      // second `new URL('./webvit.worker.js', import.meta.url)` here would make it emit the worker twice).
      where = w === true ? import.meta.url.replace(/[^/]*$/, 'webvit.worker.js') : absoluteUrl(w as string, 'worker URL', 'BAD_ARGUMENT');
      try {
        // For `true`, exactly this form, a literal path in `new URL(…, import.meta.url)` inside
        // `new Worker(…, { type: 'module' })`: Vite, webpack 5 and esbuild-based tools recognise it,
        // emit dist/webvit.worker.js with the app and rewrite the URL (docs/packaging.md).
        worker = w === true ? new Worker(new URL('./webvit.worker.js', import.meta.url), { type: 'module', name: 'webvit' }) : new Worker(where, { type: 'module', name: 'webvit' });
      } catch (e) {
        throw notStarted(where, `did not start: ${(e as Error)?.message ?? e}`);
      }
    }
    const c = new WorkerClassifier(worker, options, where);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopHello!: (e: unknown) => void;
    // The signal cannot be sent: its abort goes over as a message, and the worker's create fails
    // with ABORTED; during the handshake (a worker that may never answer) it fails here at once.
    const abort = () => {
      worker.postMessage({ type: 'abort' } as Request);
      stopHello(aborted(signal!, 'before the worker started'));
    };
    signal?.addEventListener('abort', abort);
    try {
      // A handshake first: a wrong script (it never answers) or one of another build fails here.
      const late = new Promise<never>((_, reject) => {
        stopHello = reject;
        timer = setTimeout(() => reject(notStarted(where, `did not answer in ${HELLO_MS / 1000} s`)), HELLO_MS);
      });
      const v = (await Promise.race([c.request({ type: 'hello' }), late])).value;
      if (v !== WIRE_VERSION) throw notStarted(where, `speaks webvit's messages version ${v}, this page version ${WIRE_VERSION} (a worker of another build)`);
      checkAborted(signal, 'before the worker started');
      // Only the options the worker takes (an unknown one, a function say, could not be sent).
      const hubWire = hub ? { revision: options.revision, hubUrl: options.hubUrl === undefined ? undefined : absoluteUrl(options.hubUrl, 'hubUrl', 'BAD_ARGUMENT'), token: options.token, dtype: options.dtype } : {};
      const wire: WireOptions = { ...hubWire, model: wireModel, integrity: options.integrity, cache: options.cache, maxBatch: options.maxBatch, idleTimeoutMs: options.idleTimeoutMs, tune, wantProgress: onProgress !== undefined, modelName };
      const r = await c.request({ type: 'create', options: wire }, transfer);
      c.known = r.info!;
      // Aborted after the worker's create had ended (its reply and the abort crossed): as on the page.
      if (signal?.aborted) {
        await c.dispose();
        checkAborted(signal, 'while the model compiled');
      }
      return c;
    } catch (e) {
      worker.terminate();
      throw e;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
    }
  }

  classify(source: ImageSource, options?: ClassifyOptions): Promise<Classification[]>;
  classify(sources: ImageSource[], options?: ClassifyOptions): Promise<Classification[][]>;
  async classify(sources: ImageSource | ImageSource[], options?: ClassifyOptions): Promise<Classification[] | Classification[][]> {
    const topK = this.topK(options, 'classify');
    const many = isList(sources);
    const r = await this.send(many ? sources : [sources], (wire) => ({ type: 'classify', sources: wire, topK }));
    const rows = r.value as Classification[][];
    return many ? rows : rows[0];
  }

  embed(source: ImageSource): Promise<Float32Array>;
  embed(sources: ImageSource[]): Promise<Float32Array[]>;
  async embed(sources: ImageSource | ImageSource[], options?: object): Promise<Float32Array | Float32Array[]> {
    topKOf(options, 'embed', []);
    const many = isList(sources);
    const rows = (await this.send(many ? sources : [sources], (wire) => ({ type: 'embed', sources: wire }))).value as Float32Array[];
    return many ? rows : rows[0];
  }

  async profile(source: ImageSource, options?: ClassifyOptions): Promise<ClassifyProfile & { top: Classification[] }> {
    if (isList(source)) return notOne();
    const topK = this.topK(options, 'profile');
    // The worker's stage times: decode there (a transferred bitmap is ready; a Blob is decoded there).
    return (await this.send([source], (wire) => ({ type: 'profile', sources: wire, topK }))).value as ClassifyProfile & { top: Classification[] };
  }

  async explain(source: ImageSource, options?: object): Promise<ImageExplanation> {
    if (isList(source)) return notOne();
    topKOf(options, 'explain', []);
    return (await this.send([source], (wire) => ({ type: 'explain', sources: wire }))).value as ImageExplanation;
  }

  async stats(): Promise<ClassifierStats> {
    // After dispose(), as on the main thread: nothing held, and the calls made.
    if (this.disposing) {
      await this.disposing;
      return { buffers: 0, bytes: 0, textures: 0, textureBytes: 0, calls: 0, ...this.final };
    }
    return (await this.request({ type: 'stats' })).value as ClassifierStats;
  }

  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      try {
        // Posted after the calls made before it (as on the page, they run first, within the grace).
        const posted = this.posting.run(async () => ({ reply: this.request({ type: 'dispose' }) }));
        await finish(posted, this.stop);
        this.final = (await (await posted).reply).value as ClassifierStats;
      } catch {
        /* a failed worker has nothing left to free */
      }
      this.disposed = true;
      this.worker.terminate();
      this.fail(new WebvitError('DISPOSED', 'the classifier was disposed; create a new one'));
    })();
    return this.disposing;
  }

  private disposing?: Promise<void>;

  /**
   * Sources made transferable and posted in call order (one call's bitmaps may take longer to make
   * than the next call's), so the worker runs calls in the order they were made; the replies are
   * awaited outside that order.
   */
  private async send(list: ImageSource[], message: (wire: WireSource[]) => DistributiveOmit<Request, 'id'>): Promise<{ value: unknown; info?: ClassifierInfo }> {
    if (this.disposing) throw new WebvitError('DISPOSED', 'the classifier was disposed; create a new one');
    // Pixels in memory are taken now (the caller may refill its ImageData once the call is made).
    const now = taken(list);
    const posted = await this.posting.run(async () => {
      const { wire, transfer } = await toWire(now, this.wait, message([]).type == 'embed' ? 'embed: ' : '');
      return { reply: this.request(message(wire), transfer) };
    });
    return posted.reply;
  }

  private readonly posting = new SerialQueue();

  private request(m: DistributiveOmit<Request, 'id'>, transfer: Transferable[] = []): Promise<{ value: unknown; info?: ClassifierInfo }> {
    if (this.disposed) return Promise.reject(new WebvitError('DISPOSED', 'the classifier was disposed; create a new one'));
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    // While calls wait, a worker silent for ALIVE_LOST_MS (it says it is alive every ALIVE_MS) is
    // gone: terminated by the app, or its thread stuck. Every waiting call then fails.
    if (!this.pending.size) this.heard = Date.now();
    this.watch ??= setInterval(() => {
      if (!this.pending.size) {
        clearInterval(this.watch);
        this.watch = undefined;
      } else if (Date.now() - this.heard > ALIVE_LOST_MS) {
        this.fail(new WebvitError('WORKER', `webvit's worker has not answered for ${ALIVE_LOST_MS / 1000} s: it was terminated, or its thread is stuck; create a new classifier`));
      }
    }, ALIVE_LOST_MS / 6);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, valid: replyShape(m, this.known), create: m.type === 'create' });
      try {
        this.worker.postMessage({ ...m, id } as Request, transfer);
      } catch (e) {
        // Nothing was sent: what was made for the call is freed here.
        this.pending.delete(id);
        for (const t of transfer) (t as ImageBitmap).close?.();
        reject(asWebvitError(e, 'BAD_INPUT'));
      }
    });
  }

  /** topK checked here as on the page (a value that cannot be sent got the clone's error). */
  private topK(options: ClassifyOptions | undefined, where: string): number | undefined {
    const k = topKOf(options, where);
    return k === undefined ? k : checkTopK(k, this.known.config?.num_classes ?? Infinity);
  }

  /** When the worker was last heard from (any message), and the timer that gives it up when silent. */
  private heard = Date.now();
  private watch?: ReturnType<typeof setInterval>;

  private receive(m: Reply): void {
    if (typeof m !== 'object' || m === null) return; // not webvit's worker: the handshake fails it
    this.heard = Date.now(); // only webvit-shaped messages keep the worker alive
    if ('type' in m) {
      if (m.type === 'progress') this.options.onProgress?.(m.event);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    const e = (m as { error?: { code?: unknown; message?: unknown } }).error;
    if (m.ok === true && (m.info === undefined ? !p.create : typeof m.info == 'object' && m.info !== null && Array.isArray(m.info.labels)) && p.valid(m.value)) {
      if (m.info) this.known = m.info;
      p.resolve({ value: m.value, info: m.info });
    } else if (m.ok === false && typeof e?.message == 'string' && isErrorCode(e.code)) {
      p.reject(new WebvitError(e.code, e.message));
    } else {
      // Not a reply of webvit's worker (a script that passed the handshake): every call fails.
      p.reject(new WebvitError('WORKER', "webvit's worker sent a reply of the wrong shape: is it dist/webvit.worker.js of this build?"));
      this.fail(new WebvitError('WORKER', "webvit's worker sent a reply of the wrong shape; create a new classifier"));
    }
  }

  private fail(e: WebvitError): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    clearInterval(this.watch);
    this.watch = undefined;
  }
}

/** Sources as the worker takes them, and what to transfer (bitmaps and frames made here for the call). */
async function toWire(list: ImageSource[], wait: Wait, call: string): Promise<{ wire: WireSource[]; transfer: Transferable[] }> {
  const transfer: Transferable[] = [];
  const wire: WireSource[] = [];
  try {
    for (const [i, s] of list.entries()) wire.push(await wireSource(s, nameOf(i, list.length, call), transfer, wait));
  } catch (e) {
    for (const t of transfer) (t as ImageBitmap).close();
    throw e;
  }
  return { wire, transfer };
}

const notStarted = (where: string, what: string): WebvitError =>
  new WebvitError(
    'WORKER',
    `webvit's worker ${where} ${what}: is dist/webvit.worker.js, of the same build, served next to webvit.browser.js (as JavaScript, same origin)? Or pass its URL: \`worker: new URL('…/webvit.worker.js', import.meta.url)\``,
  );
