import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WgslReflect, ResourceType } from 'wgsl_reflect/wgsl_reflect.module.js';
import { variantNames } from '../../src/kernels/definition.js';
import { allOps } from '../../src/model/ops.js';
import { WebvitError } from '../../src/errors.js';
import { reflectShader, type ShaderBinding, type ShaderInfo, type UniformMember } from '../../src/runtime/shader.js';
import { wgslCorpus } from './shader_corpus.js';

// The build-time half of the runtime's WGSL reader (src/runtime/shader_reflect.ts): the runtime
// reads bindings and the params layout with a small reader of the kernels' convention; here the
// full wgsl_reflect parser (a devDependency, in no bundle) reads every kernel source webvit
// generates (test/runtime/shader_corpus.ts), and both must agree exactly. Hand-written modules
// and random struct layouts cover what the kernels do not use yet, and what the reader must refuse.

/** What the runtime read with wgsl_reflect before the reader (shader.ts at 788a1d9), unchanged. */
function reflectWithWgslReflect(kernel: string, code: string): ShaderInfo {
  const reflect = new WgslReflect(code);
  const entry = reflect.entry.compute[0];
  if (!entry) throw new Error(`${kernel}: WGSL has no @compute entry point`);
  const groups = reflect.getBindGroups();
  if (groups.length > 1) throw new Error(`${kernel}: kernels must use @group(0) only`);
  const bindings: ShaderBinding[] = [];
  let uniform: ShaderInfo['uniform'];
  for (const b of groups[0] ?? []) {
    if (!b) continue;
    const type = b.type as unknown as { name: string; size: number; stride?: number; members?: { name: string; offset: number; type: { name: string } }[] };
    if (b.resourceType === ResourceType.Uniform) {
      const members = (type.members ?? []).map((m) => ({ name: m.name, offset: m.offset, type: m.type.name }) as UniformMember);
      uniform = { name: b.name, size: Math.max(16, Math.ceil(b.size / 16) * 16), members };
      bindings.push({ name: b.name, binding: b.binding, kind: 'uniform', elementBytes: b.size, minBytes: b.size });
    } else if (b.resourceType === ResourceType.Storage) {
      const isArray = type.name === 'array';
      const elementBytes = isArray ? (type.stride ?? 4) : b.size;
      bindings.push({ name: b.name, binding: b.binding, kind: String(b.access) === 'read' ? 'read-only-storage' : 'storage', elementBytes, minBytes: elementBytes });
    } else throw new Error(`${kernel}: binding ${b.name} is not a buffer`);
  }
  bindings.sort((a, b) => a.binding - b.binding);
  return { kernel, entryPoint: entry.name, bindings, uniform };
}

/**
 * The source with every function body emptied: for the sgmat_* matmuls, whose bodies use
 * subgroup_matrix types that wgsl_reflect 1.6 cannot parse. Bindings and structs are at module
 * scope, so what the runtime reads is unchanged; a source that fails for any other reason fails.
 */
function withoutFunctionBodies(code: string): string {
  let out = '';
  let at = 0;
  for (const m of code.matchAll(/\bfn\s+\w+\s*\(/g)) {
    if (m.index < at) continue;
    const open = code.indexOf('{', m.index);
    let depth = 0;
    let end = open;
    do {
      if (code[end] === '{') depth++;
      else if (code[end] === '}') depth--;
      end++;
    } while (depth > 0 && end < code.length);
    out += `${code.slice(at, open)}{}`;
    at = end;
  }
  return out + code.slice(at);
}

function reference(kernel: string, code: string): { info: ShaderInfo; bodiesEmptied: boolean } {
  try {
    return { info: reflectWithWgslReflect(kernel, code), bodiesEmptied: false };
  } catch (e) {
    if (!code.includes('subgroup_matrix')) throw new Error(`${kernel}: wgsl_reflect cannot read it: ${(e as Error).message}`);
    return { info: reflectWithWgslReflect(kernel, withoutFunctionBodies(code)), bodiesEmptied: true };
  }
}

const corpus = await wgslCorpus();

describe('the runtime reads every generated kernel exactly as wgsl_reflect does', () => {

  it('the corpus covers every variant of every op, both preprocessing kernels, and every graph config', () => {
    const kernels = new Set(corpus.map((s) => s.kernel));
    for (const def of allOps()) for (const v of variantNames(def)) expect(kernels, `${def.name}/${v}`).toContain(`${def.name}/${v}`);
    expect(kernels).toContain('preprocess/resample_h');
    expect(kernels).toContain('preprocess/resample_v');
    expect(corpus.length).toBeGreaterThan(200);
  });

  it(`all ${corpus.length} distinct sources`, () => {
    let bindings = 0;
    let emptied = 0;
    for (const s of corpus) {
      const { info: want, bodiesEmptied } = reference(s.kernel, s.code);
      if (bodiesEmptied) emptied++;
      expect(reflectShader(s.kernel, s.code), s.key).toEqual(want);
      // Every kernel binds buffers and has its params: an empty reading would agree vacuously.
      expect(want.bindings.length, s.key).toBeGreaterThan(0);
      bindings += want.bindings.length;
    }
    expect(bindings).toBeGreaterThan(3 * corpus.length);
    console.log(`${corpus.length} kernel sources read alike (${emptied} sgmat_* ones with their function bodies emptied for wgsl_reflect)`);
  });
});

const compute = '@compute @workgroup_size(1) fn main() {}';
const read = (code: string): ShaderInfo => reflectShader('test/case', code);
const refuse = (code: string, why: RegExp): void => {
  let caught: unknown;
  try {
    read(code);
  } catch (e) {
    caught = e;
  }
  expect(caught, code).toBeInstanceOf(WebvitError);
  expect((caught as WebvitError).code).toBe('SHADER');
  expect((caught as WebvitError).message).toMatch(/^test\/case: /);
  expect((caught as WebvitError).message).toMatch(why);
};

describe('WGSL the kernels do not use yet reads as wgsl_reflect reads it', () => {
  const cases: Record<string, string> = {
    'vec3 arrays (stride 16), a struct of vec3 + f32, fixed arrays, nested structs': `
      struct Inner { a: vec3<f32>, b: f32 }
      struct Outer { x: u32, inner: Inner, y: array<vec2<f32>, 3>, z: vec3<u32> }
      @group(0) @binding(0) var<storage, read> v3: array<vec3<f32>>;
      @group(0) @binding(1) var<storage, read_write> outer: Outer;
      @group(0) @binding(2) var<storage, read> many: array<Outer>;
      @group(0) @binding(3) var<storage, read> fixed: array<u32, 7>;
      ${compute}`,
    'shorthand types, matrices, atomics, suffixed slots, swapped attributes, one-line struct': `
      struct Params { count: u32, grid_x: u32 }
      struct M { m: mat3x3<f32>, v: vec4f, n: mat2x2f, k: mat4x3f }
      @binding(0u) @group(0i) var<storage, read_write> counts: array<atomic<u32>>;
      @group(0) @binding(1) var<storage, read> mats: array<M>;
      @group(0) @binding(2) var<uniform> params: Params;
      ${compute}`,
    'comments (nested block comments), consts, overrides, workgroup vars, helper functions': `
      /* a /* nested */ comment with @group(0) @binding(9) var<storage, read> ghost: f32; */
      enable f16;
      diagnostic(off, derivative_uniformity);
      const TILE: u32 = 16u; // @group(0) @binding(8) var<storage, read> ghost2: f32;
      override WG: u32 = 64;
      alias Row = array<f32, 4>;
      var<workgroup> tile: array<f32, 256>;
      var<private> seed: u32 = 1u;
      struct P { a: f32, b: i32, c: u32, }
      @group(0) @binding(0) var<storage, read> h: array<vec4<f16>>;
      @group(0) @binding(1) var<storage, read> h3: array<vec3<f16>>;
      @group(0) @binding(2) var<uniform> params: P;
      fn helper(x: ptr<function, array<f32, 4>>) -> vec4<f32> { var y = vec4<f32>(1.0); { y.x = 2.0; } return y; }
      @compute @workgroup_size(WG) fn first() { _ = params.a; }
      @compute @workgroup_size(1) fn second() {}`,
  };
  for (const [name, code] of Object.entries(cases)) {
    it(name, () => {
      const got = read(code);
      expect(got).toEqual(reflectWithWgslReflect('test/case', code));
      expect(got.bindings.length).toBeGreaterThan(2);
    });
  }

  it('the layouts, worked by hand from the WGSL spec', () => {
    const got = read(cases['vec3 arrays (stride 16), a struct of vec3 + f32, fixed arrays, nested structs']);
    // Inner: vec3 at 0 (align 16), f32 at 12 -> 16 bytes. Outer: u32 0, Inner 16, array<vec2,3> 32 (24 bytes), vec3<u32> 64 -> 76 -> 80.
    expect(got.bindings.map((b) => [b.name, b.elementBytes])).toEqual([['v3', 16], ['outer', 80], ['many', 80], ['fixed', 4]]);
    const m = read(cases['shorthand types, matrices, atomics, suffixed slots, swapped attributes, one-line struct']);
    // M: mat3x3 48 at 0, vec4 at 48, mat2x2 16 at 64, mat4x3 64 at 80 -> 144.
    expect(m.bindings.map((b) => [b.name, b.elementBytes])).toEqual([['counts', 4], ['mats', 144], ['params', 8]]);
    expect(m.uniform).toEqual({ name: 'params', size: 16, members: [{ name: 'count', offset: 0, type: 'u32' }, { name: 'grid_x', offset: 4, type: 'u32' }] });
  });

  // Random storage structs of scalars, vectors, matrices and fixed arrays (nested up to 3 deep):
  // the reader's size of the struct and of an array of it must be wgsl_reflect's.
  it('random struct layouts (fast-check)', () => {
    type Tree = string | { element: Tree; count: number } | { members: Tree[] };
    const leaf = fc.constantFrom('f32', 'i32', 'u32', 'vec2<f32>', 'vec3<f32>', 'vec4<f32>', 'vec3u', 'vec2i', 'mat2x2<f32>', 'mat3x3f', 'mat4x4<f32>', 'mat2x3f', 'mat3x2f', 'atomic<u32>');
    const { tree } = fc.letrec<{ tree: Tree }>((tie) => ({
      tree: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.record({ element: tie('tree'), count: fc.integer({ min: 1, max: 5 }) }),
        fc.record({ members: fc.array(tie('tree'), { minLength: 1, maxLength: 4 }) }),
      ),
    }));
    fc.assert(
      fc.property(fc.array(tree, { minLength: 1, maxLength: 5 }), (fields) => {
        const structs: string[] = [];
        const typeOf = (t: Tree): string => {
          if (typeof t === 'string') return t;
          if ('element' in t) return `array<${typeOf(t.element)}, ${t.count}>`;
          const members = t.members.map((m, i) => `m${i}: ${typeOf(m)}`).join(', ');
          structs.push(`struct S${structs.length} { ${members} }`);
          return `S${structs.length - 1}`;
        };
        const top = typeOf({ members: fields });
        const code = `${structs.join('\n')}
          @group(0) @binding(0) var<storage, read_write> one: ${top};
          @group(0) @binding(1) var<storage, read> many: array<${top}>;
          ${compute}`;
        expect(read(code), code).toEqual(reflectWithWgslReflect('test/case', code));
      }),
      { seed: Number(process.env.WEBVIT_SEED ?? 20261130), numRuns: 300 },
    );
  });
});

describe('WGSL outside the convention is refused with a SHADER error naming the problem', () => {
  const buf = '@group(0) @binding(0) var<storage, read> x: array<f32>;';
  const cases: [string, string, RegExp][] = [
    ['a second bind group', `${buf} @group(1) @binding(0) var<storage, read> y: array<f32>; ${compute}`, /@group\(0\) only \(y is in @group\(1\)\)/],
    ['a texture', `@group(0) @binding(0) var t: texture_2d<f32>; ${compute}`, /t is not a buffer/],
    ['storage without an access mode', `@group(0) @binding(0) var<storage> x: array<f32>; ${compute}`, /write the access mode/],
    ['a type it does not know', `@group(0) @binding(0) var<storage, read> x: array<Row>; ${compute}`, /line 1: type Row is not understood/],
    ['struct member attributes', `struct P { @align(16) a: f32 } ${buf} ${compute}`, /member attributes/],
    ['two resources in one slot', `${buf} @group(0) @binding(0) var<storage, read> y: array<f32>; ${compute}`, /x and y both use @binding\(0\)/],
    ['two uniforms', `struct P { a: u32 } @group(0) @binding(0) var<uniform> p: P; @group(0) @binding(1) var<uniform> q: P; ${compute}`, /uniforms p and q/],
    ['a uniform member that is not a scalar', `struct P { a: vec4<f32> } @group(0) @binding(0) var<uniform> p: P; ${compute}`, /p\.a has type vec4<f32>/],
    ['a uniform that is not a struct', `@group(0) @binding(0) var<uniform> p: vec4<f32>; ${compute}`, /declare their uniform as a struct/],
    ['no compute entry point', `${buf} fn main() {}`, /no @compute entry point/],
    ['an unterminated comment', `${buf}\n/* /* */ ${compute}`, /line 2: unterminated block comment/],
    ['a binding slot that is not a literal', `const B = 0; @group(0) @binding(B) var<storage, read> x: array<f32>; ${compute}`, /@binding must be given as an integer literal/],
    ['a runtime-sized array inside a struct', `struct S { n: u32, data: array<f32> } @group(0) @binding(0) var<storage, read> s: S; ${compute}`, /runtime-sized array is understood only as a binding's whole type/],
    ['a function left open', `${buf} @compute @workgroup_size(1) fn main() { if (true) {`, /'\{' is never closed/],
    ['something else at module scope', `${buf} let x = 1; ${compute}`, /'let' is not understood at module scope/],
  ];
  for (const [name, code, why] of cases) it(name, () => refuse(code, why));
});
