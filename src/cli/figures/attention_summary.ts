import type { ViTConfig } from '../../model/config.js';
import { shapeOf } from '../../model/config.js';

/**
 * The distance that attention spread evenly over the N patches would give: the mean pixel
 * distance between two patch centres, (1/N²) Σ_i Σ_j ‖c_i − c_j‖. A head whose mean attention
 * distance comes near it attends to the whole image; the distance plot draws it as a line.
 */
export function uniformAttentionDistance(c: ViTConfig): number {
  const G = shapeOf(c).grid;
  const N = G * G;
  const p = c.patch_size;
  let sum = 0;
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) sum += p * Math.hypot(Math.floor(i / G) - Math.floor(j / G), (i % G) - (j % G));
  }
  return sum / (N * N);
}

/** [layers][heads]: the mean over images of distance[l][b·H + h], for the images `slots` of the batch. */
export function meanDistance(perImage: number[][][]): number[][] {
  // perImage: [image][layer][head]
  const n = perImage.length;
  if (n === 0) return [];
  return perImage[0].map((row, l) => row.map((_, h) => perImage.reduce((s, img) => s + img[l][h], 0) / n));
}

/** A float32 value as the shortest decimal that reads back as the same float32 (JSON stays small and exact). */
export function f32(v: number): number {
  if (!Number.isFinite(v)) return v;
  for (let p = 4; p < 9; p++) {
    const x = Number(v.toPrecision(p));
    if (Math.fround(x) === v) return x;
  }
  return Number(v.toPrecision(9));
}

/** A flat row-major array as rows of `width` values (float32 shortest form). */
export function rows(a: ArrayLike<number>, width: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < a.length; i += width) out.push(Array.from({ length: width }, (_, j) => f32(a[i + j])));
  return out;
}
