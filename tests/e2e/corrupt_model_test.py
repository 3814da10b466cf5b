#!/usr/bin/env python3
"""A corrupt model directory gets a one-line error naming the problem, a
non-zero exit code and never a crash.

Usage: corrupt_model_test.py QWENSERVE QS_SYNTH CONFIG_JSON TOKENIZER_DIR
Builds a tiny random model with qs-synth, then for each corruption runs
`qwenserve run` on a damaged copy and checks exit status and stderr.
"""
import json
import pathlib
import shutil
import struct
import subprocess
import sys
import tempfile

QWENSERVE, SYNTH, CONFIG, TOKDIR = sys.argv[1:5]


def corrupt_cases():
    """(name, function(dir), substrings every one of which the error must contain)."""

    def truncate(rel, keep):
        def f(d):
            p = d / rel
            data = p.read_bytes()
            p.write_bytes(data[: keep(len(data))])
        return f

    def write(rel, text):
        def f(d):
            (d / rel).write_bytes(text if isinstance(text, bytes) else text.encode())
        return f

    def edit_config(**changes):
        def f(d):
            c = json.loads((d / "config.json").read_text())
            c.update(changes)
            (d / "config.json").write_text(json.dumps(c))
        return f

    def patch_header(old, new):
        def f(d):
            p = d / "model.safetensors"
            data = bytearray(p.read_bytes())
            n = struct.unpack("<Q", data[:8])[0]
            header = data[8 : 8 + n]
            i = header.find(old.encode())
            assert i >= 0, old
            header[i : i + len(old)] = new.encode()
            data[8 : 8 + n] = header
            p.write_bytes(bytes(data))
        return f

    def header_len(value):
        def f(d):
            p = d / "model.safetensors"
            data = bytearray(p.read_bytes())
            data[:8] = struct.pack("<Q", value)
            p.write_bytes(bytes(data))
        return f

    def remove(rel):
        return lambda d: (d / rel).unlink()

    return [
        ("config truncated", truncate("config.json", lambda n: n // 2), ["config.json"]),
        ("config not json", write("config.json", "not json"), ["config.json"]),
        ("config wrong type", edit_config(hidden_size="big"), ["config.json", "hidden_size"]),
        ("config negative", edit_config(num_hidden_layers=-2), ["config.json", "num_hidden_layers"]),
        ("config missing", remove("config.json"), ["config.json"]),
        ("config shape mismatch", edit_config(intermediate_size=130), ["model.safetensors", "shape"]),
        ("weights truncated", truncate("model.safetensors", lambda n: n // 2), ["model.safetensors"]),
        ("weights empty", write("model.safetensors", b""), ["model.safetensors"]),
        ("weights missing", remove("model.safetensors"), ["safetensors"]),
        ("absurd header length", header_len(1 << 62), ["model.safetensors", "header"]),
        ("header past end", header_len(50_000_000), ["model.safetensors", "header"]),
        ("header garbage", patch_header('{"', "#!"), ["model.safetensors"]),
        ("tensor missing", patch_header("model.norm.weight", "model.norx.weight"),
         ["model.norm.weight", "missing"]),
        ("bad dtype", patch_header('"BF16"', '"QQ16"'), ["model.safetensors", "QQ16"]),
    ]


def main() -> int:
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        good = pathlib.Path(tmp) / "good"
        subprocess.run([SYNTH, "--config", CONFIG, "--seed", "1", "--dtype", "bf16",
                        "--tokenizer", TOKDIR, "-o", str(good)], check=True)
        ok = subprocess.run([QWENSERVE, "run", "-m", str(good), "--prompt-ids", "1,2,3", "-n", "2",
                             "--temperature", "0"], capture_output=True, text=True)
        if ok.returncode != 0:
            print("the uncorrupted model fails:", ok.stderr)
            return 1
        for name, corrupt, needles in corrupt_cases():
            d = pathlib.Path(tmp) / name.replace(" ", "_")
            shutil.copytree(good, d)
            corrupt(d)
            r = subprocess.run([QWENSERVE, "run", "-m", str(d), "--prompt-ids", "1,2,3", "-n", "2",
                                "--temperature", "0"], capture_output=True, text=True)
            lines = [l for l in r.stderr.splitlines() if l.strip()]
            problems = []
            if r.returncode <= 0 or r.returncode >= 128:
                problems.append(f"exit code {r.returncode} (want a clean non-zero exit)")
            if len(lines) != 1:
                problems.append(f"{len(lines)} stderr lines (want 1)")
            missing = [n for n in needles if n not in r.stderr]
            if missing:
                problems.append(f"message lacks {missing}")
            status = "FAIL" if problems else "ok"
            print(f"{status:4} {name}: {r.stderr.strip()!r} {'; '.join(problems)}")
            failures += bool(problems)
            shutil.rmtree(d)
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
