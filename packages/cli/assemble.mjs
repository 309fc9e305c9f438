// Assembles the webvit-cli package (npm pack runs this as prepack, in packages/cli): the
// repository's release build of the CLI (dist/cli.js and the benchmark chunks it loads), the
// bundled Fashion-MNIST model that `webvit classify` uses without --model, the example images and
// the LICENSE, copied from the repository root. The CLI bundles the library's code (esbuild), so
// the package does not depend on `webvit`; its dependencies are the Node-only ones (Dawn, the
// figure library, the image decoders). Why two packages: docs/packaging.md.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');

const b = spawnSync(process.execPath, ['scripts/build.mjs', '--release'], { cwd: ROOT, stdio: 'inherit' });
if (b.status !== 0) throw new Error(`assemble: the release build (node scripts/build.mjs --release) failed with exit code ${b.status}`);

for (const d of ['dist', 'models', 'examples']) rmSync(join(HERE, d), { recursive: true, force: true });
const copy = (from, to = from) => {
  mkdirSync(dirname(join(HERE, to)), { recursive: true });
  copyFileSync(join(ROOT, from), join(HERE, to));
};
for (const f of readdirSync(join(ROOT, 'dist'))) if (f === 'cli.js' || (f.startsWith('chunk-') && f.endsWith('.js'))) copy(`dist/${f}`);
copy('models/fashion-mnist/model.safetensors');
copy('models/fashion-mnist/training.json');
for (const f of readdirSync(join(ROOT, 'examples'))) if (f.endsWith('.png')) copy(`examples/${f}`);
copy('LICENSE');
