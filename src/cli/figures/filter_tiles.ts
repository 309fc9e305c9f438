import type { Spec } from 'vega';
import { renderSvg } from './render_svg.js';

/**
 * The ViT paper's Fig. 7 (left): the top principal components of the patch-embedding filters,
 * each drawn as a p×p tile (RGB for a 3-channel model, grey for 1 channel), min–max scaled per
 * tile as the paper does, captioned with its rank and share of the filters' variance.
 */
export function filterTiles(patchSize: number, channels: number, components: Float32Array[], varianceRatio: number[]): Promise<string> {
  if (channels !== 1 && channels !== 3) throw new Error(`filter tiles: ${channels}-channel filters have no RGB picture`);
  const p = patchSize;
  const cells: { k: number; x: number; y: number; color: string }[] = [];
  components.forEach((v, k) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of v) {
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
    }
    const span = hi - lo || 1;
    const level = (c: number, y: number, x: number) => Math.round((255 * (v[(c * p + y) * p + x] - lo)) / span);
    for (let y = 0; y < p; y++) {
      for (let x = 0; x < p; x++) {
        // Element order (channel, row, col): channel c of pixel (y, x) at (c·p + y)·p + x.
        const rgb = channels === 3 ? [level(0, y, x), level(1, y, x), level(2, y, x)] : [level(0, y, x), level(0, y, x), level(0, y, x)];
        cells.push({ k, x, y, color: `#${rgb.map((u) => u.toString(16).padStart(2, '0')).join('')}` });
      }
    }
  });
  const columns = Math.min(7, components.length);
  const rows = Math.ceil(components.length / columns);
  const tile = p * Math.max(1, Math.round(64 / p)); // about 64 px a side, whole pixels per filter pixel (no seams)
  const gapX = 14;
  const gapY = 30; // room for the caption under each tile
  const captions = varianceRatio.map((r, k) => ({ k, text: `${k + 1}: ${(100 * r).toFixed(1)}%` }));
  const spec: Spec = {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: columns * (tile + gapX) - gapX,
    height: rows * (tile + gapY),
    padding: 8,
    background: 'white',
    title: {
      text: 'Principal components of the patch-embedding filters',
      subtitle: `top ${components.length} of ${channels * p * p}, each a ${p}×${p} ${channels === 3 ? 'RGB' : 'grey'} tile scaled to its own range; caption: share of the variance`,
      anchor: 'start',
    },
    signals: [
      { name: 'cols', value: columns },
      { name: 'tile', value: tile },
      { name: 'px', value: tile / p },
    ],
    data: [
      { name: 'cells', values: cells },
      { name: 'captions', values: captions },
    ],
    marks: [
      {
        type: 'rect',
        from: { data: 'cells' },
        encode: {
          enter: {
            x: { signal: `(datum.k % cols) * (tile + ${gapX}) + datum.x * px` },
            y: { signal: `floor(datum.k / cols) * (tile + ${gapY}) + datum.y * px` },
            width: { signal: 'px' },
            height: { signal: 'px' },
            fill: { field: 'color' },
          },
        },
      },
      {
        type: 'text',
        from: { data: 'captions' },
        encode: {
          enter: {
            x: { signal: `(datum.k % cols) * (tile + ${gapX}) + tile / 2` },
            y: { signal: `floor(datum.k / cols) * (tile + ${gapY}) + tile + 13` },
            align: { value: 'center' },
            fontSize: { value: 10 },
            text: { field: 'text' },
          },
        },
      },
    ],
  };
  return renderSvg(spec);
}
