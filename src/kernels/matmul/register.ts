import { ERF_GELU_WGSL } from '../wgsl_math.js';
import { sourceKey } from '../kernel.js';
import type { MatmulEpilogue } from './op.js';

/**
 * register_4x4: no workgroup memory. Each invocation computes a 4×4 output block straight from
 * global memory: per step of 4 along K, four vec4 rows of A and four vec4 rows of W, sixteen
 * vec4 FMAs. Neighbouring invocations share rows of A and W through the cache instead of through
 * workgroup memory: no barriers, fewer instructions per FMA. On GPUs with large L1 caches (and on
 * CPU adapters, where a barrier is a context switch) this can beat the tiled kernel; on others it
 * loses to it. The tuner decides per adapter.
 */
export function registerLinearSource(p: { bias: boolean; epilogue: MatmulEpilogue; wHalf: boolean; vecA: boolean; vecN: boolean }) {
  const kernel = 'matmul/register_4x4';
  const wType = p.wHalf ? (p.vecN ? 'vec2<u32>' : 'u32') : p.vecN ? 'vec4<f32>' : 'f32';
  const v = p.vecN ? 'vec4<f32>' : 'f32';
  const loadA = p.vecA
    ? `fn load_a4(row: u32, k: u32) -> vec4<f32> { return a[(row * params.K + k) / 4u]; }`
    : `fn load_a4(row: u32, k: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (k + j < params.K) { r[j] = a[row * params.K + k + j]; } }
  return r;
}`;
  const wElem = p.wHalf ? 'unpack2x16float(w[i / 2u])[i % 2u]' : 'w[i]';
  const loadW = p.vecN
    ? p.wHalf
      ? `fn load_w4(k: u32, col: u32) -> vec4<f32> { let h = w[(k * params.N + col) / 4u]; return vec4<f32>(unpack2x16float(h.x), unpack2x16float(h.y)); }`
      : `fn load_w4(k: u32, col: u32) -> vec4<f32> { return w[(k * params.N + col) / 4u]; }`
    : `fn load_w4(k: u32, col: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) { if (col + j < params.N) { let i = k * params.N + col + j; r[j] = ${wElem}; } }
  return r;
}`;
  const idx = p.vecN ? '(row * params.N + col) / 4u' : 'row * params.N + col';
  const epilogue = (val: string) =>
    [
      `var y = ${val};`,
      p.bias ? `y += bias[${p.vecN ? 'col / 4u' : 'col'}];` : '',
      p.epilogue === 'gelu' ? `y = ${p.vecN ? 'gelu4' : 'gelu'}(y);` : '',
      p.epilogue === 'residual' ? `y += residual[${idx}];` : '',
      `out[${idx}] = y;`,
    ].filter(Boolean).join(' ');
  const store = p.vecN
    ? `if (col < params.N) { ${epilogue('acc[i]')} }`
    : `for (var j = 0u; j < 4u; j++) { let col = col0 + j; if (col < params.N) { ${epilogue('acc[i][j]')} } }`;
  let b = 0;
  const code = /* wgsl */ `
struct Params {
  M: u32,
  N: u32,
  K: u32,
}
@group(0) @binding(${b++}) var<storage, read> a: array<${p.vecA ? 'vec4<f32>' : 'f32'}>; // [M, K]
@group(0) @binding(${b++}) var<storage, read> w: array<${wType}>; // [K, N]
${p.bias ? `@group(0) @binding(${b++}) var<storage, read> bias: array<${v}>;` : ''}
${p.epilogue === 'residual' ? `@group(0) @binding(${b++}) var<storage, read> residual: array<${v}>;` : ''}
@group(0) @binding(${b++}) var<storage, read_write> out: array<${v}>;
@group(0) @binding(${b++}) var<uniform> params: Params;
${p.epilogue === 'gelu' ? ERF_GELU_WGSL : ''}
${loadA}
${loadW}

@compute @workgroup_size(16, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let col0 = gid.x * 4u;
  let row0 = gid.y * 4u;
  if (col0 >= params.N || row0 >= params.M) { return; }
  // Rows past M read row M−1 (in bounds, results discarded at the store).
  let r0 = row0;
  let r1 = min(row0 + 1u, params.M - 1u);
  let r2 = min(row0 + 2u, params.M - 1u);
  let r3 = min(row0 + 3u, params.M - 1u);
  var acc: array<vec4<f32>, 4>;
  for (var k = 0u; k < params.K; k += 4u) {
    let a0 = load_a4(r0, k);
    let a1 = load_a4(r1, k);
    let a2 = load_a4(r2, k);
    let a3 = load_a4(r3, k);
    for (var kk = 0u; kk < 4u; kk++) {
      if (k + kk >= params.K) { break; }
      let b = load_w4(k + kk, col0);
      acc[0] += a0[kk] * b;
      acc[1] += a1[kk] * b;
      acc[2] += a2[kk] * b;
      acc[3] += a3[kk] * b;
    }
  }
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + i;
    if (row >= params.M) { break; }
    let col = col0;
    ${store}
  }
}
`;
  return { kernel, key: sourceKey(kernel, p), code };
}
