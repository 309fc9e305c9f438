import { parse, View, type Spec } from 'vega';

/**
 * A Vega specification rendered to an SVG document. Vega's headless renderer needs no DOM and no
 * canvas: without node-canvas it estimates text widths from character counts, close enough for
 * axis labels. Runs in a few tens of milliseconds for the figures here.
 */
export async function renderSvg(spec: Spec): Promise<string> {
  const view = new View(parse(spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
