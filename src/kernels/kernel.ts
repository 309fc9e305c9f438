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
export function variantSource(op: string, variant: string, params: object, code: string): KernelSource {
  const kernel = `${op}/${variant}`;
  return { kernel, key: sourceKey(kernel, params), code };
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
  /** A device feature, e.g. 'subgroups'. */
  requires?: GPUFeatureName;
  /** The smallest subgroup size the variant works with (its subgroupBroadcast lanes). */
  minSubgroupSize?: number;
}

/**
 * Whether the adapter is a CPU implementation of Vulkan/WebGPU (lavapipe, SwiftShader, WARP):
 * WebGPU's fallback adapter, or one that says it is software. Ops choose their adapter defaults by it.
 */
export function isCpuAdapter(device: GPUDevice): boolean {
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
  if (needs.requires && !device.features.has(needs.requires)) return `the device lacks the '${needs.requires}' feature`;
  if (needs.minSubgroupSize) {
    // GPUAdapterInfo.subgroupMinSize (WebGPU subgroups); without it assume the spec's minimum, 4.
    const info = (device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number } }).adapterInfo;
    const min = info?.subgroupMinSize ?? 4;
    if (min < needs.minSubgroupSize) return `it needs subgroups of at least ${needs.minSubgroupSize} invocations; this device's can be as small as ${min}`;
  }
  return undefined;
}
