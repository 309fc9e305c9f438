import { describe, expect, it } from 'vitest';
import { WebvitError } from '../../src/errors.js';
import { dawnInstanceFlags, getNodeDevice } from '../../src/runtime/node-device.js';

// Dawn instance options (getNodeDevice({ dawnFlags }), WEBVIT_DAWN_FLAGS, --dawn-flags): what an
// NVIDIA GPU needs to offer shader-f16 and subgroup matrices. webvit's own flag is always kept.
describe('Dawn flags', () => {
  it("merges the caller's flags with webvit's own, joining values of the same key once each", () => {
    expect(dawnInstanceFlags([])).toEqual(['disable-dawn-features=timestamp_quantization']);
    expect(dawnInstanceFlags(['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia', 'disable-dawn-features=lazy_clear_resource_on_first_use,timestamp_quantization'])).toEqual([
      'disable-dawn-features=timestamp_quantization,lazy_clear_resource_on_first_use',
      'enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia',
    ]);
  });

  it('refuses a flag that is not key=value, saying what one looks like', () => {
    for (const bad of ['allow_unsafe_apis', '=x', 'enable dawn=1', 'a=b;rm']) {
      let e: unknown;
      try {
        dawnInstanceFlags([bad]);
      } catch (x) {
        e = x;
      }
      expect(e, bad).toBeInstanceOf(WebvitError);
      expect((e as WebvitError).code).toBe('BAD_ARGUMENT');
      expect((e as WebvitError).message).toMatch(/is not key=value \(e\.g\. enable-dawn-features=/);
    }
  });

  it('a device made with extra flags works next to one made without (separate Dawn instances)', async () => {
    const plain = await getNodeDevice();
    const flagged = await getNodeDevice({ dawnFlags: ['enable-dawn-features=allow_unsafe_apis'] });
    try {
      for (const d of [plain, flagged]) {
        const b = d.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        d.queue.writeBuffer(b, 0, new Float32Array([1, 2, 3, 4]));
        await b.mapAsync(GPUMapMode.READ);
        expect([...new Float32Array(b.getMappedRange())]).toEqual([1, 2, 3, 4]);
        b.destroy();
      }
    } finally {
      plain.destroy();
      flagged.destroy();
    }
  });
});

// Issue 17: `--dawn-flags backend=__proto__` (or foo, adapter=x) ended in an internal error and a
// stack; backend=null blamed a valid image ("input image 0 has undefined"). Keys and backends are
// checked where the flags are parsed; Dawn's own refusal is NO_ADAPTER naming the flags.
describe('Dawn flags: keys, backends, adapters', () => {
  const refusal = (flags: string[]) => {
    try {
      dawnInstanceFlags(flags);
    } catch (e) {
      return e as WebvitError;
    }
    return undefined;
  };

  it('refuses unknown keys and backends, listing the valid ones; refuses the null backend and two values', () => {
    for (const [flag, say] of [
      ['backend=__proto__', 'unknown backend "__proto__"; the backends are vulkan, metal, d3d12, d3d11, opengl, opengles, webgpu'],
      ['backend=foo', 'unknown backend "foo"'],
      ['backend=null', 'the null backend computes nothing'],
      ['backend=vulkan,metal', 'backend takes one value'],
      ['backend=', 'backend takes one value'],
      ['enable-dawn-feature=allow_unsafe_apis', 'unknown key "enable-dawn-feature"; the keys are enable-dawn-features'],
      ['constructor=x', 'unknown key "constructor"'],
      ['toString=x', 'is not key=value'],
    ]) {
      const e = refusal([flag]);
      expect(e, flag).toBeInstanceOf(WebvitError);
      expect(e!.code).toBe('BAD_ARGUMENT');
      expect(e!.message).toContain(say);
      expect(e!.message).not.toContain('\n');
    }
    expect(dawnInstanceFlags(['backend=vulkan', 'adapter=llvmpipe'])).toEqual(['disable-dawn-features=timestamp_quantization', 'backend=vulkan', 'adapter=llvmpipe']);
  });

  it('an adapter that matches none is NO_ADAPTER naming the flags, in one line', async () => {
    let e: unknown;
    try {
      (await getNodeDevice({ dawnFlags: ['adapter=no_such_adapter_xyz'] })).destroy();
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(WebvitError);
    expect((e as WebvitError).code).toBe('NO_ADAPTER');
    expect((e as WebvitError).message).toMatch(/^no WebGPU adapter with the Dawn flags "adapter=no_such_adapter_xyz" \(.*\): change or drop them/);
    expect((e as WebvitError).message).not.toContain('\n');
  });
});
