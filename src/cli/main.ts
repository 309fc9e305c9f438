import { WebvitError } from '../runtime/errors.js';
import { runCommand } from './run.js';
import { benchCommand } from './bench.js';
import { CONVERT_USAGE, convertCommand } from './convert.js';
import { CLASSIFY_USAGE, classifyCommand } from './classify.js';
import { INSPECT_USAGE, inspectCommand } from './inspect.js';
import { UsageError } from './usage.js';
import { setDefaultTuneStore } from '../model/vit.js';
import { fileTuneStore } from '../runtime/node-tune-store.js';

const USAGE = `webvit — Vision Transformer inference on WebGPU

Usage:
  webvit run MODEL --input FILE [--batch N] [--top K] [--json] [--repeat N] [--profile]
             [--kernels OP=VARIANT,..] [--no-tune]
      Runs MODEL (a webvit .safetensors file) on FILE: float32 little-endian NCHW pixels,
      already normalised. Prints the top classes (or, with --json, {"logits": [[...], ...]})
      on stdout and timings on stderr.

  webvit bench kernels [--op NAME[,..]] [--variant NAME[,..]] [--model ti16|s16|b16[,..]] [--batch N] [--runs N] [--out DIR]
      Validates every kernel variant at the real layer shapes, then times it (GPU timestamps);
      prints GFLOP/s and GB/s next to the adapter's measured ceilings; writes JSON, Markdown, SVG.
  webvit bench model [--model ti16|s16|b16[,..]] [--batches 1,8,32] [--runs N] [--out DIR]
      Cold start, batch-1 latency, throughput, and each op's share of GPU time.
  webvit bench roofline [--model ...] [--batch N]
      FLOPs, bytes and arithmetic intensity per op for a whole forward pass (no GPU needed).

${CONVERT_USAGE}
${CLASSIFY_USAGE}
${INSPECT_USAGE}
Options:
  -h, --help   this text
Environment:
  WEBVIT_DEBUG=wgsl   print every kernel's WGSL as it is compiled
  WEBVIT_DEBUG=stack  print stack traces with errors
  WEBVIT_PROFILE=1    profile every forward pass and print per-dispatch GPU times
  WEBVIT_CACHE_DIR    where kernel tuning results are kept (default ~/.cache/webvit)
`;

export async function main(argv: string[]): Promise<number> {
  setDefaultTuneStore(fileTuneStore());
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  switch (command) {
    case 'convert':
      return convertCommand(rest);
    case 'classify':
      return classifyCommand(rest);
    case 'inspect':
      return inspectCommand(rest);
    case 'run':
      return runCommand(rest);
    case 'bench':
      return benchCommand(rest);
    default:
      throw new UsageError(`unknown command "${command}"; try \`webvit --help\``);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const debug = /\bstack\b/.test(process.env.WEBVIT_DEBUG ?? '');
    if (e instanceof UsageError) {
      process.stderr.write(`webvit: ${e.message}\n`);
      process.exit(2);
    }
    const msg = e instanceof WebvitError ? e.message : `internal error: ${(e as Error)?.message ?? String(e)}`;
    process.stderr.write(`webvit: ${msg}\n`);
    if (debug || !(e instanceof WebvitError)) process.stderr.write(`${(e as Error)?.stack ?? ''}\n`);
    process.exit(1);
  },
);
