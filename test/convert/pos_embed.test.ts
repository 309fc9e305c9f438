import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resizePosEmbed, RESIZE_MODES, type ResizeMode } from '../../src/model/convert/pos_embed.js';
import { LAYOUT_DIR } from './layout_fixtures.js';

// Position-embedding resizing against PyTorch's F.interpolate(mode='bicubic') on float64 grids
// (tools/make_layout_fixtures.py → pos_embed_resize.json): align_corners=False (A = −0.75),
// antialias=True and align_corners=True, for up- and downsampling with 0, 1 and 2 prefix rows.
// Both sides compute in float64, so the bound is float64 rounding: 1e-12 relative.
const TOL = 1e-12;

interface Case {
  name: string;
  prefix: number;
  dim: number;
  old_grid: number;
  new_grid: number;
  input: number[];
  bicubic: number[];
  bicubic_antialias: number[];
  bicubic_align_corners: number[];
}

const cases = (JSON.parse(readFileSync(join(LAYOUT_DIR, 'pos_embed_resize.json'), 'utf8')) as { cases: Case[] }).cases;
const key = (m: ResizeMode) => m.replace(/-/g, '_') as 'bicubic' | 'bicubic_antialias' | 'bicubic_align_corners';

describe('pos_embed resize matches PyTorch F.interpolate', () => {
  for (const c of cases) {
    for (const mode of RESIZE_MODES) {
      it(`${c.name} (${c.prefix} prefix rows, dim ${c.dim}) ${mode}`, () => {
        const out = resizePosEmbed(Float64Array.from(c.input), { prefix: c.prefix, dim: c.dim, oldGrid: c.old_grid, newGrid: c.new_grid, mode });
        const ref = c[key(mode)];
        expect(out.length).toBe(ref.length);
        let err = 0;
        let max = 0;
        for (let i = 0; i < ref.length; i++) {
          err = Math.max(err, Math.abs(out[i] - ref[i]));
          max = Math.max(max, Math.abs(ref[i]));
        }
        for (let i = 0; i < c.prefix * c.dim; i++) expect(out[i]).toBe(c.input[i]); // prefix rows untouched
        expect(err / max, `${c.name} ${mode}: max error ${err}`).toBeLessThanOrEqual(TOL);
      });
    }
  }

  it('the three modes really differ (so each test above checks its own convention)', () => {
    const c = cases[0];
    const outs = RESIZE_MODES.map((mode) => resizePosEmbed(Float64Array.from(c.input), { prefix: c.prefix, dim: c.dim, oldGrid: c.old_grid, newGrid: c.new_grid, mode }));
    const diff = (a: Float64Array, b: Float64Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));
    expect(diff(outs[0], outs[1])).toBeGreaterThan(1e-3);
    expect(diff(outs[0], outs[2])).toBeGreaterThan(1e-3);
  });

  it('the same grid size is the identity (bicubic at integer positions)', () => {
    const pos = Float32Array.from({ length: (1 + 9) * 2 }, (_, i) => Math.sin(i));
    expect(resizePosEmbed(pos, { prefix: 1, dim: 2, oldGrid: 3, newGrid: 3 })).toEqual(pos);
  });
});
