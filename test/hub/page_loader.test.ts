import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCheckpoint, encodeWeights, sourceTensors, type Checkpoint } from '../../src/model/convert/index.js';
import { parseSafetensors } from '../../src/model/safetensors.js';
import { WebvitError } from '../../src/errors.js';
import { fetchHubModel } from '../../src/web/hub.js';
import { hubRepoFixtures } from '../helpers/hub_repos.js';
import { startHubStandIn, type Fault, type HubStandIn, type StandInRepo } from '../helpers/hub_stand_in.js';

/**
 * The page's Hub loader (src/web/hub.ts) run in Node against the stand-in, for what the browser
 * tests cannot easily stage: its streamed conversion (WeightSink feeding stream.ts) through broken
 * connections, resumes, a server that ignores Range and truncated bodies. Each load must give the
 * bytes of the whole-file converter (encodeWeights(convertCheckpoint(...)), tolerance none).
 */

let hub: HubStandIn;
let repos: StandInRepo[];
beforeAll(async () => {
  repos = await hubRepoFixtures();
  hub = await startHubStandIn(repos, { stallMs: 20_000 });
});
afterAll(() => hub?.close());

const text = (f: Uint8Array | string) => (typeof f === 'string' ? f : new TextDecoder().decode(f));

/** The reference: the repository's files parsed whole and converted as `webvit convert` does. */
function reference(id: string, dtype: 'F32' | 'F16'): Uint8Array {
  const repo = repos.find((r) => r.id === id)!;
  const files = repo.files as Record<string, Uint8Array | string>;
  const weights = files['model.safetensors'] ? ['model.safetensors'] : Object.keys(files).filter((n) => /^model-.*\.safetensors$/.test(n)).sort();
  const parsed = weights.map((n) => parseSafetensors(files[n] as Uint8Array, n));
  const source = id;
  const pre = files['preprocessor_config.json'];
  const ckpt: Checkpoint = {
    source,
    tensors: new Map(parsed.flatMap(sourceTensors).map((t) => [t.name, t])),
    metadata: parsed[0].metadata,
    config: JSON.parse(text(files['config.json'])),
    configSource: `${source} config.json`,
    preprocessor: pre ? JSON.parse(text(pre)) : undefined,
    preprocessorSource: pre ? `${source} preprocessor_config.json` : undefined,
  };
  const r = convertCheckpoint(ckpt);
  return encodeWeights(r.weights, dtype, { 'webvit.converted_from': r.layout, 'webvit.source': `hf:${id}@${hub.commitOf(id)}`, ...r.metadata });
}

const load = (id: string, dtype: 'f32' | 'f16' = 'f32') => fetchHubModel({ model: id, hubUrl: hub.url, cache: false, dtype, idleTimeoutMs: 5_000 }, 'unused');

describe("the page's Hub loader, streamed, against the whole-file converter", () => {
  const cases: [string, string, (file: string) => Fault[]][] = [
    ['no fault', 'webvit-test/vit-tiny', () => []],
    ['no fault, sharded', 'webvit-test/vit-tiny-sharded', () => []],
    ['no fault, timm', 'timm/vit_tiny_test.augreg_in1k', () => []],
    ['a connection broken mid-file, resumed with Range', 'webvit-test/vit-tiny', (f) => [{ kind: 'truncate', file: f, afterBytes: 70_001 }]],
    ['a connection broken within the header', 'webvit-test/vit-tiny', (f) => [{ kind: 'truncate', file: f, afterBytes: 13 }]],
    ['Range ignored after a break (the whole body again)', 'webvit-test/vit-tiny', (f) => [{ kind: 'truncate', file: f, afterBytes: 100_003 }, { kind: 'no-range', file: f }]],
    ['a shard broken mid-file, resumed', 'webvit-test/vit-tiny-sharded', () => [{ kind: 'truncate', file: 'model-00002-of-00002.safetensors', afterBytes: 50_000 }]],
    ['shards with Range ignored (headers read, then whole bodies again)', 'webvit-test/vit-tiny-sharded', () => ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'].map((file) => ({ kind: 'no-range', file }) as Fault)],
  ];
  for (const [what, id, faults] of cases) {
    it(what, async () => {
      hub.setFaults(faults('model.safetensors'));
      try {
        for (const dtype of ['f32', 'f16'] as const) {
          const r = await load(id, dtype);
          expect(Buffer.from(r.bytes).equals(Buffer.from(reference(id, dtype === 'f16' ? 'F16' : 'F32'))), `${id} ${dtype}`).toBe(true);
        }
      } finally {
        hub.setFaults([]);
      }
    }, 60_000);
  }

  it('a download that stalls part-way every time: a NETWORK error naming the file (from the middle of a streamed conversion)', async () => {
    hub.setFaults([{ kind: 'stall', file: 'model.safetensors', afterBytes: 30_000, times: 99 }]);
    try {
      const e = await fetchHubModel({ model: 'webvit-test/vit-tiny', hubUrl: hub.url, cache: false, idleTimeoutMs: 200 }, 'unused').then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(WebvitError);
      expect((e as WebvitError).code).toBe('NETWORK');
      expect((e as WebvitError).message).toMatch(/model\.safetensors of webvit-test\/vit-tiny(@[0-9a-f]{40})? stalled/);
    } finally {
      hub.setFaults([]);
    }
  }, 60_000);
});
