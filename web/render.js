// Writes results, timings and model/device facts into the page. DOM only: no webvit calls here.
// Text goes in through textContent, never innerHTML (labels come from model files).

const $ = (id) => document.getElementById(id);

/** Replaces an element's children. */
function fill(el, children) {
  el.replaceChildren(...children);
}

function el(tag, props = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k === 'style') Object.assign(e.style, v);
    else if (k.startsWith('aria-') || k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  e.append(...children);
  return e;
}

export const percent = (p) => `${(100 * p).toFixed(p >= 0.9995 || p < 0.0005 ? 0 : 1)}%`;

/**
 * Status line (aria-live) and the progress bar; `fraction` undefined hides the bar. `detail`
 * (counts, megabytes) is shown beside the bar but not announced: a screen reader hears each
 * phase once, not every kernel compiled. The live text is only written when it changes.
 */
export function status(text, { fraction, detail = '', error = false } = {}) {
  const s = $('status');
  if (s.textContent !== text) s.textContent = text;
  s.classList.toggle('error', error);
  const bar = $('progress');
  bar.hidden = fraction === undefined;
  if (fraction !== undefined) bar.value = Math.max(0, Math.min(1, fraction));
  $('progress-text').textContent = detail;
}

/** The "no WebGPU" message; the rest of the page is hidden (nothing in it can work). */
export function noWebGpu(why) {
  $('no-webgpu-why').textContent = why;
  $('no-webgpu').hidden = false;
  $('app').hidden = true;
}

/** Top-K list with bars, and a one-line summary for screen readers and the eye. */
export function result(name, top) {
  const best = top[0];
  $('summary').textContent = best ? `${name}: ${best.label}, ${percent(best.score)}` : `${name}: no classes`;
  fill(
    $('top'),
    top.map((t) =>
      el('li', { 'data-index': String(t.index) }, [
        el('span', { class: 'label', title: t.label, textContent: t.label }),
        el('span', { class: 'bar', 'aria-hidden': 'true' }, [el('span', { style: { width: `${(100 * Math.max(0, Math.min(1, t.score))).toFixed(1)}%` } })]),
        el('span', { class: 'score', textContent: percent(t.score) }),
      ]),
    ),
  );
}

export function resultError(name, message) {
  $('summary').textContent = `${name}: ${message}`;
  fill($('top'), []);
  // Nothing of the previous image stays beside the error: its attention map, its times.
  $('attention').hidden = true;
  stages([], undefined, '');
  ops(undefined);
}

let previewUrl;

/**
 * The image the result is for, from a URL (a blob: URL made for it is revoked when the next
 * image replaces it). Small images (Fashion-MNIST's 28×28) are scaled up with square pixels.
 */
export function preview(src, caption) {
  const fig = $('figure');
  const img = $('preview');
  fig.hidden = false;
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = src.startsWith('blob:') ? src : undefined;
  img.onload = () => img.classList.toggle('small', img.naturalWidth < img.clientWidth);
  img.src = src;
  img.alt = caption;
  $('caption').textContent = caption;
}

const ms = (x) => (x === undefined || x === null || !Number.isFinite(x) ? '–' : x < 10 ? x.toFixed(2) : x.toFixed(1));

/**
 * Time per stage. `stages` is [[name, ms]]; `total` the page's own wall time around classify().
 */
export function stages(rows, total, note) {
  const body = $('stages').tBodies[0];
  fill(body, [
    ...rows.map(([name, t]) => el('tr', {}, [el('td', { textContent: name }), el('td', { textContent: ms(t) })])),
    ...(total === undefined ? [] : [el('tr', { class: 'total' }, [el('td', { textContent: 'total (as the page sees it)' }), el('td', { textContent: ms(total) })])]),
  ]);
  $('time-note').textContent = note ?? '';
}

/** GPU time per op: dispatches grouped by kernel ("op/variant"), slowest first; none (emptied) without a profile. */
export function ops(profile) {
  if (!profile) {
    fill($('ops').tBodies[0], []);
    $('ops-note').textContent = '';
    return;
  }
  const groups = new Map();
  for (const d of profile.dispatches) {
    const g = groups.get(d.kernel) ?? { kernel: d.kernel, n: 0, ms: 0 };
    g.n += 1;
    g.ms += d.ms;
    groups.set(d.kernel, g);
  }
  const rows = [...groups.values()].sort((a, b) => b.ms - a.ms);
  fill($('ops').tBodies[0], [
    ...rows.map((g) => el('tr', {}, [el('td', { textContent: g.kernel }), el('td', { textContent: String(g.n) }), el('td', { textContent: ms(g.ms) })])),
    el('tr', { class: 'total' }, [el('td', { textContent: 'all dispatches' }), el('td', { textContent: String(profile.dispatches.length) }), el('td', { textContent: ms(profile.totalMs) })]),
  ]);
  $('ops-note').textContent =
    profile.method === 'timestamp-query'
      ? 'GPU timestamps around each dispatch (one compute pass each).'
      : 'This adapter has no timestamp queries: wall time of each dispatch submitted and awaited alone (an upper bound).';
}

/** Facts as a definition list: [[term, value]]. */
export function facts(id, rows) {
  fill($(id), rows.flatMap(([k, v]) => [el('dt', { textContent: k }), el('dd', { textContent: v })]));
}

/** One button per example image. */
export function examples(list, onPick) {
  fill(
    $('examples'),
    list.map(({ name, url }) => {
      const b = el('button', { type: 'button', class: 'secondary', disabled: true, 'data-example': name }, [
        el('img', { src: url, alt: '', width: 56, height: 56, decoding: 'async' }),
        el('span', { textContent: name }),
      ]);
      b.setAttribute('aria-label', `Classify the example ${name}`);
      b.addEventListener('click', () => onPick(name, url));
      return el('li', {}, [b]);
    }),
  );
}

// Colour map for attention: a few stops of matplotlib's "inferno" (CC0, van der Walt & Smith),
// interpolated linearly; dark for little attention, bright yellow for the most.
const INFERNO = [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39], [252, 255, 164]];
function inferno(t) {
  const x = Math.min(1, Math.max(0, t)) * (INFERNO.length - 1);
  const i = Math.min(INFERNO.length - 2, Math.floor(x));
  const f = x - i;
  return INFERNO[i].map((a, k) => Math.round(a + f * (INFERNO[i + 1][k] - a)));
}

/**
 * The attention map over the image as the model saw it: `img` drawn into the square canvas the
 * way the preprocessing cut it (`crop` is the fraction of the shorter side kept around the centre;
 * 1 for a model that resizes the whole image to its input), then the grid×grid map, scaled to its
 * maximum, upsampled smoothly and blended on top (alpha grows with attention).
 */
export function attention(img, map, grid, crop) {
  const canvas = $('overlay');
  const ctx = canvas.getContext('2d');
  const W = canvas.width;
  ctx.clearRect(0, 0, W, W);
  if (img?.naturalWidth) {
    const side = Math.min(img.naturalWidth, img.naturalHeight) * crop;
    const sx = (img.naturalWidth - side) / 2;
    const sy = (img.naturalHeight - side) / 2;
    ctx.imageSmoothingEnabled = img.naturalWidth >= W;
    if (crop >= 1 && img.naturalWidth !== img.naturalHeight) ctx.drawImage(img, 0, 0, W, W); // squashed, as the model saw it
    else ctx.drawImage(img, sx, sy, side, side, 0, 0, W, W);
  }
  const max = Math.max(...map);
  const cells = document.createElement('canvas');
  cells.width = cells.height = grid;
  const data = new ImageData(grid, grid);
  for (let i = 0; i < grid * grid; i++) {
    const t = max > 0 ? map[i] / max : 0;
    const [r, g, b] = inferno(t);
    data.data.set([r, g, b, Math.round(255 * (0.15 + 0.6 * t))], 4 * i);
  }
  cells.getContext('2d').putImageData(data, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(cells, 0, 0, W, W);
}
