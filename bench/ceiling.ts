import { grid1d, sourceKey, type Dispatch } from '../src/kernels/kernel.js';
import type { BufferSlice } from '../src/runtime/shader.js';
import { runKernelCase, type KernelCase, type TimingOptions } from './harness.js';
import { linear } from '../src/kernels/matmul/op.js';
import { linearRef } from '../src/kernels/matmul/reference.js';

/** copy/vec4: the adapter's achievable bandwidth for a kernel (read + write), the bytes ceiling. */
function copyDispatch(b: Record<string, BufferSlice>, n4: number): Dispatch {
  const WG = 256;
  const workgroups = grid1d(Math.ceil(n4 / WG));
  const code = /* wgsl */ `
struct Params { count: u32, grid_x: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * params.grid_x + wg.x) * ${WG}u + li;
  if (i < params.count) { out[i] = x[i]; }
}`;
  return {
    label: 'ceiling.copy',
    source: { kernel: 'ceiling/copy_vec4', key: sourceKey('ceiling/copy_vec4', { WG }), code },
    bindings: { x: b.x, out: b.out },
    uniforms: { count: n4, grid_x: workgroups[0] },
    sizes: { x: 16 * n4, out: 16 * n4 },
    workgroups,
    flops: 0,
    bytes: 2 * 16 * n4,
  };
}

export interface Ceilings {
  /** GB/s of a large vec4 copy. */
  gbps: number;
  copyBytes: number;
  /** GFLOP/s of the best matmul variant on a large square problem. */
  gflops: number;
  matmulShape: string;
  matmulVariant: string;
}

/** Measures the adapter once: a large copy for bytes, a large square matmul (every variant) for FLOPs. */
export async function measureCeilings(device: GPUDevice, t: TimingOptions, opts: { copyMiB: number; matmulN: number; variants: string[] }): Promise<Ceilings> {
  const n = (opts.copyMiB * 2 ** 20) / 4;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = i % 1021;
  const copy: KernelCase = {
    op: 'ceiling', variant: 'copy_vec4', shape: `${opts.copyMiB} MiB`, inputs: { x }, output: { name: 'out', length: n }, tol: 0,
    reference: () => x, make: (b) => copyDispatch(b, n / 4),
  };
  const c = await runKernelCase(device, copy, t);
  const N = opts.matmulN;
  const a = new Float32Array(N * N).map((_, i) => ((i * 7919) % 2003) / 2003 - 0.5);
  const w = new Float32Array(N * N).map((_, i) => ((i * 104729) % 1999) / 1999 - 0.5);
  let ref: Float64Array | undefined;
  let best = { gflops: 0, variant: '' };
  for (const variant of opts.variants) {
    const r = await runKernelCase(device, {
      op: 'matmul', variant, shape: `${N}x${N}x${N}`, inputs: { a, w }, output: { name: 'out', length: N * N }, tol: 1e-5,
      reference: () => (ref ??= linearRef(a, w, undefined, undefined, N, N, N, 'none')),
      make: (b) => linear({ label: 'ceiling.matmul', M: N, K: N, N, a: b.a, w: b.w, out: b.out, epilogue: 'none', variant: variant as never }),
    }, t);
    if (r.ok && r.gflops > best.gflops) best = { gflops: r.gflops, variant };
  }
  return { gbps: c.gbps, copyBytes: 8 * n, gflops: best.gflops, matmulShape: `${N}x${N}x${N}`, matmulVariant: best.variant };
}
