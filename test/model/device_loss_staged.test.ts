import { describe, expect, it } from 'vitest';
import { ViTModel } from '../../src/model/vit.js';
import { readWeights } from '../../src/model/weights.js';
import { getNodeDevice } from '../../src/runtime/node-device.js';
import { loadFixture } from '../helpers/fixtures.js';

// A device lost while forward() calls hold staged inputs (Plan.stage: the pixels already in a
// mapped staging buffer, the buffer mapped again after each run): every call settles (a result
// or DEVICE_LOST naming the way out, never a hang or Dawn's bare AbortError), nothing is thrown
// unhandled (a staging buffer's map fails with the device), and later calls fail the same way.
describe('device loss with staged inputs', () => {
  it('calls in flight settle, later calls are refused, no unhandled rejection', async () => {
    const f = loadFixture('tiny');
    const device = await getNodeDevice();
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const model = await ViTModel.fromWeights(device, readWeights(f.model, 'tiny'), { label: 'tiny.lost', batch: 3 });
      await model.forward(f.input); // staging buffer made; mapped again after the run
      const inFlight = [0, 1, 2, 3].map(() => model.forward(f.input).then(() => 'ok', (e: Error) => e));
      device.destroy();
      const settled = await Promise.race([Promise.all(inFlight), new Promise((r) => setTimeout(() => r('hung'), 20000))]);
      expect(settled, 'every call in flight settles').not.toBe('hung');
      for (const s of settled as unknown[]) {
        if (s === 'ok') continue;
        expect((s as { code?: string }).code, String(s)).toBe('DEVICE_LOST');
        expect((s as Error).message).toMatch(/device was lost \(destroyed.*load the model again/);
      }
      const later = await model.forward(f.input).then(() => 'ok', (e: Error) => e);
      expect(later, 'a call after the loss is refused').toBeInstanceOf(Error);
      expect((later as { code?: string }).code, String(later)).toBe('DEVICE_LOST');
      console.log(`after loss: ${(later as Error).message}`);
      await model.dispose();
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled, 'unhandled rejections').toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
