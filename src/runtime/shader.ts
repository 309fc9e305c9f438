import type { BufferSlice } from '../kernels/kernel.js';
import { WebvitError } from './errors.js';
import { readWgslModule } from './shader_reflect.js';

/** One resource a WGSL kernel declares, as read from its source (shader_reflect.ts). */
export interface ShaderBinding {
  name: string;
  binding: number;
  kind: 'uniform' | 'read-only-storage' | 'storage';
  /** Bytes of one array element for runtime-sized arrays, or the whole size for structs. */
  elementBytes: number;
  /** Minimum bytes a bound buffer must have (struct size, or one element). */
  minBytes: number;
}

export interface UniformMember {
  name: string;
  offset: number;
  type: 'u32' | 'i32' | 'f32';
}

export interface ShaderInfo {
  /** The kernel name that labels errors: `matmul/tiled_vec4`. */
  kernel: string;
  entryPoint: string;
  bindings: ShaderBinding[];
  /** Layout of the `params` uniform struct, if the kernel has one. */
  uniform?: { name: string; size: number; members: UniformMember[] };
}

/**
 * Reads a kernel's bindings from its WGSL. Everything the runtime binds is checked against this,
 * so the WGSL is the single source of truth for names, binding slots and uniform layouts.
 * The reader (shader_reflect.ts) understands only the kernels' narrow convention and refuses the
 * rest; test/runtime/shader_reflect.test.ts checks it against the full wgsl_reflect parser on
 * every kernel source webvit generates, which therefore stays out of the bundles.
 */
export function reflectShader(kernel: string, code: string): ShaderInfo {
  const module = readWgslModule(kernel, code);
  const entry = module.computeEntries[0];
  if (!entry) throw new WebvitError('SHADER', `${kernel}: WGSL has no @compute entry point`);
  const bindings: ShaderBinding[] = [];
  let uniform: ShaderInfo['uniform'];
  for (const r of module.resources) {
    if (r.group !== 0) throw new WebvitError('SHADER', `${kernel}: kernels must use @group(0) only (${r.name} is in @group(${r.group}))`);
    const twin = bindings.find((b) => b.binding === r.binding);
    if (twin) throw new WebvitError('SHADER', `${kernel}: ${twin.name} and ${r.name} both use @binding(${r.binding})`);
    if (r.space === 'uniform') {
      if (uniform) throw new WebvitError('SHADER', `${kernel}: uniforms ${uniform.name} and ${r.name}; kernels have one uniform struct`);
      if (r.type.kind !== 'struct') throw new WebvitError('SHADER', `${kernel}: uniform ${r.name} has type ${r.type.text}; kernels declare their uniform as a struct of u32, i32 and f32`);
      const members = r.type.members!.map((m) => {
        const t = m.type.text;
        if (t !== 'u32' && t !== 'i32' && t !== 'f32') {
          throw new WebvitError('SHADER', `${kernel}: uniform member ${r.name}.${m.name} has type ${t}; only u32, i32 and f32 are supported`);
        }
        return { name: m.name, offset: m.offset, type: t } as UniformMember;
      });
      // Uniform buffer bindings are sized in 16-byte steps (and at least 16 bytes).
      uniform = { name: r.name, size: Math.max(16, Math.ceil(r.type.size / 16) * 16), members };
      bindings.push({ name: r.name, binding: r.binding, kind: 'uniform', elementBytes: r.type.size, minBytes: r.type.size });
    } else {
      // An array binds whole elements (a runtime-sized one at least one); anything else its size.
      const elementBytes = r.type.kind === 'array' ? r.type.stride! : r.type.size;
      bindings.push({ name: r.name, binding: r.binding, kind: r.access === 'read' ? 'read-only-storage' : 'storage', elementBytes, minBytes: elementBytes });
    }
  }
  bindings.sort((a, b) => a.binding - b.binding);
  return { kernel, entryPoint: entry, bindings, uniform };
}

export function createBindGroupLayout(device: GPUDevice, info: ShaderInfo): GPUBindGroupLayout {
  return device.createBindGroupLayout({
    label: `${info.kernel}.layout`,
    entries: info.bindings.map((b) => ({
      binding: b.binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: b.kind },
    })),
  });
}

// A buffer range to bind: defined with the kernels, which take it as arguments.
export type { BufferSlice } from '../kernels/kernel.js';

/**
 * Makes the bind group for one dispatch after checking that what the runtime binds is exactly
 * what the WGSL declares: same names, nothing missing, nothing extra, each buffer big enough and
 * with the usage its binding needs. A mismatch is a readable error here, not a GPU validation
 * error later.
 */
export function createCheckedBindGroup(
  device: GPUDevice,
  label: string,
  info: ShaderInfo,
  layout: GPUBindGroupLayout,
  resources: Record<string, BufferSlice>,
): GPUBindGroup {
  const declared = info.bindings.map((b) => b.name);
  const given = Object.keys(resources);
  const missing = declared.filter((n) => !(n in resources));
  const extra = given.filter((n) => !declared.includes(n));
  if (missing.length || extra.length) {
    throw new WebvitError(
      'BINDING_MISMATCH',
      `${label} (${info.kernel}): ` +
        (missing.length ? `missing binding(s) ${missing.join(', ')}; ` : '') +
        (extra.length ? `unknown binding(s) ${extra.join(', ')}; ` : '') +
        `the WGSL declares ${declared.join(', ')}`,
    );
  }
  const entries: GPUBindGroupEntry[] = [];
  for (const b of info.bindings) {
    const r = resources[b.name];
    const size = r.size ?? r.buffer.size - (r.offset ?? 0);
    if (size < b.minBytes) {
      throw new WebvitError('BINDING_MISMATCH', `${label} (${info.kernel}): binding ${b.name} is ${size} bytes but the WGSL needs at least ${b.minBytes}`);
    }
    if (b.kind !== 'uniform' && size % b.elementBytes !== 0) {
      throw new WebvitError('BINDING_MISMATCH', `${label} (${info.kernel}): binding ${b.name} is ${size} bytes, not a whole number of ${b.elementBytes}-byte elements`);
    }
    const needUsage = b.kind === 'uniform' ? GPUBufferUsage.UNIFORM : GPUBufferUsage.STORAGE;
    if ((r.buffer.usage & needUsage) === 0) {
      throw new WebvitError('BINDING_MISMATCH', `${label} (${info.kernel}): buffer for ${b.name} (${r.buffer.label}) lacks ${b.kind === 'uniform' ? 'UNIFORM' : 'STORAGE'} usage`);
    }
    entries.push({ binding: b.binding, resource: { buffer: r.buffer, offset: r.offset ?? 0, size } });
  }
  return device.createBindGroup({ label, layout, entries });
}

/** Packs uniform values by member name into the layout the WGSL declares. Every member must be given. */
export function packUniform(label: string, info: ShaderInfo, values: Record<string, number>): ArrayBuffer {
  const u = info.uniform;
  if (!u) throw new WebvitError('BINDING_MISMATCH', `${label} (${info.kernel}): uniform values given but the WGSL declares no uniform`);
  const data = new ArrayBuffer(u.size);
  const view = new DataView(data);
  const names = u.members.map((m) => m.name);
  const extra = Object.keys(values).filter((k) => !names.includes(k));
  if (extra.length) throw new WebvitError('BINDING_MISMATCH', `${label} (${info.kernel}): unknown uniform member(s) ${extra.join(', ')}; ${u.name} has ${names.join(', ')}`);
  for (const m of u.members) {
    const v = values[m.name];
    if (v === undefined || !Number.isFinite(v)) {
      throw new WebvitError('BINDING_MISMATCH', `${label} (${info.kernel}): uniform ${u.name}.${m.name} not given (or not finite: ${v})`);
    }
    if (m.type === 'u32') {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new WebvitError('BINDING_MISMATCH', `${label} (${info.kernel}): uniform ${u.name}.${m.name} must be a u32, got ${v}`);
      view.setUint32(m.offset, v, true);
    } else if (m.type === 'i32') view.setInt32(m.offset, v, true);
    else view.setFloat32(m.offset, v, true);
  }
  return data;
}
