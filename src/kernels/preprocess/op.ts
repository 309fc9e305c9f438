import type { ChannelMode, Interpolation, PreprocessGeometry } from './geometry.js';
import { ceilDiv, grid1d, sourceKey, type Binding, type Dispatch } from '../kernel.js';
import { PRECISION_BITS, resampleTable, type ResampleTable } from './resample.js';
import { WebvitError } from '../../errors.js';

/**
 * Image preprocessing on the GPU, exactly as PIL + torchvision (or PIL + Hugging Face's image
 * processors) do it (see resample.ts): decoded
 * 8-bit RGBA pixels (one u32 per pixel, R in the low byte) in, the model's normalised float32
 * NCHW input for one image out, written at an offset in a batch buffer. Two dispatches:
 *
 * - `preprocess/resample_h`: RGBA → the model's channels (RGB with alpha dropped, as PIL's
 *   convert('RGB'); or PIL's L for a one-channel model), then Pillow's horizontal pass in its
 *   22-bit fixed point, rounded and clipped to 8 bits. Only the resized columns that the centre
 *   crop keeps, over only the source rows the vertical pass reads. Large images are split into
 *   bands of rows (one dispatch each) so that no binding passes the device's limit.
 * - `preprocess/resample_v`: Pillow's vertical pass (again 8-bit), the centre crop (zero padding
 *   where the image is smaller than the crop, as torchvision's CenterCrop and HF's center_crop),
 *   and the normalisation through a per-channel table of the library's float32 value of each
 *   level (torchvision's (x/255 − mean)/std, or HF's (float32(x·rescale) − mean)/std).
 *
 * The resize may keep the aspect ratio or not (HF's ViTImageProcessor resizes straight to
 * width × height): each pass has its own table. The resampling is integer arithmetic identical
 * to Pillow's, so the 8-bit image before normalisation is Pillow's bit for bit, and the table
 * makes the floats the library's.
 */

/** Everything the two passes need for one image, computed on the CPU (coefficients included). */
export interface PreprocessLayout {
  geometry: PreprocessGeometry;
  channels: ChannelMode;
  interpolation: Interpolation;
  /** Resized columns computed by the horizontal pass: c0 … c0 + cols − 1. */
  c0: number;
  cols: number;
  /** Resized rows the crop keeps: r0 … r0 + outRows − 1. */
  r0: number;
  outRows: number;
  /** Source rows the vertical pass reads: row0 … row0 + rows − 1 (the intermediate's height). */
  row0: number;
  rows: number;
  ksizeH: number;
  ksizeV: number;
  /** [cols] first source column, [cols] tap count, [cols · ksizeH] fixed-point weights. */
  htab: Int32Array;
  /** [outRows] first intermediate row (relative to row0), [outRows] tap count, [outRows · ksizeV] weights. */
  vtab: Int32Array;
  /** Full tables, for the reference. */
  tableH: ResampleTable;
  tableV: ResampleTable;
}

function packTable(t: ResampleTable, from: number, n: number, shift: number): Int32Array {
  const out = new Int32Array(2 * n + n * t.ksize);
  for (let i = 0; i < n; i++) {
    out[i] = t.start[from + i] - shift;
    out[n + i] = t.count[from + i];
  }
  out.set(t.weights.subarray(from * t.ksize, (from + n) * t.ksize), 2 * n);
  return out;
}

export function preprocessLayout(geometry: PreprocessGeometry, interpolation: Interpolation, channels: ChannelMode): PreprocessLayout {
  const g = geometry;
  const tableH = resampleTable(g.srcW, g.resizeW, interpolation);
  const tableV = resampleTable(g.srcH, g.resizeH, interpolation);
  const c0 = Math.max(0, g.left);
  const cols = Math.min(g.resizeW, g.left + g.crop) - c0;
  const r0 = Math.max(0, g.top);
  const outRows = Math.min(g.resizeH, g.top + g.crop) - r0;
  let row0 = Infinity;
  let rowEnd = 0;
  for (let r = r0; r < r0 + outRows; r++) {
    row0 = Math.min(row0, tableV.start[r]);
    rowEnd = Math.max(rowEnd, tableV.start[r] + tableV.count[r]);
  }
  return {
    geometry,
    channels,
    interpolation,
    c0,
    cols,
    r0,
    outRows,
    row0,
    rows: rowEnd - row0,
    ksizeH: tableH.ksize,
    ksizeV: tableV.ksize,
    htab: packTable(tableH, c0, cols, 0),
    vtab: packTable(tableV, r0, outRows, row0),
    tableH,
    tableV,
  };
}

const WG = 64;

export function resampleHSource(channels: ChannelMode) {
  const kernel = 'preprocess/resample_h';
  const gray = channels === 'grayscale';
  const code = /* wgsl */ `
struct Params {
  src_w: u32,     // source image width
  cols: u32,      // intermediate width (resized columns kept by the crop)
  band_rows: u32, // source rows in this band (pixels holds exactly these rows)
  tmp_row0: u32,  // intermediate row of the band's first row
  ksize: u32,     // taps per column in htab
  grid_x: u32,
}
@group(0) @binding(0) var<storage, read> pixels: array<u32>;       // [band_rows, src_w] RGBA8
@group(0) @binding(1) var<storage, read> htab: array<i32>;         // start[cols], count[cols], weight[cols, ksize]
@group(0) @binding(2) var<storage, read_write> tmp: array<u32>;    // [rows, cols] 8-bit ${gray ? 'L' : 'R | G << 8 | B << 16'}
@group(0) @binding(3) var<uniform> params: Params;

const HALF = ${1 << (PRECISION_BITS - 1)};

fn clip8(s: i32) -> u32 { return u32(clamp(s >> ${PRECISION_BITS}u, 0, 255)); }

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * params.grid_x + wg.x) * ${WG}u + li;
  if (i >= params.band_rows * params.cols) { return; }
  let y = i / params.cols;
  let x = i % params.cols;
  let start = u32(htab[x]);
  let count = u32(htab[params.cols + x]);
  let wbase = 2u * params.cols + x * params.ksize;
  let rbase = y * params.src_w + start;
  var s = vec3<i32>(HALF);
  for (var k = 0u; k < count; k++) {
    let p = pixels[rbase + k];
    let w = htab[wbase + k];
${
  gray
    ? `    // PIL's convert('L'): ITU-R 601-2 luma in 16-bit fixed point, rounded.
    let l = ((p & 255u) * 19595u + ((p >> 8u) & 255u) * 38470u + ((p >> 16u) & 255u) * 7471u + 32768u) >> 16u;
    s.x += i32(l) * w;`
    : `    s += vec3<i32>(i32(p & 255u), i32((p >> 8u) & 255u), i32((p >> 16u) & 255u)) * w;`
}
  }
  tmp[(params.tmp_row0 + y) * params.cols + x] = ${gray ? 'clip8(s.x)' : 'clip8(s.x) | (clip8(s.y) << 8u) | (clip8(s.z) << 16u)'};
}
`;
  return { kernel, key: sourceKey(kernel, { gray, WG }), code };
}

export function resampleVSource(channels: ChannelMode) {
  const kernel = 'preprocess/resample_v';
  const C = channels === 'grayscale' ? 1 : 3;
  const code = /* wgsl */ `
struct Params {
  crop: u32,       // output side S
  left: i32,       // crop window in the resized image (negative: zero padding)
  top: i32,
  resize_w: u32,
  resize_h: u32,
  c0: u32,         // resized column of intermediate column 0
  r0: u32,         // resized row of vtab entry 0
  cols: u32,       // intermediate width
  out_rows: u32,   // vtab entries
  ksize: u32,      // taps per row in vtab
  out_offset: u32, // first float of this image in the batch buffer
  grid_x: u32,
}
@group(0) @binding(0) var<storage, read> tmp: array<u32>;          // [rows, cols] from resample_h
@group(0) @binding(1) var<storage, read> vtab: array<i32>;         // start[out_rows], count[out_rows], weight[out_rows, ksize]
@group(0) @binding(2) var<storage, read> lut: array<f32>;          // [${C}, 256] normalised value of each 8-bit level
@group(0) @binding(3) var<storage, read_write> out: array<f32>;    // batch buffer, NCHW
@group(0) @binding(4) var<uniform> params: Params;

const HALF = ${1 << (PRECISION_BITS - 1)};

fn clip8(s: i32) -> u32 { return u32(clamp(s >> ${PRECISION_BITS}u, 0, 255)); }

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * params.grid_x + wg.x) * ${WG}u + li;
  let S = params.crop;
  if (i >= S * S) { return; }
  let oy = i / S;
  let ox = i % S;
  let rx = params.left + i32(ox);
  let ry = params.top + i32(oy);
  var v = vec3<u32>(0u);  // zero padding outside the resized image
  if (rx >= 0 && rx < i32(params.resize_w) && ry >= 0 && ry < i32(params.resize_h)) {
    let col = u32(rx) - params.c0;
    let r = u32(ry) - params.r0;
    let start = u32(vtab[r]);
    let count = u32(vtab[params.out_rows + r]);
    let wbase = 2u * params.out_rows + r * params.ksize;
    var s = vec3<i32>(HALF);
    for (var k = 0u; k < count; k++) {
      let p = tmp[(start + k) * params.cols + col];
      s += vec3<i32>(i32(p & 255u), i32((p >> 8u) & 255u), i32((p >> 16u) & 255u)) * vtab[wbase + k];
    }
    v = vec3<u32>(clip8(s.x), clip8(s.y), clip8(s.z));
  }
  let o = params.out_offset + oy * S + ox;
${Array.from({ length: C }, (_, c) => `  out[o + ${c}u * S * S] = lut[${c * 256}u + v[${c}]];`).join('\n')}
}
`;
  return { kernel, key: sourceKey(kernel, { C, WG }), code };
}

export interface ResampleHArgs {
  label: string;
  layout: PreprocessLayout;
  /** First source row of this band, and how many rows it has (the whole needed range by default). */
  bandRow0?: number;
  bandRows?: number;
  /** RGBA8 u32 pixels of exactly the band's rows (source rows bandRow0 … bandRow0 + bandRows − 1). */
  pixels: Binding;
  htab: Binding;
  /** Intermediate [layout.rows, layout.cols] u32. */
  tmp: Binding;
}

/** Horizontal pass (and channel conversion) for one band of source rows. */
export function resampleH(a: ResampleHArgs): Dispatch {
  const L = a.layout;
  const bandRow0 = a.bandRow0 ?? L.row0;
  const bandRows = a.bandRows ?? L.rows;
  if (bandRow0 < L.row0 || bandRow0 + bandRows > L.row0 + L.rows || bandRows < 1) {
    throw new WebvitError('BAD_ARGUMENT', `${a.label}: band rows ${bandRow0}+${bandRows} outside the needed source rows ${L.row0}+${L.rows}`);
  }
  const n = bandRows * L.cols;
  const workgroups = grid1d(ceilDiv(n, WG));
  const C = L.channels === 'grayscale' ? 1 : 3;
  return {
    label: a.label,
    source: resampleHSource(L.channels),
    bindings: { pixels: a.pixels, htab: a.htab, tmp: a.tmp },
    sizes: { pixels: 4 * bandRows * L.geometry.srcW, htab: 4 * L.htab.length, tmp: 4 * L.rows * L.cols },
    uniforms: { src_w: L.geometry.srcW, cols: L.cols, band_rows: bandRows, tmp_row0: bandRow0 - L.row0, ksize: L.ksizeH, grid_x: workgroups[0] },
    workgroups,
    flops: 2 * n * C * L.ksizeH,
    bytes: 4 * (n * L.ksizeH + n),
  };
}

export interface ResampleVArgs {
  label: string;
  layout: PreprocessLayout;
  tmp: Binding;
  vtab: Binding;
  /** normalisationTable(): [C, 256] float32. */
  lut: Binding;
  /** The batch buffer; this image's C × S × S values start at outOffset (in floats). */
  out: Binding;
  outOffset: number;
}

/** Vertical pass, centre crop and normalisation into the batch buffer. */
export function resampleV(a: ResampleVArgs): Dispatch {
  const L = a.layout;
  const g = L.geometry;
  const n = g.crop * g.crop;
  const workgroups = grid1d(ceilDiv(n, WG));
  const C = L.channels === 'grayscale' ? 1 : 3;
  return {
    label: a.label,
    source: resampleVSource(L.channels),
    bindings: { tmp: a.tmp, vtab: a.vtab, lut: a.lut, out: a.out },
    sizes: { tmp: 4 * L.rows * L.cols, vtab: 4 * L.vtab.length, lut: 4 * C * 256, out: 4 * (a.outOffset + C * n) },
    uniforms: {
      crop: g.crop,
      left: g.left,
      top: g.top,
      resize_w: g.resizeW,
      resize_h: g.resizeH,
      c0: L.c0,
      r0: L.r0,
      cols: L.cols,
      out_rows: L.outRows,
      ksize: L.ksizeV,
      out_offset: a.outOffset,
      grid_x: workgroups[0],
    },
    workgroups,
    flops: 2 * n * C * L.ksizeV,
    bytes: 4 * (n * L.ksizeV + n * C),
  };
}
