import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { readWeights } from '../../src/model/weights.js';
import { CASE_MS, CLI, commonProblems, hostileString, makeSandbox, ROOT, runCli, showArgs, snapshot, tempFiles, type CliResult, type Sandbox, type StdoutMode } from './cli_helpers.js';

// Fuzzing the command line as a user (or a script) meets it: every command, real options with
// hostile values (up to 5000 characters, unicode, control characters, `__proto__`), and files of
// every kind in input and output positions — regular files (valid, garbage, empty, truncated),
// a FIFO, private character devices (null, zero, full: made with mknod in the sandbox, never
// the machine's /dev nodes), a symlink loop, folders, missing and over-long names, a read-only
// and a full file system (tmpfs, where root may mount). Each case is a real `node dist/cli.js`
// process bounded by WEBVIT_FUZZ_CLI_MS (default 20 s), and must:
//   - exit 0, 1 or 2 (no signal, no hang), leave no process behind, print no "internal error"
//     or stack trace, keep stderr bounded (64 KiB; lines of at most 4000 characters) and free of
//     raw control characters;
//   - refuse a bad file with exit 1 or 2 and a message naming it;
//   - never modify an input (hashed before and after), never turn a special file into another
//     kind of file, never leave a temporary file behind;
//   - succeed where everything is valid, with the whole output (through a slow pipe the same
//     bytes as through a file redirect).
// Each property is its own test, so a failure says which kind of case broke.
//
//   WEBVIT_FUZZ_CLI_RUNS=N  base cases per property (default 12; input, output and
//                          argument properties run twice that); long run: WEBVIT_FUZZ_CLI_RUNS=1000
//   WEBVIT_FUZZ_SEED=S      replay a failure (the seed is printed with it)
//   WEBVIT_FUZZ_CLI=PATH    the cli.js to test (default dist/cli.js)

const RUNS = Number(process.env.WEBVIT_FUZZ_CLI_RUNS ?? 12);
const SEED = process.env.WEBVIT_FUZZ_SEED !== undefined ? Number(process.env.WEBVIT_FUZZ_SEED) : (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) >>> 0;

let sb: Sandbox;
let baseline: { in: Map<string, string>; special: Map<string, string> };
const tallies: Record<string, { cases: number; codes: Map<string, number>; ms: number }> = {};

beforeAll(() => {
  if (!process.env.WEBVIT_FUZZ_CLI) {
    const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  }
  sb = makeSandbox(mkdtempSync(join(tmpdir(), 'webvit-fuzz-cli-')));
  baseline = { in: snapshot(sb.in), special: snapshot(sb.special) };
  // Warm the shader cache, so that the time bound measures the CLI rather than the first compile.
  spawnSync(process.execPath, [CLI, 'run', sb.files.model, '--input', sb.files.input], { cwd: sb.root, env: { ...process.env, CI: '1' }, timeout: 120_000 });
}, 300_000);

afterAll(() => {
  console.log(`[fuzz] cli: seed ${SEED} (WEBVIT_FUZZ_SEED), ${RUNS} cases per property (WEBVIT_FUZZ_CLI_RUNS), ${CASE_MS} ms per case; ${CLI}`);
  for (const n of sb?.notes ?? []) console.log(`[fuzz]   note: ${n}`);
  for (const [name, t] of Object.entries(tallies)) {
    console.log(`[fuzz]   ${name}: ${t.cases} cases (exit ${[...t.codes].map(([k, n]) => `${k}: ${n}`).join(', ')}), ${(t.ms / 1000).toFixed(1)} s`);
  }
  sb?.cleanup();
  if (sb) rmSync(sb.root, { recursive: true, force: true });
});

async function check<T>(name: string, property: fc.IAsyncProperty<T>, runs = RUNS): Promise<void> {
  const t0 = performance.now();
  tallies[name] ??= { cases: 0, codes: new Map(), ms: 0 };
  try {
    await fc.assert(property, { numRuns: runs, seed: SEED, endOnFailure: true });
  } catch (e) {
    throw new Error(`${name}: failed with WEBVIT_FUZZ_SEED=${SEED}\n${(e as Error).message}`, { cause: e });
  } finally {
    tallies[name].ms += performance.now() - t0;
  }
}

/** Runs every case of a fixed list (no sampling), then fails with all the failures together. */
async function allCases<T>(name: string, cases: T[], run: (c: T) => Promise<void>): Promise<void> {
  const t0 = performance.now();
  tallies[name] ??= { cases: 0, codes: new Map(), ms: 0 };
  const failures: string[] = [];
  for (const c of cases) {
    try {
      await run(c);
    } catch (e) {
      failures.push((e as Error).message);
    }
  }
  tallies[name].ms += performance.now() - t0;
  if (failures.length) throw new Error(`${name}: ${failures.length} of ${cases.length} cases failed\n\n${failures.join('\n\n')}`);
}

function count(name: string, r: CliResult): void {
  const t = tallies[name];
  t.cases++;
  const k = r.signal ?? String(r.code);
  t.codes.set(k, (t.codes.get(k) ?? 0) + 1);
}

/** A fresh output folder for one case. */
let outNo = 0;
const caseOut = () => {
  const d = join(sb.out, `case-${++outNo}`);
  mkdirSync(d);
  return d;
};

/**
 * Runs one case and checks what holds for every case: the common invariants, inputs and special
 * files as they were, no temporary files. `extra` adds the case's own checks. Throws with all
 * the problems found, the command line and stderr.
 */
async function runChecked(name: string, args: string[], mode: StdoutMode, extra: (r: CliResult) => string[] = () => []): Promise<CliResult> {
  const r = await runCli(args, mode, sb);
  count(name, r);
  const problems = commonProblems(r);
  const now = { in: snapshot(sb.in), special: snapshot(sb.special) };
  for (const which of ['in', 'special'] as const) {
    for (const [p, k] of baseline[which]) if (now[which].get(p) !== k) problems.push(`${p} changed: was ${k.slice(0, 20)}, now ${(now[which].get(p) ?? 'missing').slice(0, 20)}`);
    for (const p of now[which].keys()) if (!baseline[which].has(p)) problems.push(`new file ${p} among the ${which === 'in' ? 'inputs' : 'special files'}`);
  }
  const temps = tempFiles(sb.root);
  if (temps.length) problems.push(`temporary file(s) left: ${temps.join(', ')}`);
  problems.push(...extra(r));
  if (problems.length) {
    // Leave the sandbox clean for the next case (the failure is reported once).
    for (const t of temps) rmSync(t, { force: true });
    baseline = { in: snapshot(sb.in), special: snapshot(sb.special) };
    throw new Error(`webvit ${showArgs(args)} (stdout: ${mode}, exit ${r.signal ?? r.code}, ${r.ms.toFixed(0)} ms):\n  - ${problems.join('\n  - ')}\nstderr: ${r.stderr.slice(0, 1500)}`);
  }
  return r;
}

/** A refusal that names the file (by its name, or the first 40 characters of a long one). */
function refusesNaming(r: CliResult, path: string): string[] {
  const name = basename(path).slice(0, 40);
  if (r.code !== 1 && r.code !== 2) return [`expected a refusal (exit 1 or 2) of ${path}, got exit ${r.signal ?? r.code}`];
  if (!r.stderr.includes(name)) return [`the refusal does not name ${name}`];
  return [];
}

// ----------------------------------------------------------------------------- input kinds

/** Every input position of every command: the command line with FILE there and valid files elsewhere. */
interface InputPosition {
  name: string;
  args: (file: string, out: string) => string[];
  /** Kinds that are valid in this position besides 'valid'. */
  alsoValid?: string[];
}
const INPUT_POSITIONS: InputPosition[] = [
  { name: 'run MODEL', args: (f) => ['run', f, '--input', sb.files.input] },
  { name: 'run --input', args: (f) => ['run', sb.files.model, '--input', f] },
  { name: 'classify IMAGE', args: (f) => ['classify', f, '--model', sb.files.model], alsoValid: ['dir'] },
  { name: 'classify --model', args: (f) => ['classify', sb.files.png, '--model', f] },
  { name: 'explain IMAGE', args: (f, o) => ['explain', f, '--model', sb.files.model, '-o', o], alsoValid: ['dir'] },
  { name: 'explain --model', args: (f, o) => ['explain', sb.files.png, '--model', f, '-o', o] },
  { name: 'inspect MODEL', args: (f) => ['inspect', f] },
  { name: 'convert SRC', args: (f, o) => ['convert', f, '-o', join(o, 'converted.safetensors')] },
  { name: 'convert --labels', args: (f, o) => ['convert', sb.files.checkpoint, '--labels', f, '-o', join(o, 'converted.safetensors')] },
  { name: 'convert --preprocessor-config', args: (f, o) => ['convert', sb.files.checkpoint, '--preprocessor-config', f, '-o', join(o, 'converted.safetensors')] },
];
/** The valid file of each position. */
const validFor = (pos: string): string =>
  ({
    'run MODEL': sb.files.model,
    'run --input': sb.files.input,
    'classify IMAGE': sb.files.png,
    'classify --model': sb.files.model,
    'explain IMAGE': sb.files.png,
    'explain --model': sb.files.model,
    'inspect MODEL': sb.files.model,
    'convert SRC': sb.files.checkpoint,
    'convert --labels': sb.files.labels,
    'convert --preprocessor-config': sb.files.preprocessor,
  })[pos]!;
const INPUT_KINDS = ['valid', 'garbage', 'empty', 'truncated', 'fifo', 'dev_null', 'dev_zero', 'loop', 'dir', 'missing', 'missingDir', 'longName', 'unreadable', 'oddInput'] as const;
const pathOfKind = (kind: string, pos: string): string | undefined =>
  ({
    valid: validFor(pos),
    garbage: sb.files.garbage,
    empty: sb.files.empty,
    truncated: sb.files.modelTruncated,
    fifo: sb.files.fifo,
    dev_null: sb.files.dev_null,
    dev_zero: sb.files.dev_zero,
    loop: sb.files.loop,
    dir: sb.files.dir,
    missing: sb.files.missing,
    missingDir: sb.files.missingDir,
    longName: sb.files.longName,
    unreadable: sb.files.unreadable,
    oddInput: sb.files.inputOdd,
  })[kind];

describe('fuzz: the CLI', () => {
  it('input positions × file kinds (regular, FIFO, devices, symlink loop, folder, missing, long name): a refusal naming the file, or success where valid', async () => {
    await check(
      'input kinds',
      fc.asyncProperty(fc.constantFrom(...INPUT_POSITIONS), fc.constantFrom(...INPUT_KINDS), async (pos, kind) => {
        const file = pathOfKind(kind, pos.name);
        if (!file) return; // this machine cannot make that kind (see the notes)
        const out = caseOut();
        const valid = kind === 'valid' || pos.alsoValid?.includes(kind) || (kind === 'unreadable' && process.getuid?.() === 0 && /MODEL|--model|convert SRC/.test(pos.name));
        await runChecked('input kinds', pos.args(file, out), 'pipe', (r) => {
          if (valid) return r.code === 0 ? [] : [`a valid ${kind} in ${pos.name} failed (exit ${r.code})`];
          // Every other kind is wrong in every position (garbage labels: not 10 lines of UTF-8).
          return refusesNaming(r, file);
        });
      }),
      2 * RUNS,
    );
  });

  // ------------------------------------------------------------------------- output kinds
  it('output paths of every kind (-o of convert and explain): written whole, or refused naming the path; special files stay special', async () => {
    const KINDS = ['new', 'existing', 'inputSame', 'inputLink', 'fifo', 'dev_null', 'dev_full', 'dev_zero', 'dirOrFile', 'loop', 'ro', 'roExisting', 'full', 'missingDir', 'longName'] as const;
    await check(
      'output kinds',
      fc.asyncProperty(fc.constantFrom('convert', 'explain'), fc.constantFrom(...KINDS), async (command, kind) => {
        const out = caseOut();
        const isConvert = command === 'convert';
        const source = isConvert ? sb.files.checkpointFile : sb.files.png;
        let target: string | undefined;
        switch (kind) {
          case 'new':
            target = join(out, isConvert ? 'new.safetensors' : 'new-dir');
            break;
          case 'existing':
            target = join(out, isConvert ? 'existing.safetensors' : 'existing-dir');
            if (isConvert) writeFileSync(target, 'old contents\n');
            else mkdirSync(target);
            break;
          case 'inputSame':
            target = source;
            break;
          case 'inputLink':
            target = join(out, 'link-to-input');
            symlinkSync(source, target);
            break;
          case 'dirOrFile': // a folder where convert writes a file; a file where explain makes a folder
            target = join(out, 'other');
            if (isConvert) mkdirSync(target);
            else writeFileSync(target, 'a file\n');
            break;
          case 'ro':
            target = sb.ro && join(sb.ro, isConvert ? 'new.safetensors' : 'new-dir');
            break;
          case 'roExisting':
            target = sb.ro && join(sb.ro, isConvert ? 'existing.safetensors' : 'sub');
            break;
          case 'full':
            target = sb.full && join(sb.full, isConvert ? 'new.safetensors' : 'sub');
            break;
          case 'missingDir':
            target = join(out, 'no-such-folder', isConvert ? 'x.safetensors' : 'x');
            break;
          case 'longName':
            target = join(out, 'o'.repeat(300));
            break;
          default:
            target = sb.files[kind];
        }
        if (!target) return;
        const args = isConvert ? ['convert', sb.files.checkpoint, '-o', target] : ['explain', sb.files.png, '--model', sb.files.model, '-o', target];
        const before = existsSync(target) ? snapshot(out) : undefined;
        await runChecked('output kinds', args, 'pipe', (r) => {
          const p: string[] = [];
          if (kind === 'new' || kind === 'existing') {
            if (r.code !== 0) return [`writing to a ${kind} ${isConvert ? 'file' : 'folder'} failed (exit ${r.code})`];
            try {
              if (isConvert) readWeights(new Uint8Array(readFileSync(target!)), target!);
              else JSON.parse(readFileSync(join(target!, 'explain.json'), 'utf8'));
            } catch (e) {
              p.push(`the output is not whole: ${(e as Error).message.slice(0, 200)}`);
            }
            return p;
          }
          if (kind === 'dev_null' || kind === 'missingDir') {
            // Writing into the null device, or making the missing folder, may succeed.
            return r.code === 0 ? [] : refusesNaming(r, target!);
          }
          p.push(...refusesNaming(r, target!));
          if (kind === 'full' && sb.full) {
            const extra = [...snapshot(sb.full).keys()].filter((f) => f !== join(sb.full!, 'filler') && f !== join(sb.full!, 'sub'));
            if (extra.length) p.push(`a refused write left file(s) on the full file system: ${extra.join(', ')}`);
          }
          if (before && kind === 'dirOrFile') {
            const now = snapshot(out);
            for (const [f, k] of before) if (now.get(f) !== k) p.push(`${f} changed although the command was refused`);
          }
          return p;
        });
      }),
      2 * RUNS,
    );
  });

  // ------------------------------------------------------------------------ stdout kinds
  it('stdout to a full device: a non-zero exit and a message, not a crash or silent loss; to the null device: success', async () => {
    // Every printing command once on the full device (and two on the null device), all run: the
    // failures are reported together.
    const cases: [string, StdoutMode][] = [
      ...['inspect', 'inspect --json', 'run', 'run --json', 'classify', 'classify --json', 'explain', 'explain --json'].map((w): [string, StdoutMode] => [w, 'dev_full']),
      ['inspect', 'dev_null'],
      ['classify --json', 'dev_null'],
    ];
    await allCases('stdout kinds', cases, async ([what, mode]) => {
      if (!sb.files[mode]) return;
      const [command, ...flags] = what.split(' ');
      const args = {
        inspect: ['inspect', sb.files.model],
        run: ['run', sb.files.model, '--input', sb.files.input],
        classify: ['classify', sb.files.png, '--model', sb.files.model],
        explain: ['explain', sb.files.png, '--model', sb.files.model, '-o', caseOut()],
      }[command]!;
      await runChecked('stdout kinds', [...args, ...flags], mode, (r) => {
        if (mode === 'dev_null') return r.code === 0 ? [] : [`exit ${r.code} with stdout on a null device`];
        if (r.code === 0) return ['exit 0 although nothing could be written to stdout (ENOSPC): the output was lost silently'];
        return /ENOSPC|no space|stdout|standard output/i.test(r.stderr) ? [] : ['the failure does not say that stdout could not be written'];
      });
    });
  });

  // ------------------------------------------------------------------------------- pipes
  it('through a slow pipe the whole output arrives: the same bytes as a file redirect, above 64 KiB too', async () => {
    // 400 images of the tiny model: `run --json` prints about 78 KB, `run --top 5` about 40 KB.
    const big = join(sb.out, 'big-input.bin');
    const pixels = new Float32Array(400 * 3 * 32 * 32).map((_, i) => Math.sin(i * 0.011) * 2);
    writeFileSync(big, new Uint8Array(pixels.buffer));
    const images = join(sb.out, 'many-images');
    mkdirSync(images);
    for (let i = 0; i < 24; i++) writeFileSync(join(images, `img-${String(i).padStart(2, '0')}-${'x'.repeat(80)}.png`), readFileSync(join(ROOT, 'examples', ['bag.png', 'dress.png', 'sneaker.png'][i % 3])));
    const commands: [string, string[]][] = [
      ['run --json (400 images)', ['run', sb.files.model, '--input', big, '--json']],
      ['run (400 images)', ['run', sb.files.model, '--input', big, '--top', '5']],
      ['classify --json (24 images)', ['classify', images, '--model', sb.files.model, '--json', '--top', '10']],
      ['inspect --json', ['inspect', sb.files.model, '--json']],
      ['explain --json', ['explain', sb.files.png, sb.files.png2, '--model', sb.files.model, '--json', '-o', join(sb.out, 'explain-pipe')]],
    ];
    // Every command once (two processes each), not drawn at random: the slow pipe's second of
    // waiting is what a case costs.
    await allCases('pipes', commands, async ([label, args]) => {
      const viaFile = await runChecked('pipes', args, 'file', (r) => (r.code === 0 ? [] : [`${label}: exit ${r.code}`]));
      await runChecked('pipes', args, 'slow-pipe', (r) => {
        if (r.code !== 0) return [`${label}: exit ${r.code} through a pipe`];
        if (r.stdout.length !== viaFile.stdout.length) return [`${label}: ${r.stdout.length} bytes arrived through a slow pipe, ${viaFile.stdout.length} through a file`];
        if (!r.stdout.equals(viaFile.stdout)) return [`${label}: different bytes through a pipe than through a file`];
        return [];
      });
    });
  });

  // ---------------------------------------------------------------------- argument vectors
  it('argument vectors (real options, hostile values up to 5000 characters, file kinds): exit 0/1/2 in time, no crash, nothing destroyed', async () => {
    const OPTIONS: Record<string, string[]> = {
      // Not --tune (tuning on a CPU adapter takes minutes) nor --repeat (a million forwards is a
      // valid request): both would be slow by design, not hung.
      run: ['--input', '-i', '--batch', '-b', '--top', '-k', '--json', '--profile', '--kernels', '--no-tune'],
      classify: ['--model', '-m', '--top', '-k', '--json', '--batch', '-b', '--max-pixels', '--no-tune'],
      explain: ['--model', '-m', '--out', '-o', '--json', '--layer', '-l', '--batch', '-b', '--max-pixels', '--no-tune'],
      inspect: ['--json'],
      convert: ['--output', '-o', '--dtype', '--labels', '--image-size', '--heads', '--layout', '--pooling', '--resize', '--preprocessor-config'],
      'bench roofline': ['--model', '--batch'],
    };
    const FLAGS = new Set(['--json', '--profile', '--no-tune']);
    const OUTPUTS = new Set(['--out', '-o', '--output']);
    const VALUES = ['1', '2', '3', '0', '-1', '16', '1000000', 'f16', 'f32', 'hf', 'timm', 'cls', 'mean', 'bicubic', 'none', 'ti16', 'matmul=tiled', 'attention=online_softmax', '100M', '1K'];
    const FILE_KINDS = ['model', 'input', 'png', 'garbage', 'empty', 'fifo', 'dev_null', 'dev_zero', 'dev_full', 'loop', 'dir', 'missing', 'longName', 'checkpoint', 'labels'];
    type Token = { kind: 'option'; i: number; value: { kind: 'value'; i: number } | { kind: 'file'; i: number } | { kind: 'hostile'; s: string } | { kind: 'eq'; s: string } } | { kind: 'positional'; file: number; hostile: string | null } | { kind: 'raw'; s: string };
    const token: fc.Arbitrary<Token> = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          kind: fc.constant('option' as const),
          i: fc.nat(),
          value: fc.oneof(
            fc.record({ kind: fc.constant('value' as const), i: fc.nat() }),
            fc.record({ kind: fc.constant('file' as const), i: fc.nat() }),
            fc.record({ kind: fc.constant('hostile' as const), s: hostileString }),
            fc.record({ kind: fc.constant('eq' as const), s: hostileString }),
          ),
        }),
      },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('positional' as const), file: fc.nat(), hostile: fc.option(hostileString, { freq: 3 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('raw' as const), s: fc.oneof(hostileString, fc.constantFrom('--', '-', '--bogus', '-x', '--dawn-flags', '--dawn-flags=__proto__', '--json=1', '---', '-h')) }) },
    );
    const COMMANDS = [...Object.keys(OPTIONS), 'bench', 'help', '--version', 'nonsense', ''];
    await check(
      'argument vectors',
      fc.asyncProperty(fc.constantFrom(...COMMANDS), fc.array(token, { maxLength: 7 }), fc.nat(), async (command, tokens, other) => {
        const out = caseOut();
        const opts = OPTIONS[command] ?? OPTIONS[Object.keys(OPTIONS)[other % 6]];
        const args: string[] = command ? command.split(' ') : [];
        // Output values stay inside this case's folder (a hostile name becomes a file name there).
        const safeName = (s: string) => join(out, s.replace(/[/\\\0]/g, '_').replace(/^\.\.?$/, '_') || '_');
        for (const t of tokens) {
          if (t.kind === 'raw') args.push(t.s);
          else if (t.kind === 'positional') args.push(t.hostile !== null ? safeName(t.hostile) : sb.files[FILE_KINDS[t.file % FILE_KINDS.length]] ?? sb.files.missing);
          else {
            const o = opts[t.i % opts.length];
            if (FLAGS.has(o)) {
              args.push(o);
              continue;
            }
            const v = t.value;
            const file = (i: number) => sb.files[FILE_KINDS[i % FILE_KINDS.length]] ?? sb.files.missing;
            let value: string;
            if (OUTPUTS.has(o)) value = v.kind === 'file' ? ([sb.files.fifo, sb.files.dev_null, sb.files.dev_full, sb.files.loop, out][v.i % 5] ?? join(out, 'o')) : v.kind === 'value' ? join(out, VALUES[v.i % VALUES.length]) : safeName(v.s);
            else value = v.kind === 'value' ? VALUES[v.i % VALUES.length] : v.kind === 'file' ? file(v.i) : v.s;
            if (v.kind === 'eq' && o.startsWith('--')) args.push(`${o}=${value}`);
            else args.push(o, value);
          }
        }
        // bench kernels / bench model run benchmarks for minutes: only roofline and nonsense sub-commands.
        if (args[0] === 'bench' && (args[1] === 'kernels' || args[1] === 'model')) args[1] = 'roofline';
        await runChecked('argument vectors', args, 'pipe');
      }),
      2 * RUNS,
    );
  });
});
