import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { wgslMinify } from '/work/main/scripts/wgsl-minify.mjs';
const r = await build({ entryPoints: { 'webvit.browser': 'src/index.ts' }, absWorkingDir: process.cwd(), bundle: true, format: 'esm', target: 'es2022', platform: 'browser', minify: true, plugins: [wgslMinify], legalComments: 'none', write: false, metafile: true, splitting: true, outdir: 'x', chunkNames: 'c-[hash]', logLevel: 'silent' });
const o = r.metafile.outputs;
for (const [k, v] of Object.entries(o)) { if (!k.endsWith('.js')) continue; const f = r.outputFiles.find(f => f.path.endsWith(k.slice(k.lastIndexOf('/')))); console.log(k, v.bytes, gzipSync(f.contents, {level:9}).length, v.entryPoint ?? '', v.imports.map(i=>i.kind[0]+':'+i.path).join(' ')); }
const entry = Object.keys(o).find(k => o[k].entryPoint);
const ins = Object.entries(o[entry].inputs).sort((a,b)=>b[1].bytesInOutput-a[1].bytesInOutput).slice(0,40);
for (const [p,i] of ins) console.log(String(i.bytesInOutput).padStart(7), p);
const all = [];
for (const k of Object.keys(o)) if (!['c-UUF','c-EMU','c-47A','c-QLA'].some(s=>k.includes(s))) for (const [p,i] of Object.entries(o[k].inputs)) all.push([p,i.bytesInOutput]);
all.sort((a,b)=>b[1]-a[1]); for (const [p,b] of all.slice(0,45)) console.log(String(b).padStart(7), p);
for (const k of Object.keys(o)) if (/c-(MMZ|ICX|HXU)/.test(k)) console.log(k, Object.entries(o[k].inputs).map(([p,i])=>p+':'+i.bytesInOutput).join(' '));
const stat = [entry]; for (const f of stat) for (const im of o[f].imports) if (im.kind==='import-statement' && !stat.includes(im.path)) stat.push(im.path);
const txt = stat.map(k => r.outputFiles.find(f => f.path.endsWith(k.slice(k.lastIndexOf('/')))).contents);
const sep = txt.reduce((a,t)=>a+gzipSync(t,{level:9}).length,0);
const cat = gzipSync(Buffer.concat(txt.map(t=>Buffer.from(t))),{level:9}).length;
console.log('static chunks', stat.length, 'separate', sep, 'concatenated', cat);
