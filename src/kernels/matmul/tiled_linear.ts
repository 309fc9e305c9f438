import { tiledMatmulWgsl, type TiledMatmulShape } from './tiled.js';
import { activationOf, epilogueWgsl, type LinearCodeParams } from './epilogue.js';

/**
 * The tiled variants' WGSL (tiled, tiled_32x64, tiled_bk32): the workgroup-memory tiled matmul of
 * tiled.ts reading a row-major activation, with the linear layer's epilogue
 * out = epilogue(A·W + bias) (+ residual).
 */
export function tiledLinearCode(tile: TiledMatmulShape, p: LinearCodeParams): string {
  const act = activationOf(p.epilogue);
  const v = p.vecN ? 'vec4<f32>' : 'f32';
  const bindings = [
    `@group(0) @binding(?) var<storage, read> a: array<${p.vecA ? 'vec4<f32>' : 'f32'}>; // [M, K]`,
    ...(p.bias ? [`@group(0) @binding(?) var<storage, read> bias: array<${v}>; // [N]`] : []),
    ...(p.epilogue === 'residual' ? [`@group(0) @binding(?) var<storage, read> residual: array<${v}>; // [M, N]`] : []),
    `@group(0) @binding(?) var<storage, read_write> out: array<${v}>; // [M, N]`,
  ];
  const loadA = p.vecA
    ? `fn load_a(row: u32, k: u32) -> vec4<f32> { return a[(row * params.K + k) / 4u]; }`
    : `fn load_a(row: u32, k: u32) -> f32 { return a[row * params.K + k]; }`;
  const store = epilogueWgsl(p, 'v', '\n        ');
  return tiledMatmulWgsl(
    { tile, vecA: p.vecA, vecN: p.vecN, w: p.w },
    { params: [], bindings, loadA, store, helpers: act ? act.wgsl : '' },
  );
}
