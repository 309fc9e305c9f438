/**
 * Runs async tasks one at a time, in the order they were given. A failed task does not stop the
 * ones after it; each caller gets its own result or error.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  run<T>(task: () => Promise<T>): Promise<T> {
    this.pending++;
    const result = this.tail.then(task);
    this.tail = result.then(
      () => this.pending--,
      () => this.pending--,
    );
    return result;
  }

  /** Tasks queued or running. */
  get size(): number {
    return this.pending;
  }

  /** Resolves when every task given so far has settled. */
  async idle(): Promise<void> {
    await this.tail;
  }
}
