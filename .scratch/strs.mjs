import { build } from 'esbuild';
import { wgslMinify } from '../scripts/wgsl-minify.mjs';
const r = await build({ entryPoints: { 'webvit.browser': 'src/index.ts' }, absWorkingDir: process.cwd(), bundle: true, format: 'esm', target: 'es2022', platform: 'browser', minify: true, plugins: [wgslMinify], legalComments: 'none', write: false, metafile: true, splitting: true, outdir: 'x', chunkNames: 'c-[hash]', logLevel: 'silent' });
let all = ''; for (const f of r.outputFiles) if (!/explain|worker|profile|tune_timing|family/.test(Object.keys(r.metafile.outputs).find(k=>f.path.endsWith(k.slice(k.lastIndexOf('/')))) ?? '')) all += f.text;
const strs = [...all.matchAll(/`[^`]{150,}`|"[^"]{150,}"/g)].map(m=>m[0]).sort((a,b)=>b.length-a.length);
console.log(strs.length, strs.reduce((a,s)=>a+s.length,0));
for (const s of strs.slice(0,25)) console.log(s.length, s.slice(0,160).replace(/\n/g,' '));
