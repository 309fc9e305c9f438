import { WebvitError, type WebvitErrorCode } from '../errors.js';
import { describeSource, isBlob, isImageBitmap, isRgbaPixels, isTexture, isVideoFrame, RAW_BITMAP } from './sources.js';
import type { Classification, ClassifierInfo, ClassifierOptions, ClassifierStats, ImageExplanation, ClassifyOptions, ImageClassifier, ImageSource } from './types.js';
import type { ClassifyProfile } from './profile.js';
import { SerialQueue } from './queue.js';
import { fetchModel } from './weights.js';
import type { Reply, Request, WireOptions, WireSource } from './wire.js';

/** The worker script, next to the browser bundle (scripts/build.mjs writes both to dist/). */
const DEFAULT_WORKER = 'webvit.worker.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Pending = { resolve: (v: { value: unknown; info?: ClassifierInfo }) => void; reject: (e: unknown) => void };

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
  info!: ClassifierInfo;

  private constructor(private readonly worker: Worker, private readonly options: ClassifierOptions) {
    worker.onmessage = (e: MessageEvent<Reply>) => this.receive(e.data);
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault?.();
      const why = e.message ? `: ${e.message}` : '';
      this.fail(
        this.info
          ? new WebvitError('GPU', `webvit's worker crashed${why}; create a new classifier`)
          : new WebvitError(
              'NETWORK',
              `webvit's worker did not start${why}: is dist/webvit.worker.js served next to webvit.browser.js (as JavaScript, same origin)? Or pass its URL: \`worker: new URL('…/webvit.worker.js', import.meta.url)\``,
            ),
      );
    };
    worker.onmessageerror = () => this.fail(new WebvitError('GPU', "webvit's worker sent a message that could not be read"));
  }

  static async create(options: ClassifierOptions): Promise<WorkerClassifier> {
    const w = options.worker;
    let worker: Worker;
    if (typeof w === 'object' && w !== null && typeof (w as Worker).postMessage === 'function') worker = w as Worker;
    else {
      if (typeof Worker === 'undefined') throw new WebvitError('BAD_ARGUMENT', 'worker: true needs Web Workers, which this environment lacks');
      const url = w === true ? new URL(`./${DEFAULT_WORKER}`, import.meta.url) : new URL(String(w), (globalThis as { location?: { href: string } }).location?.href);
      worker = new Worker(url, { type: 'module', name: 'webvit' });
    }
    const c = new WorkerClassifier(worker, options);
    try {
      const { model, device: _d, onProgress: _p, worker: _w, fetch: _f, caches: _c, tune, ...rest } = options;
      if (tune !== undefined && typeof tune !== 'boolean') throw new WebvitError('BAD_ARGUMENT', 'in worker mode `tune` must be true or false (a TuneStore cannot be sent to a worker)');
      let wireModel: string | ArrayBuffer;
      const transfer: Transferable[] = [];
      if (typeof model === 'string' || model instanceof URL) wireModel = new URL(model, (globalThis as { location?: { href: string } }).location?.href).href;
      else {
        // Bytes and Responses are read here (a Response cannot be sent) and a copy goes over.
        const bytes = (await fetchModel(model, { onProgress: options.onProgress }, (b) => b)).value;
        const copy = bytes.slice();
        wireModel = copy.buffer;
        transfer.push(copy.buffer);
      }
      const wire: WireOptions = { ...rest, model: wireModel, tune, wantProgress: options.onProgress !== undefined };
      const r = await c.request({ type: 'create', options: wire }, transfer);
      c.info = r.info!;
      return c;
    } catch (e) {
      worker.terminate();
      throw e;
    }
  }

  classify(source: ImageSource, options?: ClassifyOptions): Promise<Classification[]>;
  classify(sources: ImageSource[], options?: ClassifyOptions): Promise<Classification[][]>;
  async classify(sources: ImageSource | ImageSource[], options: ClassifyOptions = {}): Promise<Classification[] | Classification[][]> {
    const many = Array.isArray(sources);
    const r = await this.send(many ? sources : [sources], (wire) => ({ type: 'classify', sources: wire, topK: options.topK }));
    const rows = r.value as Classification[][];
    return many ? rows : rows[0];
  }

  embed(source: ImageSource): Promise<Float32Array>;
  embed(sources: ImageSource[]): Promise<Float32Array[]>;
  async embed(sources: ImageSource | ImageSource[]): Promise<Float32Array | Float32Array[]> {
    const many = Array.isArray(sources);
    const rows = (await this.send(many ? sources : [sources], (wire) => ({ type: 'embed', sources: wire }))).value as Float32Array[];
    return many ? rows : rows[0];
  }

  async profile(source: ImageSource, options: ClassifyOptions = {}): Promise<ClassifyProfile & { top: Classification[] }> {
    // The worker's stage times: decode there (a transferred bitmap is ready; a Blob is decoded there).
    return (await this.send([source], (wire) => ({ type: 'profile', sources: wire, topK: options.topK }))).value as ClassifyProfile & { top: Classification[] };
  }

  async explain(source: ImageSource): Promise<ImageExplanation> {
    return (await this.send([source], (wire) => ({ type: 'explain', sources: wire }))).value as ImageExplanation;
  }

  async stats(): Promise<ClassifierStats> {
    return (await this.request({ type: 'stats' })).value as ClassifierStats;
  }

  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      try {
        await this.request({ type: 'dispose' });
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
    // Pixels in memory are taken now (the caller may refill its ImageData once the call is made).
    const now = list.map((s) => (isRgbaPixels(s) ? { data: s.data.slice(), width: s.width, height: s.height } : s));
    const posted = await this.posting.run(async () => {
      const { wire, transfer } = await toWire(now);
      return { reply: this.request(message(wire), transfer) };
    });
    return posted.reply;
  }

  private readonly posting = new SerialQueue();

  private request(m: DistributiveOmit<Request, 'id'>, transfer: Transferable[] = []): Promise<{ value: unknown; info?: ClassifierInfo }> {
    if (this.disposed) return Promise.reject(new WebvitError('DISPOSED', 'the classifier was disposed; create a new one'));
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...m, id } as Request, transfer);
    });
  }

  private receive(m: Reply): void {
    if ('type' in m) {
      this.options.onProgress?.(m.event);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.ok) {
      if (m.info) this.info = m.info;
      p.resolve({ value: m.value, info: m.info });
    } else {
      const err = m.error.code ? new WebvitError(m.error.code as WebvitErrorCode, m.error.message) : Object.assign(new Error(m.error.message), { name: m.error.name });
      p.reject(err);
    }
  }

  private fail(e: WebvitError): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

/** Sources as the worker takes them, and what to transfer (bitmaps and frames made here for the call). */
async function toWire(list: ImageSource[]): Promise<{ wire: WireSource[]; transfer: Transferable[] }> {
  const transfer: Transferable[] = [];
  const wire: WireSource[] = [];
  try {
    for (const [i, s] of list.entries()) {
      const name = list.length === 1 ? 'the image' : `image ${i}`;
      let w: WireSource;
      if (isRgbaPixels(s)) w = { data: s.data, width: s.width, height: s.height };
      else if (typeof s === 'string' || s instanceof URL) w = new URL(s, (globalThis as { location?: { href: string } }).location?.href).href;
      else if (isBlob(s)) w = s as Blob;
      else if (isVideoFrame(s)) w = (s as VideoFrame).clone();
      else if (isTexture(s)) throw new WebvitError('BAD_INPUT', `${name}: a GPUTexture cannot be sent to the worker (it lives on the page's device); pass an ImageBitmap, or use the classifier without worker`);
      else if (isImageBitmap(s) || isDom(s)) {
        if (isDom(s) && (s as HTMLImageElement).decode) await (s as HTMLImageElement).decode().catch(() => undefined);
        try {
          w = await createImageBitmap(s as ImageBitmapSource, RAW_BITMAP);
        } catch (e) {
          throw new WebvitError('BAD_INPUT', `${name}: could not turn the ${describeSource(s)} into an ImageBitmap for the worker (${(e as Error).message ?? e}); not loaded yet, or cross-origin without CORS?`, { cause: e });
        }
      } else throw new WebvitError('BAD_INPUT', `${name}: cannot classify ${describeSource(s)}`);
      wire.push(w);
      if (typeof (w as ImageBitmap).close === 'function') transfer.push(w as unknown as Transferable);
    }
  } catch (e) {
    for (const t of transfer) (t as ImageBitmap).close();
    throw e;
  }
  return { wire, transfer };
}

function isDom(x: unknown): boolean {
  return ['HTMLImageElement', 'HTMLCanvasElement', 'HTMLVideoElement', 'OffscreenCanvas', 'SVGImageElement'].some((n) => {
    const ctor = (globalThis as Record<string, unknown>)[n] as (abstract new () => unknown) | undefined;
    return typeof ctor === 'function' && x instanceof ctor;
  });
}
