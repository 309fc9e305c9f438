import { describe, expect, it } from 'vitest';
import { chunksOf } from '../../src/web/batching.js';
import { SerialQueue } from '../../src/web/queue.js';
import { freshSeed, rng } from '../helpers/random.js';

describe('chunksOf (how arrays run)', () => {
  it('one image at batch 1; arrays in passes of maxBatch, the last padded to maxBatch', () => {
    expect(chunksOf(0, 8)).toEqual([]);
    expect(chunksOf(1, 8)).toEqual([{ start: 0, count: 1, batch: 1 }]);
    expect(chunksOf(3, 8)).toEqual([{ start: 0, count: 3, batch: 8 }]);
    expect(chunksOf(8, 8)).toEqual([{ start: 0, count: 8, batch: 8 }]);
    expect(chunksOf(11, 4)).toEqual([
      { start: 0, count: 4, batch: 4 },
      { start: 4, count: 4, batch: 4 },
      { start: 8, count: 3, batch: 4 },
    ]);
    expect(chunksOf(5, 1)).toEqual(Array.from({ length: 5 }, (_, i) => ({ start: i, count: 1, batch: 1 })));
  });

  it('covers every image once, in order, with at most two batch sizes (seeded)', () => {
    const seed = freshSeed();
    const rand = rng(seed);
    for (let t = 0; t < 500; t++) {
      const n = Math.floor(rand() * 100);
      const max = 1 + Math.floor(rand() * 16);
      const c = chunksOf(n, max);
      const covered = c.flatMap((x) => Array.from({ length: x.count }, (_, i) => x.start + i));
      expect(covered, `seed ${seed}: n ${n}, maxBatch ${max}`).toEqual(Array.from({ length: n }, (_, i) => i));
      for (const x of c) expect(x.count <= x.batch && [1, max].includes(x.batch), `seed ${seed}: ${JSON.stringify(x)}`).toBe(true);
    }
  });
});

describe('SerialQueue', () => {
  it('runs tasks one at a time in order; a failure reaches only its caller', async () => {
    const q = new SerialQueue();
    const log: string[] = [];
    let running = 0;
    const task = (name: string, ms: number, fail = false) => async () => {
      expect(++running).toBe(1);
      log.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`end ${name}`);
      running--;
      if (fail) throw new Error(name);
      return name;
    };
    const results = await Promise.allSettled([q.run(task('a', 20)), q.run(task('b', 1, true)), q.run(task('c', 5))]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['a', 'b', 'c']);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(q.size).toBe(0);
    await q.idle();
  });
});
