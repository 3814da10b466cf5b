#!/usr/bin/python3
"""Packs a BF16/F32 Qwen2 model directory into hub-format GPTQ or AWQ checkpoints (numpy only).

Round-to-nearest per group (no Hessian: the FORMAT is what is tested), written exactly as
AutoGPTQ / optimum (GPTQ, checkpoint format v1) and AutoAWQ (GEMM) lay it out:

  GPTQ  <mod>.qweight int32 [k*bits/32][n]  input index i in row i//pf, bits (i%pf)*bits
        <mod>.qzeros  int32 [G][n*bits/32]  output j in column j//pf, bits (j%pf)*bits;
                                            stores zero-1 (v1: sym 4-bit -> 7 = 0x77777777)
        <mod>.scales  F16   [G][n]
        <mod>.g_idx   int32 [k]             group of input i (i//group_size unless desc_act)
  AWQ   <mod>.qweight int32 [k][n/8]        outputs 8c+AWQ_ORDER[s] in nibble s (4s..4s+3)
        <mod>.qzeros  int32 [G][n/8]        same order; stores the zero itself
        <mod>.scales  F16   [G][n]
  dequant: W[j][i] = float32(q[i][j] - zero[g][j]) * float32(scale[g][j]), g = g_idx[i]
  (AWQ: g = i // group_size). One float32 multiply of exactly representable values.

pf = 32 / bits values per int32; G = k / group_size (group_size -1: G = 1). Only the
q/k/v/o/gate/up/down projections are quantized; embeddings, norms, biases are F16.

    pack_gptq_awq.py pack IN_DIR OUT_DIR --method gptq --bits 4 [--group-size 128]
                     [--desc-act] [--dequant-out DIR [--dequant-bf16]]
    pack_gptq_awq.py fixtures [--check]   # tests/fixtures/gptq (needs torch unless --check)

Sources: AutoGPTQ auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py (pack: `zeros -= 1`,
forward: `zeros = zeros + 1`), AutoAWQ awq/utils/packing_utils.py (AWQ_ORDER,
AWQ_REVERSE_ORDER), see README.md "GPTQ and AWQ".
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

try:
    import numpy as np
except ImportError:  # ctest formats_gptq_repack: skipped
    print("numpy is not installed: skipped")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st_io  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FIXTURE_DIR = os.path.join(ROOT, "tests", "fixtures", "gptq")
AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]
PROJ = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
MASK64 = (1 << 64) - 1


def quantization_config(method, bits, group_size, desc_act):
    """The "quantization_config" object as the hub's Qwen2.5-*-GPTQ-Int4/Int8 (optimum
    GPTQConfig.to_dict) and Qwen2.5-*-AWQ (AutoAWQ) config.json files carry it."""
    if method == "awq":
        return {"bits": bits, "group_size": group_size, "modules_to_not_convert": None,
                "quant_method": "awq", "version": "gemm", "zero_point": True}
    return {"batch_size": 1, "bits": bits, "block_name_to_quantize": None,
            "cache_block_outputs": True, "damp_percent": 0.01, "dataset": None,
            "desc_act": desc_act, "exllama_config": {"version": 1}, "group_size": group_size,
            "max_input_length": None, "model_seqlen": None,
            "module_name_preceding_first_block": None, "modules_in_block_to_quantize": None,
            "pad_token_id": None, "quant_method": "gptq", "sym": True, "tokenizer": None,
            "true_sequential": True, "use_cuda_fp16": False, "use_exllama": bits == 4}


def quantize(W, method, bits, group_size, perm=None):
    """W [n][k] float32 -> (q [n][k] int64, zero [G][n] int64 actual zero, scale16 [G][n] f16,
    g_idx [k] int32). perm (desc_act): input order in which groups are formed."""
    n, k = W.shape
    gs = k if group_size == -1 else group_size
    assert k % gs == 0, (k, gs)
    G = k // gs
    maxq = (1 << bits) - 1
    if perm is None:
        perm = np.arange(k)
    g_idx = np.empty(k, dtype=np.int32)
    g_idx[perm] = np.arange(k) // gs
    Wg = W[:, perm].reshape(n, G, gs).astype(np.float32)
    if method == "gptq":  # symmetric: zero in the middle, scale from max |w|
        amax = np.abs(Wg).max(axis=2)
        scale = (2 * amax / np.float32(maxq)).astype(np.float16)
        scale[scale == 0] = np.float16(1)
        zero = np.full((n, G), (maxq + 1) // 2, dtype=np.int64)
    else:  # AWQ zero_point: asymmetric min/max
        mx, mn = Wg.max(axis=2), Wg.min(axis=2)
        scale = (np.maximum(mx - mn, np.float32(1e-5)) / np.float32(maxq)).astype(np.float16)
        zero = np.clip(-np.rint(mn / scale.astype(np.float32)), 0, maxq).astype(np.int64)
    sf = scale.astype(np.float32)[:, g_idx]  # [n][k]
    q = np.clip(np.rint(W / sf) + zero[:, g_idx], 0, maxq).astype(np.int64)
    return q, zero.T.copy(), scale.T.copy(), g_idx


def dequantize(q, zero, scale16, g_idx):
    """[n][k] float32: float32(q - zero) * float32(scale), one rounding (exact here)."""
    return ((q - zero.T[:, g_idx]).astype(np.float32) *
            scale16.T.astype(np.float32)[:, g_idx]).astype(np.float32)


def pack_along_rows(v, bits):
    """v [r][c] -> int32 [r*bits/32][c]: element r goes to row r//pf at bits (r%pf)*bits."""
    pf = 32 // bits
    v = v.astype(np.uint32).reshape(v.shape[0] // pf, pf, v.shape[1])
    out = np.zeros((v.shape[0], v.shape[2]), dtype=np.uint32)
    for j in range(pf):
        out |= v[:, j, :] << np.uint32(bits * j)
    return out.view(np.int32)


def pack_along_cols(v, bits, order=None):
    """v [r][c] -> int32 [r][c*bits/32]: slot s of column c holds element c*pf + order[s]."""
    pf = 32 // bits
    order = order or list(range(pf))
    v = v.astype(np.uint32).reshape(v.shape[0], v.shape[1] // pf, pf)
    out = np.zeros((v.shape[0], v.shape[1]), dtype=np.uint32)
    for s in range(pf):
        out |= v[:, :, order[s]] << np.uint32(bits * s)
    return out.view(np.int32)


def pack_linear(W, method, bits, group_size, perm=None):
    """Returns ({suffix: (dtype, shape, bytes)}, dequantized [n][k] float32)."""
    q, zero, scale16, g_idx = quantize(W, method, bits, group_size, perm)
    if method == "gptq":
        t = {"qweight": pack_along_rows(q.T, bits),
             "qzeros": pack_along_cols(zero - 1, bits),  # v1 checkpoints store zero - 1
             "scales": scale16, "g_idx": g_idx}
    else:
        t = {"qweight": pack_along_cols(q.T, bits, AWQ_ORDER),
             "qzeros": pack_along_cols(zero, bits, AWQ_ORDER), "scales": scale16}
    dt = {np.dtype(np.int32): "I32", np.dtype(np.float16): "F16"}
    out = {s: (dt[a.dtype], list(a.shape), np.ascontiguousarray(a).tobytes()) for s, a in t.items()}
    return out, dequantize(q, zero, scale16, g_idx)


def act_order_perm(name, k):
    """A deterministic stand-in for GPTQ's argsort(diag(H)) permutation."""
    h = 0xCBF29CE484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return np.random.RandomState(h % (1 << 32)).permutation(k)


def checksum64(a):
    """Order-sensitive 64-bit checksum of float32 bits (C++: gptq_awq_test.cc):
    sum_i splitmix64(bits_i + i * 0x9E3779B97F4A7C15) mod 2^64."""
    u = np.ascontiguousarray(a, dtype=np.float32).reshape(-1).view(np.uint32).astype(np.uint64)
    z = u + np.arange(u.size, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return int(np.sum(z, dtype=np.uint64))


def is_quantized(name):
    return any(name.endswith("." + p + ".weight") for p in PROJ)


def pack_model(in_dir, method, bits, group_size, desc_act=False):
    """-> (cfg, packed [(name, dtype, shape, bytes)] sorted, dequant {name: float32 array})."""
    with open(os.path.join(in_dir, "config.json")) as f:
        cfg = json.load(f)
    w = st_io.read_f32(os.path.join(in_dir, "model.safetensors"))
    packed, deq = [], {}
    for name in sorted(w):
        a = w[name]
        if is_quantized(name):
            base = name[: -len(".weight")]
            perm = act_order_perm(name, a.shape[1]) if desc_act else None
            t, d = pack_linear(a, method, bits, group_size, perm)
            packed += [(base + "." + s, *v) for s, v in t.items()]
            deq[name] = d
        else:
            h = a.astype(np.float16)  # as the hub's float16 checkpoints (tiny values lose bits)
            packed.append((name, "F16", list(a.shape), h.tobytes()))
            deq[name] = h.astype(np.float32)
    cfg = dict(cfg)
    cfg["torch_dtype"] = "float16"
    cfg["quantization_config"] = quantization_config(method, bits, group_size, desc_act)
    return cfg, sorted(packed), deq


def bf16_round(a):
    u = a.astype(np.float32).view(np.uint32)
    r = ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16))
    return (r.astype(np.uint32) << np.uint32(16)).view(np.float32)


def write_dir(out_dir, in_dir, cfg, tensors):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    for fn in os.listdir(in_dir):
        if fn not in ("config.json", "model.safetensors"):
            shutil.copyfile(os.path.join(in_dir, fn), os.path.join(out_dir, fn))
    st_io.write(os.path.join(out_dir, "model.safetensors"), tensors, {"format": "pt"})


def write_dequant_dir(out_dir, in_dir, cfg, deq, bf16=False):
    """A plain F32 model with the dequantized weights (for the reference forward pass);
    bf16: the dequantized projections rounded to BF16, as a BF16-weight engine runs them."""
    cfg = {k: v for k, v in cfg.items() if k != "quantization_config"}
    cfg["torch_dtype"] = "float32"
    t = [(n, "F32", list(a.shape), (bf16_round(a) if bf16 and is_quantized(n) else a).tobytes())
         for n, a in sorted(deq.items())]
    write_dir(out_dir, in_dir, cfg, t)


# ---------------------------------------------------------------- fixtures (tests/fixtures/gptq)

# name -> (method, bits, group_size, desc_act). Tiny model (hidden 64, intermediate 128):
# group 32 (128 does not divide 64); the hub uses 128 on the 0.5B shape (896 = 7*128).
FIXTURES = {
    "gptq-int4": ("gptq", 4, 32, False),
    "gptq-int8": ("gptq", 8, 32, False),
    "gptq-int4-actorder": ("gptq", 4, 32, True),
    "awq": ("awq", 4, 32, False),
}
FIXTURE_CONFIG, FIXTURE_SEED = "tiny.json", 1234
PROMPT = [9707, 11, 1879, 0, 151643, 3555, 374, 279, 6722, 315, 9625, 30, 576, 6722, 374, 12095]
COLUMNS = list(range(0, 151936, 1499)) + [151643, 151644, 151645]


def fixture_tensors(in_dir, spec):
    """The fixture file: every tensor of the quantized projections (qweight/qzeros/scales/
    g_idx/bias); the test takes embeddings and norms from the C++ synthesizer."""
    cfg, packed, deq = pack_model(in_dir, *spec)
    keep = [t for t in packed if any("." + p + "." in t[0] for p in PROJ)]
    sums = {n: checksum64(a) for n, a in deq.items() if is_quantized(n)}
    first = {n: [float(x) for x in a.reshape(-1)[:8]] for n, a in deq.items() if is_quantized(n)}
    return cfg, keep, deq, sums, first


def f32s(x):
    x = np.float32(x)
    s = str(x)
    return s if np.float32(float(s)) == x else repr(float(x))


def make_fixtures(check):
    import synth  # noqa: E402 (same folder)
    tmp = tempfile.mkdtemp(prefix="qs-gptq-")
    try:
        src = os.path.join(tmp, "bf16")
        synth.synthesize(os.path.join(ROOT, "tools", "synth", "configs", FIXTURE_CONFIG),
                         FIXTURE_SEED, src, "BF16", tokenizer_dir=None)
        bad = 0
        for name, spec in FIXTURES.items():
            cfg, keep, deq, sums, first = fixture_tensors(src, spec)
            st_path = os.path.join(FIXTURE_DIR, name + ".safetensors")
            js_path = os.path.join(FIXTURE_DIR, name + ".json")
            if check:
                new = os.path.join(tmp, name + ".safetensors")
                st_io.write(new, keep, {"format": "pt"})
                with open(new, "rb") as a, open(st_path, "rb") as b:
                    same = a.read() == b.read()
                with open(js_path) as f:
                    same = same and json.load(f)["dequant_checksum64"] == {
                        k: str(v) for k, v in sums.items()}
                print(("ok   " if same else "DIFF ") + name)
                bad += 0 if same else 1
                continue
            os.makedirs(FIXTURE_DIR, exist_ok=True)
            st_io.write(st_path, keep, {"format": "pt"})
            doc = {"config": FIXTURE_CONFIG, "seed": FIXTURE_SEED,
                   "quantization_config": cfg["quantization_config"],
                   "dequant_checksum64": {k: str(v) for k, v in sums.items()},
                   "dequant_first": {k: [f32s(x) for x in v] for k, v in first.items()},
                   "prompt": PROMPT, "columns": COLUMNS}
            doc.update(reference_logits(src, cfg, deq, tmp))
            with open(js_path, "w") as f:
                json.dump(doc, f, indent=1)
                f.write("\n")
            print("wrote", st_path, js_path)
        return 1 if bad else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def reference_logits(src, cfg, deq, tmp):
    """Reference logits on the exact F32 dequantized weights and on those rounded to BF16."""
    import qwen2_reference  # noqa: E402 (needs torch)
    out = {}
    for key, bf16 in (("logits_exact", False), ("logits_bf16_weights", True)):
        d = os.path.join(tmp, "deq-" + key)
        write_dequant_dir(d, src, cfg, deq, bf16)
        logits = np.asarray(qwen2_reference.Qwen2Reference(d).forward(PROMPT))
        out[key] = [[f32s(v) for v in row[COLUMNS]] for row in logits]
        out[key + "_argmax"] = [int(np.argmax(r)) for r in logits]
        out[key + "_max_abs"] = float(np.abs(logits).max())
        shutil.rmtree(d)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="pack a model directory")
    p.add_argument("in_dir")
    p.add_argument("out_dir")
    p.add_argument("--method", choices=["gptq", "awq"], default="gptq")
    p.add_argument("--bits", type=int, choices=[4, 8], default=4)
    p.add_argument("--group-size", type=int, default=128)
    p.add_argument("--desc-act", action="store_true", help="GPTQ act-order (permuted g_idx)")
    p.add_argument("--dequant-out", help="also write the dequantized F32 model here")
    p.add_argument("--dequant-bf16", action="store_true",
                   help="round the dequantized projections to BF16 in --dequant-out")
    f = sub.add_parser("fixtures", help="(re)write tests/fixtures/gptq (needs torch)")
    f.add_argument("--check", action="store_true",
                   help="numpy only: re-pack and compare with the committed fixtures")
    a = ap.parse_args()
    if a.cmd == "fixtures":
        return make_fixtures(a.check)
    if a.method == "awq" and (a.bits != 4 or a.desc_act):
        ap.error("AWQ GEMM is 4-bit without act-order")
    cfg, packed, deq = pack_model(a.in_dir, a.method, a.bits, a.group_size, a.desc_act)
    write_dir(a.out_dir, a.in_dir, cfg, packed)
    if a.dequant_out:
        write_dequant_dir(a.dequant_out, a.in_dir, cfg, deq, a.dequant_bf16)
    return 0


if __name__ == "__main__":
    sys.exit(main())
