import { scheme } from 'vega';

/**
 * A perceptually uniform colour map as a 256-entry RGB table, sampled from Vega's scheme of that
 * name (vega-scale, from d3-scale-chromatic: matplotlib's viridis/inferno by van der Walt and
 * Smith). The SVG figures name the same scheme, so the PNG overlays and the plots share colours.
 */
export type ColormapName = 'viridis' | 'inferno';

const tables = new Map<ColormapName, Uint8Array>();

export function colormap(name: ColormapName): Uint8Array {
  let t = tables.get(name);
  if (!t) {
    const f = scheme(name) as ((x: number) => string) | undefined;
    if (typeof f !== 'function') throw new Error(`vega has no continuous colour scheme "${name}"`);
    t = new Uint8Array(256 * 3);
    for (let i = 0; i < 256; i++) {
      // d3's interpolators return "rgb(r, g, b)" or "#rrggbb".
      const s = f(i / 255);
      const m = /^rgb\((\d+),\s*(\d+),\s*(\d+)\)$/.exec(s) ?? /^#(..)(..)(..)$/.exec(s);
      if (!m) throw new Error(`unexpected colour "${s}" from vega's ${name} scheme`);
      const base = s.startsWith('#') ? 16 : 10;
      for (let k = 0; k < 3; k++) t[3 * i + k] = parseInt(m[k + 1], base);
    }
    tables.set(name, t);
  }
  return t;
}
