/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal and not under CI (so
 * logs and pipes get no control characters). `clear()` before printing anything else.
 */
export class Progress {
  private readonly enabled: boolean;
  private shown = false;
  private done = 0;

  constructor(
    private readonly total: number,
    private readonly unit: string,
    stream: NodeJS.WriteStream = process.stderr,
    private readonly out: NodeJS.WriteStream = stream,
  ) {
    this.enabled = Boolean(stream.isTTY) && !process.env.CI && total > 1;
  }

  update(done: number): void {
    this.done = done;
    if (!this.enabled) return;
    const width = Math.max(10, Math.min(40, (this.out.columns ?? 80) - 30));
    const filled = Math.round((width * done) / this.total);
    this.out.write(`\r\x1b[2K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} ${this.unit}`);
    this.shown = true;
  }

  /** Erases the bar (it is redrawn by the next update). */
  clear(): void {
    if (!this.shown) return;
    this.out.write('\r\x1b[2K');
    this.shown = false;
  }
}
