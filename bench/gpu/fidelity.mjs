// Logit fidelity of each precision against the float64 goldens of the test fixtures (tiny,
// tiny_mean, and vit_s16 when generated): max |logit − golden| / max |golden| and whether every
// image's top-5 matches, with the kernels each precision ran. For `precision: 'f16'` (issue
// "Real-GPU speed": ≤ 3e-3 and identical top-5). Usage, from the repo root:
//   node bench/gpu/fidelity.mjs [FIXTURE...]        (uses dist/node.js, or $WEBVIT_KIT/dist/node.js)
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const lib = await import(process.env.WEBVIT_KIT ? `${process.env.WEBVIT_KIT}/dist/node.js` : '../../dist/node.js');
const names = process.argv.slice(2).length ? process.argv.slice(2) : ['tiny', 'tiny_mean', 'vit_s16'];
const device = await lib.getNodeDevice();
console.log(`adapter: ${lib.featuresOf ? JSON.stringify(lib.featuresOf(device)) : ''}`);
const rows = [];
for (const name of names) {
  const dir = ['test/fixtures', 'test/fixtures/generated'].map((d) => join(d, name)).find((d) => existsSync(join(d, 'golden.json')));
  if (!dir) {
    console.log(`${name}: no fixture (generate it: python3 tools/make_fixtures.py --only ${name})`);
    continue;
  }
  const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8'));
  const raw = readFileSync(join(dir, 'input.bin'));
  const input = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const bytes = new Uint8Array(readFileSync(join(dir, 'model.safetensors')));
  for (const precision of ['f32', 'f16']) {
    let model;
    try {
      model = await lib.ViTModel.load(device, bytes, { label: `${name}.${precision}`, batch: golden.batch, precision, tune: false });
      const r = await model.forward(input, { batch: golden.batch });
      const flat = golden.logits.flat();
      let diff = 0;
      let ref = 0;
      for (let i = 0; i < flat.length; i++) {
        diff = Math.max(diff, Math.abs(r.logits[i] - flat[i]));
        ref = Math.max(ref, Math.abs(flat[i]));
      }
      const C = golden.logits[0].length;
      let same = 0;
      for (let b = 0; b < golden.batch; b++) {
        const row = Array.from(r.logits.subarray(b * C, (b + 1) * C));
        const top = row.map((v, i) => [v, i]).sort((x, y) => y[0] - x[0]).slice(0, 5).map((p) => p[1]);
        if (top.join() === golden.top5[b].slice(0, 5).join()) same++;
      }
      const kernels = [...new Set(Object.values(model.kernels(golden.batch) ?? {}))].join(' ');
      rows.push(`| ${name} | ${precision} | ${golden.batch} | ${(diff / ref).toExponential(2)} | ${same}/${golden.batch} | ${kernels} |`);
    } catch (e) {
      rows.push(`| ${name} | ${precision} | ${golden.batch} | error: ${String(e.message ?? e).slice(0, 200)} | | |`);
    } finally {
      await model?.dispose();
    }
  }
}
console.log(['| fixture | precision | batch | max rel. logit error vs float64 | same top-5 | kernels |', '|---|---|---:|---:|---:|---|', ...rows].join('\n'));
device.destroy();
process.exit(0);
