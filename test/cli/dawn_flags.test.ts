import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// Issue 17: `--dawn-flags backend=__proto__` printed an internal error and a stack; backend=null
// blamed a valid image. Now: a usage error (exit 2) or NO_ADAPTER (exit 1), one line, no stack.
const ROOT = join(import.meta.dirname, '..', '..');
const cli = (flags: string) => spawnSync(process.execPath, ['dist/cli.js', 'classify', 'examples/bag.png', '--no-tune', '--dawn-flags', flags], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

describe('--dawn-flags on the command line', () => {
  it('unknown backends and keys, and the null backend: exit 2, one line listing the valid ones', () => {
    for (const [flags, say] of [
      ['backend=__proto__', 'unknown backend "__proto__"; the backends are vulkan'],
      ['backend=foo', 'unknown backend "foo"'],
      ['backend=null', 'the null backend computes nothing'],
      ['adaptor=x', 'unknown key "adaptor"'],
    ]) {
      const r = cli(flags);
      expect(r.status, `${flags}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toBe(`webvit: ${r.stderr.slice(8, -1)}\n`); // one line
      expect(r.stderr).toContain(say);
      expect(r.stdout).toBe('');
    }
  });

  it('WEBVIT_DAWN_FLAGS is checked as --dawn-flags is: exit 2 naming the variable, before any work', () => {
    for (const [flags, say] of [
      ['bogus', 'is not key=value'],
      ['backend=foo', 'unknown backend "foo"'],
    ]) {
      const r = spawnSync(process.execPath, ['dist/cli.js', 'classify', 'examples/bag.png', '--no-tune'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, WEBVIT_DAWN_FLAGS: flags } });
      expect(r.status, `${flags}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/^webvit: WEBVIT_DAWN_FLAGS: Dawn flag .*\n$/);
      expect(r.stderr).toContain(say);
      expect(r.stdout).toBe('');
    }
  });

  it('an adapter name that matches none: exit 1, NO_ADAPTER naming the flags, no stack', () => {
    const r = cli('adapter=no_such_adapter_xyz');
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^webvit: no WebGPU adapter with the Dawn flags "adapter=no_such_adapter_xyz" \(.*\): change or drop them \(--dawn-flags, WEBVIT_DAWN_FLAGS\)\n$/);
  });
});

describe('numeric options', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['dist/cli.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  it('`--top -1` is the option\'s own error (it was the argument parser\'s "ambiguous" aside, with a stray ".;")', () => {
    const r = cli('classify', 'examples/bag.png', '--top', '-1');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('webvit: --top must be a positive integer in decimal digits, got "-1"\n');
  });
  it('only decimal digits: 0x10, 1e1, " 3", 1.5 are refused; beyond 2^53 and --repeat beyond a million are refused by name', () => {
    for (const v of ['0x10', '1e1', ' 3', '1.5', '+2', '']) {
      const r = cli('classify', 'examples/bag.png', '--top', v);
      expect(r.status, `--top ${JSON.stringify(v)}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain('--top must be a positive integer in decimal digits');
    }
    const big = cli('run', 'm.safetensors', '--input', 'x.bin', '--batch', '9007199254740993');
    expect(big.status).toBe(2);
    expect(big.stderr).toContain('--batch must be at most 9007199254740991, got 9007199254740993');
    const repeat = cli('run', 'm.safetensors', '--input', 'x.bin', '--repeat', '1000000000000');
    expect(repeat.status).toBe(2);
    expect(repeat.stderr).toBe('webvit: --repeat must be at most 1000000, got 1000000000000\n');
  });
});
