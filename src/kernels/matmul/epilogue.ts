import { applyActivation, type Activation } from '../activation.js';
import { numberBindings, weightDecl, weightRead, type WeightStorage } from './weight_read.js';

/**
 * What a matmul does to each output after `a · w` (and the bias): nothing, an activation (fc1:
 * GELU_ACTIVATION, or whichever the config names), or adding a residual tensor (attention
 * projection, fc2). Its own module so that the variant sources and the reference can name it
 * without importing the op (no import cycle).
 */
export type MatmulEpilogue = 'none' | 'residual' | Activation;

/** The activation an epilogue applies, if any. */
export const activationOf = (e: MatmulEpilogue): Activation | undefined => (typeof e === 'object' ? e : undefined);

/** The epilogue's name: 'none', 'residual' or the activation's (cache keys, test and benchmark names). */
export const epilogueName = (e: MatmulEpilogue): string => (typeof e === 'object' ? e.name : e);

/**
 * What every matmul variant's WGSL is generated from (besides the variant's own constants: tile,
 * layout), and so what its pipeline cache key covers.
 */
export interface LinearCodeParams {
  /** K % 4 == 0: A is read as vec4 along K. */
  vecA: boolean;
  /** N % 4 == 0: W, bias, residual and out are read and written as vec4 along N. */
  vecN: boolean;
  /** How W is stored (weight_read.ts). */
  w: WeightStorage;
  bias: boolean;
  epilogue: MatmulEpilogue;
}

/**
 * The WGSL statements that finish one output of any matmul variant: from the accumulated value
 * `val` at (`row`, `col`) (vec4 along N when vecN), add the bias, apply the activation, add the
 * residual, store. Every variant uses this, so an epilogue is written once. `sep` joins the
 * statements (layout of the generated code only).
 */
export function epilogueWgsl(p: LinearCodeParams, val = 'v', sep = ' '): string {
  const act = activationOf(p.epilogue);
  const idx = p.vecN ? '(row * params.N + col) / 4u' : 'row * params.N + col';
  return [
    `var y = ${weightRead(p.w).scaleOut?.(val, p.vecN) ?? val};`,
    p.bias ? `y += bias[${p.vecN ? 'col / 4u' : 'col'}];` : '',
    act ? `y = ${applyActivation(act, p.vecN, 'y')};` : '',
    p.epilogue === 'residual' ? `y += residual[${idx}];` : '',
    `out[${idx}] = y;`,
  ]
    .filter(Boolean)
    .join(sep);
}

/**
 * The declarations a matmul variant's WGSL starts with: the Params struct (M, N, K), the bindings
 * a, w, bias (when there is one), residual (for that epilogue), out and params in that order, and
 * the activation's functions. Element types follow vecA / vecN / w (and `scalarOutput`); W's loader
 * (load_w4 or load_w, weight_read.ts) follows.
 */
export function linearHeaderWgsl(p: LinearCodeParams, o: { scalarOutput?: boolean } = {}): string {
  const act = activationOf(p.epilogue);
  // scalarOutput: bias, residual and out as plain f32 arrays while W keeps its vec4 loads (a
  // variant that finishes outputs one at a time, as the subgroup-matrix one does).
  const v = p.vecN && !o.scalarOutput ? 'vec4<f32>' : 'f32';
  return numberBindings(/* wgsl */ `struct Params {
  M: u32,
  N: u32,
  K: u32,
}
@group(0) @binding(?) var<storage, read> a: array<${p.vecA ? 'vec4<f32>' : 'f32'}>; // [M, K]
${weightDecl(p.w, p.vecN, v)}
${p.bias ? `@group(0) @binding(?) var<storage, read> bias: array<${v}>; // [N]` : ''}
${p.epilogue === 'residual' ? `@group(0) @binding(?) var<storage, read> residual: array<${v}>; // [M, N]` : ''}
@group(0) @binding(?) var<storage, read_write> out: array<${v}>; // [M, N]
@group(0) @binding(?) var<uniform> params: Params;
${act ? act.wgsl : ''}
${weightRead(p.w).load(p.vecN)}`);
}
