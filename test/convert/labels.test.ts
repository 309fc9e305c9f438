import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLabels, parseLabelsBytes, UNSAFE_CHAR } from '../../src/model/labels.js';
import { convertCheckpoint } from '../../src/model/convert/index.js';
import { readWeights } from '../../src/model/weights.js';
import { expectConvertError, fixtureCheckpoint, LAYOUT_DIR } from './layout_fixtures.js';
import { joinWeights, splitWeights } from '../helpers/weight_file.js';

// Labels that `webvit convert` writes: from a --labels file (UTF-8 only, one per line), a Hugging
// Face id2label, or a webvit file it re-encodes. A label that is empty or holds a character that
// acts on a terminal (src/model/labels.ts, UNSAFE_CHAR) is refused, naming the file and the line
// or the id; nothing is written.

const ROOT = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'webvit-labels-'));
beforeAll(() => {
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'pipe' });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function convert(...args: string[]) {
  const r = spawnSync(process.execPath, ['dist/cli.js', 'convert', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Each kind of character a label may not hold, with the code point the message names. */
const HOSTILE: [label: string, codePoint: string][] = [
  ['clear\x1b[2J\x1b[Hscreen', 'U+001B'],
  ['fake.png: Bag 99.9%\rreal', 'U+000D'],
  ['back\bspace', 'U+0008'],
  ['bell\x07', 'U+0007'],
  ['nul\x00', 'U+0000'],
  ['del\x7f', 'U+007F'],
  ['csi\u009b2J', 'U+009B'], // C1: a one-character CSI
  ['nel\u0085', 'U+0085'],
  ['line\u2028break', 'U+2028'],
  ['para\u2029graph', 'U+2029'],
  ['\u202e%9.99 gaB', 'U+202E'], // right-to-left override: displays as "Bag 99.9%"
  ['lre\u202ax', 'U+202A'],
  ['isolate\u2066x\u2069', 'U+2066'],
];

const utf8 = (s: string) => new TextEncoder().encode(s);
const problemOf = (b: Uint8Array) => {
  const r = parseLabelsBytes(b);
  return 'problem' in r ? r.problem : undefined;
};

describe('parseLabelsBytes', () => {
  it('one UTF-8 label per line: LF or CRLF, one final line end and a UTF-8 byte-order mark ignored', () => {
    for (const text of ['tench\ncafé au lait\nשָׁלוֹם\u200f\n', 'tench\r\ncafé au lait\r\nשָׁלוֹם\u200f', '\ufefftench\ncafé au lait\nשָׁלוֹם\u200f\n']) {
      expect(parseLabelsBytes(utf8(text)), JSON.stringify(text)).toEqual({ labels: ['tench', 'café au lait', 'שָׁלוֹם\u200f'] });
    }
  });

  it('UTF-16 and UTF-32 (by byte-order mark, or UTF-16 by its zero bytes) are refused: save it as UTF-8', () => {
    const text = 'tench\ngoldfish\n';
    const le = Buffer.from(text, 'utf16le');
    const be = Buffer.from(le).swap16();
    expect(problemOf(Buffer.concat([Buffer.from([0xff, 0xfe]), le]))).toBe('is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8');
    expect(problemOf(Buffer.concat([Buffer.from([0xfe, 0xff]), be]))).toContain('is UTF-16');
    expect(problemOf(le)).toBe('looks like UTF-16 (every other byte is zero); save it as UTF-8');
    expect(problemOf(be)).toContain('looks like UTF-16');
    expect(problemOf(Uint8Array.from([0xff, 0xfe, 0, 0, 0x61, 0, 0, 0]))).toContain('is UTF-32');
  });

  it('bytes that are not UTF-8 are refused naming the line and the byte', () => {
    const b = Buffer.concat([utf8('tench\ngoldfish\ncaf'), Buffer.from([0xe9]), utf8(' au lait\n')]); // Latin-1 é
    expect(problemOf(b)).toBe('line 3 is not valid UTF-8 (byte 0xe9 at byte offset 18); save the file as UTF-8');
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8('a\n'), Buffer.from([0xc3])]); // cut in the middle of a character
    expect(problemOf(bom)).toBe('line 2 is not valid UTF-8 (byte 0xc3 at byte offset 5); save the file as UTF-8');
  });

  it('empty, blank and control-character labels are refused naming the line and the character', () => {
    for (const [label, cp] of HOSTILE) {
      const text = `tench\ngoldfish\n${label}\nhen\n`;
      const p = problemOf(utf8(text));
      expect(p, JSON.stringify(label)).toMatch(new RegExp(`^line 3 holds ${cp.replace('+', '\\+')} \\(`));
      expect(p).toContain('no control characters, line breaks or bidirectional overrides');
    }
    expect(problemOf(utf8('tench\n\nhen\n'))).toMatch(/^line 2 is empty; /);
    expect(problemOf(utf8('tench\nhen\n\n'))).toMatch(/^line 3 is empty; /); // one final line end only
    expect(problemOf(utf8('tench\n   \nhen\n'))).toMatch(/^line 2 is blank \(only spaces\); /);
    // Invisible labels (issue 17): zero-width space, Hangul filler, a no-break space.
    expect(problemOf(utf8('tench\n\u200b\nhen\n'))).toMatch(/^line 2 is blank \(only spaces and invisible characters: U\+200B shows as nothing\); /);
    expect(problemOf(utf8('tench\n \u3164 \nhen\n'))).toMatch(/^line 2 is blank \(only spaces and invisible characters: U\+3164 shows as nothing\); /);
    expect(problemOf(utf8('tench\n\u00a0\u3000\n'))).toMatch(/^line 2 is blank \(only spaces\); /);
    expect(problemOf(utf8('tench\na\u200bb\n\u3164x\n'))).toBeUndefined(); // visible text around them is fine
    expect(problemOf(utf8('0\ttench\n'))).toMatch(/^line 1 holds U\+0009 \(tab, a control character\) at character 2 \(one label per line, without ids or other columns\)/);
    expect(problemOf(utf8(''))).toBe('holds no labels (it is empty); one label per line');
    expect(problemOf(new Uint8Array(4096))).toMatch(/^line 1 holds U\+0000 \(NUL/); // zeros are not UTF-16
  });

  it('the character set: what the converter refuses is what the CLI escapes, and bidi marks stay', () => {
    for (const [label] of HOSTILE) expect(UNSAFE_CHAR.test(label), JSON.stringify(label)).toBe(true);
    for (const ok of ['café', 'שלום\u200f', 'عربي\u061c', 'naïve — “quoted”', '猫', '🐈', 'a\u00a0b']) expect(UNSAFE_CHAR.test(ok), ok).toBe(false);
    expect(checkLabels(['a', 'b'], (i) => `label ${i}`)).toBeUndefined();
    expect(checkLabels(['a', 'x'.repeat(2 ** 20)].concat(Array(70).fill('y'.repeat(2 ** 20))), (i) => `label ${i}`)).toMatch(/^the 72 labels take \d+ bytes as JSON, above the limit of 67108864/);
  });
});

describe('webvit convert refuses bad labels, naming where they came from', () => {
  const model = join(ROOT, 'test', 'fixtures', 'tiny_mean', 'model.safetensors'); // a webvit file with 10 classes
  const tenLines = (third: string) => ['a', 'b', third, 'd', 'e', 'f', 'g', 'h', 'i', 'j'].join('\n') + '\n';

  it('--labels: control characters, UTF-16, invalid UTF-8 and empty lines (exit 1, one escaped line, nothing written)', () => {
    const cases: [name: string, bytes: Uint8Array, fragments: string[]][] = [
      ['esc.txt', utf8(tenLines('bag\x1b[2J')), ['line 3 holds U+001B (escape, a control character) at character 4']],
      ['cr.txt', utf8(tenLines('fake.png: Bag 99.9%\rreal')), ['line 3 holds U+000D (carriage return']],
      ['rlo.txt', utf8(tenLines('\u202e%9.99 gaB')), ['line 3 holds U+202E (a bidirectional override, which reorders the text after it)']],
      ['c1.txt', utf8(tenLines('x\u009b2J')), ['line 3 holds U+009B (a C1 control character)']],
      ['utf16.txt', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(tenLines('c'), 'utf16le')]), ['is UTF-16', 'save it as UTF-8']],
      ['latin1.txt', Buffer.from(tenLines('café'), 'latin1'), ['line 3 is not valid UTF-8 (byte 0xe9']],
      ['empty-line.txt', utf8(tenLines('')), ['line 3 is empty']],
    ];
    for (const [name, bytes, fragments] of cases) {
      const file = join(tmp, name);
      const out = join(tmp, `${name}.safetensors`);
      writeFileSync(file, bytes);
      const r = convert(model, '-o', out, '--labels', file);
      expect(r.code, r.stderr).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toContain(`webvit: ${file}: labels file (--labels): `);
      for (const f of fragments) expect(lines[0]).toContain(f);
      expect(UNSAFE_CHAR.test(r.stderr.trimEnd()), JSON.stringify(r.stderr)).toBe(false);
      expect(existsSync(out)).toBe(false);
    }
    // A UTF-8 byte-order mark is dropped; CRLF line ends are fine.
    const bom = join(tmp, 'bom.txt');
    writeFileSync(bom, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8(tenLines('café').replace(/\n/g, '\r\n'))]));
    const ok = convert(model, '-o', join(tmp, 'bom.safetensors'), '--labels', bom);
    expect(ok.code, ok.stderr).toBe(0);
    expect(readWeights(readFileSync(join(tmp, 'bom.safetensors')), 'bom').labels).toEqual(['a', 'b', 'café', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  });

  // Round eight: a labels file of the wrong length said only "has 11 labels but the classifier has
  // 10 classes": not why (a header, ids, JSON) nor what the file must hold; a JSON file was read as
  // one label per line (a 1-class model took it as its label).
  it('--labels of the wrong length or form: the file, the count found against the classes, the likely cause and the fix (exit 1, nothing written)', () => {
    const ids = Array.from({ length: 10 }, (_, i) => `${i},c${i}`).join('\n') + '\n';
    const cases: [name: string, text: string, fragments: string[]][] = [
      ['nine.txt', 'a\nb\nc\nd\ne\nf\ng\nh\ni\n', ['nine.txt has 9 labels but the classifier has 10 classes; give a file of exactly 10 lines, one label per class in class-index order (line 1 is class 0)']],
      ['one.txt', 'only\n', ['one.txt has 1 label but the classifier has 10 classes']],
      ['header.txt', 'label\n' + tenLines('c'), ['header.txt has 11 labels', 'its line 1, "label", looks like a column header', 'exactly 10 lines']],
      ['ids.csv', 'id,name\n' + ids, ['ids.csv has 11 labels', '10 of its lines start with a number and a separator ("0,tench"): class ids or a CSV', 'exactly 10 lines']],
      ['id2label.json', '{"0": "a", "1": "b"}\n', ['id2label.json: labels file (--labels): is JSON (an id2label object or a list?)', "jq -r '.id2label"]],
      ['list.json', '[\n  "a",\n  "b"\n]\n', ['list.json: labels file (--labels): is JSON']],
    ];
    for (const [name, text, fragments] of cases) {
      const file = join(tmp, name);
      const out = join(tmp, `${name}.safetensors`);
      writeFileSync(file, text);
      const r = convert(model, '-o', out, '--labels', file);
      expect(r.code, r.stderr).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toContain(file);
      for (const f of fragments) expect(lines[0]).toContain(f);
      expect(existsSync(out)).toBe(false);
    }
    // A features-only model (the CLIP fixture's image tower): labels do not apply, and the message says to leave them out.
    const labels = join(tmp, 'ten.txt');
    writeFileSync(labels, tenLines('c'));
    const clip = convert(join(ROOT, 'test', 'fixtures', 'families', 'clip_vision_proj'), '-o', join(tmp, 'clip.safetensors'), '--labels', labels);
    expect(clip.code).toBe(1);
    expect(clip.stderr).toContain(`labels (${labels}) do not apply: a CLIP image tower has no classifier (it gives embeddings); leave --labels out`);
  });

  it('a 500 MB --labels file fails at once naming the labels file and the limit, not the output', () => {
    const big = join(tmp, 'big-labels.txt');
    execFileSync('truncate', ['-s', '500M', big]); // sparse: no 500 MB written
    const out = join(tmp, 'never.safetensors');
    const t0 = performance.now();
    const r = convert(model, '-o', out, '--labels', big);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trim()).toBe(`webvit: ${big}: cannot read the labels file given with --labels (524288000 bytes, above the 67108864-byte limit)`);
    expect(performance.now() - t0).toBeLessThan(20_000);
    expect(existsSync(out)).toBe(false);
    rmSync(big);
  });

  it('a Hugging Face id2label or a webvit file with such a label is refused naming it; --labels replaces it', async () => {
    const hf = join(tmp, 'hf-hostile');
    cpSync(join(LAYOUT_DIR, 'hf'), hf, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(hf, 'config.json'), 'utf8'));
    cfg.id2label['3'] = 'tiger\x1b[31m shark';
    writeFileSync(join(hf, 'config.json'), JSON.stringify(cfg));
    const r = convert(hf, '-o', join(tmp, 'hf-hostile.safetensors'));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('config.json id2label: label 3 holds U+001B (escape, a control character) at character 6');
    expect(r.stderr).toContain('pass --labels FILE (one per line) instead');
    expect(r.stderr).not.toContain('\x1b');
    const labels = join(tmp, 'ten.txt');
    writeFileSync(labels, tenLines('c'));
    expect(convert(hf, '-o', join(tmp, 'hf-fixed.safetensors'), '--labels', labels).code).toBe(0);

    // Lone surrogates (issue 17): "\ud800x" in id2label's JSON is not Unicode text; refused like
    // invalid UTF-8, through the CLI and the library.
    const sur = join(tmp, 'hf-surrogate');
    cpSync(join(LAYOUT_DIR, 'hf'), sur, { recursive: true });
    writeFileSync(join(sur, 'config.json'), JSON.stringify({ ...cfg, id2label: { ...cfg.id2label, 3: '\ud800x' } }));
    const rs = convert(sur, '-o', join(tmp, 'hf-surrogate.safetensors'));
    expect(rs.code, rs.stderr).toBe(1);
    expect(rs.stderr).toContain('config.json id2label: label 3 holds a lone surrogate U+D800 at character 1 (half of a UTF-16 pair, as "\\ud800" in JSON');
    expect(existsSync(join(tmp, 'hf-surrogate.safetensors'))).toBe(false);
    // Variation selectors, interlinear annotation controls and musical format controls alone show as
    // nothing too (issue 17's third hostile run): Default_Ignorable_Code_Point and Cf by property.
    for (const bad of ['a\udc00', '\u200b', '\u3164', '   ', '\ufe0f', '\ufe00', '\ufff9', '\ufffa\ufffb', '\u{1d173}', '\u{e0100}']) {
      const ckb = await fixtureCheckpoint('hf');
      ckb.config = { ...ckb.config!, id2label: { ...(ckb.config!.id2label as object), 2: bad } };
      await expectConvertError(() => convertCheckpoint(ckb), [`id2label: label 2 ${bad.includes('\udc00') ? 'holds a lone surrogate U+DC00 at character 2' : 'is blank'}`]);
    }

    // Empty labels in id2label, through the library.
    const ck = await fixtureCheckpoint('hf');
    ck.config = { ...ck.config!, id2label: { ...(ck.config!.id2label as object), 7: '' } };
    await expectConvertError(() => convertCheckpoint(ck), ['id2label: label 7 is empty']);

    // A webvit file made elsewhere, re-encoded (e.g. to F16).
    const parts = splitWeights(new Uint8Array(readFileSync(model)));
    parts.labels = parts.labels!.map((l, i) => (i === 5 ? 'x\u202ey' : l));
    const hostile = join(tmp, 'hostile.safetensors');
    writeFileSync(hostile, joinWeights(parts));
    const re = convert(hostile, '-o', join(tmp, 'hostile16.safetensors'), '--dtype', 'f16');
    expect(re.code, re.stderr).toBe(1);
    expect(re.stderr).toContain('its webvit.labels: label 5 holds U+202E');
    parts.labels = parts.labels!.map((l, i) => (i === 5 ? 'a\ud800' : l));
    writeFileSync(hostile, joinWeights(parts));
    const reS = convert(hostile, '-o', join(tmp, 'hostile16.safetensors'), '--dtype', 'f16');
    expect(reS.code, reS.stderr).toBe(1);
    expect(reS.stderr).toContain('its webvit.labels: label 5 holds a lone surrogate U+D800 at character 2');
  });
});
