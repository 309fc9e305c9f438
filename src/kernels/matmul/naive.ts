import { activationOf, epilogueWgsl, type LinearCodeParams } from './epilogue.js';
import { numberBindings, weightDecl, weightRead } from './weight_read.js';

/**
 * naive: the plain reference variant — one output per invocation, scalar loads straight from
 * global memory, no tiling. Slow by design; it is the baseline the others are measured against.
 */
export function naiveLinearCode(p: LinearCodeParams): string {
  const act = activationOf(p.epilogue);
  const s: LinearCodeParams = { ...p, vecN: false };
  return numberBindings(/* wgsl */ `
struct Params {
  M: u32,
  N: u32,
  K: u32,
}
@group(0) @binding(?) var<storage, read> a: array<f32>; // [M, K]
${p.bias ? '@group(0) @binding(?) var<storage, read> bias: array<f32>; // [N]' : ''}
${p.epilogue === 'residual' ? '@group(0) @binding(?) var<storage, read> residual: array<f32>; // [M, N]' : ''}
@group(0) @binding(?) var<storage, read_write> out: array<f32>; // [M, N]
${weightDecl(p.w, false, 'f32')}
@group(0) @binding(?) var<uniform> params: Params;
${act ? act.wgsl : ''}
${weightRead(p.w).load(false)}
@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let col = gid.x;
  let row = gid.y;
  if (row >= params.M || col >= params.N) { return; }
  var acc = 0.0;
  for (var k = 0u; k < params.K; k++) { acc += a[row * params.K + k] * load_w(k, col); }
  ${epilogueWgsl(s, 'acc')}
}
`);
}
