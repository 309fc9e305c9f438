// wgsl_reflect's "main" is a CommonJS file inside a "type": "module" package, which Node's ESM
// loader cannot import; we import its ES module build directly, with the package's own types.
// Only the tests import it (test/runtime/shader_reflect.test.ts checks the runtime's own WGSL
// reader against it); no bundle carries it.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
