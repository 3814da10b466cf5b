#!/usr/bin/python3
"""Cross-check of qwen2_reference.py: an independent float64 numpy per-token loop
(KV-cache style, explicit RoPE pairs, per-head softmax) must give the same logits
within 1e-4 on the tiny synthetic models. Exit 0 ok, 1 mismatch.

    /usr/bin/python3 tools/reference/check_reference.py
"""
import json, os, sys, tempfile
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io, synth, qwen2_reference as qr
ok = True
tmp = tempfile.mkdtemp()
for cfgname in ("tiny.json", "tiny-untied.json"):
    d = os.path.join(tmp, cfgname)
    synth.synthesize(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'synth', 'configs', '') + cfgname, 1234, d, 'BF16', None)
    cfg = json.load(open(d + '/config.json'))
    W = {k: v.astype(np.float64) for k, v in st_io.read_f32(d + '/model.safetensors').items()}
    H, nh, nkv = cfg['hidden_size'], cfg['num_attention_heads'], cfg['num_key_value_heads']
    hd = H // nh; eps = cfg['rms_norm_eps']; theta = cfg['rope_theta']
    def norm(x, w): return w * x / np.sqrt(np.mean(x * x) + eps)
    def rope(v, pos):  # v [hd]; pairs (i, i+hd/2)
        out = v.copy()
        for i in range(hd // 2):
            f = pos / theta ** (2 * i / hd)
            c, s = np.cos(f), np.sin(f)
            out[i] = v[i] * c - v[i + hd // 2] * s
            out[i + hd // 2] = v[i + hd // 2] * c + v[i] * s
        return out
    ids = [5, 151000, 77, 12345, 9, 9, 100000]
    K = [[] for _ in range(cfg['num_hidden_layers'])]; Vc = [[] for _ in range(cfg['num_hidden_layers'])]
    lm = W['model.embed_tokens.weight'] if cfg['tie_word_embeddings'] else W['lm_head.weight']
    naive = []
    for pos, t in enumerate(ids):
        x = W['model.embed_tokens.weight'][t].copy()
        for l in range(cfg['num_hidden_layers']):
            p = f'model.layers.{l}.'
            h = norm(x, W[p + 'input_layernorm.weight'])
            q = W[p + 'self_attn.q_proj.weight'] @ h + W[p + 'self_attn.q_proj.bias']
            k = W[p + 'self_attn.k_proj.weight'] @ h + W[p + 'self_attn.k_proj.bias']
            v = W[p + 'self_attn.v_proj.weight'] @ h + W[p + 'self_attn.v_proj.bias']
            K[l].append([rope(k[j*hd:(j+1)*hd], pos) for j in range(nkv)])
            Vc[l].append([v[j*hd:(j+1)*hd] for j in range(nkv)])
            att = np.zeros(nh * hd)
            for hh in range(nh):
                g = hh // (nh // nkv)
                qq = rope(q[hh*hd:(hh+1)*hd], pos)
                sc = np.array([qq @ K[l][s][g] for s in range(pos + 1)]) / np.sqrt(hd)
                pr = np.exp(sc - sc.max()); pr /= pr.sum()
                att[hh*hd:(hh+1)*hd] = sum(pr[s] * Vc[l][s][g] for s in range(pos + 1))
            x = x + W[p + 'self_attn.o_proj.weight'] @ att
            h = norm(x, W[p + 'post_attention_layernorm.weight'])
            gt = W[p + 'mlp.gate_proj.weight'] @ h; up = W[p + 'mlp.up_proj.weight'] @ h
            x = x + W[p + 'mlp.down_proj.weight'] @ (gt / (1 + np.exp(-gt)) * up)
        naive.append(lm @ norm(x, W['model.norm.weight']))
    naive = np.array(naive)
    ref = qr.Qwen2Reference(d).forward(ids)
    print(cfgname, 'max abs diff', np.abs(naive - ref).max(), 'max |logit|', np.abs(ref).max(),
          'argmax equal', (naive.argmax(1) == ref.argmax(1)).all())
    ok = ok and np.abs(naive - ref).max() < 1e-4 and (naive.argmax(1) == ref.argmax(1)).all()
import shutil
shutil.rmtree(tmp)
sys.exit(0 if ok else 1)
