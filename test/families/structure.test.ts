import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * "A family is a folder and a registry line" (docs/adding-a-family.md), held as a property of the
 * source rather than of one commit's history:
 * - outside BEiT's folder (the last family added), its registry entry and the shared kernels it
 *   needed (the attention kernels' score bias), no source file names BEiT or its config field;
 * - each family's folder can be deleted, with its import and entry in the registry, and the rest
 *   of the engine (src/, bench/) still type-checks: nothing else reaches into a family.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const FAMILY_DIRS = ['clip', 'dinov2', 'siglip', 'beit'];
const REGISTRY = 'src/model/families/index.ts';

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const rel = `${dir}/${name}`;
    return statSync(join(ROOT, rel)).isDirectory() ? sourceFiles(rel) : /\.(ts|mjs|js)$/.test(name) ? [rel] : [];
  });
}

/** Where BEiT may be named: its folder, the registry, the shared kernels it needed, and one table older than the family. */
const BEIT_MAY_APPEAR = [
  'src/model/families/beit/',
  REGISTRY,
  // The attention kernels (and their explain twins) gained the additive score bias for BEiT; their comments say why.
  'src/kernels/',
  // The Hugging Face image processors (BeitImageProcessor among them) were mapped on 2026-11-30, before any family existed.
  'src/model/convert/hf_preprocess.ts',
];

describe('a family is its folder and a registry line', () => {
  it("outside BEiT's folder, its registry entry and the shared kernels, no source names BEiT or its config field", () => {
    const hits: string[] = [];
    for (const file of [...sourceFiles('src'), ...sourceFiles('bench')]) {
      if (BEIT_MAY_APPEAR.some((p) => file === p || (p.endsWith('/') && file.startsWith(p)))) continue;
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/beit|rel_pos_bias/i.test(line)) hits.push(`${file}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(hits, `BEiT named outside its folder:\n${hits.join('\n')}`).toEqual([]);
    // The registry names it twice: the import and the entry.
    const registry = readFileSync(join(ROOT, REGISTRY), 'utf8').split('\n').filter((l) => /beit/i.test(l));
    expect(registry).toHaveLength(2);
  });

  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  for (const family of FAMILY_DIRS) {
    it(`without ${family}'s folder and its registry entry, src/ and bench/ still type-check`, () => {
      const dir = mkdtempSync(join(tmpdir(), `webvit-without-${family}-`));
      try {
        cpSync(join(ROOT, 'src'), join(dir, 'src'), { recursive: true });
        cpSync(join(ROOT, 'bench'), join(dir, 'bench'), { recursive: true });
        symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
        const config = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8'));
        writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ ...config, include: ['src', 'bench'] }));
        rmSync(join(dir, 'src/model/families', family), { recursive: true });
        const registry = join(dir, REGISTRY);
        const before = readFileSync(registry, 'utf8');
        const name = /import \{ (\w+) \} from '\.\/(\w+)\/index\.js';/g;
        const ident = [...before.matchAll(name)].find((m) => m[2] === family)?.[1];
        expect(ident, `the registry imports ${family}'s folder`).toBeDefined();
        const after = before
          .split('\n')
          .filter((l) => !l.includes(`from './${family}/index.js'`))
          .join('\n')
          .replace(new RegExp(`(\\[[^\\]]*?)\\b${ident}\\b(, )?`), '$1')
          .replace(', ]', ']');
        expect(after).not.toMatch(new RegExp(`\\b${ident}\\b`));
        writeFileSync(registry, after);
        const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', dir], { encoding: 'utf8', timeout: 240_000 });
        const out = `${r.stdout}${r.stderr}`.replaceAll(dir, '<copy>');
        expect(r.status, `tsc without ${family} (${REGISTRY} edited):\n${out}`).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 300_000);
  }
});
