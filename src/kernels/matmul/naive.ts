import { applyActivation } from '../activation.js';
import { activationOf, type LinearCodeParams } from './epilogue.js';

/**
 * naive: the plain reference variant — one output per invocation, scalar loads straight from
 * global memory, no tiling. Slow by design; it is the baseline the others are measured against.
 */
export function naiveLinearCode(p: LinearCodeParams): string {
  const act = activationOf(p.epilogue);
  return /* wgsl */ `
struct Params {
  M: u32,
  N: u32,
  K: u32,
}
@group(0) @binding(0) var<storage, read> a: array<f32>; // [M, K]
${p.bias ? '@group(0) @binding(1) var<storage, read> bias: array<f32>; // [N]' : ''}
${p.epilogue === 'residual' ? '@group(0) @binding(2) var<storage, read> residual: array<f32>; // [M, N]' : ''}
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [M, N]
@group(0) @binding(4) var<storage, read> w: array<${p.wHalf ? 'u32' : 'f32'}>; // [K, N]${p.wHalf ? ' as IEEE halves, two per u32' : ''}
@group(0) @binding(5) var<uniform> params: Params;
${act ? act.wgsl : ''}
@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let col = gid.x;
  let row = gid.y;
  if (row >= params.M || col >= params.N) { return; }
  var y = 0.0;
  for (var k = 0u; k < params.K; k++) {
    let i = k * params.N + col;
    y += a[row * params.K + k] * ${p.wHalf ? 'unpack2x16float(w[i / 2u])[i % 2u]' : 'w[i]'};
  }
  ${p.bias ? 'y += bias[col];' : ''}
  ${act ? `y = ${applyActivation(act, false, 'y')};` : ''}
  ${p.epilogue === 'residual' ? 'y += residual[row * params.N + col];' : ''}
  out[row * params.N + col] = y;
}
`;
}
