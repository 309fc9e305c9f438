import { checkDeviceFacts } from '../errors.js';

/** A buffer range to bind: a whole buffer, or a slice of one (the activation arena hands out slices). */
export interface BufferSlice {
  buffer: GPUBuffer;
  offset?: number;
  size?: number;
}

/**
 * What a kernel variant produces for one dispatch: WGSL generated from typed parameters, a cache
 * key derived from the same parameters, the buffers to bind by WGSL name, the uniform values by
 * member name, and the grid. The runtime reflects the WGSL and checks the bindings against it.
 */
export interface KernelSource {
  /** `op/variant`, e.g. `matmul/tiled_vec4`. */
  kernel: string;
  /** Cache key: covers everything that changes the generated code. */
  key: string;
  code: string;
  /** Awaited before `code` is read, where the WGSL's builder loads later (src/kernels/matmul/variants.ts, LATER). */
  ready?: () => Promise<unknown>;
}

/** An activation tensor of a plan, placed in a buffer by the runtime's liveness allocator. */
export interface TensorRef {
  tensor: string;
  bytes: number;
}

export type Binding = BufferSlice | TensorRef;

/**
 * Which op and variant a dispatch runs, on what problem: set by the op's dispatch builder, so that
 * the tuner, the benchmark and the forced-choice checks read the problems straight off a graph.
 */
export interface OpNode {
  /** The op's name in the registry: `matmul`. */
  name: string;
  /** The variant this dispatch runs: `tiled_32x64` (its kernel is `matmul/tiled_32x64`). */
  variant: string;
  /** The problem as the op's definition reads it (src/kernels/<op>/definition.ts): `{ M, K, N, ... }`. */
  shape: object;
  /** The same dispatch (label, bindings, shape) with another variant of the op. */
  withVariant(variant: string): Dispatch;
}

export interface Dispatch {
  /** Op and layer: `block3.mlp.fc1`. Labels every GPU object made for this dispatch. */
  label: string;
  source: KernelSource;
  /** The op node this dispatch was built for (absent for ad-hoc kernels such as the benchmark's copy). */
  op?: OpNode;
  bindings: Record<string, Binding>;
  uniforms?: Record<string, number>;
  /**
   * Bytes each binding must hold for this dispatch's shapes. The WGSL only knows element types,
   * so this is what catches a buffer too small for the problem before the GPU reads past it.
   */
  sizes: Record<string, number>;
  workgroups: [number, number, number];
  /** Work done, for roofline numbers in the profiler: floating-point ops and bytes moved. */
  flops: number;
  bytes: number;
}

export function isTensorRef(b: Binding): b is TensorRef {
  return (b as TensorRef).tensor !== undefined;
}

export const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

/**
 * The KernelSource of variant `variant` of op `op`: named `op/variant` exactly as in the registry
 * (pipeline labels, profiles, errors), keyed by that name and the parameters the code was made from.
 */
export function variantSource(op: string, variant: string, params: object, code: string | (() => string), ready?: () => Promise<unknown>): KernelSource {
  const kernel = `${op}/${variant}`;
  const s = { kernel, key: sourceKey(kernel, params), ready } as KernelSource;
  // A builder that loads later runs when the WGSL is first read (after `ready`).
  if (typeof code == 'string') s.code = code;
  else
    Object.defineProperty(s, 'code', {
      get: () => (Object.defineProperty(s, 'code', { value: code(), enumerable: true }), s.code),
      enumerable: true,
      configurable: true,
    });
  return s;
}

/** Makes a cache key from a kernel name and the parameters its WGSL is generated from. */
export function sourceKey(kernel: string, params: object): string {
  const entries = Object.entries(params).sort(([a], [b]) => a.localeCompare(b));
  return `${kernel}{${entries.map(([k, v]) => `${k}=${String(v)}`).join(',')}}`;
}

/** Splits a 1-D grid over x and y when it exceeds the per-dimension limit (65535 by default). */
export function grid1d(count: number, maxPerDim = 65535): [number, number, number] {
  if (count <= maxPerDim) return [Math.max(1, count), 1, 1];
  return [maxPerDim, ceilDiv(count, maxPerDim), 1];
}

/** What a kernel variant needs from the device beyond core WebGPU. */
export interface VariantNeeds {
  /** Device features, e.g. 'subgroups' (all of them when a list). */
  requires?: GPUFeatureName | readonly GPUFeatureName[];
  /** The smallest subgroup size the variant works with (its subgroupBroadcast lanes). */
  minSubgroupSize?: number;
  /** Subgroups of exactly this many invocations (subgroupMinSize = subgroupMaxSize = it). */
  subgroupSize?: number;
  /** A subgroup-matrix configuration the adapter must list (GPUAdapterInfo.subgroupMatrixConfigs). */
  subgroupMatrix?: SubgroupMatrixConfig;
  /** Bytes of workgroup memory (above WebGPU's default 16 KiB the device must have been given more). */
  workgroupStorage?: number;
  /**
   * 'f16': rounds its operands to half precision (f32 accumulation). Such a variant is only a
   * candidate for a model loaded with `precision: 'f16'`, and is held to `F16_TOL`, not the op's
   * float32 tolerance.
   */
  precision?: 'f16';
}

/** One entry of GPUAdapterInfo.subgroupMatrixConfigs (Dawn's chromium-experimental-subgroup-matrix). */
export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

/**
 * The adapter's subgroup-matrix configurations per device. Dawn lists them on the adapter's info,
 * while a device's `adapterInfo` may carry an empty list (dawn.node, 2026-11), so the code that
 * requests a device records them here (src/runtime/device.ts).
 */
const matrixConfigs = new WeakMap<GPUDevice, readonly SubgroupMatrixConfig[]>();

export function rememberSubgroupMatrixConfigs(device: GPUDevice, configs: readonly SubgroupMatrixConfig[] | undefined): void {
  if (configs) matrixConfigs.set(device, [...configs].map((c) => ({ componentType: c.componentType, resultComponentType: c.resultComponentType, M: c.M, N: c.N, K: c.K })));
}

/** The configurations recorded at device creation, else the device's own adapterInfo's, else undefined (unknown). */
function subgroupMatrixConfigsOf(device: GPUDevice): readonly SubgroupMatrixConfig[] | undefined {
  const recorded = matrixConfigs.get(device);
  if (recorded?.length) return recorded;
  const own = (device as GPUDevice & { adapterInfo?: { subgroupMatrixConfigs?: readonly SubgroupMatrixConfig[] } }).adapterInfo?.subgroupMatrixConfigs;
  return own?.length ? own : recorded ?? own;
}

/**
 * Relative L2 error allowed to a `precision: 'f16'` variant against float64: operands rounded to
 * f16 carry 2^-11 ≈ 4.9e-4 relative error each, so a dot product's error is about 7e-4 of the
 * output scale whatever K is (the f32 accumulation adds nothing comparable); 2e-3 leaves margin,
 * while an indexing or masking mistake gives errors of order 1.
 */
export const F16_TOL = 2e-3;

/** The tolerance a variant is held to: F16_TOL for f16 variants, else the op's. */
export const variantTol = (opTol: number, v: VariantNeeds): number => (v.precision === 'f16' ? Math.max(opTol, F16_TOL) : opTol);

/**
 * Whether the adapter is a CPU implementation of Vulkan/WebGPU (lavapipe, SwiftShader, WARP):
 * WebGPU's fallback adapter, or one that says it is software. Ops choose their adapter defaults by it.
 */
export function isCpuAdapter(device: GPUDevice): boolean {
  checkDeviceFacts(device, 'isCpuAdapter');
  const info = (device as GPUDevice & { adapterInfo?: Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean } }).adapterInfo;
  if (!info) return false;
  if (info.isFallbackAdapter) return true;
  const text = `${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`;
  return /\b(software|llvmpipe|lavapipe|swiftshader|warp)\b/i.test(text);
}

/**
 * Why `device` cannot run a variant with these needs, or undefined when it can. Variants that
 * cannot run are skipped by the tests, the benchmark and the tuner, never failed.
 */
export function unavailableReason(device: GPUDevice, needs: VariantNeeds): string | undefined {
  const features = needs.requires === undefined ? [] : typeof needs.requires === 'string' ? [needs.requires] : needs.requires;
  for (const f of features) if (!device.features.has(f)) return `the device lacks the '${f}' feature`;
  const info = (device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number; subgroupMaxSize?: number } }).adapterInfo;
  if (needs.subgroupSize) {
    if (info?.subgroupMinSize !== needs.subgroupSize || info?.subgroupMaxSize !== needs.subgroupSize) {
      return `it needs subgroups of exactly ${needs.subgroupSize} invocations; this device's are ${info?.subgroupMinSize ?? '?'}–${info?.subgroupMaxSize ?? '?'}`;
    }
  }
  if (needs.subgroupMatrix) {
    const m = needs.subgroupMatrix;
    // A device whose configurations nobody recorded (a device the app made itself, on a Dawn whose
    // device info lists none) is given the benefit of the doubt: the feature is there, and a
    // pipeline it cannot build is skipped by its caller.
    const configs = subgroupMatrixConfigsOf(device);
    const ok = configs === undefined || configs.length === 0 || configs.some((c) => c.componentType === m.componentType && c.resultComponentType === m.resultComponentType && c.M === m.M && c.N === m.N && c.K === m.K);
    if (!ok) return `the adapter lists no ${m.componentType}→${m.resultComponentType} ${m.M}×${m.N}×${m.K} subgroup-matrix configuration`;
  }
  if (needs.workgroupStorage && needs.workgroupStorage > device.limits.maxComputeWorkgroupStorageSize) {
    return `it needs ${needs.workgroupStorage} bytes of workgroup memory; this device allows ${device.limits.maxComputeWorkgroupStorageSize}`;
  }
  if (needs.minSubgroupSize) {
    // GPUAdapterInfo.subgroupMinSize (WebGPU subgroups); without it assume the spec's minimum, 4.
    const min = info?.subgroupMinSize ?? 4;
    if (min < needs.minSubgroupSize) return `it needs subgroups of at least ${needs.minSubgroupSize} invocations; this device's can be as small as ${min}`;
  }
  return undefined;
}
