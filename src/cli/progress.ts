/**
 * Progress on stderr, drawn only when stderr is a terminal and not under CI (so logs and pipes
 * get no control characters): a one-line bar for the images, and before it a status line for
 * the first-use work (compiling kernels, tuning) that can take a while on a fresh machine.
 * `clear()` before printing anything else.
 */
export class Progress {
  private readonly tty: boolean;
  private shown = false;
  private done = 0;

  constructor(
    private readonly total: number,
    private readonly unit: string,
    stream: Pick<NodeJS.WriteStream, 'isTTY'> = process.stderr,
    private readonly out: Pick<NodeJS.WriteStream, 'write' | 'columns'> = stream as NodeJS.WriteStream,
    env: Record<string, string | undefined> = process.env,
  ) {
    this.tty = Boolean(stream.isTTY) && !env.CI;
  }

  /** Draws the image bar (only for more than one image: a single result line says it all). */
  update(done: number): void {
    this.done = done;
    if (!this.tty || this.total <= 1) return;
    const width = Math.max(10, Math.min(40, (this.out.columns || 80) - 30));
    const filled = Math.round((width * done) / this.total);
    this.draw(`[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} ${this.unit}`);
  }

  /** Draws a status line in place of the bar ("compiling kernels 3/12"); the next update() replaces it. */
  status(text: string): void {
    if (!this.tty) return;
    const max = Math.max(20, (this.out.columns || 80) - 1);
    this.draw(text.length > max ? `${text.slice(0, max - 1)}…` : text);
  }

  /** The load's progress events, as status lines. */
  loadStage(e: { stage: 'compile' | 'tune'; done: number; total: number; detail?: string }): void {
    const what = e.stage === 'compile' ? 'compiling kernels' : 'tuning kernels (first use on this GPU only)';
    this.status(`${what} ${e.done}/${e.total}${e.detail ? `: ${e.detail}` : ''}`);
  }

  /** Erases the line (it is redrawn by the next update). */
  clear(): void {
    if (!this.shown) return;
    this.out.write('\r\x1b[2K');
    this.shown = false;
  }

  private draw(line: string): void {
    this.out.write(`\r\x1b[2K${line}`);
    this.shown = true;
  }
}
