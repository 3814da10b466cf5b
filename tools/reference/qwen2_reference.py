#!/usr/bin/python3
"""Independent float32 PyTorch forward pass of a Qwen2 causal LM.

A transcription of Hugging Face transformers' modeling_qwen2.py (eager path,
no KV cache): Qwen2RMSNorm, Qwen2RotaryEmbedding + rotate_half +
apply_rotary_pos_emb, repeat_kv, eager attention with a causal mask and a
float32 softmax, Qwen2MLP = down(silu(gate(x)) * up(x)), tied or untied
lm_head. Weights come from model.safetensors through the tiny reader in
st_io.py (BF16 widened exactly to float32); everything is computed in float32.

    /usr/bin/python3 tools/reference/qwen2_reference.py MODEL_DIR 151643 872 11
prints the greedy next token and the top-5 logits for the given prompt ids.
"""

import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

torch.set_num_threads(1)


def rms_norm(x, w, eps):
    # Qwen2RMSNorm: variance = mean(x^2) in float32, x * rsqrt(var + eps), then w * x.
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def rope_inv_freq(cfg, dim):
    """(inv_freq [dim/2] float32, attention_scaling) as HF's ROPE_INIT_FUNCTIONS."""
    base = float(cfg.get("rope_theta", 10000.0))
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "default":
        return inv_freq, 1.0
    if kind == "linear":
        return inv_freq / float(rs["factor"]), 1.0
    if kind == "yarn":
        factor = float(rs["factor"])
        orig = rs.get("original_max_position_embeddings") or cfg["max_position_embeddings"]

        def get_mscale(scale, mscale=1.0):
            return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0

        attn = rs.get("attention_factor")
        if attn is None:
            m, mad = rs.get("mscale"), rs.get("mscale_all_dim")
            attn = get_mscale(factor, m) / get_mscale(factor, mad) if (m and mad) else \
                get_mscale(factor)
        beta_fast = rs.get("beta_fast") or 32
        beta_slow = rs.get("beta_slow") or 1

        def corr_dim(rot):
            return (dim * math.log(orig / (rot * 2 * math.pi))) / (2 * math.log(base))

        low = max(math.floor(corr_dim(beta_fast)), 0)
        high = min(math.ceil(corr_dim(beta_slow)), dim - 1)
        if low == high:
            high += 0.001
        ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
        pos_freqs = base ** (torch.arange(0, dim, 2).float() / dim)
        extra = 1.0 / pos_freqs
        inter = 1.0 / (factor * pos_freqs)
        ef = 1 - ramp  # extrapolation factor
        return inter * (1 - ef) + extra * ef, float(attn)
    raise ValueError(f"rope_scaling type {kind!r} not supported")


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Qwen2Reference:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = cfg = json.load(f)
        self.w = {k: torch.from_numpy(v.copy())
                  for k, v in st_io.read_f32(os.path.join(model_dir, "model.safetensors")).items()}
        self.H = cfg["hidden_size"]
        self.nh = cfg["num_attention_heads"]
        self.nkv = cfg["num_key_value_heads"]
        self.hd = cfg.get("head_dim") or self.H // self.nh
        self.L = cfg["num_hidden_layers"]
        self.eps = float(cfg["rms_norm_eps"])
        self.inv_freq, self.attn_scaling = rope_inv_freq(cfg, self.hd)
        self.lm_head = self.w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") \
            else self.w["lm_head.weight"]

    def rope(self, T):
        pos = torch.arange(T, dtype=torch.float32)
        # HF: inv_freq[:, None] @ position_ids[None, :] in float32, then cat(freqs, freqs).
        freqs = (self.inv_freq[:, None].float() @ pos[None, :]).transpose(0, 1)  # [T][hd/2]
        emb = torch.cat((freqs, freqs), dim=-1)  # [T][hd]
        return emb.cos() * self.attn_scaling, emb.sin() * self.attn_scaling

    def layer(self, i, x, cos, sin, mask):
        w = self.w
        p = f"model.layers.{i}."
        T = x.shape[0]
        h = rms_norm(x, w[p + "input_layernorm.weight"], self.eps)
        q = torch.nn.functional.linear(h, w[p + "self_attn.q_proj.weight"],
                                       w[p + "self_attn.q_proj.bias"])
        k = torch.nn.functional.linear(h, w[p + "self_attn.k_proj.weight"],
                                       w[p + "self_attn.k_proj.bias"])
        v = torch.nn.functional.linear(h, w[p + "self_attn.v_proj.weight"],
                                       w[p + "self_attn.v_proj.bias"])
        q = q.view(T, self.nh, self.hd).transpose(0, 1)   # [nh][T][hd]
        k = k.view(T, self.nkv, self.hd).transpose(0, 1)  # [nkv][T][hd]
        v = v.view(T, self.nkv, self.hd).transpose(0, 1)  # [nkv][T][hd]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv  # repeat_kv: kv head j serves query heads j*rep..j*rep+rep-1
        k = k.repeat_interleave(rep, dim=0)
        v = v.repeat_interleave(rep, dim=0)
        scores = torch.matmul(q, k.transpose(1, 2)) * (self.hd ** -0.5) + mask  # [nh][T][T]
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32)
        a = torch.matmul(probs, v).transpose(0, 1).reshape(T, self.nh * self.hd)
        x = x + torch.nn.functional.linear(a, w[p + "self_attn.o_proj.weight"])
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], self.eps)
        g = torch.nn.functional.linear(h, w[p + "mlp.gate_proj.weight"])
        u = torch.nn.functional.linear(h, w[p + "mlp.up_proj.weight"])
        return x + torch.nn.functional.linear(torch.nn.functional.silu(g) * u,
                                              w[p + "mlp.down_proj.weight"])

    @torch.no_grad()
    def forward(self, ids, rows=None):
        """ids: list of token ids -> logits [T][V] float32 numpy (row j predicts token j+1).

        rows: optional list of row indices; then only those rows' logits are returned
        ([len(rows)][V]), which skips most of the lm_head work.
        """
        T = len(ids)
        x = self.w["model.embed_tokens.weight"][torch.tensor(ids, dtype=torch.long)]  # [T][H]
        cos, sin = self.rope(T)
        mask = torch.full((T, T), torch.finfo(torch.float32).min).triu(1)  # causal
        for i in range(self.L):
            x = self.layer(i, x, cos, sin, mask)
        if rows is not None:
            x = x[torch.tensor(rows, dtype=torch.long)]
        x = rms_norm(x, self.w["model.norm.weight"], self.eps)
        return torch.nn.functional.linear(x, self.lm_head).numpy()


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    ref = Qwen2Reference(sys.argv[1])
    logits = ref.forward([int(t) for t in sys.argv[2:]])[-1]
    top = np.argsort(-logits, kind="stable")[:5]
    print("next:", int(top[0]))
    for t in top:
        print(int(t), repr(float(logits[t])))


if __name__ == "__main__":
    main()
