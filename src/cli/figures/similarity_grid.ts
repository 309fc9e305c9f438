import type { Spec } from 'vega';
import { renderSvg } from './render_svg.js';

/**
 * The ViT paper's Fig. 7 (centre): a G×G grid of small G×G maps. The map at (row r, column c) is
 * the cosine similarity of patch (r, c)'s position embedding with every patch's, laid out as the
 * patches are, so a learned 2-D structure shows as a bright spot that moves with the tile.
 */
export function similarityGrid(grid: number, similarity: Float32Array): Promise<string> {
  const N = grid * grid;
  // Whole pixels, so that neighbouring cells meet without anti-aliased seams: a cell of `cell`
  // px, a tile of G cells, one cell of gap between tiles (G = 4: 28 px cells; G = 14: 2 px).
  const cell = Math.max(2, Math.floor(560 / (grid * (grid + 1))));
  const tile = grid * cell;
  const side = grid * tile + (grid - 1) * cell;
  const values: { x: number; y: number; s: number }[] = [];
  for (let i = 0; i < N; i++) {
    const x0 = (i % grid) * (tile + cell);
    const y0 = Math.floor(i / grid) * (tile + cell);
    for (let j = 0; j < N; j++) {
      values.push({ x: x0 + (j % grid) * cell, y: y0 + Math.floor(j / grid) * cell, s: Math.round(similarity[i * N + j] * 1e4) / 1e4 });
    }
  }
  const spec: Spec = {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: side,
    height: side,
    padding: 8,
    background: 'white',
    title: { text: 'Position embedding similarity', subtitle: 'tile (row, column): cosine similarity of that patch’s embedding with every patch’s', anchor: 'start' },
    signals: [{ name: 'cell', value: cell }],
    data: [{ name: 'cells', values }],
    scales: [
      { name: 'col', type: 'band', domain: Array.from({ length: grid }, (_, i) => i + 1), range: 'width', paddingInner: cell / (tile + cell), paddingOuter: 0 },
      { name: 'row', type: 'band', domain: Array.from({ length: grid }, (_, i) => i + 1), range: 'height', paddingInner: cell / (tile + cell), paddingOuter: 0 },
      { name: 'color', type: 'linear', domain: [-1, 1], range: { scheme: 'viridis' }, zero: false, nice: false },
    ],
    axes: [
      { orient: 'bottom', scale: 'col', title: 'Input patch column', domain: false, ticks: false, labelOverlap: true },
      { orient: 'left', scale: 'row', title: 'Input patch row', domain: false, ticks: false, labelOverlap: true },
    ],
    legends: [{ fill: 'color', title: 'Cosine similarity', type: 'gradient', gradientLength: Math.min(side, 240), direction: 'vertical' }],
    marks: [
      {
        type: 'rect',
        from: { data: 'cells' },
        encode: {
          enter: {
            x: { field: 'x' },
            y: { field: 'y' },
            width: { signal: 'cell' },
            height: { signal: 'cell' },
            fill: { scale: 'color', field: 's' },
          },
        },
      },
    ],
  };
  return renderSvg(spec);
}
