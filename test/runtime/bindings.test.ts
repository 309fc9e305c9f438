import { afterEach, describe, expect, it } from 'vitest';
import { gelu } from '../../src/kernels/gelu/op.js';
import { geluRef } from '../../src/kernels/gelu/reference.js';
import { sourceKey, type Dispatch } from '../../src/kernels/kernel.js';
import { presetConfig } from '../../src/model/config.js';
import { buildGraph } from '../../src/model/graph.js';
import { assignBuffers, type TensorLife } from '../../src/runtime/arena.js';
import { Plan, tensorLifetimes, type PlanIO } from '../../src/runtime/plan.js';
import { errorScopesEmpty, trackBuffers, type BufferTracker } from '../helpers/buffer_tracker.js';
import { relL2 } from '../helpers/compare.js';
import { expectWebvitError } from '../helpers/errors.js';
import { testDevice } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';

// Plan.compile checks each dispatch's bindings and uniforms against the WGSL it reflects
// (src/runtime/shader.ts): a kernel author's mistake must be a BINDING_MISMATCH naming the
// dispatch label, the kernel and the binding at compile time, not a GPU validation error (or a
// silent wrong result) at run time. A failed compile must free what it made and close its error
// scopes. Then the arena allocator that places activation tensors is checked on its own.

const N = 1024; // gelu takes the vec4 path (16-byte elements)
const LABEL = 'test.gelu';
const KERNEL = 'gelu/elementwise';

/** gelu over two arena tensors x -> y (the runtime allocates both). */
const geluDispatch = (edit?: (d: Dispatch) => void): Dispatch => {
  const d = gelu({ label: LABEL, n: N, x: { tensor: 'x', bytes: 4 * N }, out: { tensor: 'y', bytes: 4 * N } });
  edit?.(d);
  return d;
};

let tracker: BufferTracker | undefined;
const own: GPUBuffer[] = [];
afterEach(() => {
  tracker?.restore();
  tracker = undefined;
  while (own.length) own.pop()!.destroy();
});

/** Compiles `dispatches`, expecting BINDING_MISMATCH with `fragments`; no buffer may outlive it. */
async function expectRejected(dispatches: Dispatch[], fragments: (string | number)[], io: PlanIO = { inputs: [], outputs: [] }): Promise<string> {
  const device = await testDevice();
  tracker = trackBuffers(device);
  const msg = await expectWebvitError(() => Plan.compile(device, 'test.plan', dispatches, io), 'BINDING_MISMATCH', fragments);
  expect(tracker.live(), `buffers left by the failed compile: ${tracker.describeLive()}`).toEqual([]);
  expect(await errorScopesEmpty(device), 'error scope left open by the failed compile').toBe(true);
  tracker.restore();
  tracker = undefined;
  return msg;
}

describe('Plan.compile rejects bindings that do not match the WGSL', () => {
  // The control: the unmodified dispatch compiles and computes GELU. Without it, a rejection
  // below could come from a broken fixture rather than from the edit it tests.
  it('control: the unmodified gelu dispatch compiles and runs', async () => {
    const device = await testDevice();
    const seed = freshSeed();
    const x = randn(rng(seed), N, 2);
    const plan = await Plan.compile(device, 'test.plan', [geluDispatch()], { inputs: ['x'], outputs: ['y'] });
    try {
      const out = await plan.run({ x });
      expect(relL2(out.y, geluRef(x)), `seed ${seed}`).toBeLessThanOrEqual(1e-5);
    } finally {
      plan.destroy();
    }
  });

  it('a missing binding', async () => {
    await expectRejected([geluDispatch((d) => delete d.bindings.out)], [LABEL, KERNEL, 'missing binding(s) out', 'declares x, out, params']);
  });

  it('an extra binding', async () => {
    await expectRejected([geluDispatch((d) => (d.bindings.bias = { tensor: 'b', bytes: 4 * N }))], [LABEL, KERNEL, 'unknown binding(s) bias']);
  });

  it('a misspelt binding (one missing, one extra)', async () => {
    await expectRejected(
      [geluDispatch((d) => {
        d.bindings.output = d.bindings.out;
        delete d.bindings.out;
      })],
      [LABEL, KERNEL, 'missing binding(s) out', 'unknown binding(s) output'],
    );
  });

  // Smaller than one vec4<f32> element: Dawn would refuse the bind group (minBindingSize).
  it('a buffer smaller than one WGSL element', async () => {
    await expectRejected([geluDispatch((d) => (d.bindings.x = { tensor: 'x', bytes: 8 }))], [LABEL, KERNEL, 'binding x', 'is 8 bytes', 'at least 16']);
  });

  it('a buffer that is not a whole number of elements', async () => {
    await expectRejected([geluDispatch((d) => (d.bindings.out = { tensor: 'y', bytes: 4 * N + 4 }))], [LABEL, KERNEL, 'binding out', `${4 * N + 4} bytes`, '16-byte elements']);
  });

  it('an explicit buffer slice too small (smaller than one element)', async () => {
    const device = await testDevice();
    const buf = device.createBuffer({ label: 'test.small', size: 16, usage: GPUBufferUsage.STORAGE });
    own.push(buf);
    await expectRejected([geluDispatch((d) => (d.bindings.x = { buffer: buf, offset: 0, size: 4 }))], [LABEL, KERNEL, 'binding x', 'is 4 bytes', 'at least 16']);
  });

  it('a buffer without STORAGE usage', async () => {
    const device = await testDevice();
    const buf = device.createBuffer({ label: 'test.uniform-only', size: 4 * N, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    own.push(buf);
    await expectRejected([geluDispatch((d) => (d.bindings.x = { buffer: buf }))], [LABEL, KERNEL, 'x', 'test.uniform-only', 'STORAGE']);
  });

  // The WGSL only knows element types (a runtime-sized array needs one element); the dispatch
  // states the bytes it touches per binding (Dispatch.sizes), so a 64-byte x for a kernel that
  // reads N elements is refused before the GPU reads past it.
  it('a buffer smaller than the dispatch reads (N elements)', async () => {
    await expectRejected([geluDispatch((x) => (x.bindings.x = { tensor: 'x', bytes: 64 }))], [LABEL, KERNEL, 'binding x', '64 bytes', `${4 * N}`]);
  });

  it('binding the uniform by hand (the runtime owns it)', async () => {
    const device = await testDevice();
    const buf = device.createBuffer({ label: 'test.params', size: 256, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    own.push(buf);
    await expectRejected([geluDispatch((d) => { d.bindings.params = { buffer: buf }; d.sizes.params = 16; })], [LABEL, KERNEL, 'params', 'do not bind it']);
  });

  it('a uniform member the WGSL does not declare', async () => {
    await expectRejected([geluDispatch((d) => (d.uniforms!.stride = 4))], [LABEL, KERNEL, 'unknown uniform member(s) stride', 'params has count, grid_x']);
  });

  it('a uniform member omitted', async () => {
    await expectRejected([geluDispatch((d) => delete d.uniforms!.grid_x)], [LABEL, KERNEL, 'params.grid_x', 'not given']);
  });

  it('no uniform values for a kernel that has a uniform', async () => {
    await expectRejected([geluDispatch((d) => delete d.uniforms)], [LABEL, KERNEL, 'params.count', 'not given']);
  });

  it('a non-finite uniform value', async () => {
    await expectRejected([geluDispatch((d) => (d.uniforms!.count = NaN))], [LABEL, KERNEL, 'params.count', 'NaN']);
  });

  // A negative or fractional count for a u32 member would be wrapped or truncated silently.
  it('a u32 uniform member given a negative value', async () => {
    await expectRejected([geluDispatch((d) => (d.uniforms!.count = -1))], [LABEL, KERNEL, 'params.count', 'u32', '-1']);
  });

  it('uniform values for a kernel whose WGSL has no uniform', async () => {
    const code = /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x < arrayLength(&out)) { out[gid.x] = x[gid.x]; }
}
`;
    const copy: Dispatch = {
      label: 'test.copy',
      source: { kernel: 'test/copy', key: sourceKey('test/copy', {}), code },
      bindings: { x: { tensor: 'x', bytes: 256 }, out: { tensor: 'y', bytes: 256 } },
      uniforms: { count: 64 },
      sizes: { x: 256, out: 256 },
      workgroups: [1, 1, 1],
      flops: 0,
      bytes: 512,
    };
    await expectRejected([copy], ['test.copy', 'test/copy', 'uniform', 'declares no uniform']);
  });

  // One tensor must keep one size: the second dispatch binds y with half the bytes.
  it('a tensor bound with two different sizes', async () => {
    const second = gelu({ label: 'test.gelu2', n: N / 2, x: { tensor: 'y', bytes: 2 * N }, out: { tensor: 'z', bytes: 2 * N } });
    await expectRejected([geluDispatch(), second], ['test.gelu2', 'tensor y', 'bound as x', `${2 * N} bytes`, `${4 * N} bytes`]);
  });

  it('a plan input that no dispatch uses', async () => {
    await expectRejected([geluDispatch()], ['test.plan', 'image', 'not used by any dispatch'], { inputs: ['image'], outputs: ['y'] });
  });

  // After all those failures the device and pipeline cache are fine.
  it('compiles and runs correctly after the failures', async () => {
    const device = await testDevice();
    const x = randn(rng(7), N, 2);
    const plan = await Plan.compile(device, 'test.plan.after', [geluDispatch()], { inputs: ['x'], outputs: ['y'] });
    try {
      expect(relL2((await plan.run({ x })).y, geluRef(x))).toBeLessThanOrEqual(1e-5);
    } finally {
      plan.destroy();
    }
  });
});

describe('assignBuffers (liveness arena)', () => {
  const overlaps = (a: TensorLife, b: TensorLife) => a.first <= b.last && b.first <= a.last;

  // Property: tensors whose lives overlap (inclusive: a dispatch that reads one and writes the
  // other must not get the same buffer) never share one; every buffer holds each of its tenants;
  // and, as greedy placement in order of first use is optimal for intervals, the number of
  // buffers equals the most tensors live at one step.
  it('overlapping lifetimes never share a buffer (random lifetimes, seeded)', () => {
    const seed = freshSeed();
    const rand = rng(seed);
    for (let trial = 0; trial < 500; trial++) {
      const steps = 1 + Math.floor(rand() * 30);
      const count = 1 + Math.floor(rand() * 40);
      const tensors: TensorLife[] = [];
      for (let i = 0; i < count; i++) {
        const first = Math.floor(rand() * (steps + 1)) - 1; // -1: a plan input
        const last = Math.min(steps, first + Math.floor(rand() * rand() * steps)); // steps: a plan output
        const bytes = 4 * (1 + Math.floor(rand() * (rand() < 0.3 ? 4 : 1000)));
        tensors.push({ name: `t${i}`, bytes, first: Math.max(first, -1), last: Math.max(last, first) });
      }
      const where = `seed ${seed} (replay with WEBVIT_SEED=${seed}), trial ${trial}`;
      const a = assignBuffers(tensors);
      expect(a.totalBytes, where).toBe(a.buffers.reduce((s, b) => s + b, 0));
      expect(a.totalBytes, where).toBeLessThanOrEqual(tensors.reduce((s, t) => s + t.bytes, 0));
      for (const t of tensors) {
        const s = a.slot.get(t.name);
        expect(s, `${where}: ${t.name} has no buffer`).toBeTypeOf('number');
        expect(a.buffers[s!], `${where}: ${t.name} (${t.bytes} bytes) in buffer ${s} of ${a.buffers[s!]} bytes`).toBeGreaterThanOrEqual(t.bytes);
      }
      for (let i = 0; i < tensors.length; i++) {
        for (let j = i + 1; j < tensors.length; j++) {
          const [p, q] = [tensors[i], tensors[j]];
          if (overlaps(p, q) && a.slot.get(p.name) === a.slot.get(q.name)) {
            expect.fail(`${where}: ${p.name} [${p.first}, ${p.last}] and ${q.name} [${q.first}, ${q.last}] overlap but share buffer ${a.slot.get(p.name)}`);
          }
        }
      }
      const maxLive = Math.max(...tensors.map((t) => tensors.filter((u) => u.first <= t.first && t.first <= u.last).length));
      expect(a.buffers.length, `${where}: buffers vs most tensors live at once`).toBe(maxLive);
    }
  });

  // Each dispatch reads the previous tensor and writes the next: ping-pong between two buffers.
  it('a chain of same-size tensors uses 2 buffers', () => {
    const chain: TensorLife[] = Array.from({ length: 12 }, (_, i) => ({ name: `t${i}`, bytes: 4096, first: i, last: i + 1 }));
    const a = assignBuffers(chain);
    expect(a.buffers).toEqual([4096, 4096]);
    expect(a.totalBytes).toBe(8192);
    for (let i = 1; i < chain.length; i++) expect(a.slot.get(`t${i}`)).not.toBe(a.slot.get(`t${i - 1}`));
  });

  it('a tensor that dies before it is born is an error naming it', () => {
    expect(() => assignBuffers([{ name: 'bad', bytes: 4, first: 3, last: 2 }])).toThrow(/bad/);
  });

  // On a real graph: the buffer count is that of one block, whatever the depth.
  it('ViT graph: same buffers for 2 and 12 layers', () => {
    const arena = (layers: number) => {
      const c = presetConfig('vit_tiny_patch16_224', { num_layers: layers });
      const g = buildGraph(c, () => ({ buffer: undefined as unknown as GPUBuffer }), { batch: 1, maxWorkgroupStorage: 16384 });
      return assignBuffers([...tensorLifetimes('t', g.dispatches, { inputs: [g.input.tensor], outputs: [g.features.tensor, g.logits!.tensor] }).values()]);
    };
    const [a2, a12] = [arena(2), arena(12)];
    console.log(`vit_tiny arena: ${a12.buffers.length} buffers, ${a12.totalBytes} bytes`);
    expect(a12.buffers).toEqual(a2.buffers);
  });
});
