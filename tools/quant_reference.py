#!/usr/bin/python3
"""A float64 NumPy quantiser, written from the definition in src/kernels/matmul/quant.ts (and
docs/quantization.md) and not from its code: test/model/quant_reference.test.ts compares the
converter's codes and scales with these, byte for byte.

    /usr/bin/python3 tools/quant_reference.py IN.safetensors OUT.safetensors

IN holds float32 matrices W[K, N] named "<kind>/<anything>" (kind int8 or q4). OUT holds, for each,
the tensors a webvit file stores for it (docs/weights-format.md):
    int8: NAME I8 [K, N] codes,          NAME_scale F32 [N]
    q4:   NAME U8 [ceil(K*N/2)] codes,   NAME_scale F16 [ceil(K/32), N]
A q4 scale that overflows f16 is an error (exit 1), as in the converter.
"""
import json
import struct
import sys

import numpy as np

Q4_BLOCK = 32


def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        assert e['dtype'] == 'F32', f'{name}: expected F32, got {e["dtype"]}'
        b, en = e['data_offsets']
        out[name] = np.frombuffer(data[base + b:base + en], dtype='<f4').reshape(e['shape'])
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {'dtype': dtype, 'shape': list(shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - (len(h) + 8) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def quantize_int8(w):
    """Per output column n: s = float32(max_k |W[k, n]| / 127); code = clip(rint(W / s), -127, 127)."""
    w64 = w.astype(np.float64)
    k, n = w.shape
    mx = np.abs(w64).max(axis=0) if k else np.zeros(n)
    s32 = (mx / 127.0).astype(np.float32)
    s64 = s32.astype(np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        q = np.rint(w64 / s64)
    q = np.where(s64 == 0, 0.0, q)
    codes = np.clip(q, -127, 127).astype(np.int8)
    return codes.reshape(-1).view(np.uint8).tobytes(), s32.astype('<f4').tobytes()


def quantize_q4(w):
    """Per block of 32 rows along K, per column: m = the block's value of largest magnitude (the first
    such row); s = float16(float32(m / -8)); code = clip(rint(W / s), -8, 7): m is code -8."""
    w64 = w.astype(np.float64)
    k, n = w.shape
    blocks = -(-k // Q4_BLOCK)
    scales = np.zeros((blocks, n), dtype=np.float16)
    q = np.zeros((k, n), dtype=np.int64)
    for b in range(blocks):
        blk = w64[b * Q4_BLOCK:(b + 1) * Q4_BLOCK]
        mx = np.abs(blk).max(axis=0)
        m = blk[np.abs(blk).argmax(axis=0), np.arange(n)] if blk.size else np.zeros(n)
        with np.errstate(over='ignore'):
            s16 = np.where(m == 0, 0.0, m / -8.0).astype(np.float32).astype(np.float16)  # +0 for a block of zeros
        if np.isinf(s16).any():
            sys.exit(f'a block reaches {mx.max()}: beyond what an f16 scale holds')
        scales[b] = s16
        s64 = s16.astype(np.float64)
        with np.errstate(divide='ignore', invalid='ignore'):
            r = np.rint(blk / s64)
        q[b * Q4_BLOCK:(b + 1) * Q4_BLOCK] = np.clip(np.where(s64 == 0, 0.0, r), -8, 7).astype(np.int64)
    nib = (q.reshape(-1) & 0xF).astype(np.uint8)  # two's complement nibbles, flat index k*N + n
    packed = np.zeros(-(-nib.size // 2), dtype=np.uint8)
    packed |= nib[0::2]  # even index: low nibble
    packed[:nib[1::2].size] |= nib[1::2] << 4  # odd index: high nibble
    return packed.tobytes(), scales.astype('<f2').tobytes()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    out = {}
    for name, w in read_safetensors(sys.argv[1]).items():
        kind = name.split('/')[0]
        k, n = w.shape
        if kind == 'int8':
            codes, scales = quantize_int8(w)
            out[name] = ('I8', [k, n], codes)
            out[name + '_scale'] = ('F32', [n], scales)
        elif kind == 'q4':
            codes, scales = quantize_q4(w)
            out[name] = ('U8', [-(-k * n // 2)], codes)
            out[name + '_scale'] = ('F16', [-(-k // Q4_BLOCK), n], scales)
        else:
            sys.exit(f'{name}: the name must start with int8/ or q4/')
    write_safetensors(sys.argv[2], out)


if __name__ == '__main__':
    main()
