import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getNodeDevice } from '../../src/runtime/node-device.js';
import type { ImageClassifier } from '../../src/web/types.js';
import { WIRE_VERSION } from '../../src/web/wire.js';

// <img> and <video> elements that never load, or have no picture, as Node stand-ins (sources.ts
// tells DOM sources apart by their classes, looked up when it loads: so these are put in place
// first). A page and a worker-mode classifier must refuse them the same way, within bounds.
class FakeImage extends EventTarget {
  complete = false;
  loading: 'eager' | 'lazy' = 'eager';
  src = 'https://images.test/cat.png';
  currentSrc = '';
  width = 0;
  height = 0;
  decode(): Promise<void> {
    return new Promise(() => undefined); // as a browser's decode() of an image that never loads
  }
}
class FakeVideo extends EventTarget {
  readyState = 4;
  videoWidth = 0;
  videoHeight = 0;
  width = 0;
  height = 0;
}
Object.assign(globalThis, { HTMLImageElement: FakeImage, HTMLVideoElement: FakeVideo });

const REPO = join(import.meta.dirname, '..', '..');
const MODEL = new Uint8Array(readFileSync(join(REPO, 'models', 'fashion-mnist', 'model.safetensors')));

/** A worker that answers the handshake, create and dispose (the sources here never reach it). */
function scriptedWorker(): Worker {
  const w = {
    onmessage: null as ((e: { data: unknown }) => void) | null,
    postMessage(m: { id: number; type: string }) {
      const value = m.type === 'hello' ? WIRE_VERSION : m.type === 'dispose' ? { buffers: 0, bytes: 0, textures: 0, textureBytes: 0, calls: 0 } : null;
      setTimeout(() => w.onmessage?.({ data: { id: m.id, ok: true, value, info: m.type === 'create' ? { worker: true, labels: [] } : undefined } }));
    },
    terminate() {},
  };
  return w as unknown as Worker;
}

let create: typeof import('../../src/web/classifier.js').createImageClassifier;
const devices: GPUDevice[] = [];
beforeAll(async () => {
  devices.push(await getNodeDevice());
  create = (await import('../../src/web/classifier.js')).createImageClassifier;
});
afterAll(() => devices.forEach((d) => d.destroy()));

async function outcome(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`,
  );
}

/** One classifier of each mode with `idleTimeoutMs`. */
async function both(idleTimeoutMs: number): Promise<[string, ImageClassifier][]> {
  return [
    ['page', await create({ model: MODEL.slice(), device: devices[0], idleTimeoutMs })],
    ['worker', await create({ model: MODEL.slice(), worker: scriptedWorker(), idleTimeoutMs })],
  ];
}

describe('<img> and <video> that cannot give a picture (page and worker alike)', () => {
  it('an <img loading=lazy> not loaded is refused at once; a stalled one after idleTimeoutMs', async () => {
    const got: string[][] = [];
    for (const [mode, clf] of await both(200)) {
      const lazy = Object.assign(new FakeImage(), { loading: 'lazy' as const });
      const t0 = performance.now();
      const a = await outcome(clf.classify(lazy as unknown as HTMLImageElement));
      const b = await outcome(clf.classify(new FakeImage() as unknown as HTMLImageElement));
      expect(performance.now() - t0, mode).toBeLessThan(3000);
      got.push([a, b]);
      await clf.dispose();
    }
    // Lazy and off-screen: BAD_INPUT at once; loading but stalled: NETWORK after the idle timeout (hostile run 3).
    const lazy = 'BAD_INPUT: the image: the <img> https://images.test/cat.png is not loaded (loading=lazy off-screen): wait for its load event or pass an ImageBitmap';
    const stalled = 'NETWORK: the image: the <img> https://images.test/cat.png is not loaded (stalled for 200 ms): wait for its load event or pass an ImageBitmap';
    expect(got[0]).toEqual([lazy, stalled]);
    expect(got[1]).toEqual(got[0]);
  });

  it('dispose() ends a call waiting for an <img> that never loads (no idle timeout), after its grace: DISPOSED, in both modes', { timeout: 15_000 }, async () => {
    for (const [mode, clf] of await both(0)) {
      const call = outcome(clf.classify(new FakeImage() as unknown as HTMLImageElement));
      await new Promise((r) => setTimeout(r, 50));
      const t0 = performance.now();
      await clf.dispose();
      expect(performance.now() - t0, mode).toBeLessThan(5000);
      expect(await call, mode).toBe('DISPOSED: the classifier was disposed; create a new one');
    }
  });

  it('an <img> that loads while the call waits is read then (its load event ends the wait)', async () => {
    for (const [mode, clf] of await both(0)) {
      const img = new FakeImage();
      img.decode = () => Promise.resolve();
      const call = outcome(clf.classify(img as unknown as HTMLImageElement));
      setTimeout(() => {
        img.complete = true;
        img.dispatchEvent(new Event('load'));
      }, 50);
      // Node has no createImageBitmap: reaching the decode is what this checks.
      expect(await call, mode).toContain('needs createImageBitmap');
      await clf.dispose();
    }
  });

  it('an audio-only <video> (readyState 4, 0×0) is refused with one message in both modes', async () => {
    const got: string[] = [];
    for (const [, clf] of await both(200)) {
      got.push(await outcome(clf.classify(new FakeVideo() as unknown as HTMLVideoElement)));
      await clf.dispose();
    }
    expect(got[0]).toBe('BAD_INPUT: the image: the video has no video track (0×0); classify a video that has a picture');
    expect(got[1]).toBe(got[0]);
  });
});
