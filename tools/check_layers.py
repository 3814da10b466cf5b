#!/usr/bin/env python3
"""Fails if a source file includes a header from a layer it may not depend on.

The allowed edges are docs/ARCHITECTURE.md's layer graph; a layer may include
itself and anything listed for it here. Usage: check_layers.py SRC_DIR
"""
import pathlib
import re
import sys

ALLOWED = {
    "core": set(),
    "formats": {"core"},
    "tokenizer": {"core"},
    "kernels": {"core"},
    "kvcache": {"core"},
    "sampling": {"core"},
    "grammar": {"core", "tokenizer"},
    "model": {"core", "formats", "kernels", "kvcache"},
    "engine": {"core", "model", "kvcache", "sampling", "grammar", "tokenizer", "formats"},
    "server": {"core", "engine", "tokenizer", "sampling", "grammar", "formats"},
    "cli": {"core", "formats", "tokenizer", "kernels", "kvcache", "sampling", "grammar",
            "model", "engine", "server"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')


def main() -> int:
    src = pathlib.Path(sys.argv[1])
    bad = []
    for f in sorted(src.rglob("*")):
        if f.suffix not in {".h", ".cc", ".cpp", ".cu", ".cuh"}:
            continue
        layer = f.relative_to(src).parts[0]
        allowed = ALLOWED.get(layer, set()) | {layer}
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if m and m.group(1) in ALLOWED and m.group(1) not in allowed:
                bad.append(f"{f}:{n}: layer '{layer}' may not include '{m.group(1)}/'")
    for b in bad:
        print(b)
    print(f"layering: {len(bad)} violation(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
