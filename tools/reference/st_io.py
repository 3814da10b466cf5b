"""Tiny safetensors reader/writer (json header + numpy), no `safetensors` package.

File layout: u64 little-endian header length N, N bytes of JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
then the raw little-endian tensor bytes. BF16 is read as uint16 and widened to
float32 by shifting into the top half (exact).
"""

import json
import struct

import numpy as np

_NP = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I32": np.int32,
       "I64": np.int64, "U8": np.uint8, "F64": np.float64}


def read_header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header, 8 + n


def read_raw(path):
    """Returns {name: (dtype_str, shape, bytes)} with the tensors' exact bytes."""
    header, base = read_header(path)
    out = {}
    with open(path, "rb") as f:
        for name, info in header.items():
            b, e = info["data_offsets"]
            f.seek(base + b)
            out[name] = (info["dtype"], list(info["shape"]), f.read(e - b))
    return out


def bf16_bits_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def read_f32(path):
    """Returns {name: float32 ndarray} (BF16/F16 widened exactly)."""
    out = {}
    for name, (dt, shape, raw) in read_raw(path).items():
        a = np.frombuffer(raw, dtype=_NP[dt]).reshape(shape)
        if dt == "BF16":
            a = bf16_bits_to_f32(a)
        out[name] = a.astype(np.float32)
    return out


def write(path, tensors, metadata=None):
    """tensors: list of (name, dtype_str, shape, bytes_like), written in that order."""
    header = {}
    off = 0
    for name, dt, shape, raw in tensors:
        n = len(raw)
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    if metadata:
        header["__metadata__"] = dict(metadata)
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)  # data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for _, _, _, raw in tensors:
            f.write(raw)
