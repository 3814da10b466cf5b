#!/usr/bin/python3
"""Deterministic synthetic Qwen2 weights (the Python twin of tools/synth/synth.cc).

Every tensor is a pure function of (seed, tensor name, element index), so the
C++ and numpy versions produce the same bytes. See README.md for the exact rule.

    /usr/bin/python3 tools/reference/synth.py --config tools/synth/configs/tiny.json \
        --seed 1234 --dtype bf16 -o /tmp/tiny
"""

import argparse
import json
import math
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15
CHUNK = 1 << 22  # elements generated per numpy step (bounds temporary memory)

# Scale rules (uniform values in [-scale, scale] + offset); see README.md.
EMBED_GAIN = 3.0    # embed / lm_head: EMBED_GAIN * sqrt(3 / hidden_size)
LINEAR_GAIN = 2.0   # projection weights: LINEAR_GAIN * sqrt(3 / in_features)
BIAS_SCALE = 0.1    # q/k/v biases
NORM_SCALE = 0.1    # RMSNorm weights: 1.0 +- NORM_SCALE
NORM_OFFSET = 1.0

DEFAULT_TOKENIZER = os.environ.get(
    "QS_TOKENIZER_DATA",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared",
                 "qwen2-tokenizer"))
TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json")


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & MASK64
    return h


def _mix(z):
    # splitmix64 finaliser on a uint64 array (numpy wraps modulo 2^64).
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniform_f32(name: str, count: int, seed: int, scale: float, offset: float) -> np.ndarray:
    """float32 values of one tensor, row-major: float32(float32(a_i * scale) + offset)."""
    s0 = np.uint64((seed ^ fnv1a64(name.encode())) & MASK64)
    sc = np.float32(scale)
    of = np.float32(offset)
    out = np.empty(count, dtype=np.float32)
    with np.errstate(over="ignore"):
        for b in range(0, count, CHUNK):
            e = min(count, b + CHUNK)
            i1 = np.arange(b + 1, e + 1, dtype=np.uint64)  # i + 1
            z = _mix(s0 + i1 * np.uint64(GOLDEN_GAMMA))
            k = (z >> np.uint64(40)).astype(np.float32)      # 24 random bits, exact
            a = k * np.float32(2.0 ** -23) - np.float32(1.0)  # 2u - 1, exact
            v = a * sc                                        # rounded once
            out[b:e] = v + of                                 # rounded once
    return out


def f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """Round to nearest even, NaN kept quiet (as core/dtype.h and torch)."""
    u = x.astype(np.float32).view(np.uint32)
    nan = (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    r = ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16))
    r = np.where(nan, (u >> np.uint32(16)) | np.uint32(0x40), r)
    return r.astype(np.uint16)


def tensor_specs(cfg):
    """[(name, shape, scale, offset)] in file order, for an HF Qwen2 config dict."""
    H = cfg["hidden_size"]
    I = cfg["intermediate_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or H // nh
    V = cfg["vocab_size"]
    emb = EMBED_GAIN * math.sqrt(3.0 / H)

    def lin(n_in):
        return LINEAR_GAIN * math.sqrt(3.0 / n_in)

    specs = [("model.embed_tokens.weight", [V, H], emb, 0.0)]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        specs += [
            (p + "input_layernorm.weight", [H], NORM_SCALE, NORM_OFFSET),
            (p + "self_attn.q_proj.weight", [nh * hd, H], lin(H), 0.0),
            (p + "self_attn.q_proj.bias", [nh * hd], BIAS_SCALE, 0.0),
            (p + "self_attn.k_proj.weight", [nkv * hd, H], lin(H), 0.0),
            (p + "self_attn.k_proj.bias", [nkv * hd], BIAS_SCALE, 0.0),
            (p + "self_attn.v_proj.weight", [nkv * hd, H], lin(H), 0.0),
            (p + "self_attn.v_proj.bias", [nkv * hd], BIAS_SCALE, 0.0),
            (p + "self_attn.o_proj.weight", [H, nh * hd], lin(nh * hd), 0.0),
            (p + "post_attention_layernorm.weight", [H], NORM_SCALE, NORM_OFFSET),
            (p + "mlp.gate_proj.weight", [I, H], lin(H), 0.0),
            (p + "mlp.up_proj.weight", [I, H], lin(H), 0.0),
            (p + "mlp.down_proj.weight", [H, I], lin(I), 0.0),
        ]
    specs.append(("model.norm.weight", [H], NORM_SCALE, NORM_OFFSET))
    if not cfg.get("tie_word_embeddings", False):
        specs.append(("lm_head.weight", [V, H], emb, 0.0))
    return specs


def tensor_bytes(name, shape, scale, offset, seed, dtype):
    v = uniform_f32(name, int(np.prod(shape)), seed, scale, offset)
    if dtype == "BF16":
        return f32_to_bf16_bits(v).tobytes()
    return v.tobytes()


GENERATION_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "synth",
                                 "configs", "generation_config.json")


def synthesize(config_path, seed, out_dir, dtype="BF16", tokenizer_dir=DEFAULT_TOKENIZER):
    dtype = dtype.upper()
    assert dtype in ("BF16", "F32"), dtype
    with open(config_path) as f:
        cfg = json.load(f)
    os.makedirs(out_dir, exist_ok=True)
    shutil.copyfile(config_path, os.path.join(out_dir, "config.json"))
    shutil.copyfile(GENERATION_CONFIG, os.path.join(out_dir, "generation_config.json"))
    tensors = [(n, dtype, shape, tensor_bytes(n, shape, sc, of, seed, dtype))
               for n, shape, sc, of in sorted(tensor_specs(cfg))]  # by name, as C++
    st_io.write(os.path.join(out_dir, "model.safetensors"), tensors,
                {"format": "pt", "qs_synth_seed": str(seed)})
    if tokenizer_dir:
        for fn in TOKENIZER_FILES:
            src = os.path.join(tokenizer_dir, fn)
            if os.path.exists(src):
                shutil.copyfile(src, os.path.join(out_dir, fn))
    return cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "f32"])
    ap.add_argument("--tokenizer", default=DEFAULT_TOKENIZER)
    ap.add_argument("-o", "--out", required=True)
    a = ap.parse_args()
    synthesize(a.config, a.seed, a.out, a.dtype, a.tokenizer)


if __name__ == "__main__":
    main()
