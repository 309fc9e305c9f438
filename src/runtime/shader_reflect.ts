/**
 * A small, exact reader of what the runtime needs from a kernel's WGSL: its module-scope resource
 * declarations, their types' memory layout, and the @compute entry point's name.
 *
 * Why not a full WGSL parser: the runtime used wgsl_reflect, which was 60% of the browser bundle
 * and parsed every function body of every kernel at start-up, to read a dozen header lines. The
 * kernels' WGSL is ours and generated at run time from shapes and variants, so it cannot be
 * reflected once at build time; instead this reader handles the narrow subset the kernels use and
 * REFUSES anything else (a WebvitError naming the line), so it is exact where it answers. The
 * build-time half: test/runtime/shader_reflect.test.ts runs the full wgsl_reflect over every
 * kernel source the ops, the graphs and the preprocessor generate and checks it reads the same.
 *
 * What it understands at module scope (function bodies are skipped by brace matching):
 *   struct S { name: type, ... }           members without attributes
 *   @group(0) @binding(N) var<space[, access]> name: type;
 *   @compute @workgroup_size(...) fn name(...) { ... }
 *   const / override / alias / enable / requires / diagnostic / const_assert ...;   skipped
 * Types with a host-shareable layout (WGSL spec, "Memory Layout"): i32, u32, f32, f16, vecN<T>
 * (and vec4f-style shorthands), matCxR<T>, atomic<T>, array<T, N>, array<T> (top level only),
 * and structs of those.
 */
import { WebvitError } from '../errors.js';

export interface WgslLayout {
  size: number;
  align: number;
}

/** A type as written, with its layout. `stride` for arrays; `members` (with offsets) for structs. */
export interface WgslType extends WgslLayout {
  /** Written form without spaces: `array<vec4<f32>>`, `Params`. */
  text: string;
  kind: 'scalar' | 'vector' | 'matrix' | 'atomic' | 'array' | 'struct';
  /** Element stride, for arrays. */
  stride?: number;
  /** For arrays: whether the element count is fixed (false: runtime-sized, size is one element). */
  fixed?: boolean;
  members?: { name: string; offset: number; type: WgslType }[];
}

export interface WgslResource {
  name: string;
  group: number;
  binding: number;
  space: 'uniform' | 'storage';
  access: 'read' | 'read_write';
  type: WgslType;
}

export interface WgslModuleInfo {
  /** Names of the @compute functions, in source order. */
  computeEntries: string[];
  resources: WgslResource[];
}

interface Token {
  text: string;
  line: number;
}

const SCALARS: Record<string, number> = { i32: 4, u32: 4, f32: 4, f16: 2 };
const SHORT_SUFFIX: Record<string, string> = { i: 'i32', u: 'u32', f: 'f32', h: 'f16' };
const SKIPPED_DECLARATIONS = new Set(['const', 'override', 'alias', 'enable', 'requires', 'diagnostic', 'const_assert']);

const roundUp = (k: number, n: number): number => Math.ceil(n / k) * k;

/** Identifiers, numbers, and single punctuation characters; comments (nested /* *\/ too) dropped. */
function tokenize(code: string, fail: (line: number, why: string) => never): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  const word = /[A-Za-z_][A-Za-z0-9_]*|0[xX][0-9a-fA-F]+[iu]?|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?[iufh]?|\.[0-9]+(?:[eE][+-]?[0-9]+)?[fh]?/y;
  while (i < code.length) {
    const c = code[i];
    if (c === '\n') {
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') i++;
    else if (c === '/' && code[i + 1] === '/') {
      while (i < code.length && code[i] !== '\n') i++;
    } else if (c === '/' && code[i + 1] === '*') {
      const start = line;
      let depth = 0;
      do {
        if (code[i] === '/' && code[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (code[i] === '*' && code[i + 1] === '/') {
          depth--;
          i += 2;
        } else {
          if (code[i] === '\n') line++;
          i++;
        }
      } while (depth > 0 && i < code.length);
      if (depth > 0) fail(start, 'unterminated block comment');
    } else {
      word.lastIndex = i;
      const m = word.exec(code);
      const text = m ? m[0] : c;
      tokens.push({ text, line });
      i += text.length;
    }
  }
  return tokens;
}

/**
 * Reads a WGSL module's resources and compute entry points. Throws WebvitError('SHADER') naming
 * `kernel` and the line for anything outside the subset above, rather than guess.
 */
export function readWgslModule(kernel: string, code: string): WgslModuleInfo {
  const fail = (line: number, why: string): never => {
    throw new WebvitError('SHADER', `${kernel}: WGSL line ${line}: ${why} (the runtime's WGSL reader, src/runtime/shader_reflect.ts, reads only the kernels' narrow convention)`);
  };
  const tokens = tokenize(code, fail);
  let p = 0;
  const peek = (): Token | undefined => tokens[p];
  const lastLine = (): number => tokens[Math.min(p, tokens.length - 1)]?.line ?? 1;
  const next = (): Token => tokens[p++] ?? fail(lastLine(), 'unexpected end of the module');
  const expect = (text: string): Token => {
    const t = next();
    if (t.text !== text) fail(t.line, `expected '${text}', found '${t.text}'`);
    return t;
  };
  const ident = (): Token => {
    const t = next();
    if (!/^[A-Za-z_]/.test(t.text)) fail(t.line, `expected a name, found '${t.text}'`);
    return t;
  };
  /** Skips a balanced (...) / {...} group starting at the current opening token. */
  const skipGroup = (open: string, close: string): void => {
    const start = expect(open).line;
    for (let depth = 1; depth > 0; ) {
      const t = tokens[p++];
      if (!t) fail(start, `'${open}' is never closed`);
      else if (t.text === open) depth++;
      else if (t.text === close) depth--;
    }
  };

  const structs = new Map<string, WgslType>();

  /** A type expression: a name with an optional template list of types or integer counts. */
  const parseType = (topLevel: boolean): WgslType => {
    const t = ident();
    const name = t.text;
    const templated = peek()?.text === '<';
    const args: (WgslType | number)[] = [];
    if (templated) {
      expect('<');
      for (;;) {
        const a = peek();
        if (a && /^[0-9]/.test(a.text)) {
          next();
          const n = /^([0-9]+)[iu]?$/.exec(a.text);
          if (!n || Number(n[1]) <= 0) fail(a.line, `array count ${a.text} is not a positive integer literal`);
          args.push(Number(n![1]));
        } else args.push(parseType(false));
        const sep = next();
        if (sep.text === '>') break;
        if (sep.text !== ',') fail(sep.line, `expected ',' or '>' in ${name}<...>, found '${sep.text}'`);
      }
    }
    const argText = args.map((a) => (typeof a === 'number' ? String(a) : a.text)).join(',');
    const text = templated ? `${name}<${argText}>` : name;
    const scalarArg = (i: number): WgslType => {
      const a = args[i];
      if (typeof a !== 'object' || a.kind !== 'scalar') fail(t.line, `${text}: expected a scalar type argument`);
      return a as WgslType;
    };
    const onlyArgs = (n: number): void => {
      if (args.length !== n) fail(t.line, `${text}: expected ${n} template argument(s)`);
    };

    if (name in SCALARS) {
      onlyArgs(0);
      return { text, kind: 'scalar', size: SCALARS[name], align: SCALARS[name] };
    }
    const vec = /^vec([234])([iufh]?)$/.exec(name);
    if (vec) {
      const n = Number(vec[1]);
      let s: number;
      if (vec[2]) {
        onlyArgs(0);
        s = SCALARS[SHORT_SUFFIX[vec[2]]];
      } else {
        onlyArgs(1);
        s = scalarArg(0).size;
      }
      return { text, kind: 'vector', size: n * s, align: (n === 2 ? 2 : 4) * s };
    }
    const mat = /^mat([234])x([234])([fh]?)$/.exec(name);
    if (mat) {
      let s: number;
      if (mat[3]) {
        onlyArgs(0);
        s = SCALARS[SHORT_SUFFIX[mat[3]]];
      } else {
        onlyArgs(1);
        s = scalarArg(0).size;
        if (!scalarArg(0).text.startsWith('f')) fail(t.line, `${text}: matrices hold f32 or f16`);
      }
      const rows = Number(mat[2]);
      const colAlign = (rows === 2 ? 2 : 4) * s;
      return { text, kind: 'matrix', size: Number(mat[1]) * roundUp(colAlign, rows * s), align: colAlign };
    }
    if (name === 'atomic') {
      onlyArgs(1);
      const e = scalarArg(0);
      if (e.text !== 'u32' && e.text !== 'i32') fail(t.line, `${text}: atomics hold u32 or i32`);
      return { text, kind: 'atomic', size: 4, align: 4 };
    }
    if (name === 'array') {
      if (args.length !== 1 && args.length !== 2) fail(t.line, `${text}: expected array<T> or array<T, N>`);
      const e = args[0];
      if (typeof e !== 'object') fail(t.line, `${text}: the element must be a type`);
      const el = e as WgslType;
      if (el.kind === 'array' && !el.fixed) fail(t.line, `${text}: runtime-sized arrays cannot be elements`);
      const stride = roundUp(el.align, el.size);
      if (args.length === 2) {
        if (typeof args[1] !== 'number') fail(t.line, `${text}: the element count must be an integer literal`);
        return { text, kind: 'array', size: (args[1] as number) * stride, align: el.align, stride, fixed: true };
      }
      if (!topLevel) fail(t.line, `${text}: a runtime-sized array is understood only as a binding's whole type`);
      return { text, kind: 'array', size: stride, align: el.align, stride, fixed: false };
    }
    const s = structs.get(name);
    if (s && !templated) return s;
    return fail(t.line, `type ${text} is not understood (known: i32, u32, f32, f16, vectors, matrices, atomics, arrays, and structs declared before use)`);
  };

  const parseStruct = (): void => {
    const name = ident();
    if (structs.has(name.text)) fail(name.line, `struct ${name.text} is declared twice`);
    expect('{');
    const members: NonNullable<WgslType['members']> = [];
    let end = 0;
    let align = 1;
    while (peek()?.text !== '}') {
      if (peek()?.text === '@') fail(peek()!.line, `struct ${name.text}: member attributes (@align, @size, ...) are not understood`);
      const m = ident();
      expect(':');
      const type = parseType(false);
      const offset = roundUp(type.align, end);
      members.push({ name: m.text, offset, type });
      end = offset + type.size;
      align = Math.max(align, type.align);
      const sep = peek();
      if (sep?.text === ',') next();
      else if (sep?.text !== '}') fail(sep?.line ?? lastLine(), `struct ${name.text}: expected ',' or '}' after member ${m.text}`);
    }
    expect('}');
    if (!members.length) fail(name.line, `struct ${name.text} has no members`);
    structs.set(name.text, { text: name.text, kind: 'struct', size: roundUp(align, end), align, members });
  };

  const info: WgslModuleInfo = { computeEntries: [], resources: [] };
  while (p < tokens.length) {
    // Attributes: @name or @name(args); the arguments kept as token texts.
    const attrs = new Map<string, string[]>();
    while (peek()?.text === '@') {
      next();
      const a = ident();
      const argsAt = p;
      if (peek()?.text === '(') skipGroup('(', ')');
      attrs.set(a.text, tokens.slice(argsAt + 1, p - 1).map((x) => x.text));
    }
    const t = next();
    if (t.text === ';' && !attrs.size) continue;
    if (t.text === 'struct') {
      if (attrs.size) fail(t.line, 'attributes on a struct are not understood');
      parseStruct();
    } else if (t.text === 'fn') {
      const name = ident();
      if (attrs.has('compute')) info.computeEntries.push(name.text);
      // Parameters, optional return type, then the body: skip to the body's braces.
      skipGroup('(', ')');
      while (peek() && peek()!.text !== '{') next();
      skipGroup('{', '}');
    } else if (t.text === 'var') {
      let space = '';
      let access = '';
      if (peek()?.text === '<') {
        next();
        space = ident().text;
        if (peek()?.text === ',') {
          next();
          access = ident().text;
        }
        expect('>');
      }
      const name = ident();
      const bound = attrs.has('group') || attrs.has('binding');
      if (!bound) {
        // var<workgroup> / var<private>: not a resource; skip its type and initializer.
        if (space === 'uniform' || space === 'storage') fail(name.line, `var<${space}> ${name.text} needs @group and @binding`);
        while (next().text !== ';');
        continue;
      }
      const slot = (attr: string): number => {
        const v = attrs.get(attr);
        const m = v && v.length === 1 ? /^([0-9]+)[iu]?$/.exec(v[0]) : null;
        if (!m) return fail(name.line, `${name.text}: @${attr} must be given as an integer literal, e.g. @${attr}(0)`);
        return Number(m[1]);
      };
      const group = slot('group');
      const binding = slot('binding');
      if (space !== 'uniform' && space !== 'storage') fail(name.line, `binding ${name.text} is not a buffer (var<uniform> or var<storage, ...>); kernels bind only storage and uniform buffers`);
      if (space === 'storage' && access !== 'read' && access !== 'read_write') {
        fail(name.line, `var<storage> ${name.text}: write the access mode, var<storage, read> or var<storage, read_write>`);
      }
      if (space === 'uniform' && access) fail(name.line, `var<uniform> ${name.text} takes no access mode`);
      expect(':');
      const type = parseType(true);
      if (peek()?.text === '=') fail(name.line, `${name.text}: a buffer binding has no initializer`);
      expect(';');
      info.resources.push({ name: name.text, group, binding, space: space as 'uniform' | 'storage', access: space === 'uniform' ? 'read' : (access as 'read' | 'read_write'), type });
    } else if (SKIPPED_DECLARATIONS.has(t.text)) {
      // Declarations that bind nothing: skip to their ';' (braces and parentheses balanced).
      let depth = 0;
      for (;;) {
        const u = next();
        if (u.text === '(' || u.text === '{' || u.text === '[') depth++;
        else if (u.text === ')' || u.text === '}' || u.text === ']') depth--;
        else if (u.text === ';' && depth === 0) break;
      }
    } else fail(t.line, `'${t.text}' is not understood at module scope`);
  }
  return info;
}
