// Prints what a WebGPU adapter offers under each set of Dawn instance flags that webvit's GPU paths
// use: features, subgroup sizes, subgroup-matrix configurations, a few limits. Run with the webgpu
// package the CLI uses: `node bench/gpu/features.mjs` (or through .gpukit/run.sh on a GPU host).
import { createRequire } from 'node:module';

const require = createRequire(process.env.WEBVIT_KIT ? `${process.env.WEBVIT_KIT}/package.json` : import.meta.url);
const { create } = require('webgpu');
const FLAG_SETS = [[], ['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia']];
for (const flags of FLAG_SETS) {
  const adapter = await create(flags).requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    console.log(JSON.stringify({ flags, adapter: null }));
    continue;
  }
  const i = adapter.info;
  console.log(JSON.stringify({
    flags,
    adapter: `${i.vendor} ${i.architecture} ${i.device} ${i.description}`,
    subgroupMinSize: i.subgroupMinSize,
    subgroupMaxSize: i.subgroupMaxSize,
    features: [...adapter.features].sort(),
    subgroupMatrixConfigs: (i.subgroupMatrixConfigs ?? []).map((c) => `${c.componentType}->${c.resultComponentType} M${c.M} N${c.N} K${c.K}`),
    maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
  }));
  // What a device made with every feature sees (webvit reads adapterInfo off the device).
  const device = await adapter.requestDevice({ requiredFeatures: [...adapter.features] });
  console.log(JSON.stringify({ flags, deviceSubgroupMatrixConfigs: device.adapterInfo?.subgroupMatrixConfigs?.length ?? 'absent', deviceSubgroupMinMax: [device.adapterInfo?.subgroupMinSize, device.adapterInfo?.subgroupMaxSize] }));
  device.destroy();
}
process.exit(0);
