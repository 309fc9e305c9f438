import { describe, expect, it } from 'vitest';
import { pollsWhileWaiting, SLEEP_FRACTION, SLEEP_MIN_MS, WaitEstimate } from '../../src/runtime/waiting.js';
import { testDevice } from '../helpers/gpu.js';

// On Dawn for Node a plan sleeps through most of a long run's expected GPU time before it asks
// for the results (src/runtime/waiting.ts): the estimate must never sleep on a short run, follow a
// faster run at once, and forget an old fast one after its window. Results are unaffected (every
// forward test runs with it); its speed is in BENCHMARKS.md, measured against WEBVIT_WAIT=poll.
describe('WaitEstimate', () => {
  it('sleeps a fraction of the shortest recent wait, and never below the minimum', () => {
    const w = new WaitEstimate();
    expect(w.sleepMs(), 'no run yet').toBe(0);
    w.record(100);
    expect(w.sleepMs()).toBeCloseTo(SLEEP_FRACTION * 100, 9);
    w.record(400); // a slow outlier does not lengthen the sleep
    expect(w.sleepMs()).toBeCloseTo(SLEEP_FRACTION * 100, 9);
    w.record(30); // a faster run shortens it at once
    expect(w.sleepMs()).toBeCloseTo(SLEEP_FRACTION * 30, 9);
    w.record(SLEEP_MIN_MS / SLEEP_FRACTION - 1); // short runs: ask at once
    expect(w.sleepMs()).toBe(0);
  });

  it('forgets a fast run after five more', () => {
    const w = new WaitEstimate();
    w.record(5);
    for (let i = 0; i < 4; i++) w.record(200);
    expect(w.sleepMs(), 'the fast run still in the window').toBe(0);
    w.record(200);
    expect(w.sleepMs()).toBeCloseTo(SLEEP_FRACTION * 200, 9);
  });

  it('Dawn for Node devices are marked as polling (unless WEBVIT_WAIT=poll)', async () => {
    const device = await testDevice();
    expect(pollsWhileWaiting(device)).toBe(process.env.WEBVIT_WAIT !== 'poll');
  });
});
