#!/usr/bin/env python3
"""Prints the RoPE reference numbers hard-coded in hf_config_test.cc.

A re-derivation of transformers' modeling_rope_utils.py (default, linear and
yarn init functions) in torch float32; transformers itself is not installed
here. Usage: /usr/bin/python3 tests/formats/rope_reference.py
"""
import math

import torch


def default(base, dim):
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)), 1.0


def linear(base, dim, factor):
    inv, att = default(base, dim)
    inv /= factor
    return inv, att


def yarn(base, dim, factor, orig_max, beta_fast=32, beta_slow=1, attention_factor=None,
         mscale=None, mscale_all_dim=None, truncate=True):
    def get_mscale(scale, m=1):
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    if attention_factor is None:
        if mscale and mscale_all_dim:
            attention_factor = float(get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim))
        else:
            attention_factor = get_mscale(factor)

    def corr_dim(rot):
        return (dim * math.log(orig_max / (rot * 2 * math.pi))) / (2 * math.log(base))

    low, high = corr_dim(beta_fast), corr_dim(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
    pos = base ** (torch.arange(0, dim, 2).float() / dim)
    extra, inter = 1.0 / pos, 1.0 / (factor * pos)
    ef = 1 - ramp
    return inter * (1 - ef) + extra * ef, attention_factor


IDX = [0, 1, 5, 10, 15, 16, 20, 25, 31]
cases = {
    "default_64_1e6": default(1e6, 64),
    "default_128_1e4": default(1e4, 128),
    "linear_64_1e6_x2.5": linear(1e6, 64, 2.5),
    "yarn_64_1e6_x4_32768": yarn(1e6, 64, 4.0, 32768),
    "yarn_64_1e4_x8_4096_custom": yarn(1e4, 64, 8.0, 4096, beta_fast=16, beta_slow=2, mscale=0.707,
                                       mscale_all_dim=1.0, truncate=False),
}
for name, (inv, att) in cases.items():
    vals = ", ".join("%.9g" % inv[i].item() for i in IDX)
    print("%s: n=%d att=%.9g {%s}" % (name, inv.numel(), att, vals))
