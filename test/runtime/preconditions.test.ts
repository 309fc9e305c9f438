import { describe, it } from 'vitest';
import { linear } from '../../src/kernels/matmul/op.js';
import { assignBuffers } from '../../src/runtime/arena.js';
import { StandaloneDispatch } from '../../src/runtime/standalone.js';
import { expectWebvitError } from '../helpers/errors.js';
import { testDevice } from '../helpers/gpu.js';

// Runtime preconditions a caller (or webvit itself) can break: each is a WebvitError with code
// BAD_ARGUMENT that names the thing, never a bare Error.
describe('runtime preconditions throw WebvitError BAD_ARGUMENT', () => {
  it('arena: a tensor whose last use precedes its first', async () => {
    await expectWebvitError(() => assignBuffers([{ name: 'x', bytes: 16, first: 3, last: 1 }]), 'BAD_ARGUMENT', ['arena', 'tensor x', '1', '3']);
  });

  it('standalone dispatch: reading a binding that is not an output', async () => {
    const device = await testDevice();
    const [M, K, N] = [4, 4, 4];
    const s = await StandaloneDispatch.create(device, (b) => linear({ label: 'pre', M, K, N, a: b.a, w: b.w, out: b.out, epilogue: 'none' }), {
      inputs: { a: new Float32Array(M * K), w: new Float32Array(K * N) },
      outputs: { out: M * N },
    });
    try {
      await expectWebvitError(() => s.read('a'), 'BAD_ARGUMENT', ['standalone', 'a', 'not an output', 'out']);
    } finally {
      s.destroy();
    }
  });
});
