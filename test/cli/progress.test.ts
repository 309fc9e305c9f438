import { describe, expect, it } from 'vitest';
import { Progress } from '../../src/cli/progress.js';

// The progress display on its own, with a fake stream. That classify shows it on a real
// terminal (and nothing off one) is tested end to end in test/cli/classify.test.ts.

function fake(isTTY: boolean, columns = 80) {
  const written: string[] = [];
  return { stream: { isTTY, columns, write: (s: string) => written.push(s) > 0 }, written };
}

describe('Progress', () => {
  it('on a terminal: load stages as status lines, then the image bar, each drawn over the last', () => {
    const { stream, written } = fake(true);
    const p = new Progress(3, 'images', stream, stream, {});
    p.loadStage({ stage: 'compile', done: 3, total: 12, detail: 'matmul/register_4x4 (blocks.0.attn.qkv)' });
    p.loadStage({ stage: 'tune', done: 2, total: 5 });
    p.update(1);
    p.clear();
    expect(written).toEqual([
      '\r\x1b[2Kcompiling kernels 3/12: matmul/register_4x4 (blocks.0.attn.qkv)',
      '\r\x1b[2Ktuning kernels (first use on this GPU only) 2/5',
      `\r\x1b[2K[${'#'.repeat(13)}${'.'.repeat(27)}] 1/3 images`,
      '\r\x1b[2K',
    ]);
  });

  it('a status line longer than the terminal is cut to fit (it must not wrap: \\r only returns to the start of one line)', () => {
    const { stream, written } = fake(true, 30);
    new Progress(1, 'images', stream, stream, {}).status('x'.repeat(100));
    expect(written[0]).toBe(`\r\x1b[2K${'x'.repeat(28)}…`);
    // A pseudo-terminal without a size (columns 0) counts as 80 columns.
    const zero = fake(true, 0);
    new Progress(1, 'images', zero.stream, zero.stream, {}).status('y'.repeat(100));
    expect(zero.written[0]).toBe(`\r\x1b[2K${'y'.repeat(78)}…`);
  });

  it('one image: load stages but no bar; off a terminal or under CI: nothing at all', () => {
    const one = fake(true);
    const p = new Progress(1, 'images', one.stream, one.stream, {});
    p.update(0);
    p.loadStage({ stage: 'compile', done: 1, total: 2 });
    p.update(1);
    expect(one.written).toEqual(['\r\x1b[2Kcompiling kernels 1/2']);
    for (const [tty, env] of [[false, {}], [true, { CI: '1' }]] as const) {
      const f = fake(tty);
      const q = new Progress(5, 'images', f.stream, f.stream, env);
      q.update(2);
      q.loadStage({ stage: 'tune', done: 1, total: 3 });
      q.clear();
      expect(f.written).toEqual([]);
    }
  });
});
