/**
 * The additive score bias of BEiT's relative position bias, when a kernel takes one: [H, T, T],
 * added to the scaled q·k of query i and key j of head h before the softmax (at `binding`).
 */
export const biasWgsl = (binding: number) => `\n@group(0) @binding(${binding}) var<storage, read> bias: array<f32>; // [H, T, T]`;

/**
 * What every attention variant's WGSL starts with: its uniforms, and the fused QKV input and the
 * output, both of element type `t` (vec4<f32> or f32), with DV elements per head row; with `bias`,
 * the score bias (biasWgsl).
 */
export function attentionIoWgsl(t: string, DV: number, DH: number, bias?: boolean): string {
  return /* wgsl */ `struct Params {
  T: u32,
  H: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read> qkv: array<${t}>;      // [B, T, 3, H, Dh]
@group(0) @binding(1) var<storage, read_write> out: array<${t}>; // [B, T, H, Dh]
@group(0) @binding(2) var<uniform> params: Params;${bias ? biasWgsl(3) : ''}

const DV = ${DV}u; // ${t} per head row (Dh = ${DH})`;
}

/** What every attention variant's WGSL is generated from besides its own constants (BQ, KT). */
export interface AttentionCodeParams {
  headDim: number;
  /** A score bias [H, T, T] is added (BEiT's relative position bias); only online_softmax* take one. */
  bias?: boolean;
  /** Keys/values per workgroup-memory tile (online_softmax: two tiles must fit the device's workgroup memory). */
  BKV: number;
}

/**
 * The K/V tile load every workgroup-memory attention kernel starts a tile with: its invocations
 * (`li`, advancing by `stride`, a WGSL expression) copy the keys and values kv0..kv0+BKV of head
 * `head` of image `b` out of the fused QKV activation into Ks and Vs; rows past T are left as
 * they are (the kernels read only n = min(BKV, T − kv0) of them). The caller's barrier follows.
 */
export function kvTileLoadWgsl(stride: string): string {
  return /* wgsl */ `    for (var i = li; i < BKV * DV; i += ${stride}) {
      let j = i / DV;
      let c = i % DV;
      let key = kv0 + j;
      if (key < T) {
        let base = (b * T + key) * row + head + c;
        Ks[j][c] = qkv[base + H * DV];
        Vs[j][c] = qkv[base + 2u * H * DV];
      }
    }`;
}

/**
 * The scores of a K tile every workgroup-memory attention kernel computes next: this invocation's
 * query against the tile's n = min(BKV, T − kv0) keys into s[0..n), and their maximum, started
 * from the running maximum m, as m_tile. `dotExpr` is one term of the query·key dot product for
 * component c of key j; `indent` is where the code sits. With `bias`, each score gains
 * bias[h, qi, key] (query rows past T read row T − 1: those invocations write nothing).
 */
export function tileScoresWgsl(dotExpr: string, indent = '    ', bias?: boolean): string {
  return [
    'let n = min(BKV, T - kv0);',
    'var m_tile = m;',
    'for (var j = 0u; j < n; j++) {',
    '  var d = 0.0;',
    `  for (var c = 0u; c < DV; c++) { d += ${dotExpr}; }`,
    bias ? '  d += bias[(h * T + min(qi, T - 1u)) * T + kv0 + j];' : '',
    '  s[j] = d;',
    '  m_tile = max(m_tile, d);',
    '}',
  ]
    .filter((l) => l)
    .map((l) => indent + l)
    .join('\n');
}
