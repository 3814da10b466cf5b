#!/usr/bin/python3
"""C++ qs-synth vs the numpy twin: identical tensor names, shapes, dtypes and bytes.

    check_twin.py QS_SYNTH CONFIG WORK_DIR      exit 0 ok, 1 mismatch, 77 skipped (no numpy)
"""

import os
import subprocess
import sys

try:
    import numpy  # noqa: F401
except ImportError:
    print("SKIP: numpy not available for", sys.executable)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402
import synth  # noqa: E402


def main():
    exe, config, work = sys.argv[1:4]
    ok = True
    for dtype in ("bf16", "f32"):
        cdir = os.path.join(work, "cpp-" + dtype)
        pdir = os.path.join(work, "py-" + dtype)
        subprocess.run([exe, "--config", config, "--seed", "1234", "--dtype", dtype,
                        "--tokenizer", "", "-o", cdir], check=True)
        synth.synthesize(config, 1234, pdir, dtype, None)
        c = st_io.read_raw(os.path.join(cdir, "model.safetensors"))
        p = st_io.read_raw(os.path.join(pdir, "model.safetensors"))
        if sorted(c) != sorted(p):
            print(f"{dtype}: tensor names differ: {sorted(set(c) ^ set(p))}")
            ok = False
            continue
        bad = [n for n in c if c[n] != p[n]]
        for n in bad[:10]:
            print(f"{dtype}: tensor {n} differs (C++ {c[n][0]} {c[n][1]}, Python {p[n][0]} {p[n][1]})")
        ok = ok and not bad
        print(f"{dtype}: {len(c)} tensors, {len(bad)} differ")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
