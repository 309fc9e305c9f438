import { execFileSync } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readRegularFile, readRegularFileSync } from '../../src/runtime/node-read-file.js';
import { checkOutputs, prepareOutputFolder, writeFileAtomically, writeFileAtomicallySync } from '../../src/runtime/node-write-file.js';
import { readLabelsFile } from '../../src/model/convert/files.js';
import { readWeightFile } from '../../src/model/weight_file.js';
import { fileTuneStore } from '../../src/runtime/node-tune-store.js';
import { expectWebvitError } from '../helpers/errors.js';

// Issue 17, round two, in the one writer and the one reader (src/runtime/node-write-file.ts,
// node-read-file.ts, node-tune-store.ts). Each case is synchronous or bounded: no FIFO is opened.

const tmp = mkdtempSync(join(tmpdir(), 'webvit-node-files2-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const dir = (name: string) => {
  const d = join(tmp, `${n++}-${name}`);
  mkdirSync(d);
  return d;
};

describe('{ follow: false }: a name webvit picks in a folder is never a link followed', () => {
  it('a link to a file outside is refused by both writers and checkOutputs, naming it; the file and the link stay', async () => {
    const d = dir('picked');
    writeFileSync(join(d, 'victim.txt'), 'precious');
    mkdirSync(join(d, 'out'));
    const link = join(d, 'out', 'explain.json');
    symlinkSync('../victim.txt', link);
    await expectWebvitError(() => writeFileAtomically(link, 'x', { follow: false }), 'IO', [link, 'symbolic link', '../victim.txt']);
    await expectWebvitError(async () => writeFileAtomicallySync(link, 'x', { follow: false }), 'IO', [link, 'symbolic link']);
    await expectWebvitError(() => checkOutputs([join(d, 'out', 'a.png'), link], { follow: false }), 'IO', [link, 'symbolic link']);
    expect(readFileSync(join(d, 'victim.txt'), 'utf8')).toBe('precious');
    expect(readlinkSync(link)).toBe('../victim.txt');
    expect(readdirSync(join(d, 'out'))).toEqual(['explain.json']);
  });

  it('a path the user typed (the default) still follows a link to a regular file', async () => {
    const d = dir('typed');
    writeFileSync(join(d, 'real'), 'old');
    symlinkSync('real', join(d, 'link'));
    await writeFileAtomically(join(d, 'link'), 'new');
    expect(readFileSync(join(d, 'real'), 'utf8')).toBe('new');
    expect(lstatSync(join(d, 'link')).isSymbolicLink()).toBe(true);
  });
});

describe('messages: a link loop and a link to a FIFO are not called dangling', () => {
  it('loop -> "symbolic link loop"; link to a FIFO -> its kind; a dangling link -> "dangling" (async and sync)', async () => {
    const d = dir('links');
    symlinkSync('b', join(d, 'a'));
    symlinkSync('a', join(d, 'b'));
    execFileSync('mkfifo', [join(d, 'fifo')]);
    symlinkSync('fifo', join(d, 'to-fifo'));
    symlinkSync('missing', join(d, 'dangling'));
    for (const write of [(p: string) => writeFileAtomically(p, 'x'), async (p: string) => writeFileAtomicallySync(p, 'x')]) {
      const loop = await expectWebvitError(() => write(join(d, 'a')), 'IO', ['symbolic link loop']);
      expect(loop).not.toMatch(/dangling/);
      const fifo = await expectWebvitError(() => write(join(d, 'to-fifo')), 'IO', ['FIFO']);
      expect(fifo).not.toMatch(/dangling/);
      await expectWebvitError(() => write(join(d, 'dangling')), 'IO', ['dangling']);
    }
  });
});

describe('output folders (prepareOutputFolder)', () => {
  it('a file, a file above it, a link loop: refused naming the path and its kind; a missing folder is created', async () => {
    const d = dir('folders');
    writeFileSync(join(d, 'file'), 'x');
    symlinkSync('l2', join(d, 'l1'));
    symlinkSync('l1', join(d, 'l2'));
    await expectWebvitError(() => prepareOutputFolder(join(d, 'file'), '-o'), 'IO', ['-o', 'is a regular file, not a folder']);
    await expectWebvitError(() => prepareOutputFolder(join(d, 'file', 'sub'), '-o'), 'IO', [`${join(d, 'file')} is a regular file, not a folder`]);
    await expectWebvitError(() => prepareOutputFolder(join(d, 'l1'), '--out'), 'IO', ['--out', 'symbolic link loop']);
    await prepareOutputFolder(join(d, 'new', 'deep'), '-o', [join(d, 'new', 'deep', 'x.json')]);
    expect(lstatSync(join(d, 'new', 'deep')).isDirectory()).toBe(true);
  });
});

describe('temporary names fit whenever the output name does', () => {
  it('a 255-byte name (multi-byte characters): written by both writers, no temporary file left', async () => {
    const d = dir('long');
    const name = `${'é'.repeat(126)}abc`; // 255 bytes
    expect(Buffer.byteLength(name)).toBe(255);
    await writeFileAtomically(join(d, name), 'a');
    writeFileAtomicallySync(join(d, name), 'b');
    expect(readdirSync(d)).toEqual([name]);
    expect(readFileSync(join(d, name), 'utf8')).toBe('b');
  });
});

describe('paths near PATH_MAX (4,095 bytes)', () => {
  /** A folder under `base` whose path is exactly `bytes` bytes long, made of 200-byte components. */
  const deepFolder = (base: string, bytes: number) => {
    let d = base;
    while (Buffer.byteLength(d) + 1 + 200 < bytes - 20) d = join(d, 'f'.repeat(200));
    d = join(d, 'g'.repeat(bytes - Buffer.byteLength(d) - 1));
    expect(Buffer.byteLength(d)).toBe(bytes);
    mkdirSync(d, { recursive: true });
    return d;
  };

  it('a 4,090-byte output path whose temporary name is cut to fit: written by both writers', async () => {
    const d = deepFolder(dir('deep'), 4000);
    const out = join(d, 'n'.repeat(89)); // 4,090 bytes
    expect(Buffer.byteLength(out)).toBe(4090);
    await checkOutputs([out]);
    await writeFileAtomically(out, 'a');
    writeFileAtomicallySync(out, 'b');
    expect(readdirSync(d)).toEqual(['n'.repeat(89)]);
    expect(readFileSync(out, 'utf8')).toBe('b');
  });

  it('a folder that leaves no room for a temporary name: refused before anything is written, naming the limit', async () => {
    const d = deepFolder(dir('deeper'), 4085);
    const out = join(d, 'o.json'); // 4,092 bytes: the output fits, a temporary name beside it cannot
    for (const attempt of [() => checkOutputs([out]), () => writeFileAtomically(out, 'a'), () => writeFileAtomicallySync(out, 'a')]) {
      const m = await expectWebvitError(attempt, 'IO', ['4086 bytes', 'PATH_MAX', 'choose a shorter path']);
      expect(m.slice(-400)).toMatch(/PATH_MAX.*shorter path/); // the reason is at the end, where a clipped message keeps it
    }
    expect(readdirSync(d)).toEqual([]);
  });

  it('an output path past PATH_MAX says so, not "a name in it is too long"', async () => {
    const d = deepFolder(dir('past'), 4085);
    const out = join(d, 'x'.repeat(20));
    await expectWebvitError(() => writeFileAtomically(out, 'a'), 'IO', ['ENAMETOOLONG: the path is 4106 bytes', 'PATH_MAX']);
  });
});

describe('a path that is not a string is the caller\'s mistake', () => {
  it('readLabelsFile(3), readRegularFile(null), readRegularFileSync({}): BAD_ARGUMENT naming what was expected', async () => {
    await expectWebvitError(() => readLabelsFile(3 as unknown as string), 'BAD_ARGUMENT', ['the labels file given with --labels', 'expected a file path (a string), got number']);
    await expectWebvitError(() => readRegularFile(null as unknown as string, { code: 'BAD_WEIGHTS', limit: 10 }), 'BAD_ARGUMENT', ['got null']);
    await expectWebvitError(() => readRegularFileSync({} as unknown as string, { code: 'BAD_WEIGHTS', limit: 10 }), 'BAD_ARGUMENT', ['got object']);
  });
});

describe('files with no size in their metadata (/proc)', () => {
  it('are read to their end (async and sync), still bounded by the limit', async () => {
    const a = new TextDecoder().decode(await readRegularFile('/proc/self/status', { code: 'IO', limit: 1 << 20 }));
    const s = new TextDecoder().decode(readRegularFileSync('/proc/self/status', { code: 'IO', limit: 1 << 20 }));
    expect(a).toMatch(/^Name:/);
    expect(s).toMatch(/^Name:/);
    await expectWebvitError(() => readRegularFile('/proc/self/status', { code: 'IO', limit: 16 }), 'IO', ['/proc/self/status', '16-byte limit']);
    await expectWebvitError(async () => readRegularFileSync('/proc/self/status', { code: 'IO', limit: 16 }), 'IO', ['16-byte limit']);
  });
});

describe('the tuning cache', () => {
  it('a tuning.json that is not a cache (a model, a JSON array) is never replaced; said once', () => {
    for (const text of ['\x00\x01safetensors-ish', '[1,2]']) {
      const d = dir('foreign');
      const p = join(d, 'tuning.json');
      writeFileSync(p, text);
      const said: string[] = [];
      const store = fileTuneStore(p, { warn: (m) => said.push(m) });
      store.set('k', 'v');
      store.set('k2', 'v2');
      expect(readFileSync(p, 'latin1')).toBe(text);
      expect(store.get('k')).toBe('v');
      expect(said).toHaveLength(1);
      expect(said[0]).toMatch(/not a webvit tuning cache/);
    }
  });

  it('a tuning.json this process has read as an input is never replaced', async () => {
    const d = dir('input');
    const p = join(d, 'tuning.json');
    writeFileSync(p, '{}');
    const store = fileTuneStore(p, { warn: () => {} });
    await readRegularFile(p, { code: 'IO', limit: 100 }); // as a command reads its model
    store.set('k', 'v');
    expect(readFileSync(p, 'utf8')).toBe('{}');
    const ok = join(dir('ok'), 'tuning.json');
    writeFileSync(ok, '{"a":"b"}');
    fileTuneStore(ok).set('k', 'v');
    expect(JSON.parse(readFileSync(ok, 'utf8'))).toEqual({ a: 'b', k: 'v' });
  });

  it('a symlink as tuning.json is not followed', () => {
    const d = dir('tlink');
    writeFileSync(join(d, 'victim.json'), '{}');
    symlinkSync('victim.json', join(d, 'tuning.json'));
    const said: string[] = [];
    const store = fileTuneStore(join(d, 'tuning.json'), { warn: (m) => said.push(m) });
    store.set('k', 'v');
    store.set('k2', 'v');
    expect(readFileSync(join(d, 'victim.json'), 'utf8')).toBe('{}');
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/tuning\.json: is a symbolic link .*tuning results are not saved$/);
  });

  it('a cache folder that cannot be made (WEBVIT_CACHE_DIR a file): the run goes on, said once with the errno', () => {
    // Third hostile run: --tune with the cache folder a file, a device or read-only said nothing.
    const d = dir('cachefile');
    writeFileSync(join(d, 'afile'), 'x');
    const said: string[] = [];
    const store = fileTuneStore(join(d, 'afile', 'tuning.json'), { warn: (m) => said.push(m) });
    store.set('k', 'v');
    store.set('k2', 'v');
    expect(store.get('k')).toBe('v');
    expect(readFileSync(join(d, 'afile'), 'utf8')).toBe('x');
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/afile\/tuning\.json: tuning results are not saved \(cannot write it: (ENOTDIR|EEXIST): [^)]+\); .*afile must be a folder: set WEBVIT_CACHE_DIR to one$/);
  });
});

describe('a weight file is refused from its header, before it is read whole', () => {
  it('2 GB of zeros (a sparse file): refused at once, the process never holding the file in memory', () => {
    const d = dir('sparse');
    const p = join(d, 'zeros.safetensors');
    execFileSync('truncate', ['-s', '2000M', p]);
    const probe = `import(${JSON.stringify(join(import.meta.dirname, '..', '..', 'dist', 'node.js'))}).then(async (w) => {
      try { await w.readWeightFile(${JSON.stringify(p)}); console.log('read'); }
      catch (e) { console.log(e.code, process.resourceUsage().maxRSS, e.message); }
    });`;
    const out = execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8' }).trim();
    const [code, maxRssKb, ...message] = out.split(' ');
    expect(code, out).toBe('BAD_WEIGHTS');
    expect(message.join(' ')).toMatch(/zeros\.safetensors: header is not valid UTF-8 JSON/);
    // Reading it whole took 2.1 GB; the header check reads 8 bytes.
    expect(Number(maxRssKb), 'peak memory (KiB)').toBeLessThan(400 * 1024);
    rmSync(p);
  });

  it('a valid safetensors header of 2 GB of data that is not a webvit model: refused from the header too (it was read whole)', () => {
    const d = dir('foreign');
    const p = join(d, 'foreign.safetensors');
    const header = Buffer.from(JSON.stringify({ a: { dtype: 'F32', shape: [500_000_000], data_offsets: [0, 2_000_000_000] } }));
    const head = Buffer.alloc(8);
    head.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(p, Buffer.concat([head, header]));
    execFileSync('truncate', ['-s', String(8 + header.length + 2_000_000_000), p]);
    const probe = `import(${JSON.stringify(join(import.meta.dirname, '..', '..', 'dist', 'node.js'))}).then(async (w) => {
      try { await w.readWeightFile(${JSON.stringify(p)}); console.log('read'); }
      catch (e) { console.log(e.code, process.resourceUsage().maxRSS, e.message); }
    });`;
    const out = execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8' }).trim();
    const [code, maxRssKb, ...message] = out.split(' ');
    expect(code, out).toBe('BAD_WEIGHTS');
    expect(message.join(' ')).toMatch(/foreign\.safetensors: is a safetensors file but not a webvit model \(no "format": "webvit" in __metadata__\)/);
    expect(Number(maxRssKb), 'peak memory (KiB)').toBeLessThan(400 * 1024);
    rmSync(p);
  });

  /** `call` (an expression of `w`, dist/node.js, and `p`) run in a fresh process: its error code, peak memory (KiB) and message. */
  const probe = (call: string, p: string) => {
    const code = `import(${JSON.stringify(join(import.meta.dirname, '..', '..', 'dist', 'node.js'))}).then(async (w) => {
      const p = ${JSON.stringify(p)};
      try { await ${call}; console.log('read'); }
      catch (e) { console.log(e.code, process.resourceUsage().maxRSS, e.message); }
    });`;
    const [errCode, maxRssKb, ...message] = execFileSync(process.execPath, ['-e', code], { encoding: 'utf8' }).trim().split(' ');
    return { errCode, maxRssKb: Number(maxRssKb), message: message.join(' ') };
  };

  it('a checkpoint to convert is refused from its header too (convert read 1.9 GB of zeros whole)', () => {
    const d = dir('ckpt');
    const p = join(d, 'model.safetensors');
    execFileSync('truncate', ['-s', '1900M', p]);
    const r = probe('w.readCheckpoint(p)', p);
    expect(r.errCode, r.message).toBe('BAD_WEIGHTS');
    expect(r.message).toMatch(/header is not valid UTF-8 JSON/);
    expect(r.maxRssKb, 'peak memory (KiB)').toBeLessThan(400 * 1024);
    rmSync(p);
  });

  it('a valid webvit model with 1.9 GB appended: refused from its header and size ("trailing bytes"), not after reading it all', () => {
    const d = dir('trailing');
    const p = join(d, 'model.safetensors');
    cpSync(join(import.meta.dirname, '..', 'fixtures', 'tiny', 'model.safetensors'), p);
    execFileSync('truncate', ['-s', '1900M', p]);
    const r = probe('w.readWeightFile(p)', p);
    expect(r.errCode, r.message).toBe('BAD_WEIGHTS');
    expect(r.message).toMatch(/trailing bytes after the last tensor/);
    expect(r.maxRssKb, 'peak memory (KiB)').toBeLessThan(400 * 1024);
    rmSync(p);
  });

  it('a file above the limit is told to halve itself with --dtype f16 only when that brings it under', async () => {
    const d = dir('big');
    for (const [gb, halves] of [[3, true], [5, false]] as const) {
      const p = join(d, `${gb}g.safetensors`);
      execFileSync('truncate', ['-s', `${gb}G`, p]);
      const m = await expectWebvitError(() => readWeightFile(p), 'BAD_WEIGHTS', ['above the', 'the most one read can hold']);
      expect(m.includes('--dtype f16 halves it'), m).toBe(halves);
      rmSync(p);
    }
  });
});
