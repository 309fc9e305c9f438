import type { KernelSource } from '../kernels/kernel.js';
import { WebvitError } from './errors.js';
import { createBindGroupLayout, reflectShader, type ShaderInfo } from './shader.js';

export interface CompiledKernel {
  source: KernelSource;
  info: ShaderInfo;
  layout: GPUBindGroupLayout;
  pipeline: GPUComputePipeline;
}

const debugWgsl = (): boolean =>
  typeof process !== 'undefined' && /\bwgsl\b/.test(process.env?.WEBVIT_DEBUG ?? '');

/**
 * Compiles each distinct kernel source once per device. Pipelines are made with
 * createComputePipelineAsync so that many compile in parallel at load and the first forward pass
 * never waits on the shader compiler. Keys come from the same typed parameters as the WGSL.
 */
export class PipelineCache {
  private readonly compiled = new Map<string, Promise<CompiledKernel>>();
  /** Keys of kernels that have run at least once on this device (see Plan's warm-up). */
  private readonly ran = new Set<string>();
  constructor(readonly device: GPUDevice) {}

  /** Whether a kernel has been dispatched on this device (so a CPU driver has compiled it). */
  hasRun(key: string): boolean {
    return this.ran.has(key);
  }

  markRun(key: string): void {
    this.ran.add(key);
  }

  get(source: KernelSource): Promise<CompiledKernel> {
    let p = this.compiled.get(source.key);
    if (!p) {
      p = this.compile(source);
      this.compiled.set(source.key, p);
      p.catch(() => this.compiled.delete(source.key));
    }
    return p;
  }

  get size(): number {
    return this.compiled.size;
  }

  private async compile(source: KernelSource): Promise<CompiledKernel> {
    await source.ready?.();
    const info = reflectShader(source.kernel, source.code);
    if (debugWgsl()) console.error(`// ---- ${source.key}\n${source.code}`);
    const device = this.device;
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ label: source.kernel, code: source.code });
    const layout = createBindGroupLayout(device, info);
    const pipelineLayout = device.createPipelineLayout({ label: `${source.kernel}.pipelineLayout`, bindGroupLayouts: [layout] });
    const scopeError = await device.popErrorScope();
    if (scopeError) {
      const messages = await compilationMessages(module);
      throw new WebvitError('SHADER', `${source.kernel}: shader module failed validation: ${scopeError.message}${messages}`);
    }
    try {
      const pipeline = await device.createComputePipelineAsync({
        label: source.kernel,
        layout: pipelineLayout,
        compute: { module, entryPoint: info.entryPoint },
      });
      return { source, info, layout, pipeline };
    } catch (e) {
      const messages = await compilationMessages(module);
      throw new WebvitError('SHADER', `${source.kernel}: pipeline creation failed: ${(e as Error).message}${messages}\n(set WEBVIT_DEBUG=wgsl to print the WGSL)`, { cause: e });
    }
  }
}

async function compilationMessages(module: GPUShaderModule): Promise<string> {
  try {
    const info = await module.getCompilationInfo();
    const lines = info.messages.map((m) => `\n  ${m.type} at ${m.lineNum}:${m.linePos}: ${m.message}`);
    return lines.join('');
  } catch {
    return '';
  }
}

const caches = new WeakMap<GPUDevice, PipelineCache>();

/** One pipeline cache per device, shared by every model and test on it. */
export function pipelineCacheFor(device: GPUDevice): PipelineCache {
  let c = caches.get(device);
  if (!c) {
    c = new PipelineCache(device);
    caches.set(device, c);
  }
  return c;
}
