import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flopsPerImage } from '../../src/model/stats.js';
import { parameterCount, estimateActivationBytes } from '../../src/model/vit.js';
import { readWeights } from '../../src/model/weights.js';
import { deflateSync } from 'node:zlib';
import { encodePng, pngWithHeader } from '../helpers/images.js';
import { joinWeights, splitWeights } from '../helpers/weight_file.js';

// The built CLI (`node dist/cli.js`), as a user runs it: `classify` on good and bad images and
// `inspect`. Every run passes --no-tune (kernel tuning is tested elsewhere and is slow on
// lavapipe) and CI=1 (no progress bar).

const ROOT = join(import.meta.dirname, '..', '..');
const IMAGES = join(ROOT, 'test', 'fixtures', 'preprocess', 'images');
const BUNDLED = join(ROOT, 'models', 'fashion-mnist', 'model.safetensors');
const TINY_GRAY = join(ROOT, 'test', 'fixtures', 'tiny_mean', 'model.safetensors'); // 1 channel, 28 px, 10 classes
const TINY_RGB = join(ROOT, 'test', 'fixtures', 'tiny', 'model.safetensors'); // 3 channels, 32 px
const EXAMPLES = ['ankle-boot', 'bag', 'dress', 'pullover', 'sneaker', 'trouser'];

function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['dist/cli.js', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: '1' }, timeout: 240_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const jsonLines = (s: string) => s.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
/** stderr without Dawn's start-up warnings. */
const errLines = (s: string) => s.split('\n').filter((l) => l && !l.startsWith('Warning:'));

let tmp: string;
beforeAll(() => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  tmp = mkdtempSync(join(tmpdir(), 'webvit-cli-'));
});
afterAll(() => tmp && rmSync(tmp, { recursive: true, force: true }));

describe('webvit classify', () => {
  it(existsSync(BUNDLED) ? 'classifies examples/* with the bundled model: top-1 is the true class' : 'examples/* (bundled model absent: mechanics with the tiny 1-channel fixture; the missing model is explained)', () => {
    const files = EXAMPLES.map((e) => `examples/${e}.png`);
    if (existsSync(BUNDLED)) {
      // It carries the training's preprocessing (tools/set_preprocess.py --fashion-mnist), not the defaults.
      const info = JSON.parse(cli('inspect', BUNDLED, '--json').stdout);
      expect(info.preprocess).toMatchObject({ isDefault: false, channels: 'grayscale', crop: 28, mean: [0.286], std: [0.353] });
      const r = cli('classify', ...files, '--no-tune');
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines).toHaveLength(files.length);
      lines.forEach((line, i) => {
        const top1 = line.slice(line.indexOf(': ') + 2).split(/ \d+\.\d%/)[0];
        expect(top1.toLowerCase().replace(/[ /]/g, '-'), line).toBe(EXAMPLES[i]);
        expect(line.match(/%/g), `top 3 by default: ${line}`).toHaveLength(3);
      });
    } else {
      const missing = cli('classify', ...files);
      expect(missing.code).toBe(1);
      expect(errLines(missing.stderr).join('\n')).toMatch(/no --model given and the bundled model .*models\/fashion-mnist\/model\.safetensors is missing.*tools\/train_fashion_mnist\.py.*--model FILE/);
      const r = cli('classify', ...files, '--model', TINY_GRAY, '--no-tune');
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines).toHaveLength(files.length);
      lines.forEach((line, i) => expect(line).toMatch(new RegExp(`^${files[i]}: class_\\d \\d+\\.\\d%, class_\\d \\d+\\.\\d%, class_\\d \\d+\\.\\d%$`)));
    }
  });

  it('--json: one result or error per line, in order; bad files (non-image, truncated, too large) named with their problem; exit 1', () => {
    const png = readFileSync(join(IMAGES, 'coffee_173x115.png'));
    const jpg = readFileSync(join(IMAGES, 'astronaut_300.jpg'));
    writeFileSync(join(tmp, 'truncated.png'), png.subarray(0, png.length >> 1));
    writeFileSync(join(tmp, 'truncated.jpg'), jpg.subarray(0, Math.floor(jpg.length * 0.6)));
    writeFileSync(join(tmp, 'bomb.png'), pngWithHeader(40000, 40000));
    writeFileSync(join(tmp, 'notes.txt.png'), 'not an image at all\n');
    const files = [
      join(IMAGES, 'coffee_rgb16.png'), // 16-bit RGB
      join(tmp, 'notes.txt.png'),
      join(IMAGES, 'chelsea_palette.png'), // palette + tRNS
      join(tmp, 'truncated.png'),
      join(IMAGES, 'camera_gray16.png'), // 16-bit grey
      join(tmp, 'truncated.jpg'),
      join(tmp, 'bomb.png'),
      join(tmp, 'missing.png'),
      join(IMAGES, 'camera_gray.jpg'), // 1-component JPEG
    ];
    const r = cli('classify', ...files, '--model', TINY_RGB, '--json', '--top', '4', '--batch', '3', '--no-tune');
    expect(r.code).toBe(1);
    const out = jsonLines(r.stdout);
    expect(out.map((o) => o.file)).toEqual(files);
    const errors: Record<number, RegExp> = {
      1: /^is not a PNG or JPEG image \(starts with bytes 6e 6f 74 20\)$/,
      3: /^truncated PNG/,
      5: /^truncated JPEG \(Premature end of JPEG file\)$/,
      6: /^image is 40000×40000 = 1,600,000,000 pixels, above the limit of 100,000,000 pixels .*--max-pixels/,
      7: /^cannot read \(ENOENT: no such file\)$/,
    };
    out.forEach((o, i) => {
      if (errors[i]) {
        expect(Object.keys(o).sort()).toEqual(['error', 'file']);
        expect(o.error).toMatch(errors[i]);
        return;
      }
      expect(Object.keys(o).sort(), JSON.stringify(o)).toEqual(['file', 'top']);
      const top = o.top as { label: string | null; index: number; p: number }[];
      expect(top).toHaveLength(4);
      for (const t of top) {
        expect(Object.keys(t).sort()).toEqual(['index', 'label', 'p']);
        expect(Number.isInteger(t.index) && t.index >= 0 && t.index < 10).toBe(true);
        expect(t.label).toBe(`class_${t.index}`);
        expect(t.p).toBeGreaterThanOrEqual(0);
        expect(t.p).toBeLessThanOrEqual(1);
      }
      for (let k = 1; k < top.length; k++) expect(top[k].p).toBeLessThanOrEqual(top[k - 1].p);
    });
    expect(errLines(r.stderr).at(-1)).toMatch(/classified 4 of 9 images .* 5 failed$/);
  });

  it('a directory with one bad file: the others are still classified, the bad one named on stderr, exit 1', () => {
    const dir = join(tmp, 'mixed');
    spawnSync('mkdir', ['-p', dir]);
    copyFileSync(join(ROOT, 'examples', 'bag.png'), join(dir, 'a-bag.png'));
    copyFileSync(join(ROOT, 'examples', 'trouser.png'), join(dir, 'c-trouser.PNG'));
    copyFileSync(join(IMAGES, 'camera_gray.jpg'), join(dir, 'd-camera.jpeg'));
    const png = readFileSync(join(ROOT, 'examples', 'dress.png'));
    const broken = Buffer.from(png);
    broken[png.length - 20] ^= 0x55; // corrupt the image data's checksum
    writeFileSync(join(dir, 'b-broken.png'), broken);
    writeFileSync(join(dir, 'readme.txt'), 'skipped: not an image extension');
    const r = cli('classify', dir, '--model', TINY_GRAY, '--top', '2', '--no-tune');
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(': ')[0])).toEqual(['a-bag.png', 'c-trouser.PNG', 'd-camera.jpeg'].map((n) => join(dir, n)));
    for (const l of lines) expect(l).toMatch(/: class_\d \d+\.\d%, class_\d \d+\.\d%$/);
    const errs = errLines(r.stderr);
    expect(errs[0]).toMatch(new RegExp(`^webvit: ${join(dir, 'b-broken.png')}: corrupt PNG 8-bit grey \\(.+\\)$`));
    expect(errs).toHaveLength(2); // the error and the summary: one line per problem
  });

  it('--max-pixels lowers the limit, and the error states both counts exactly at every scale; usage errors exit 2', () => {
    const r = cli('classify', 'examples/bag.png', join(IMAGES, 'coffee_173x115.png'), '--model', TINY_GRAY, '--max-pixels', '5k', '--json', '--no-tune');
    expect(r.code).toBe(1);
    const [ok, big] = jsonLines(r.stdout);
    expect(ok.top).toBeDefined();
    expect(big.error).toMatch(/^image is 173×115 = 19,895 pixels, above the limit of 5,000 pixels /);
    // Was "0.0 megapixels, above the limit of 0.0".
    const tiny = cli('classify', 'examples/bag.png', '--model', TINY_GRAY, '--max-pixels', '100', '--no-tune');
    expect(tiny.code).toBe(1);
    expect(errLines(tiny.stderr)[0]).toBe('webvit: examples/bag.png: image is 28×28 = 784 pixels, above the limit of 100 pixels (a decompression bomb, or raise the limit: --max-pixels, or the maxPixels decode option)');
    expect(cli('classify').code).toBe(2);
    const bad = cli('classify', 'x.png', '--top', '0');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--top must be a positive integer/);
  });
});

/** An 8-bit grey PNG of w × h pixels (a gradient: small file, quick to decode). */
function greyPng(w: number, h: number): Uint8Array {
  const raw = new Uint8Array(h * (1 + w));
  for (let y = 0; y < h; y++) raw.fill((y * 7) & 255, y * (1 + w) + 1, (y + 1) * (1 + w));
  return encodePng({ width: w, height: h, depth: 8, colorType: 0, raw }, (b) => deflateSync(b));
}

/** Runs the CLI and returns its peak resident memory in bytes (process.resourceUsage at exit). */
function peakRss(...args: string[]): { bytes: number; code: number; stderr: string } {
  const hook = 'data:text/javascript,process.on("exit",()=>process.stderr.write(`\\nmaxrss ${process.resourceUsage().maxRSS}\\n`))';
  // One process (no stderr-filtering child), so the maxrss line is the command's own.
  const r = spawnSync(process.execPath, ['--import', hook, 'dist/cli.js', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: '1', WEBVIT_RAW_STDERR: '1' }, timeout: 240_000 });
  const m = /maxrss (\d+)/.exec(r.stderr);
  if (!m) throw new Error(`no maxrss line (exit ${r.status}): ${r.stderr}`);
  return { bytes: Number(m[1]) * 1024, code: r.status ?? -1, stderr: r.stderr };
}

describe('webvit classify: memory and hostile inputs', () => {
  it('peak memory does not grow with the number of images: 6 large PNGs in one batch of 16 peak within one image of 1', () => {
    // 4000 × 4000 grey: 16 M pixels, 64 MB as RGBA. Before the fix classify decoded a whole batch
    // chunk and uploaded it at once: each extra image added its RGBA, its GPU copy and the upload
    // copy (measured: 1 image 385 MB, 6 images 930 MB). Now one image is decoded, preprocessed
    // into its slot and dropped before the next (measured: 303 MB and 307 MB; 2026-12-07 evening,
    // both before and after the classify loop became one: 293 → 328 and 310 → 345 MB, and once
    // 66 MB under a loaded CI run). Margin: one and a half images' RGBA (96 MB) for allocator and
    // garbage-collector noise; the bug it guards against added five images' worth (545 MB).
    const png = greyPng(4000, 4000);
    const one = join(tmp, 'mem1');
    const six = join(tmp, 'mem6');
    mkdirSync(one);
    mkdirSync(six);
    writeFileSync(join(one, 'a.png'), png);
    for (let i = 0; i < 6; i++) writeFileSync(join(six, `a${i}.png`), png);
    const r1 = peakRss('classify', one, '--model', TINY_GRAY, '--batch', '16', '--no-tune');
    const r6 = peakRss('classify', six, '--model', TINY_GRAY, '--batch', '16', '--no-tune');
    expect([r1.code, r6.code], r6.stderr).toEqual([0, 0]);
    const mb = (b: number) => (b / 2 ** 20).toFixed(0);
    console.log(`[memory] classify peak RSS: 1 image ${mb(r1.bytes)} MB, 6 images ${mb(r6.bytes)} MB (growth limit ${mb(96 * 2 ** 20)} MB)`);
    expect(r6.bytes - r1.bytes, `6 images peak at ${mb(r6.bytes)} MB, 1 image at ${mb(r1.bytes)} MB`).toBeLessThan(96 * 2 ** 20);
    // And one image costs about its RGBA (4 bytes per pixel) above the process's base, not several copies.
    const base = peakRss('classify', 'examples/bag.png', '--model', TINY_GRAY, '--no-tune');
    expect(r1.bytes - base.bytes, `1 image ${mb(r1.bytes)} MB, base ${mb(base.bytes)} MB`).toBeLessThan(2 * 64 * 2 ** 20);
  });

  it('a model whose preprocessing overflows float32 (std 1e-45, 1e-37) is refused at load, naming the field; no NaN or Inf result is printed (exit 1)', () => {
    // std 1e-45 (a float32 denormal) normalises every level but 0 to +Inf; std 1e-37 to values up to
    // 1e37, on which the forward pass overflows. Before issue 17 both reached the images: the first
    // was refused per image from its levels, the second per image after the forward pass. Now a
    // preprocessing that takes an 8-bit level beyond ±1e6 is refused when the model loads
    // (src/image/preprocess.ts, checkNormalisation), before any image is read.
    const black = join(tmp, 'black.png');
    writeFileSync(black, encodePng({ width: 28, height: 28, depth: 8, colorType: 0, raw: new Uint8Array(28 * 29) }, (b) => deflateSync(b)));
    for (const std of [1e-45, 1e-37]) {
      const parts = splitWeights(readFileSync(TINY_GRAY));
      parts.metadata['webvit.preprocess'] = JSON.stringify({ resize: null, crop: 28, interpolation: 'bilinear', mean: [0], std: [std], channels: 'grayscale' });
      const model = join(tmp, `std-${std}.safetensors`);
      writeFileSync(model, joinWeights(parts));
      for (const json of [[], ['--json']]) {
        const r = cli('classify', black, 'examples/bag.png', black, '--model', model, ...json, '--no-tune');
        expect(r.code, r.stderr).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr).not.toMatch(/NaN|Infinity%/);
        expect(errLines(r.stderr)[0]).toContain(`webvit: ${model}: __metadata__["webvit.preprocess"]: std[0] ${std}`);
        expect(errLines(r.stderr)[0]).toMatch(/beyond ±1000000 .*fix mean\/std\/rescale/);
      }
    }
  });

  it('file names with a newline or other control characters are quoted on plain-text lines (one line per image)', () => {
    const dir = join(tmp, 'names');
    mkdirSync(dir);
    const odd = join(dir, 'two\nlines.png');
    const tab = join(dir, 'tab\there\x1b[31m.png');
    copyFileSync(join(ROOT, 'examples', 'bag.png'), odd);
    writeFileSync(tab, 'not a png');
    const r = cli('classify', odd, tab, 'examples/dress.png', '--model', TINY_GRAY, '--no-tune');
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0].startsWith(`${JSON.stringify(odd)}: class_`), lines[0]).toBe(true);
    expect(lines[1].startsWith('examples/dress.png: class_'), lines[1]).toBe(true); // ordinary names as they are
    const errs = errLines(r.stderr);
    expect(errs).toHaveLength(2);
    expect(errs[0]).toBe(`webvit: ${JSON.stringify(tab)}: is not a PNG or JPEG image (starts with bytes 6e 6f 74 20)`);
    expect(r.stderr).not.toContain('\x1b[31m');
    // --json was already unambiguous.
    expect(jsonLines(cli('classify', odd, '--model', TINY_GRAY, '--json', '--no-tune').stdout)[0].file).toBe(odd);
  });

  it('on a terminal, shows the load (compiling kernels n/N) and an image bar on stderr; nothing of it off a terminal', (ctx) => {
    const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
    if (script.status !== 0) {
      console.log('skipped: no `script` (util-linux) to run the CLI on a pseudo-terminal');
      return ctx.skip();
    }
    const env: Record<string, string | undefined> = { ...process.env, TERM: 'dumb', COLUMNS: '100' };
    delete env.CI;
    const cmd = `${process.execPath} dist/cli.js classify examples/bag.png examples/dress.png --model ${TINY_GRAY} --no-tune`;
    // `script` runs the command on a pseudo-terminal and copies everything it writes to our stdout.
    const r = spawnSync('script', ['-qfec', cmd, '/dev/null'], { cwd: ROOT, encoding: 'utf8', env, timeout: 240_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\r\x1b\[2Kcompiling kernels \d+\/\d+/);
    expect(r.stdout).toMatch(/\r\x1b\[2K\[#+\] 2\/2 images/);
    expect(r.stdout).toMatch(/examples\/bag\.png: class_\d/);
    // Off a terminal (a pipe) only the result lines and the summary: no control characters.
    const piped = spawnSync(process.execPath, ['dist/cli.js', 'classify', 'examples/bag.png', 'examples/dress.png', '--model', TINY_GRAY, '--no-tune'], { cwd: ROOT, encoding: 'utf8', env, timeout: 240_000 });
    expect(piped.stdout + piped.stderr).not.toContain('\x1b');
    expect(errLines(piped.stderr)).toHaveLength(1);
  });
});

describe('webvit inspect', () => {
  it('prints config, parameters, weight bytes, GFLOPs, activation memory per batch, labels and preprocessing', () => {
    const r = cli('inspect', TINY_RGB);
    expect(r.code, r.stderr).toBe(0);
    const w = readWeights(readFileSync(TINY_RGB), 'x');
    const params = parameterCount(w.config);
    const text = r.stdout;
    expect(text).toMatch(/^model\s+.*tiny\/model\.safetensors$/m);
    expect(text).toMatch(/^input\s+32×32, 3 channels, patch 8 → 4×4 = 16 patches$/m);
    expect(text).toMatch(/^encoder\s+2 layers, hidden 64, 4 heads of 16, MLP 256/m);
    expect(text).toContain(`parameters   ${params.toLocaleString('en-US')}`);
    expect(text).toMatch(/^weights\s+0\.44 MiB in the file \(F32 114,250\)/m);
    expect(text).toContain(`${(flopsPerImage(w.config).total / 1e9).toFixed(4)} GFLOPs per image`);
    expect(text).toMatch(/^activations\s+batch 1: [\d.]+ MiB, batch 8: [\d.]+ MiB, batch 32: [\d.]+ MiB$/m);
    expect(text).toMatch(/^classes\s+10 \(labels: class_0, class_1/m);
    expect(text).toMatch(/^preprocess\s+resize shorter side to 37 \(bilinear.*centre crop 32, RGB, mean \[0\.485, 0\.456, 0\.406\].*defaults/m);

    const j = JSON.parse(cli('inspect', TINY_GRAY, '--json').stdout);
    const g = readWeights(readFileSync(TINY_GRAY), 'x');
    expect(j.parameters).toBe(parameterCount(g.config));
    expect(j.activation_bytes['32']).toBe(estimateActivationBytes(g.config, 32));
    expect(j.gflops_per_image).toBeCloseTo(flopsPerImage(g.config).total / 1e9, 12);
    expect(j.preprocess).toMatchObject({ channels: 'grayscale', crop: 28 });
    expect(cli('inspect', 'README.md').stderr).toMatch(/README\.md: .*safetensors/);
  });

  it('GFLOPs of ViT-B/16 match the published 17.6 GMACs', () => {
    const c = { image_size: 224, patch_size: 16, num_channels: 3, hidden_size: 768, num_layers: 12, num_heads: 12, mlp_size: 3072, num_classes: 1000, layer_norm_eps: 1e-6, qkv_bias: true, pooling: 'cls', class_token: true, distilled: false, fc_norm: false } as const;
    expect(flopsPerImage(c).total / 2e9).toBeCloseTo(17.56, 1);
  });
});
