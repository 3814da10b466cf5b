#!/usr/bin/env python3
"""A .gguf from `qwenserve quantize` is a complete model.

Usage: gguf_model_test.py QWENSERVE QS_SYNTH CONFIG_JSON TOKENIZER_DIR
Quantizes a tiny random model (with the real Qwen2.5 tokenizer) to int8 (and
int5: Q5_1 in the file, the same values as --quantize int5) and checks: the file's tokenizer metadata is what llama.cpp's convert_hf_to_gguf.py
writes for Qwen2 (read here by an independent reader); `tokenize`, `run -p`
(greedy and with the model's default sampling), `chat`, `eval` and `serve` on
the .gguf give exactly what the directory quantized at load gives; a GGUF
without a tokenizer or with another pre-tokenizer fails in one line naming the
file and the key.
"""
import json
import pathlib
import shutil
import struct
import subprocess
import sys
import tempfile

import requests

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from serve_util import Server, make_tiny_model  # noqa: E402

QWENSERVE, SYNTH, CONFIG, TOKDIR = sys.argv[1:5]


def read_gguf_metadata(path):
    """GGUF v2/v3 key/value section -> dict (written independently of src/formats)."""
    data = pathlib.Path(path).read_bytes()
    assert data[:4] == b"GGUF", "not a GGUF file"
    pos = 8
    _, n_kv = struct.unpack_from("<QQ", data, pos)
    pos += 16
    scalar = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
              10: "<Q", 11: "<q", 12: "<d"}

    def string():
        nonlocal pos
        (n,) = struct.unpack_from("<Q", data, pos)
        pos += 8
        s = data[pos:pos + n].decode("utf-8")
        pos += n
        return s

    def value(t):
        nonlocal pos
        if t == 8:
            return string()
        if t == 9:
            et, count = struct.unpack_from("<IQ", data, pos)
            pos += 12
            return [value(et) for _ in range(count)]
        (v,) = struct.unpack_from(scalar[t], data, pos)
        pos += struct.calcsize(scalar[t])
        return v

    meta = {}
    for _ in range(n_kv):
        key = string()
        (t,) = struct.unpack_from("<I", data, pos)
        pos += 4
        meta[key] = (t, value(t))
    return meta


def qs(*args, stdin=None, ok=True):
    r = subprocess.run([QWENSERVE, *args], capture_output=True, text=True, input=stdin,
                       timeout=600)
    if ok:
        assert r.returncode == 0, f"{args}: exit {r.returncode}\n{r.stderr}"
    return r


def main():
    fails = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        if not cond:
            fails.append(what)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        d = make_tiny_model(SYNTH, CONFIG, TOKDIR, str(tmp / "tiny"))
        g = str(tmp / "tiny-int8.gguf")
        qs("quantize", "-m", d, "--to", "int8", "-o", g)

        # --- what the file carries (llama.cpp's keys and values for Qwen2) ---
        meta = read_gguf_metadata(g)
        val = {k: v for k, (t, v) in meta.items()}
        tcfg = json.loads((pathlib.Path(TOKDIR) / "tokenizer_config.json").read_text())
        gen = json.loads((pathlib.Path(d) / "generation_config.json").read_text())
        merges = (pathlib.Path(TOKDIR) / "merges.txt").read_text().split("\n")[1:-1]
        check(val.get("general.architecture") == "qwen2", "general.architecture qwen2")
        check(val.get("general.name") == "tiny", f"general.name from the directory "
                                                 f"({val.get('general.name')!r})")
        check(val.get("tokenizer.ggml.model") == "gpt2", "tokenizer.ggml.model gpt2")
        check(val.get("tokenizer.ggml.pre") == "qwen2", "tokenizer.ggml.pre qwen2")
        tokens, types = val.get("tokenizer.ggml.tokens", []), val.get("tokenizer.ggml.token_type", [])
        check(meta["tokenizer.ggml.token_type"][0] == 9 and len(types) == 151936
              and len(tokens) == 151936, "151936 tokens and int32 types")
        check(tokens[:3] == ["!", "\"", "#"] and tokens[9707] == "Hello", "vocabulary in id order")
        check(tokens[151645] == "<|im_end|>" and types[151645] == 3, "special added: control (3)")
        check(tokens[151657] == "<tool_call>" and types[151657] == 4,
              "non-special added: user-defined (4)")
        check(tokens[151700] == "[PAD151700]" and types[151700] == 5, "holes: [PAD<id>] unused (5)")
        check(sum(1 for t in types if t == 1) == 151643, "151643 normal tokens")
        check(val.get("tokenizer.ggml.merges") == merges, "merges == merges.txt lines")
        check(val.get("tokenizer.ggml.eos_token_id") == 151645, "eos <|im_end|>")
        check(val.get("tokenizer.ggml.padding_token_id") == 151643, "pad <|endoftext|>")
        check(val.get("tokenizer.ggml.bos_token_id") == 151643, "bos from config.json")
        check(meta.get("tokenizer.ggml.add_bos_token") == (7, False), "add_bos_token false")
        check(val.get("tokenizer.chat_template") == tcfg["chat_template"], "chat template")
        check(abs(val.get("general.sampling.temp", -1) - gen["temperature"]) < 1e-6
              and abs(val.get("general.sampling.top_p", -1) - gen["top_p"]) < 1e-6
              and val.get("general.sampling.top_k") == gen["top_k"]
              and abs(val.get("general.sampling.penalty_repeat", -1)
                      - gen["repetition_penalty"]) < 1e-6, "general.sampling.* from "
                                                           "generation_config.json")

        # --- the .gguf behaves like the directory quantized at load ---
        text = "Hello, 世界! def f(x): return x**2 <|im_end|>"
        a = qs("tokenize", "-m", d, "--ids-only", text).stdout
        b = qs("tokenize", "-m", g, "--ids-only", text).stdout
        check(a == b and len(a) > 10, "tokenize: same ids")
        a = qs("tokenize", "-m", d, "--special", "--ids-only", text).stdout
        b = qs("tokenize", "-m", g, "--special", "--ids-only", text).stdout
        check(a == b and "151645" in b, "tokenize --special: same ids")

        def run(model, *extra):
            q = ["--quantize", "int8"] if model == d else []
            return qs("run", "-m", model, *q, "-t", "2", "-p", "hello", "-n", "4", *extra)

        for extra in (["--temperature", "0", "--ignore-eos", "--print-ids"],
                      ["--seed", "7", "--print-ids"], ["--temperature", "0"]):
            ra, rb = run(d, *extra), run(g, *extra)
            pa = ra.stderr.split(" prompt tokens")[0].split("[")[-1]
            pb = rb.stderr.split(" prompt tokens")[0].split("[")[-1]
            check(ra.stdout == rb.stdout and pa == pb and int(pb) > 5,
                  f"run -p {' '.join(extra)}: same output ({rb.stdout.strip()!r}), "
                  f"{pb} prompt tokens")
        greedy = rb.stdout

        chat_in = "hi\nand again\n"
        ca = qs("chat", "-m", d, "--quantize", "int8", "-t", "2", "--temperature", "0", "-n", "3",
                stdin=chat_in)
        cb = qs("chat", "-m", g, "-t", "2", "--temperature", "0", "-n", "3", stdin=chat_in)
        check(ca.stdout == cb.stdout and cb.stdout.strip() != "", "chat: same answers")

        data = tmp / "text.txt"
        data.write_text("The quick brown fox jumps over the lazy dog. 你好世界。 " * 8)
        ea = json.loads(qs("eval", "-m", d, "--quantize", "int8", "--data", str(data), "--json",
                           "-t", "2", "--ctx", "64").stdout)
        eb = json.loads(qs("eval", "-m", g, "--data", str(data), "--json", "-t", "2",
                           "--ctx", "64").stdout)
        check(ea["tokens"] == eb["tokens"] and ea["tokens"] > 50
              and abs(ea["cross_entropy"] - eb["cross_entropy"]) < 1e-9,
              f"eval: same tokens ({eb['tokens']}) and cross-entropy")

        # --- int5: Q5_1 in the file, kQ5 in memory: the values of --quantize int5 ---
        g5 = str(tmp / "tiny-int5.gguf")
        qs("quantize", "-m", d, "--to", "int5", "-o", g5)
        check(read_gguf_metadata(g5).get("general.file_type") == (4, 9),
              "int5: general.file_type 9 (llama.cpp MOSTLY_Q5_1)")
        greedy5 = ["-t", "2", "-p", "hello", "-n", "4", "--temperature", "0", "--ignore-eos",
                   "--print-ids"]
        ra = qs("run", "-m", d, "--quantize", "int5", *greedy5)
        rb = qs("run", "-m", g5, *greedy5)
        check(ra.stdout == rb.stdout and ra.stdout.strip() != "",
              f"int5: run -p on the .gguf == --quantize int5 ({rb.stdout.strip()!r})")
        ea = json.loads(qs("eval", "-m", d, "--quantize", "int5", "--data", str(data), "--json",
                           "-t", "2", "--ctx", "64").stdout)
        eb = json.loads(qs("eval", "-m", g5, "--data", str(data), "--json", "-t", "2",
                           "--ctx", "64").stdout)
        check(ea["tokens"] == eb["tokens"] and ea["cross_entropy"] == eb["cross_entropy"],
              f"int5: eval cross-entropy identical ({eb['cross_entropy']:.6f})")

        with Server(QWENSERVE, g) as srv:
            r = requests.post(srv.url + "/v1/chat/completions", timeout=120, json={
                "model": "tiny-int8.gguf", "messages": [{"role": "user", "content": "hello"}],
                "max_tokens": 4, "temperature": 0})
            check(r.status_code == 200, f"serve -m .gguf: chat completion 200 ({r.status_code} {r.text[:200]})")
            body = r.json() if r.status_code == 200 else {}
            usage = body.get("usage", {})
            check(usage.get("prompt_tokens") == int(pb),
                  f"serve: {usage.get('prompt_tokens')} prompt tokens, as run")
            content = body.get("choices", [{}])[0].get("message", {}).get("content")
            check(content == greedy.rstrip("\n"), f"serve: greedy answer as run ({content!r})")

        # --- files without a usable tokenizer ---
        bad = tmp / "bad-pre.gguf"
        raw = pathlib.Path(g).read_bytes()
        key = b"tokenizer.ggml.pre" + struct.pack("<IQ", 8, 5) + b"qwen2"
        assert raw.count(key) == 1
        bad.write_bytes(raw.replace(key, key[:-5] + b"gpt-2"))
        r = qs("run", "-m", str(bad), "-p", "hello", "-n", "1", ok=False)
        line = r.stderr.strip()
        check(r.returncode == 1 and "\n" not in line and str(bad) in line
              and "tokenizer.ggml.pre" in line and "gpt-2" in line,
              f"another pre-tokenizer: one line, exit 1 ({line!r})")

        bare = tmp / "bare"
        bare.mkdir()
        for f in ("config.json", "model.safetensors"):
            shutil.copy(pathlib.Path(d) / f, bare / f)
        g2 = str(tmp / "bare.gguf")
        qs("quantize", "-m", str(bare), "--to", "int8", "-o", g2)
        r = qs("run", "-m", g2, "-p", "hello", "-n", "1", ok=False)
        line = r.stderr.strip()
        check(r.returncode == 1 and "\n" not in line and "tokenizer.ggml.model" in line,
              f"no tokenizer in the file: one line, exit 1 ({line!r})")
        r = qs("run", "-m", g2, "--prompt-ids", "9707,1879", "-n", "2", "--temperature", "0")
        check(r.returncode == 0, "no tokenizer: --prompt-ids still runs")

    print(f"{len(fails)} failure(s)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
