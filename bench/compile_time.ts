/**
 * How long each kernel variant takes to get ready on this adapter: pipeline creation plus the
 * first dispatch, minus a warm dispatch. CPU drivers (lavapipe) compile a shader to machine code at
 * its first dispatch, so this is what a cold start pays per distinct kernel (seconds there, for an
 * unrolled kernel tens of seconds). Run with MESA_SHADER_CACHE_DISABLE=true for honest numbers:
 *   npx esbuild bench/compile_time.ts --bundle --platform=node --format=esm --external:webgpu --outfile=.webvit-cache/compile_time.mjs && MESA_SHADER_CACHE_DISABLE=true node .webvit-cache/compile_time.mjs
 */
import { attention, ATTENTION_VARIANTS, type AttentionVariant } from '../src/kernels/attention/op.js';
import { unavailableReason } from '../src/kernels/kernel.js';
import { linear, MATMUL_VARIANTS, type MatmulVariant } from '../src/kernels/matmul/op.js';
import { variantNeeds } from '../src/kernels/registry.js';
import { getNodeDevice } from '../src/runtime/node-device.js';
import { StandaloneDispatch } from '../src/runtime/standalone.js';
import type { Dispatch } from '../src/kernels/kernel.js';
import type { BufferSlice } from '../src/runtime/shader.js';
import { GELU_ACTIVATION } from '../src/kernels/gelu/activation.js';

const device = await getNodeDevice();
const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);

async function compileMs(name: string, make: (b: Record<string, BufferSlice>) => Dispatch, inputs: Record<string, Float32Array>, out: number) {
  await device.queue.onSubmittedWorkDone(); // previous uploads out of the way
  const t0 = performance.now();
  const s = await StandaloneDispatch.create(device, make, { inputs, outputs: { out } });
  await s.run();
  await device.queue.onSubmittedWorkDone();
  const t1 = performance.now();
  await s.run();
  await device.queue.onSubmittedWorkDone();
  const t2 = performance.now();
  s.destroy();
  console.log(`${name.padEnd(34)} create + first run ${(t1 - t0).toFixed(0).padStart(6)} ms, warm run ${(t2 - t1).toFixed(0).padStart(5)} ms: compile ≈ ${(t1 - t0 - (t2 - t1)).toFixed(0).padStart(6)} ms`);
}

const [M, K, N] = [197, 384, 1536];
for (const v of Object.keys(MATMUL_VARIANTS) as MatmulVariant[]) {
  if (unavailableReason(device, variantNeeds('matmul', v))) continue;
  for (const epilogue of ['none', GELU_ACTIVATION] as const) {
    await compileMs(`matmul/${v} ${typeof epilogue === 'string' ? epilogue : epilogue.name}`, (b) => linear({ label: 'ct', M, K, N, a: b.a, w: b.w, bias: b.bias, out: b.out, epilogue, variant: v }), { a: rnd(M * K), w: rnd(K * N), bias: rnd(N) }, M * N);
  }
}
for (const v of Object.keys(ATTENTION_VARIANTS) as AttentionVariant[]) {
  if (unavailableReason(device, variantNeeds('attention', v))) continue;
  await compileMs(`attention/${v}`, (b) => attention({ label: 'ct', batch: 1, T: 197, heads: 6, headDim: 64, qkv: b.qkv, out: b.out, maxWorkgroupStorage: device.limits.maxComputeWorkgroupStorageSize, variant: v }), { qkv: rnd(197 * 3 * 384) }, 197 * 384);
}
device.destroy();
