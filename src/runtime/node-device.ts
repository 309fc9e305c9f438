import { createRequire } from 'node:module';
import { requestDeviceFrom, type DeviceOptions } from './device.js';
import { WebvitError } from './errors.js';

const HINT =
  'In Node webvit uses Dawn (npm `webgpu`) over Vulkan. On a machine without a GPU install a CPU Vulkan ' +
  'driver: `bash scripts/setup-system.sh` (Debian 12: libvulkan1 and mesa-vulkan-drivers from bookworm-backports, ' +
  'i.e. lavapipe from Mesa 25). With a GPU, install its Vulkan driver.';

let gpuSingleton: GPU | undefined;

/** Node entry: a device from Dawn (npm `webgpu`). */
export async function getNodeDevice(options: DeviceOptions = {}): Promise<GPUDevice> {
  if (!gpuSingleton) {
    let mod: { create: (opts: string[]) => GPU; globals: Record<string, unknown> };
    try {
      const require = createRequire(import.meta.url);
      mod = require('webgpu');
    } catch (e) {
      throw new WebvitError('NO_WEBGPU', `Could not load the npm package \`webgpu\` (Dawn for Node): ${(e as Error).message}. Run \`npm ci\`. ${HINT}`);
    }
    Object.assign(globalThis, mod.globals); // GPUBufferUsage, GPUMapMode, ...
    // Full-resolution GPU timestamps for profile(): Dawn quantizes them by default.
    gpuSingleton = mod.create(['disable-dawn-features=timestamp_quantization']);
  }
  return requestDeviceFrom(gpuSingleton, options, HINT);
}
