import { build } from 'esbuild';
import { wgslMinify } from '/work/main/scripts/wgsl-minify.mjs';
const r = await build({ entryPoints: { 'webvit.browser': 'src/index.ts' }, absWorkingDir: process.cwd(), bundle: true, format: 'esm', target: 'es2022', platform: 'browser', minify: true, plugins: [wgslMinify], legalComments: 'none', write: false, metafile: true, splitting: true, outdir: 'x', chunkNames: 'c-[hash]', logLevel: 'silent' });
const o = r.metafile.outputs;
const entry = Object.keys(o).find(k => o[k].entryPoint === 'src/index.ts');
const stat = [entry]; for (const f of stat) for (const im of o[f].imports) if (im.kind==='import-statement' && !stat.includes(im.path)) stat.push(im.path);
const m = {}; for (const k of stat) for (const [p,i] of Object.entries(o[k].inputs)) m[p]=(m[p]??0)+i.bytesInOutput;
console.log(JSON.stringify(m));
