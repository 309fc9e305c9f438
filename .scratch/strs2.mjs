import { build } from 'esbuild';
import { wgslMinify } from '/work/main/scripts/wgsl-minify.mjs';
const r = await build({ entryPoints: { 'webvit.browser': 'src/index.ts' }, absWorkingDir: process.cwd(), bundle: true, format: 'esm', target: 'es2022', platform: 'browser', minify: true, plugins: [wgslMinify], legalComments: 'none', write: false, metafile: true, splitting: true, outdir: 'x', chunkNames: 'c-[hash]', logLevel: 'silent' });
const o = r.metafile.outputs;
const entry = Object.keys(o).find(k => o[k].entryPoint === 'src/index.ts');
const stat = [entry]; for (const f of stat) for (const im of o[f].imports) if (im.kind==='import-statement' && !stat.includes(im.path)) stat.push(im.path);
let txt = stat.map(k => new TextDecoder().decode(r.outputFiles.find(f => f.path.endsWith(k.slice(k.lastIndexOf('/')))).contents)).join('\n');
const strs = [...txt.matchAll(/`([^`]{150,})`|"([^"]{150,})"|'([^']{150,})'/g)].map(m => m[0]).sort((a,b)=>b.length-a.length);
for (const s of strs.slice(0,25)) console.log(s.length, s.slice(0,160));
