// The error type lives below every layer (src/errors.ts) so that kernels can throw it too; this
// re-export keeps `runtime/errors.js` imports working.
export * from '../errors.js';
