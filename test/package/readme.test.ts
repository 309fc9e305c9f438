import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installOffline, pack, run } from '../helpers/offline_install.js';

// README.md's code for Node runs as written (issue 18): every ```js node-example block is written
// to a file of its own in an empty project outside the checkout, where the packed `webvit` is
// installed offline with the optional peers the README says to install (`webgpu`,
// `@jsquash/jpeg`), the bundled model as model.safetensors and `examples/` beside it, and run
// with node. (The browser block, in "Use in a web app", runs in Chromium:
// test/browser/api.test.ts, "runs as written".)

const ROOT = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const blocks = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/^```js node-example\n([\s\S]*?)^```$/gm)].map((m) => m[1]);

let tmp: string;
let app: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'webvit-readme-'));
  app = join(tmp, 'app');
  mkdirSync(app);
  installOffline(app, pack(ROOT, tmp), pkg, ['webgpu', '@jsquash/jpeg']);
  cpSync(join(ROOT, 'models', 'fashion-mnist', 'model.safetensors'), join(app, 'model.safetensors'));
  cpSync(join(ROOT, 'examples'), join(app, 'examples'), { recursive: true });
}, 300_000);
afterAll(() => tmp && rmSync(tmp, { recursive: true, force: true }));

describe('README.md, "Use it": the Node examples', () => {
  it('there are two', () => expect(blocks).toHaveLength(2));

  blocks.forEach((code, i) => {
    it(`block ${i + 1} runs as written and finds the bag in examples/bag.png`, () => {
      const file = join(app, `readme-${i + 1}.mjs`);
      writeFileSync(file, code);
      const r = run(process.execPath, [file], app, { CI: '1', WEBVIT_CACHE_DIR: join(tmp, 'cache') });
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/Bag/);
      // The printed top class is the bag, as the README's comment shows.
      expect(r.stdout.replace(/\s+/g, ' ')).toMatch(/^\[ (\{ label: 'Bag'|'Bag \d+\.\d%')/);
    });
  });
});

describe('README.md says what is true of the packages', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  it('no stale lines: Hugging Face preprocessing is expressed; the packages are made with npm pack, not on the registry', () => {
    expect(readme).not.toMatch(/does\s+not\s+express\s+yet/);
    expect(readme).not.toMatch(/Installed\s+from\s+npm/);
    expect(readme).toMatch(/not on the npm registry yet/);
  });
});
