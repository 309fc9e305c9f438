import { describe, expect, it } from 'vitest';
import { floatToHalf, halfToFloat, parseSafetensors, tensorAsFloat32 } from '../../src/model/safetensors.js';
import { writeSafetensors } from '../../src/model/safetensors_write.js';
import { WebvitError } from '../../src/runtime/errors.js';

// writeSafetensors' F16 output: IEEE binary16, round to nearest, ties to even (checked on every
// half value and every midpoint between neighbours), subnormals, signed zero, NaN, and a clear
// error for finite values beyond the range. F32 output is unchanged.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bits = (v: number) => ((f32[0] = v), u32[0]);
const fromBits = (b: number) => ((u32[0] = b >>> 0), f32[0]);

describe('floatToHalf', () => {
  it('is the inverse of halfToFloat on every non-NaN half', () => {
    const bad: string[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue; // NaN payloads
      if (floatToHalf(halfToFloat(h)) !== h) bad.push(`0x${h.toString(16)}`);
    }
    expect(bad).toEqual([]);
  });

  it('rounds midpoints to even and everything else to nearest', () => {
    const bad: string[] = [];
    for (let h = 0; h < 0x7bff; h++) {
      const mid = (halfToFloat(h) + halfToFloat(h + 1)) / 2; // exact in float32 (12 significant bits)
      const even = h % 2 === 0 ? h : h + 1;
      const ok =
        Math.fround(mid) === mid &&
        floatToHalf(mid) === even &&
        floatToHalf(-mid) === (0x8000 | even) &&
        floatToHalf(fromBits(bits(mid) + 1)) === h + 1 &&
        floatToHalf(fromBits(bits(mid) - 1)) === h;
      if (!ok) bad.push(`0x${h.toString(16)}`);
    }
    expect(bad).toEqual([]);
  });

  it('handles zeros, the subnormal edge, the range edge, Inf and NaN', () => {
    expect(floatToHalf(0)).toBe(0);
    expect(floatToHalf(-0)).toBe(0x8000);
    expect(floatToHalf(2 ** -25)).toBe(0); // half the smallest subnormal: ties to even (0)
    expect(floatToHalf(fromBits(bits(2 ** -25) + 1))).toBe(1);
    expect(floatToHalf(2 ** -26)).toBe(0);
    expect(floatToHalf(65504)).toBe(0x7bff);
    expect(floatToHalf(65519)).toBe(0x7bff);
    expect(floatToHalf(65520)).toBe(0x7c00); // midpoint to 2^16 rounds to even: Inf
    expect(floatToHalf(-Infinity)).toBe(0xfc00);
    expect(Number.isNaN(halfToFloat(floatToHalf(NaN)))).toBe(true);
  });
});

describe('writeSafetensors', () => {
  const tensors = [
    { name: 'a', shape: [2, 3], data: Float32Array.from([1, -2.5, 0.1, 65504, 1e-7, -0]) },
    { name: 'b', shape: [1], data: Float32Array.from([3.14159]) },
  ];

  it('writes F16 that reads back as the rounded values, data 8-byte aligned', () => {
    const bytes = writeSafetensors(tensors, { k: 'é' }, { dtype: 'F16' });
    const f = parseSafetensors(bytes, 'f16');
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
    expect(f.metadata.k).toBe('é');
    for (const t of tensors) {
      const e = f.tensors.get(t.name)!;
      expect(e.dtype).toBe('F16');
      expect(e.end - e.begin).toBe(2 * t.data.length);
      expect(tensorAsFloat32(f, e)).toEqual(Float32Array.from(t.data, (v) => halfToFloat(floatToHalf(v))));
    }
    expect(bytes.byteLength).toBeLessThan(writeSafetensors(tensors, { k: 'é' }).byteLength);
  });

  it('still writes F32 by default, bit for bit', () => {
    const f = parseSafetensors(writeSafetensors(tensors, {}), 'f32');
    for (const t of tensors) {
      expect(f.tensors.get(t.name)!.dtype).toBe('F32');
      expect(tensorAsFloat32(f, f.tensors.get(t.name)!)).toEqual(t.data);
    }
  });

  it('refuses a finite value beyond the F16 range, naming the tensor', () => {
    const e = (() => {
      try {
        writeSafetensors([{ name: 'big', shape: [2], data: Float32Array.from([1, 70000]) }], {}, { dtype: 'F16' });
      } catch (err) {
        return err as WebvitError;
      }
    })();
    expect(e).toBeInstanceOf(WebvitError);
    expect(e!.message).toContain('tensor big holds 70000 at index 1');
  });
});
