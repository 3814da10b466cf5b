#!/usr/bin/env python3
"""The chat page against the real server: starts `qwenserve serve` on a tiny
model (any free port) and runs tests/webui/chat_page_test.mjs in headless
Chromium against it.

Usage: chat_page_e2e.py QWENSERVE QS_SYNTH TINY_CONFIG_JSON TOKENIZER_DIR REPO_ROOT
Exit 77 (skipped) when node, playwright-core or chromium is missing.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, make_tiny_model  # noqa: E402

QWENSERVE, SYNTH, CONFIG, TOKDIR, ROOT = sys.argv[1:6]


def main():
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not shutil.which("node") or not os.path.exists(chromium) or \
            not os.path.isdir(os.path.join(ROOT, "webui/node_modules/playwright-core")):
        print("skipped: needs node, webui/node_modules (cd webui && npm ci) and chromium")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        tiny = make_tiny_model(SYNTH, CONFIG, TOKDIR, os.path.join(tmp, "tiny"))
        with Server(QWENSERVE, tiny) as srv:
            p = subprocess.run(["node", os.path.join(ROOT, "tests/webui/chat_page_test.mjs"), srv.url,
                                os.path.join(tmp, "out")], timeout=600)
            if p.returncode != 0:
                print(srv.read_log()[-3000:])
            return p.returncode


if __name__ == "__main__":
    sys.exit(main())
