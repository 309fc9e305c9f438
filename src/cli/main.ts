// First: a GPU child whose parent is already gone ends before anything else loads.
import './orphan_guard.js';
import { registerAllOps } from '../kernels/all_ops.js';
import { useQuantReader } from '../model/weights.js';
import { readQuantized } from '../model/quant_weights.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clip, WebvitError } from '../runtime/errors.js';
import { exitAfterFlush, exitOnOutputErrors, MAX_MESSAGE } from './exit.js';
import { RUN_USAGE, runCommand } from './run.js';
import { messageLine, printable, shown } from './shown.js';
import { BENCH_USAGE, benchCommand } from './bench.js';
import { CONVERT_USAGE, convertCommand } from './convert.js';
import { CLASSIFY_USAGE, classifyCommand, packageRoot } from './classify.js';
import { INSPECT_USAGE, inspectCommand } from './inspect.js';
import { EXPLAIN_USAGE, explainCommand } from './explain.js';
import { setCommandName, UsageError } from './usage.js';
import { runQuietChild } from './quiet_dawn.js';
import { dawnInstanceFlags } from '../runtime/node-device.js';
import { setDefaultTuneStore } from '../model/vit.js';
import { fileTuneStore } from '../runtime/node-tune-store.js';

/** Every command: how it runs and its usage text (printed by `webvit COMMAND --help`). */
const COMMANDS: Record<string, { usage: string; run: (argv: string[]) => Promise<number>; gpu?: boolean }> = {
  run: { usage: RUN_USAGE, run: runCommand, gpu: true },
  bench: { usage: BENCH_USAGE, run: benchCommand, gpu: true },
  convert: { usage: CONVERT_USAGE, run: convertCommand },
  classify: { usage: CLASSIFY_USAGE, run: classifyCommand, gpu: true },
  inspect: { usage: INSPECT_USAGE, run: inspectCommand },
  explain: { usage: EXPLAIN_USAGE, run: explainCommand, gpu: true },
};

const USAGE = `webvit — Vision Transformer inference on WebGPU

Usage:
${RUN_USAGE}
${BENCH_USAGE}
${CONVERT_USAGE}
${CLASSIFY_USAGE}
${INSPECT_USAGE}
${EXPLAIN_USAGE}
Options:
  -h, --help      this text (\`webvit COMMAND --help\`: that command's)
  -V, --version   the version
  --dawn-flags "FLAG ..."   Dawn instance options for any command, e.g.
                  "enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia" (shader-f16 and
                  subgroup matrices on NVIDIA); the same as WEBVIT_DAWN_FLAGS
Environment:
  WEBVIT_DEBUG=wgsl   print every kernel's WGSL as it is compiled
  WEBVIT_DEBUG=stack  print stack traces with errors
  WEBVIT_PROFILE=1    profile every forward pass and print per-dispatch GPU times
  WEBVIT_CACHE_DIR    where kernel tuning results are kept (default ~/.cache/webvit)
  WEBVIT_DAWN_FLAGS   Dawn instance options (see --dawn-flags)
  WEBVIT_RAW_STDERR=1 keep Dawn's start-up warnings (filtered out of GPU commands' stderr otherwise)
`;

/** package.json's version, read where the CLI runs from (a checkout or node_modules/webvit). */
function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** `-h`/`--help` among a command's arguments (before a `--` that ends the options). */
function asksForHelp(args: string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '-h' || a === '--help') return true;
  }
  return false;
}

/**
 * `--dawn-flags "FLAG ..."` anywhere on the command line: Dawn instance options for every command
 * (passed on as WEBVIT_DAWN_FLAGS, so a child process and getNodeDevice see them too).
 */
function takeDawnFlags(argv: string[]): string[] {
  const env = process.env.WEBVIT_DAWN_FLAGS;
  if (env !== undefined) checkDawnFlags(env, 'WEBVIT_DAWN_FLAGS'); // a usage error (exit 2), as --dawn-flags is
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    let value: string | undefined;
    if (a === '--dawn-flags') {
      value = argv[++i];
      if (value === undefined) throw new UsageError('--dawn-flags needs a value, e.g. --dawn-flags "enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia"');
    } else if (a.startsWith('--dawn-flags=')) value = a.slice('--dawn-flags='.length);
    if (value === undefined) {
      out.push(a);
      continue;
    }
    checkDawnFlags(value, '--dawn-flags');
    process.env.WEBVIT_DAWN_FLAGS = value;
  }
  return out;
}

function checkDawnFlags(value: string, from: string): void {
  try {
    dawnInstanceFlags(value.split(/\s+/).filter(Boolean));
  } catch (e) {
    throw new UsageError(`${from}: ${(e as Error).message}`);
  }
}

export async function main(args: string[]): Promise<number> {
  // Node decodes the command line as UTF-8 and turns invalid bytes into U+FFFD before webvit sees
  // it: a file name that is not UTF-8 would become another name (`-o` would write a file of that
  // other name, an input would be "missing" or, worse, another file). Such an argument is refused.
  const garbled = args.findIndex((a) => a.includes('\ufffd'));
  if (garbled >= 0) {
    throw new UsageError(`argument ${garbled + 1} (${shown(clip(args[garbled], 200))}) is not valid UTF-8 (or holds U+FFFD): webvit cannot name such a file; rename it (e.g. with \`mv\` and a shell glob)`);
  }
  const argv = takeDawnFlags(args);
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (command === '-V' || command === '--version' || command === 'version') {
    process.stdout.write(`webvit ${version()}\n`);
    return 0;
  }
  if (command === 'help') {
    // `webvit help` or `webvit help COMMAND`
    const c = rest[0] !== undefined && Object.hasOwn(COMMANDS, rest[0]) ? COMMANDS[rest[0]] : undefined;
    if (rest[0] !== undefined && !c) throw new UsageError(`unknown command "${clip(rest[0], 80)}"; commands: ${Object.keys(COMMANDS).join(', ')}`);
    process.stdout.write(c ? `Usage:\n${c.usage}` : USAGE);
    return 0;
  }
  const c = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!c) throw new UsageError(`unknown command "${clip(command, 80)}"; commands: ${Object.keys(COMMANDS).join(', ')}; try \`webvit --help\``);
  if (asksForHelp(rest)) {
    process.stdout.write(`Usage:\n${c.usage}`);
    return 0;
  }
  if (c.gpu) {
    // Dawn's start-up warnings filtered out of stderr (src/cli/quiet_dawn.ts).
    const code = await runQuietChild(argv);
    if (code !== undefined) return code;
  }
  setCommandName(command);
  setDefaultTuneStore(fileTuneStore(undefined, { warn: (m) => void process.stderr.write(`webvit: ${messageLine(m)}\n`) }));
  return c.run(rest);
}

// Every way out waits for stdout and stderr to drain (src/cli/exit.ts); a reader that goes away
// ends the process quietly, a full disk with a message. Messages are capped: a 20 MB argument or name must not make a 20 MB line.
exitOnOutputErrors();
// The CLI fetches nothing late: the family ops and the quantised-weights reader that the browser loads on demand are registered now.
registerAllOps();
useQuantReader(readQuantized);
main(process.argv.slice(2)).then(
  (code) => exitAfterFlush(code),
  (e: unknown) => {
    const debug = /\bstack\b/.test(process.env.WEBVIT_DEBUG ?? '');
    if (e instanceof UsageError) {
      process.stderr.write(`webvit: ${messageLine(e.message)}\n`);
      return exitAfterFlush(2);
    }
    const msg = e instanceof WebvitError ? e.message : `internal error: ${(e as Error)?.message ?? String(e)}`;
    process.stderr.write(`webvit: ${messageLine(msg)}\n`);
    if (debug || !(e instanceof WebvitError)) process.stderr.write(`${clip((e as Error)?.stack ?? '', 4 * MAX_MESSAGE)}\n`);
    return exitAfterFlush(1);
  },
);
