import { createRequire } from 'node:module';
import { requestDeviceFrom, type DeviceOptions } from './device.js';
import { markPollingDevice } from './waiting.js';
import { WebvitError } from './errors.js';

const HINT =
  'In Node webvit uses Dawn (npm `webgpu`) over Vulkan. On a machine without a GPU install a CPU Vulkan ' +
  'driver: `bash scripts/setup-system.sh` (Debian 12: libvulkan1 and mesa-vulkan-drivers from bookworm-backports, ' +
  'i.e. lavapipe from Mesa 25). With a GPU, install its Vulkan driver.';

export interface NodeDeviceOptions extends DeviceOptions {
  /**
   * Options for Dawn's instance, as dawn.node takes them: `key=value` strings such as
   * `enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia` (what an NVIDIA GPU needs
   * for shader-f16 and subgroup matrices). Default: the environment's `WEBVIT_DAWN_FLAGS`
   * (flags separated by spaces), else none. webvit always adds
   * `disable-dawn-features=timestamp_quantization` (full-resolution GPU timestamps for profiles).
   */
  dawnFlags?: string[];
}

/** One Dawn instance per distinct set of flags (an instance's flags are fixed when it is made). */
const instances = new Map<string, GPU>();

const FLAG = /^[a-z][a-z0-9-]*=[A-Za-z0-9_,.-]*$/;

/** Dawn's instance options: webvit's own merged with the caller's (values of the same key joined). */
export function dawnInstanceFlags(flags: string[] = envFlags()): string[] {
  const byKey = new Map<string, string[]>([['disable-dawn-features', ['timestamp_quantization']]]);
  for (const f of flags) {
    if (!FLAG.test(f)) {
      throw new WebvitError('BAD_ARGUMENT', `Dawn flag "${f}" is not key=value (e.g. enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia); flags are separated by spaces in WEBVIT_DAWN_FLAGS and --dawn-flags`);
    }
    const [key, value] = [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)];
    const values = byKey.get(key) ?? [];
    for (const v of value.split(',').filter(Boolean)) if (!values.includes(v)) values.push(v);
    byKey.set(key, values);
  }
  return [...byKey].map(([k, v]) => `${k}=${v.join(',')}`);
}

function envFlags(): string[] {
  return (process.env.WEBVIT_DAWN_FLAGS ?? '').split(/\s+/).filter(Boolean);
}

/** Node entry: a device from Dawn (npm `webgpu`). */
export async function getNodeDevice(options: NodeDeviceOptions = {}): Promise<GPUDevice> {
  const flags = dawnInstanceFlags(options.dawnFlags ?? envFlags());
  const key = flags.join(' ');
  let gpu = instances.get(key);
  if (!gpu) {
    let mod: { create: (opts: string[]) => GPU; globals: Record<string, unknown> };
    try {
      const require = createRequire(import.meta.url);
      mod = require('webgpu');
    } catch (e) {
      throw new WebvitError('NO_WEBGPU', `Could not load the npm package \`webgpu\` (Dawn for Node): ${(e as Error).message}. Run \`npm ci\`. ${HINT}`);
    }
    Object.assign(globalThis, mod.globals); // GPUBufferUsage, GPUMapMode, ...
    gpu = mod.create(flags);
    instances.set(key, gpu);
  }
  const device = await requestDeviceFrom(gpu, options, HINT);
  // Dawn for Node polls for completions while a wait is pending: plans sleep through most of a
  // long run instead (src/runtime/waiting.ts). WEBVIT_WAIT=poll keeps the plain wait (an A/B switch).
  if (process.env.WEBVIT_WAIT !== 'poll') markPollingDevice(device);
  return device;
}
