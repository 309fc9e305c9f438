import { createRequire } from 'node:module';
import { requestDeviceFrom, type DeviceOptions } from './device.js';
import { markPollingDevice } from './waiting.js';
import { checkOptionKeys, clip, WebvitError } from './errors.js';

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

/**
 * The instance options dawn.node reads (node_modules/webgpu/README.md; `dlldir` is Windows-only).
 * Any other key was ignored without a word, so a typo (`enable-dawn-feature=`) silently did nothing.
 */
const DAWN_KEYS: Record<string, string> = {
  'enable-dawn-features': 'toggles to turn on',
  'disable-dawn-features': 'toggles to turn off',
  backend: 'one backend',
  adapter: 'part of an adapter name',
};
/**
 * dawn.node's backends, less `null`: that one computes nothing (every output is undefined), so a
 * valid image would be blamed for it.
 */
const DAWN_BACKENDS = ['vulkan', 'metal', 'd3d12', 'd3d11', 'opengl', 'opengles', 'webgpu'];

/** Dawn's instance options: webvit's own merged with the caller's (values of the same key joined). */
export function dawnInstanceFlags(flags: string[] = envFlags()): string[] {
  const byKey = new Map<string, string[]>([['disable-dawn-features', ['timestamp_quantization']]]);
  for (const f of flags) {
    if (!FLAG.test(f)) {
      throw new WebvitError('BAD_ARGUMENT', `Dawn flag "${clip(f, 80)}" is not key=value (e.g. enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia); flags are separated by spaces in WEBVIT_DAWN_FLAGS and --dawn-flags`);
    }
    const [key, value] = [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)];
    if (!Object.hasOwn(DAWN_KEYS, key)) {
      throw new WebvitError('BAD_ARGUMENT', `Dawn flag "${clip(f, 80)}": unknown key "${clip(key, 40)}"; the keys are ${Object.entries(DAWN_KEYS).map(([k, what]) => `${k} (${what})`).join(', ')}`);
    }
    const values = byKey.get(key) ?? [];
    for (const v of value.split(',').filter(Boolean)) if (!values.includes(v)) values.push(v);
    if (key === 'backend' || key === 'adapter') {
      if (values.length !== 1) throw new WebvitError('BAD_ARGUMENT', `Dawn flag "${clip(f, 80)}": ${key} takes one value${values.length > 1 ? `, got ${clip(values.join(', '), 80)}` : ''}`);
      if (key === 'backend' && values[0] === 'null') {
        throw new WebvitError('BAD_ARGUMENT', `Dawn flag "${f}": the null backend computes nothing (every result would be undefined); use one of ${DAWN_BACKENDS.join(', ')}, or leave backend out`);
      }
      if (key === 'backend' && !DAWN_BACKENDS.includes(values[0])) {
        throw new WebvitError('BAD_ARGUMENT', `Dawn flag "${clip(f, 80)}": unknown backend "${clip(values[0], 40)}"; the backends are ${DAWN_BACKENDS.join(', ')}`);
      }
    }
    byKey.set(key, values);
  }
  return [...byKey].map(([k, v]) => `${k}=${v.join(',')}`);
}

function envFlags(): string[] {
  return (process.env.WEBVIT_DAWN_FLAGS ?? '').split(/\s+/).filter(Boolean);
}

/** Node entry: a device from Dawn (npm `webgpu`). */
export async function getNodeDevice(options: NodeDeviceOptions = {}): Promise<GPUDevice> {
  checkOptionKeys(options, ['dawnFlags', 'powerPreference', 'disableFeatures'], 'getNodeDevice');
  const df = options.dawnFlags;
  if (df !== undefined && !(Array.isArray(df) && df.every((f) => typeof f === 'string'))) throw new WebvitError('BAD_ARGUMENT', 'getNodeDevice: dawnFlags must be an array of strings, e.g. ["enable-dawn-features=allow_unsafe_apis"]');
  const pp = options.powerPreference;
  if (pp !== undefined && pp !== 'low-power' && pp !== 'high-performance') throw new WebvitError('BAD_ARGUMENT', `getNodeDevice: powerPreference must be 'low-power' or 'high-performance', got ${clip(String(pp))}`);
  const flags = dawnInstanceFlags(options.dawnFlags ?? envFlags());
  const key = flags.join(' ');
  let gpu = instances.get(key);
  if (!gpu) {
    let mod: { create: (opts: string[]) => GPU; globals: Record<string, unknown> };
    try {
      const require = createRequire(import.meta.url);
      mod = require('webgpu');
    } catch (e) {
      // An optional peer dependency of webvit (docs/packaging.md): a browser app never installs its 130 MB.
      const missing = (e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND';
      throw new WebvitError(
        'NO_WEBGPU',
        missing
          ? `webvit runs WebGPU in Node through Dawn, the npm package \`webgpu\`, which is not installed (an optional peer dependency: browser apps do not need it): \`npm install webgpu\`. ${HINT}`
          : `Could not load the npm package \`webgpu\` (Dawn for Node): ${clip((e as Error).message)}. Reinstall it (\`npm install webgpu\`). ${HINT}`,
        { cause: e },
      );
    }
    Object.assign(globalThis, mod.globals); // GPUBufferUsage, GPUMapMode, ...
    gpu = mod.create(flags);
    instances.set(key, gpu);
  }
  let device: GPUDevice;
  try {
    device = await requestDeviceFrom(gpu, options, HINT);
  } catch (e) {
    // Dawn refuses flags it cannot meet (a backend not built in, an adapter name that matches
    // none) with a plain Error, several lines long: one line naming the flags instead.
    const given = flags.filter((f) => f !== 'disable-dawn-features=timestamp_quantization');
    if (given.length === 0 || (e instanceof WebvitError && e.code !== 'NO_ADAPTER')) throw e;
    const why = e instanceof WebvitError ? 'Dawn offered none' : ((e as Error)?.message ?? String(e)).split('\n').map((l) => l.trim().replace(/^\* /, '')).filter(Boolean).join(' ').replace(/(found) (Available)/, '$1; $2');
    throw new WebvitError('NO_ADAPTER', `no WebGPU adapter with the Dawn flags "${clip(given.join(' '), 200)}" (${clip(why, 400)}): change or drop them (--dawn-flags, WEBVIT_DAWN_FLAGS)`);
  }
  // Dawn for Node polls for completions while a wait is pending: plans sleep through most of a
  // long run instead (src/runtime/waiting.ts). WEBVIT_WAIT=poll keeps the plain wait (an A/B switch).
  if (process.env.WEBVIT_WAIT !== 'poll') markPollingDevice(device);
  return device;
}
