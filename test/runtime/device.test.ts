import { describe, expect, it } from 'vitest';
import { getDevice } from '../../src/runtime/device.js';
import { expectWebvitError } from '../helpers/errors.js';

describe('getDevice()', () => {
  // Node has no navigator.gpu (Node 21+ has a navigator without it): the error must send the
  // caller to the Node entry instead of telling them to switch browsers.
  it('in Node: NO_WEBGPU pointing to getNodeDevice()', async () => {
    expect((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBeUndefined();
    const msg = await expectWebvitError(() => getDevice(), 'NO_WEBGPU', ['getNodeDevice()', "from 'webvit'", 'Node']);
    expect(msg).not.toMatch(/Chrome|Firefox|Safari/);
  });
});
