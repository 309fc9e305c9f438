/**
 * How a run waits for the GPU. Dawn for Node (npm `webgpu` 0.6.2) pumps its events on every turn
 * of Node's event loop while any wait is pending (a map, onSubmittedWorkDone, an error scope), and
 * allocates as it does: measured on lavapipe (2026-11-30), the main thread burns 420–520 ms of CPU
 * during a 0.7 s GPU job, CPU that a CPU adapter's own threads then lack (on two cores the
 * "GPU" runs on ~1.3 of them), and the garbage brings collections of 10–37 ms into forward().
 * Browsers deliver map completions as events and need none of this.
 *
 * So on such a device a plan sleeps through most of a run's expected GPU time before it asks for
 * the results, and the pump runs only for the rest. The expectation is the least of the last few
 * runs' submit-to-results times: a faster run shortens the next sleep at once, a slower one is
 * waited for by the pump as before. Only waits long enough for a timer's jitter not to matter are
 * slept through (SLEEP_MIN_MS): on a data-centre GPU a batch-1 forward is never delayed.
 */

const polling = new WeakSet<GPUDevice>();

/** Marks `device` as one whose completions are polled for (Dawn for Node). */
export function markPollingDevice(device: GPUDevice): void {
  polling.add(device);
}

/** Whether waits on `device` are polled for (see markPollingDevice). */
export function pollsWhileWaiting(device: GPUDevice): boolean {
  return polling.has(device);
}

/** The shortest sleep worth taking: a Node timer fires up to ~1 ms late, so below this a sleep risks more than it saves. */
export const SLEEP_MIN_MS = 12;
/** Fraction of the expected GPU time slept through. */
export const SLEEP_FRACTION = 0.7;
const WINDOW = 5;

/** A plan's recent submit-to-results times, and the sleep they suggest. */
export class WaitEstimate {
  private readonly recent: number[] = [];

  record(ms: number): void {
    this.recent.push(ms);
    if (this.recent.length > WINDOW) this.recent.shift();
  }

  /** Milliseconds to sleep before asking for a run's results (0: ask at once). */
  sleepMs(): number {
    if (this.recent.length === 0) return 0;
    const ms = SLEEP_FRACTION * Math.min(...this.recent);
    return ms >= SLEEP_MIN_MS ? ms : 0;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
