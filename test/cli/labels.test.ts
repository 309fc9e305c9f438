import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNSAFE_CHAR } from '../../src/model/labels.js';
import { joinWeights, splitWeights } from '../helpers/weight_file.js';

// Labels and file names are other people's text: a weight file converted elsewhere can carry a
// label with an escape sequence (clear the screen, recolour it), a carriage return or a bidi
// override (a forged `fake.png: Bag 99.9%` line). Every command prints them through one escape
// (src/cli/shown.ts): on human output such a label is JSON-quoted with the character escaped; JSON
// output parses back to the label as it is, with no raw terminal controls in its bytes.

const ROOT = join(import.meta.dirname, '..', '..');
const TINY_GRAY = join(ROOT, 'test', 'fixtures', 'tiny_mean', 'model.safetensors'); // 1 channel, 28 px, 10 classes

/** Ten labels, one per kind of character that acts on a terminal, and an empty one. */
const HOSTILE = [
  'clear\x1b[2J\x1b[Hscreen',
  'fake.png: Bag 99.9%\rreal',
  'back\b\b\bspace',
  'bell\x07',
  'csi\u009b31m',
  'nel\u0085',
  'line\u2028break',
  '\u202e%9.99 gaB',
  'iso\u2066late\u2069',
  '',
];
/** How human output shows each (JSON-quoted, unsafe characters as escapes). */
const SHOWN = [
  '"clear\\u001b[2J\\u001b[Hscreen"',
  '"fake.png: Bag 99.9%\\rreal"',
  '"back\\b\\b\\bspace"',
  '"bell\\u0007"',
  '"csi\\u009b31m"',
  '"nel\\u0085"',
  '"line\\u2028break"',
  '"\\u202e%9.99 gaB"',
  '"iso\\u2066late\\u2069"',
  '""',
];
const UNSAFE_ANY = new RegExp(UNSAFE_CHAR.source, 'g');

let tmp: string;
let model: string;
beforeAll(() => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  tmp = mkdtempSync(join(tmpdir(), 'webvit-labels-cli-'));
  const parts = splitWeights(new Uint8Array(readFileSync(TINY_GRAY)));
  parts.labels = HOSTILE;
  model = join(tmp, 'hostile.safetensors');
  writeFileSync(model, joinWeights(parts));
});
afterAll(() => tmp && rmSync(tmp, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['dist/cli.js', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: '1' }, timeout: 240_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Every unsafe character in `text` but the line ends between lines, as code points. */
const rawControls = (text: string) => [...text.replace(/\n/g, '').matchAll(UNSAFE_ANY)].map((m) => `U+${m[0].charCodeAt(0).toString(16).padStart(4, '0')}`);

/** Asserts human output `text` holds no raw control and every label of `indices` as SHOWN says. */
function expectEscaped(text: string, indices: number[]) {
  expect(rawControls(text), JSON.stringify(text)).toEqual([]);
  for (const i of indices) expect(text, `label ${i} shown as ${SHOWN[i]}`).toContain(SHOWN[i]);
}

describe('labels and file names reach the terminal escaped', () => {
  it('classify: every label of a weight file, escaped on its one line; --json parses back to the labels', () => {
    const r = cli('classify', 'examples/bag.png', '--model', model, '--top', '10', '--no-tune');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean), r.stdout).toHaveLength(1);
    expect(r.stdout).toMatch(/^examples\/bag\.png: /);
    expectEscaped(r.stdout, HOSTILE.map((_, i) => i));
    expect(rawControls(r.stderr)).toEqual([]);

    const j = cli('classify', 'examples/bag.png', '--model', model, '--top', '10', '--json', '--no-tune');
    expect(j.code, j.stderr).toBe(0);
    expect(rawControls(j.stdout)).toEqual([]);
    const top = (JSON.parse(j.stdout) as { top: { label: string; index: number }[] }).top;
    expect(top).toHaveLength(10);
    for (const t of top) expect(t.label).toBe(HOSTILE[t.index]);
  });

  it('classify: blank labels (spaces, U+200B, U+3164, ...) are quoted, their invisible characters escaped', () => {
    // Issue 17: a label of U+200B or "   " printed as `fx/bag.png:     90.4%`.
    const BLANK = ['\u200b', '\u3164', '   ', '\u00a0', '\ufeff', '\u2060', ' \u115f\u1160', '\uffa0', '\u{e0020}', 'ok'];
    const WANT = ['"\\u200b"', '"\\u3164"', '"   "', '"\\u00a0"', '"\\ufeff"', '"\\u2060"', '" \\u115f\\u1160"', '"\\uffa0"', '"\\u{e0020}"', 'ok'];
    const parts = splitWeights(new Uint8Array(readFileSync(TINY_GRAY)));
    parts.labels = BLANK;
    const blank = join(tmp, 'blank.safetensors');
    writeFileSync(blank, joinWeights(parts));
    const r = cli('classify', 'examples/bag.png', '--model', blank, '--top', '10', '--no-tune');
    expect(r.code, r.stderr).toBe(0);
    const shownLabels = r.stdout.trim().replace(/^examples\/bag\.png: /, '').split(/ \d+\.\d%(?:, |$)/).filter(Boolean);
    expect(shownLabels.sort()).toEqual([...WANT].sort());
  });

  it('run, inspect and explain print labels escaped too', () => {
    const input = join(tmp, 'zeros.bin');
    writeFileSync(input, new Uint8Array(28 * 28 * 4));
    const run = cli('run', model, '--input', input, '--top', '10', '--no-tune');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expectEscaped(run.stdout, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(run.stdout).toMatch(/\b9 "" \(logit/);

    const inspect = cli('inspect', model);
    expect(inspect.code, inspect.stderr).toBe(0);
    expectEscaped(inspect.stdout, HOSTILE.map((_, i) => i));
    expect(inspect.stdout).toContain(`(labels: ${SHOWN.join(', ')})`);
    const info = cli('inspect', model, '--json');
    expect(rawControls(info.stdout)).toEqual([]);
    expect(JSON.parse(info.stdout).labels).toEqual(HOSTILE);

    const out = join(tmp, 'explain');
    const ex = cli('explain', 'examples/bag.png', '-o', out, '--model', model, '--no-tune');
    expect(ex.code, ex.stderr).toBe(0);
    const doc = JSON.parse(readFileSync(join(out, 'explain.json'), 'utf8'));
    const best = doc.images[0].top.index as number;
    expect(doc.images[0].top.label).toBe(HOSTILE[best]);
    expectEscaped(ex.stdout, [best]);
    expect(rawControls(ex.stderr)).toEqual([]);
  });

  it('file names with terminal controls: quoted on result lines, escaped in per-image and fatal errors', () => {
    const evil = join(tmp, 'evil\x1b[31m\r.png');
    copyFileSync(join(ROOT, 'examples', 'bag.png'), evil);
    const missing = join(tmp, 'gone\u202e.png');
    const r = cli('classify', evil, missing, '--model', TINY_GRAY, '--no-tune');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${JSON.stringify(evil)}: class_`);
    expect(r.stderr).toContain(`webvit: "${tmp}/gone\\u202e.png": `);
    expect(rawControls(r.stdout + r.stderr)).toEqual([]);

    // A message that ends the command names the file escaped in place.
    const inspect = cli('inspect', join(tmp, 'no\x1b[2Jmodel.safetensors'));
    expect(inspect.code).toBe(1);
    expect(inspect.stderr).toContain(`${tmp}/no\\u001b[2Jmodel.safetensors`);
    expect(rawControls(inspect.stderr)).toEqual([]);
    const usage = cli('classify', 'examples/bag.png', '--top', 'x\x07');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('\\u0007');
    expect(rawControls(usage.stderr)).toEqual([]);
  });
});

describe('a label of megabytes', () => {
  it('classify and inspect show its head, its length and its tail; --json keeps it whole', () => {
    const parts = splitWeights(new Uint8Array(readFileSync(TINY_GRAY)));
    const huge = `start${'x'.repeat(5_000_000)}end`;
    parts.labels = parts.labels!.map(() => huge);
    const m = join(tmp, 'huge-label.safetensors');
    writeFileSync(m, joinWeights(parts));
    const r = cli('classify', 'examples/bag.png', '--model', m, '--top', '2', '--no-tune');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeLessThan(1000);
    expect(r.stdout).toMatch(/^examples\/bag\.png: startx+…\(5000008 characters\)…x+end [\d.]+%, startx+…\(5000008 characters\)…x+end [\d.]+%\n$/);
    const i = cli('inspect', m);
    expect(i.code, i.stderr).toBe(0);
    expect(i.stdout.length).toBeLessThan(5000);
    expect(i.stdout).toContain('…(5000008 characters)…');
    const j = spawnSync(process.execPath, ['dist/cli.js', 'classify', 'examples/bag.png', '--model', m, '--top', '1', '--no-tune', '--json'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
    expect(JSON.parse(j.stdout).top[0].label).toBe(huge);
  }, 240_000);
});
