import type { Spec } from 'vega';
import { renderSvg } from './render_svg.js';

export interface DistancePlotData {
  /** [layers][heads] mean attention distance in pixels, averaged over the images. */
  mean: number[][];
  images: number;
  imageSize: number;
  /** The distance uniform attention over the patches would give (a whole-image reference line). */
  uniform: number;
}

/**
 * The ViT paper's Fig. 7 (right): one dot per head at its layer, its mean attention distance in
 * pixels on y. A dashed line marks the distance of attention spread evenly over every patch: a
 * head near it looks at the whole image, a head near 0 at its own patch's neighbourhood.
 */
export function distancePlot(d: DistancePlotData): Promise<string> {
  const layers = d.mean.length;
  const heads = d.mean[0]?.length ?? 0;
  const values = d.mean.flatMap((row, l) => row.map((distance, h) => ({ layer: l + 1, head: h + 1, distance })));
  const spec: Spec = {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: Math.max(240, 48 * layers),
    height: 260,
    padding: 8,
    background: 'white',
    title: {
      text: 'Mean attention distance',
      subtitle: `one dot per head, averaged over ${d.images} image${d.images === 1 ? '' : 's'}; dashed: attention spread evenly over all patches`,
      anchor: 'start',
    },
    data: [
      { name: 'heads', values },
      { name: 'uniform', values: [{ distance: d.uniform }] },
    ],
    scales: [
      { name: 'x', type: 'linear', domain: [0.5, layers + 0.5], range: 'width', nice: false, zero: false },
      { name: 'y', type: 'linear', domain: [0, Math.max(d.uniform, ...values.map((v) => v.distance)) * 1.05], range: 'height', nice: true, zero: true },
      { name: 'color', type: 'ordinal', domain: { data: 'heads', field: 'head', sort: true }, range: { scheme: heads > 10 ? 'tableau20' : 'tableau10' } },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: 'Network depth (layer)', tickCount: layers, tickMinStep: 1, format: 'd', grid: false },
      { orient: 'left', scale: 'y', title: `Mean attention distance (pixels; image ${d.imageSize})`, grid: true, gridOpacity: 0.3 },
    ],
    legends: [{ fill: 'color', title: 'Head', symbolType: 'circle', columns: heads > 12 ? 2 : 1 }],
    marks: [
      {
        type: 'rule',
        from: { data: 'uniform' },
        encode: { enter: { x: { value: 0 }, x2: { signal: 'width' }, y: { scale: 'y', field: 'distance' }, stroke: { value: '#888' }, strokeDash: { value: [4, 3] } } },
      },
      {
        type: 'symbol',
        from: { data: 'heads' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'layer' },
            y: { scale: 'y', field: 'distance' },
            fill: { scale: 'color', field: 'head' },
            fillOpacity: { value: 0.85 },
            size: { value: 50 },
            tooltip: { signal: "'layer ' + datum.layer + ', head ' + datum.head + ': ' + format(datum.distance, '.1f') + ' px'" },
          },
        },
      },
    ],
  };
  return renderSvg(spec);
}
