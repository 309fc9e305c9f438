// Where the wall time of forward() goes beyond the GPU's own time, at one batch size: the input's
// copy and finiteness scan, the upload, an empty submit round trip, the logits readback, next to
// forward() itself and the profiled GPU time. Usage: node bench/gpu/overhead.mjs [MODEL] [BATCH]
// MODEL: ti16, s16, b16, or plumb — a 224-px ViT one layer deep and 32 wide: ViT-B's input and
// logits with almost no GPU work, to measure the CPU side of forward() on a CPU adapter.
// WEBVIT_KIT=DIR loads DIR/dist/node.js instead of this checkout's (an A/B against another build).
const lib = await import(process.env.WEBVIT_KIT ? `${process.env.WEBVIT_KIT}/dist/node.js` : '../../dist/node.js');
const which = process.argv[2] ?? 'ti16';
const preset = { ti16: 'vit_tiny_patch16_224', s16: 'vit_small_patch16_224', b16: 'vit_base_patch16_224', plumb: 'vit_tiny_patch16_224' }[which];
const batch = Number(process.argv[3] ?? 32);
const device = await lib.getNodeDevice();
const config = lib.presetConfig(preset, which === 'plumb' ? { hidden_size: 32, mlp_size: 64, num_layers: 1, num_heads: 2 } : {});
const shape = lib.shapeOf(config);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = async (f, n = 15) => {
  await f();
  const t = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await f();
    t.push(performance.now() - t0);
  }
  return median(t);
};
// Weights: zeros are fine for timing the plumbing (not the kernels) — but use small random values.
const tensors = new Map();
for (const [name, s] of lib.expectedTensors(config)) tensors.set(name, Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, i) => 0.02 * Math.sin(i)));
const model = await lib.ViTModel.fromWeights(device, { config, tensors }, { batch, tune: false });
const input = new Float32Array(batch * shape.imageValues).map((_, i) => Math.sin(i));
const out = {};
// First right after load (the GPU idle before: clocks may be low), then after 2 s of back-to-back
// forwards (a hypothesis for ViT-B batch 1 taking 29 ms here against 7.7 ms in `bench model`, which
// times after tuning has kept the card busy).
out.forwardColdMs = await time(() => model.forward(input, { batch }));
for (const t0 = performance.now(); performance.now() - t0 < 2000; ) await model.forward(input, { batch });
out.forwardMs = await time(() => model.forward(input, { batch }));
// forward() in phases: until its submit (input checks, copy, upload, encoding), from the submit
// until the readback's mapAsync resolves (the GPU, plus how soon Dawn reports it), and the rest.
let tSubmit = 0;
let tMapped = 0;
const queue = device.queue;
const submit = queue.submit.bind(queue);
queue.submit = (cbs) => {
  tSubmit = performance.now();
  return submit(cbs);
};
const probe = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ });
const proto = Object.getPrototypeOf(probe);
const mapAsync = proto.mapAsync;
proto.mapAsync = function (...args) {
  return mapAsync.apply(this, args).then((v) => {
    tMapped = performance.now();
    return v;
  });
};
// Garbage collections during those forwards: dawn.node polls for GPU completion while a map or
// onSubmittedWorkDone is pending, allocating as it goes (on lavapipe ~20 MB of heap during a
// 0.7 s wait, scavenges of 10-20 ms and mark-compacts of 20-37 ms every few hundred ms), so a
// collection can land inside a forward's wall time.
const { PerformanceObserver } = await import('node:perf_hooks');
const gcs = [];
const observer = new PerformanceObserver((list) => gcs.push(...list.getEntries().map((e) => e.duration)));
observer.observe({ entryTypes: ['gc'] });
const phases = { pre: [], wait: [], post: [] };
const tPhases = performance.now();
for (let i = 0; i < 16; i++) {
  const t0 = performance.now();
  await model.forward(input, { batch });
  const t1 = performance.now();
  if (i === 0) continue;
  phases.pre.push(tSubmit - t0);
  phases.wait.push(tMapped - tSubmit);
  phases.post.push(t1 - tMapped);
}
const phasesMs = performance.now() - tPhases;
await new Promise((r) => setTimeout(r, 10)); // let the observer deliver
observer.disconnect();
out.gcCount = gcs.length;
out.gcMsPerSecond = (1000 * gcs.reduce((a, b) => a + b, 0)) / phasesMs;
out.gcMaxMs = gcs.length ? Math.max(...gcs) : 0;
proto.mapAsync = mapAsync;
queue.submit = submit;
out.preSubmitMs = median(phases.pre);
out.submitToMappedMs = median(phases.wait);
out.afterMapMs = median(phases.post);
out.gpuMs = (await model.profile(input, { batch })).totalMs;
out.copyMs = await time(async () => input.slice());
out.scanMs = await time(async () => {
  let s = 0;
  for (let i = 0; i < input.length; i++) s += input[i] * 0;
  return s;
});
const buf = device.createBuffer({ size: input.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
out.writeBufferMs = await time(async () => {
  device.queue.writeBuffer(buf, 0, input);
  await device.queue.onSubmittedWorkDone();
});
out.emptySubmitMs = await time(async () => {
  device.queue.submit([device.createCommandEncoder().finish()]);
  await device.queue.onSubmittedWorkDone();
});
const rb = device.createBuffer({ size: batch * 1000 * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
const src = device.createBuffer({ size: batch * 1000 * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
out.readbackMs = await time(async () => {
  const e = device.createCommandEncoder();
  e.copyBufferToBuffer(src, 0, rb, 0, rb.size);
  device.queue.submit([e.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  new Float32Array(rb.getMappedRange()).slice();
  rb.unmap();
});
console.log(JSON.stringify({ model: which, kit: process.env.WEBVIT_KIT ?? '.', batch, inputMB: input.byteLength / 1e6, ...Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Number(v.toFixed(3))])) }));
await model.dispose();
device.destroy();
process.exit(0);
