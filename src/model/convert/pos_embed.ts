/**
 * Position-embedding resizing for running a ViT at another image size: the patch rows of
 * pos_embed [T, D] are an image of D channels on a g×g grid, resampled to g'×g' exactly as
 * PyTorch's `F.interpolate(mode='bicubic')` does; prefix rows (class, distillation) are kept.
 *
 * Modes (each checked against PyTorch in test/convert/pos_embed.test.ts):
 * - 'bicubic': align_corners=False, cubic convolution with A = −0.75, source index
 *   (dst + 0.5)·in/out − 0.5, taps clamped at the border. timm's resize_pos_embed and
 *   Hugging Face ViT's interpolate_pos_encoding.
 * - 'bicubic-antialias': antialias=True (timm ≥ 0.9 resample_abs_pos_embed's default): PIL-style
 *   cubic with a = −0.5, stretched by in/out when downsampling, truncated at the border and
 *   renormalised.
 * - 'bicubic-align-corners': align_corners=True (torchvision's interpolate_embeddings).
 * Or a resampling of one's own (`taps`): a family's converter may bring one.
 * Computed in float64, separably (rows, then columns); PyTorch's float64 result matches to ~1e-15.
 */
export type ResizeMode = 'bicubic' | 'bicubic-antialias' | 'bicubic-align-corners';

/** The modes `webvit convert --resize` takes. */
export const RESIZE_MODES: ResizeMode[] = ['bicubic', 'bicubic-antialias', 'bicubic-align-corners'];

/** For each output index, its input taps and weights. */
export interface Taps {
  index: number[][];
  weight: number[][];
}

const A = -0.75;
const cc1 = (x: number, a: number) => ((a + 2) * x - (a + 3)) * x * x + 1; // |x| <= 1
const cc2 = (x: number, a: number) => ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; // 1 < |x| < 2

function cubicTaps(inSize: number, outSize: number, alignCorners: boolean): Taps {
  const index: number[][] = [];
  const weight: number[][] = [];
  const scale = alignCorners ? (outSize > 1 ? (inSize - 1) / (outSize - 1) : 0) : inSize / outSize;
  const clamp = (i: number) => Math.min(Math.max(i, 0), inSize - 1);
  for (let o = 0; o < outSize; o++) {
    const src = alignCorners ? scale * o : scale * (o + 0.5) - 0.5;
    const i0 = Math.floor(src);
    const t = src - i0;
    index.push([clamp(i0 - 1), clamp(i0), clamp(i0 + 1), clamp(i0 + 2)]);
    weight.push([cc2(t + 1, A), cc1(t, A), cc1(1 - t, A), cc2(2 - t, A)]);
  }
  return { index, weight };
}

function aaFilter(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return cc1(x, a);
  if (x < 2) return cc2(x, a);
  return 0;
}

function antialiasTaps(inSize: number, outSize: number): Taps {
  const index: number[][] = [];
  const weight: number[][] = [];
  const scale = inSize / outSize;
  const support = scale >= 1 ? 2 * scale : 2;
  const invscale = scale >= 1 ? 1 / scale : 1;
  for (let o = 0; o < outSize; o++) {
    const center = scale * (o + 0.5);
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    const idx: number[] = [];
    const w: number[] = [];
    let total = 0;
    for (let j = xmin; j < xmax; j++) {
      const v = aaFilter((j - center + 0.5) * invscale);
      idx.push(j);
      w.push(v);
      total += v;
    }
    index.push(idx);
    weight.push(total !== 0 ? w.map((v) => v / total) : w);
  }
  return { index, weight };
}

export function resampleTaps(inSize: number, outSize: number, mode: ResizeMode): Taps {
  if (mode === 'bicubic-antialias') return antialiasTaps(inSize, outSize);
  return cubicTaps(inSize, outSize, mode === 'bicubic-align-corners');
}

export interface ResizeArgs {
  /** Rows before the grid (class, distillation tokens), copied unchanged. */
  prefix: number;
  dim: number;
  oldGrid: number;
  newGrid: number;
  mode?: ResizeMode;
  /** A resampling of the caller's own, in place of `mode`'s: for each output index, its taps. */
  taps?: (inSize: number, outSize: number) => Taps;
}

/** pos [prefix + oldGrid², dim] -> [prefix + newGrid², dim]; float64 math, returned as `out` type. */
export function resizePosEmbed<T extends Float32Array | Float64Array>(pos: T, a: ResizeArgs): T {
  const { prefix, dim: D, oldGrid: g, newGrid: n } = a;
  const mode = a.mode ?? 'bicubic';
  if (pos.length !== (prefix + g * g) * D) throw new Error(`resizePosEmbed: ${pos.length} values, expected (${prefix} + ${g}²)·${D}`);
  const Ctor = pos.constructor as { new (n: number): T };
  const out = new Ctor((prefix + n * n) * D);
  out.set(pos.subarray(0, prefix * D));
  const taps = a.taps ? a.taps(g, n) : resampleTaps(g, n, mode);
  // Along x: [g rows, n cols, D]
  const tmp = new Float64Array(g * n * D);
  for (let y = 0; y < g; y++) {
    for (let x = 0; x < n; x++) {
      const idx = taps.index[x];
      const w = taps.weight[x];
      const o = (y * n + x) * D;
      for (let k = 0; k < idx.length; k++) {
        const src = (prefix + y * g + idx[k]) * D;
        const wk = w[k];
        for (let d = 0; d < D; d++) tmp[o + d] += wk * pos[src + d];
      }
    }
  }
  // Along y: [n, n, D]
  const acc = new Float64Array(D);
  for (let y = 0; y < n; y++) {
    const idx = taps.index[y];
    const w = taps.weight[y];
    for (let x = 0; x < n; x++) {
      acc.fill(0);
      for (let k = 0; k < idx.length; k++) {
        const src = (idx[k] * n + x) * D;
        const wk = w[k];
        for (let d = 0; d < D; d++) acc[d] += wk * tmp[src + d];
      }
      out.set(acc, (prefix + y * n + x) * D);
    }
  }
  return out;
}
