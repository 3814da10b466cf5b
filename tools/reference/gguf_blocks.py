#!/usr/bin/env python3
"""Writes tests/fixtures/gguf/block_types.gguf: random blocks of every GGML
block type qwenserve reads, each next to its values as this script decodes
them (numpy, written from the formats' descriptions in llama.cpp's
ggml-common.h / ggml-quants.c, independently of src/kernels/quant.cc).

Usage: gguf_blocks.py OUT.gguf [SEED]
       gguf_blocks.py --check FIXTURE.gguf   (ctest gguf_blocks_fixture: the
       committed fixture is byte for byte what this script writes; exit 77
       without numpy)

For each type T the file holds tensor "T" (ne = {512, 2}: two rows of 512
values, raw blocks) and "T.f32" (F32, the same shape: the decoded values).
Block bytes are uniform random except the f16 scales, which are finite:
random magnitudes 2^-14 .. 2^-2 with random signs, plus one block per row
with d = 0 and one with a subnormal d, so every bit of every field is
exercised. Values are float32 with ggml's operation order and roundings
(a * q - m is two roundings; numpy never fuses them).
"""
import struct
import sys

try:
    import numpy as np
except ImportError:  # ctest: skipped
    sys.exit(77)

K, ROWS = 512, 2
F32 = np.float32

# type name -> (ggml type id, elements per block, bytes per block)
TYPES = {
    "Q4_0": (2, 32, 18),
    "Q4_1": (3, 32, 20),
    "Q5_0": (6, 32, 22),
    "Q5_1": (7, 32, 24),
    "Q8_0": (8, 32, 34),
    "Q2_K": (10, 256, 84),
    "Q3_K": (11, 256, 110),
    "Q4_K": (12, 256, 144),
    "Q5_K": (13, 256, 176),
    "Q6_K": (14, 256, 210),
    "IQ4_NL": (20, 32, 18),
}
# Byte offsets of the f16 fields inside each block.
HALVES = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
    "IQ4_NL": [0],
}
IQ4NL = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113],
                 dtype=F32)


def half(blocks, off):
    """f16 field at byte `off` of every block -> float32 column [nblocks, 1]."""
    return blocks[:, off:off + 2].copy().view("<f2").astype(F32)


def nibbles32(qs):
    """[nb, 16] bytes -> [nb, 32]: elements 0..15 low nibbles, 16..31 high."""
    return np.concatenate([qs & 0xF, qs >> 4], axis=1).astype(np.int32)


def bits(qh, count):
    """[nb, count/8] bytes -> [nb, count] bits, little-endian bit order."""
    return np.unpackbits(qh, axis=1, bitorder="little").astype(np.int32)[:, :count]


def planes2(qs):
    """Q2_K / Q3_K: [nb, 64] -> [nb, 256] 2-bit values; element 128h + 32s + t
    is bits 2s..2s+1 of qs[32h + t]."""
    out = np.empty((qs.shape[0], 256), dtype=np.int32)
    for h in range(2):
        for s in range(4):
            out[:, 128 * h + 32 * s:128 * h + 32 * s + 32] = (qs[:, 32 * h:32 * h + 32] >> (2 * s)) & 3
    return out


def scale_min_k4(sc):
    """Q4_K / Q5_K: [nb, 12] -> (scales [nb, 8], mins [nb, 8]) as float32."""
    s = np.empty((sc.shape[0], 8), dtype=np.int32)
    m = np.empty_like(s)
    s[:, :4] = sc[:, 0:4] & 63
    m[:, :4] = sc[:, 4:8] & 63
    s[:, 4:] = (sc[:, 8:12] & 0xF) | ((sc[:, 0:4] >> 6) << 4)
    m[:, 4:] = (sc[:, 8:12] >> 4) | ((sc[:, 4:8] >> 6) << 4)
    return s.astype(F32), m.astype(F32)


def decode(name, b):
    """Blocks [nb, bytes] (uint8) -> values [nb * elements] float32."""
    if name in ("Q4_0", "IQ4_NL"):
        d, q = half(b, 0), nibbles32(b[:, 2:18])
        if name == "Q4_0":
            return ((q - 8).astype(F32) * d).ravel()
        return (d * IQ4NL[q]).ravel()
    if name == "Q4_1":
        d, m, q = half(b, 0), half(b, 2), nibbles32(b[:, 4:20])
        return (q.astype(F32) * d + m).ravel()
    if name in ("Q5_0", "Q5_1"):
        o = 2 if name == "Q5_0" else 4
        q = nibbles32(b[:, o + 4:o + 20]) | (bits(b[:, o:o + 4], 32) << 4)
        d = half(b, 0)
        if name == "Q5_0":
            return ((q - 16).astype(F32) * d).ravel()
        return (q.astype(F32) * d + half(b, 2)).ravel()
    if name == "Q8_0":
        return (b[:, 2:34].view(np.int8).astype(F32) * half(b, 0)).ravel()
    if name == "Q2_K":
        sc = b[:, 0:16].astype(np.int32)
        d, dmin = half(b, 80), half(b, 82)
        dl = np.repeat(d * (sc & 0xF).astype(F32), 16, axis=1)
        ml = np.repeat(dmin * (sc >> 4).astype(F32), 16, axis=1)
        return (dl * planes2(b[:, 16:80]).astype(F32) - ml).ravel()
    if name == "Q3_K":
        sc = b[:, 96:108].astype(np.int32)
        sub = np.arange(16)
        low = np.where(sub < 8, sc[:, sub % 8] & 0xF, sc[:, sub % 8] >> 4)
        high = (sc[:, 8 + sub % 4] >> (2 * (sub // 4))) & 3
        dl = np.repeat(half(b, 108) * ((low | (high << 4)) - 32).astype(F32), 16, axis=1)
        hm = bits(b[:, 0:32], 256).reshape(-1, 32, 8)  # [nb][byte l][bit j]
        hbit = hm.transpose(0, 2, 1).reshape(-1, 256)  # element 32 j + l
        q = planes2(b[:, 32:96]) - np.where(hbit == 1, 0, 4)
        return (dl * q.astype(F32)).ravel()
    if name in ("Q4_K", "Q5_K"):
        d, dmin = half(b, 0), half(b, 2)
        s, m = scale_min_k4(b[:, 4:16])
        qs = b[:, 16:144] if name == "Q4_K" else b[:, 48:176]
        q = np.empty((b.shape[0], 256), dtype=np.int32)
        for sb in range(8):
            chunk = qs[:, 32 * (sb // 2):32 * (sb // 2) + 32]
            q[:, 32 * sb:32 * sb + 32] = (chunk & 0xF) if sb % 2 == 0 else (chunk >> 4)
        if name == "Q5_K":
            hb = bits(b[:, 16:48], 256).reshape(-1, 32, 8)  # bit sb of qh[l]
            q += 16 * hb.transpose(0, 2, 1).reshape(-1, 256)
        d1 = np.repeat(d * s, 32, axis=1)
        m1 = np.repeat(dmin * m, 32, axis=1)
        return (d1 * q.astype(F32) - m1).ravel()
    if name == "Q6_K":
        ql, qh = b[:, 0:128].astype(np.int32), b[:, 128:192].astype(np.int32)
        sc = b[:, 192:208].view(np.int8).astype(F32)
        d = half(b, 208)
        q = np.empty((b.shape[0], 256), dtype=np.int32)
        for h in range(2):  # each 128 elements: ql[64 h ..], qh[32 h ..]
            L, H = ql[:, 64 * h:64 * h + 64], qh[:, 32 * h:32 * h + 32]
            base = 128 * h
            q[:, base + 0:base + 32] = (L[:, 0:32] & 0xF) | (((H >> 0) & 3) << 4)
            q[:, base + 32:base + 64] = (L[:, 32:64] & 0xF) | (((H >> 2) & 3) << 4)
            q[:, base + 64:base + 96] = (L[:, 0:32] >> 4) | (((H >> 4) & 3) << 4)
            q[:, base + 96:base + 128] = (L[:, 32:64] >> 4) | (((H >> 6) & 3) << 4)
        dl = np.repeat(d * sc, 16, axis=1)
        return (dl * (q - 32).astype(F32)).ravel()
    raise ValueError(name)


def random_blocks(name, rng):
    _, be, bb = TYPES[name]
    nb = ROWS * K // be
    b = rng.integers(0, 256, size=(nb, bb), dtype=np.uint8)
    for off in HALVES[name]:
        mag = np.exp2(rng.uniform(-14, -2, size=nb)).astype(np.float16)
        sign = np.where(rng.integers(0, 2, size=nb) == 1, -1, 1).astype(np.float16)
        b[:, off:off + 2] = (mag * sign).view(np.uint8).reshape(nb, 2)
    per_row = nb // ROWS
    for r in range(ROWS):  # d = 0 in one block, a subnormal d in another
        b[r * per_row, HALVES[name][0]:HALVES[name][0] + 2] = 0
        b[r * per_row + per_row - 1, HALVES[name][0]:HALVES[name][0] + 2] = [0x37, 0x02]
    return b


def gguf_bytes(tensors):
    """tensors: [(name, ne list, ggml type id, bytes)] -> GGUF v3, alignment 32."""
    def s(x):
        x = x.encode()
        return struct.pack("<Q", len(x)) + x

    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 1)
    head += s("general.architecture") + struct.pack("<I", 8) + s("fixture")
    offset, infos, data = 0, b"", b""
    for name, ne, tid, raw in tensors:
        infos += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        infos += struct.pack("<IQ", tid, offset)
        pad = (-len(raw)) % 32
        data += raw + b"\0" * pad
        offset += len(raw) + pad
    out = head + infos
    out += b"\0" * ((-len(out)) % 32)
    return out + data


def fixture_bytes(seed):
    rng = np.random.default_rng(seed)
    tensors = []
    for name, (tid, _, _) in TYPES.items():
        b = random_blocks(name, rng)
        v = decode(name, b)
        assert v.shape == (ROWS * K,) and np.isfinite(v).all(), name
        tensors.append((name, [K, ROWS], tid, b.tobytes()))
        tensors.append((name + ".f32", [K, ROWS], 0, v.astype("<f4").tobytes()))
    return gguf_bytes(tensors)


def main():
    if sys.argv[1] == "--check":
        with open(sys.argv[2], "rb") as f:
            same = f.read() == fixture_bytes(20261130)
        print("fixture matches the script" if same else "FIXTURE DIFFERS from the script")
        return 0 if same else 1
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 20261130
    with open(sys.argv[1], "wb") as f:
        f.write(fixture_bytes(seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
