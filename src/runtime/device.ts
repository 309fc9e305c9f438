import { checkDevice, checkDeviceFacts, WebvitError } from './errors.js';
import { rememberSubgroupMatrixConfigs, type SubgroupMatrixConfig } from '../kernels/kernel.js';

/** What a webvit device offers beyond the core spec, decided once when it is created. */
export interface DeviceFeatures {
  timestampQuery: boolean;
  subgroups: boolean;
  shaderF16: boolean;
}

export interface DeviceOptions {
  /** Ask for a low-power adapter instead of the default high-performance one. */
  powerPreference?: GPUPowerPreference;
  /** Leave out optional features even when the adapter has them (useful for testing fallbacks). */
  disableFeatures?: GPUFeatureName[];
}

// chromium-experimental-subgroup-matrix: Dawn's tensor-core path (offered on NVIDIA with the Dawn
// flags in README's "GPU" section), used only by `precision: 'f16'` models.
const OPTIONAL_FEATURES = ['timestamp-query', 'subgroups', 'shader-f16', 'chromium-experimental-subgroup-matrix'] as GPUFeatureName[];

/**
 * Limits a ViT forward pass may push past the WebGPU defaults: large activation buffers
 * (batch 32 of ViT-B/16 holds 77 MB in one MLP activation) and workgroup memory for the
 * attention and matmul tiles. We ask for whatever the adapter allows; kernels size their tiles
 * from `device.limits`, and a model checks its own needs against them before it allocates.
 */
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
] as const;

export function featuresOf(device: GPUDevice): DeviceFeatures {
  checkDeviceFacts(device, 'featuresOf');
  return {
    timestampQuery: device.features.has('timestamp-query'),
    subgroups: device.features.has('subgroups'),
    shaderF16: device.features.has('shader-f16'),
  };
}

/**
 * Returns a ready GPUDevice from a `GPU` object (navigator.gpu in a browser, Dawn in Node).
 * `installHint` is appended to the error when no adapter is found.
 */
export async function requestDeviceFrom(
  gpu: GPU | undefined,
  options: DeviceOptions = {},
  installHint = 'Use a browser with WebGPU enabled (Chrome/Edge 113+, or Firefox/Safari with WebGPU turned on).',
): Promise<GPUDevice> {
  if (!gpu) {
    throw new WebvitError('NO_WEBGPU', `WebGPU is not available here (no navigator.gpu). ${installHint}`);
  }
  let adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  // CPU implementations (lavapipe, SwiftShader) may only be offered as fallback adapters.
  adapter ??= await gpu.requestAdapter({ forceFallbackAdapter: true });
  if (!adapter) {
    throw new WebvitError('NO_ADAPTER', `WebGPU found no adapter. ${installHint}`);
  }
  const disabled = new Set(options.disableFeatures ?? []);
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !disabled.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const device = await adapter.requestDevice({
    label: 'webvit',
    requiredFeatures,
    requiredLimits,
  });
  rememberSubgroupMatrixConfigs(device, (adapter.info as GPUAdapterInfo & { subgroupMatrixConfigs?: readonly SubgroupMatrixConfig[] }).subgroupMatrixConfigs);
  device.lost.then((info) => {
    if (info.reason !== 'destroyed') console.error(`webvit: GPU device lost: ${info.message}`);
  });
  return device;
}

export { checkDevice } from './errors.js';

/** Where getDevice() finds a device when there is no navigator.gpu: Dawn, set by the Node entry (src/node.ts). */
let fallback: ((options: DeviceOptions) => Promise<GPUDevice>) | undefined;
export const setDeviceFallback = (f: typeof fallback): void => void (fallback = f);

/** A device from navigator.gpu; in Node (the 'webvit' Node entry) from Dawn, as getNodeDevice() gives. */
export async function getDevice(options: DeviceOptions = {}): Promise<GPUDevice> {
  const gpu = typeof navigator !== 'undefined' ? (navigator as Navigator).gpu : undefined;
  if (!gpu && fallback) return fallback(options);
  if (!gpu && isNode()) {
    throw new WebvitError('NO_WEBGPU', "getDevice() uses the browser's navigator.gpu, which Node does not have. In Node use getNodeDevice() from 'webvit' (WebGPU through Dawn, npm `webgpu`).");
  }
  return requestDeviceFrom(gpu, options);
}

const isNode = (): boolean => typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/** The adapter behind a device, as one line and as a stable id for caches and result files. */
export function adapterIdentity(device: GPUDevice): { description: string; id: string } {
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const parts = info ? [info.vendor, info.architecture, info.device, info.description].filter(Boolean) : [];
  const description = parts.length ? parts.join(' / ') : 'unknown adapter';
  const short = info ? [info.vendor, info.device || info.architecture].filter(Boolean).join('-') : '';
  const id = short.toLowerCase().replace(/[^a-z0-9.]+/g, '-').replace(/^-|-$/g, '').slice(0, 48) || 'unknown';
  return { description, id };
}
