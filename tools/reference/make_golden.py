#!/usr/bin/python3
"""Writes tests/fixtures/golden/<config>.json: reference logits and greedy tokens.

For each config (tiny.json, tiny-untied.json, wide2.json), synthesizes BF16
weights with seed 1234 (synth.py, identical to the C++ qs-synth), runs the
float32 PyTorch reference (qwen2_reference.py) on fixed prompts, greedily
extends each by 32 tokens and records logits at a fixed set of vocab columns.
The output is byte-for-byte reproducible:

    /usr/bin/python3 tools/reference/make_golden.py [--out tests/fixtures/golden] [--only tiny.json]

Format: tests/fixtures/golden/README.md.
"""

import argparse
import json
import math
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import qwen2_reference  # noqa: E402
import synth  # noqa: E402

CONFIGS = ("tiny.json", "tiny-untied.json", "wide2.json")
SEED = 1234
PROMPT_SEED = 20240601
PROMPT_LENGTHS = (1, 5, 17, 40)
MAX_PROMPT_ID = 151643  # prompts use ordinary (non-special) ids only
NEW_TOKENS = 32
COLUMN_STRIDE = 199
FINGERPRINT_TENSORS = ("model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
                       "model.layers.0.self_attn.k_proj.bias", "model.norm.weight",
                       "lm_head.weight")
FIRST_BITS = 16


def columns(vocab):
    """Every COLUMN_STRIDE-th id, ids 0..15 and the specials 151643..151664 (sorted)."""
    cols = set(range(0, vocab, COLUMN_STRIDE)) | set(range(16)) | set(range(151643, 151665))
    return sorted(c for c in cols if c < vocab)


def prompts():
    rs = np.random.RandomState(PROMPT_SEED)
    return [[int(t) for t in rs.randint(0, MAX_PROMPT_ID, size=n)] for n in PROMPT_LENGTHS]


def f32(x):
    """Shortest decimal that round-trips float32 even when parsed as a double first."""
    x = np.float32(x)
    assert np.isfinite(x), x
    s = str(x)
    if np.float32(float(s)) != x:
        s = repr(float(x))
    return s


def top2(row):
    i = int(np.argmax(row))  # first maximum, as torch.argmax / std::max_element
    second = np.partition(row, -2)[-2]
    return i, float(np.float32(row[i]) - np.float32(second))


def fingerprint(model_dir, specs):
    import st_io
    raw = st_io.read_raw(os.path.join(model_dir, "model.safetensors"))
    out = {}
    for name in FINGERPRINT_TENSORS:
        if name not in raw:
            continue
        dt, shape, b = raw[name]
        bits = np.frombuffer(b, dtype=np.uint16)
        vals = st_io.bf16_bits_to_f32(bits).astype(np.float64)
        out[name] = {"shape": shape, "first_bits": [int(v) for v in bits[:FIRST_BITS]],
                     "sum": math.fsum(vals.tolist())}
    return out


def run_case(ref, prompt, cols):
    L = len(prompt)
    ids = list(prompt)
    first = ref.forward(ids)  # rows 0..L-1
    rows = [first[j] for j in range(L - 1)]
    last = first[L - 1]
    cont, margins = [], []
    for step in range(NEW_TOKENS):
        if step > 0:
            last = ref.forward(ids, rows=[len(ids) - 1])[0]
        rows.append(last)
        tok, m = top2(last)
        cont.append(tok)
        margins.append(m)
        ids.append(tok)
    rows.append(ref.forward(ids, rows=[len(ids) - 1])[0])  # row L+31
    rows = np.stack(rows)  # [L+32][V]
    row_top = [top2(r) for r in rows]
    case = {
        "prompt": prompt,
        "continuation": cont,
        "top2_margin": margins,
        "row_argmax": [t for t, _ in row_top],
        "row_top2_margin": [m for _, m in row_top],
        "logits": rows[:, cols],
    }
    return case, float(np.abs(rows).max())


def dump(doc):
    """JSON with one logits row per line; floats as shortest float32 round-trips."""
    def fl(v):
        return "[" + ",".join(f32(x) for x in v) + "]"

    out = ["{"]
    out.append(f' "config": {json.dumps(doc["config"])},')
    out.append(f' "seed": {doc["seed"]},')
    out.append(f' "dtype": "{doc["dtype"]}",')
    out.append(f' "new_tokens": {NEW_TOKENS},')
    out.append(' "weights_fingerprint": ' + json.dumps(doc["weights_fingerprint"]) + ",")
    out.append(' "columns": ' + json.dumps(doc["columns"], separators=(",", ":")) + ",")
    out.append(' "cases": [')
    for ci, c in enumerate(doc["cases"]):
        out.append("  {")
        for key in ("prompt", "continuation", "row_argmax"):
            out.append(f'   "{key}": ' + json.dumps(c[key], separators=(",", ":")) + ",")
        out.append('   "top2_margin": ' + fl(c["top2_margin"]) + ",")
        out.append('   "row_top2_margin": ' + fl(c["row_top2_margin"]) + ",")
        out.append('   "logits": [')
        rows = c["logits"]
        for j, r in enumerate(rows):
            out.append("    " + fl(r) + ("," if j + 1 < len(rows) else ""))
        out.append("   ]")
        out.append("  }" + ("," if ci + 1 < len(doc["cases"]) else ""))
    out.append(" ],")
    out.append(' "max_abs_logit": ' + fl(doc["max_abs_logit"]))
    out.append("}")
    return "\n".join(out) + "\n"


def make(config, out_dir):
    cfg_path = os.path.join(ROOT, "tools", "synth", "configs", config)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = synth.synthesize(cfg_path, SEED, tmp, "BF16", None)
        fp = fingerprint(tmp, synth.tensor_specs(cfg))
        ref = qwen2_reference.Qwen2Reference(tmp)
        cols = columns(cfg["vocab_size"])
        cases, maxabs = [], []
        for p in prompts():
            c, m = run_case(ref, p, cols)
            cases.append(c)
            maxabs.append(m)
    doc = {"config": config, "seed": SEED, "dtype": "BF16", "weights_fingerprint": fp,
           "columns": cols, "cases": cases, "max_abs_logit": maxabs}
    text = dump(doc)
    json.loads(text)  # well-formed
    path = os.path.join(out_dir, os.path.splitext(config)[0] + ".json")
    with open(path, "w") as f:
        f.write(text)
    margins = [m for c in cases for m in c["top2_margin"]]
    print(f"{path}: {len(text)} bytes, max|logit| {max(maxabs):.3f}, "
          f"min greedy top2 margin {min(margins):.5f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "golden"))
    ap.add_argument("--only", action="append", choices=CONFIGS)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for config in a.only or CONFIGS:
        make(config, a.out)


if __name__ == "__main__":
    main()
