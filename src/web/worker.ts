/**
 * webvit's Web Worker (dist/webvit.worker.js): runs the classifier (Engine) off the page's thread
 * for WorkerClassifier. Requests are handled as they come; the engine runs them one at a time.
 */
import { WebvitError } from '../errors.js';
import { Engine } from './engine.js';
import { asWebvitError } from './sources.js';
import type { ClassifierInfo } from './types.js';
import { ALIVE_MS, WIRE_VERSION, type Reply, type Request } from './wire.js';

declare const self: { onmessage: ((e: MessageEvent<Request>) => void) | null; postMessage(m: Reply, transfer?: Transferable[]): void };

let engine: Engine | undefined;
/** The create in progress, for an 'abort' from the page. */
let creating: AbortController | undefined;

const post = (m: Reply, transfer: Transferable[] = []) => self.postMessage(m, transfer);

function need(): Engine {
  if (!engine) throw new WebvitError('DISPOSED', 'the worker has no classifier (not created, or disposed)');
  return engine;
}

async function handle(m: Exclude<Request, { type: 'abort' }>): Promise<{ value: unknown; transfer?: Transferable[]; info?: boolean | ClassifierInfo }> {
  switch (m.type) {
    case 'hello':
      return { value: WIRE_VERSION };
    case 'create': {
      const { wantProgress, ...options } = m.options;
      creating = new AbortController();
      try {
        engine = await Engine.create({ ...options, signal: creating.signal, onProgress: wantProgress ? (event) => post({ type: 'progress', event }) : undefined });
      } finally {
        creating = undefined;
      }
      return { value: null, info: true };
    }
    case 'classify':
      return { value: await need().classify(m.sources, { topK: m.topK }), info: true };
    case 'embed': {
      const rows = await need().embed(m.sources);
      return { value: rows, transfer: rows.map((r) => r.buffer), info: true };
    }
    case 'profile':
      return { value: await need().profile(m.sources[0], { topK: m.topK }), info: true };
    case 'explain': {
      const e = await need().explain(m.sources[0]);
      return { value: e, transfer: [e.rollout.buffer, ...e.layers.map((l) => l.buffer), ...e.distance.map((d) => d.buffer)] as Transferable[], info: true };
    }
    case 'stats':
      return { value: await need().stats() };
    case 'dispose': {
      const e = engine;
      engine = undefined;
      await e?.dispose();
      // Its stats and info after dispose (zeros, the calls made; no adapter), which the page gives from then on.
      return { value: await e?.stats(), info: e?.info };
    }
  }
}

/** Bitmaps and frames sent here were made for this call (copies of the page's): close them after it. */
function closeSources(m: Exclude<Request, { type: 'abort' }>): void {
  if (m.type !== 'classify' && m.type !== 'embed' && m.type !== 'profile' && m.type !== 'explain') return;
  for (const s of m.sources) if (typeof (s as ImageBitmap).close === 'function') (s as ImageBitmap).close();
}

// A heartbeat: a page whose calls wait on a worker that was terminated (by the app) or whose
// thread is stuck hears nothing, and gives it up (worker_client.ts).
setInterval(() => post({ type: 'alive' }), ALIVE_MS);

self.onmessage = (e: MessageEvent<Request>) => {
  const m = e.data;
  if (m.type === 'abort') return creating?.abort();
  const done = handle(m).finally(() => closeSources(m));
  done.then(
    (r) => {
      const info = r.info === true ? engine?.info : r.info || undefined;
      post({ id: m.id, ok: true, value: r.value, info: info && { ...info, worker: true } }, r.transfer);
    },
    (err: unknown) => {
      const x = asWebvitError(err);
      post({ id: m.id, ok: false, error: { code: x.code, message: x.message } });
    },
  );
};
