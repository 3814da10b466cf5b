"""Helpers for end-to-end tests of `qwenserve serve`: make a tiny model with
qs-synth, start the server on 127.0.0.1, wait for /health, always stop it."""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import requests


def make_tiny_model(synth, config, tokenizer_dir, out_dir):
    subprocess.run([synth, "--config", config, "--seed", "1", "--dtype", "bf16",
                    "--tokenizer", tokenizer_dir, "-o", out_dir],
                   check=True, stdout=subprocess.DEVNULL)
    return out_dir


def port_is_free(port, host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


class Server:
    """A running `qwenserve serve`. Use as a context manager: stopped on exit."""

    def __init__(self, qwenserve, model_dir, port=0, args=(), env=None, ready_timeout=120):
        self.log = tempfile.NamedTemporaryFile("w+", prefix="qwenserve-", suffix=".log", delete=False)
        cmd = [qwenserve, "serve", "-m", model_dir, "--port", str(port), "-t", "1", *args]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})
        self.port = None
        deadline = time.time() + ready_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"qwenserve exited with {self.proc.returncode}:\n{self.read_log()}")
            m = re.search(r"qwenserve ready: http://[^:]+:(\d+)/v1/chat/completions", self.read_log())
            if m:
                self.port = int(m.group(1))
                break
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise RuntimeError("qwenserve did not become ready:\n" + self.read_log())
        self.url = f"http://127.0.0.1:{self.port}"
        r = requests.get(self.url + "/health", timeout=10)
        assert r.status_code == 200, r.text

    def read_log(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def metrics(self):
        text = requests.get(self.url + "/metrics", timeout=10).text
        out = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
        return out

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        os.unlink(self.log.name)


def stream_chat(url, body, headers=None, timeout=300):
    """POSTs a streaming chat request; returns (chunks, text, usage, finish_reasons)."""
    body = {**body, "stream": True}
    chunks = []
    with requests.post(url + "/v1/chat/completions", json=body, headers=headers, stream=True,
                       timeout=timeout) as r:
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.headers["Content-Type"].startswith("text/event-stream"), r.headers
        for line in r.iter_lines(decode_unicode=False):
            if not line.startswith(b"data: "):
                continue
            data = line[6:]
            if data == b"[DONE]":
                chunks.append("[DONE]")
                break
            import json
            chunks.append(json.loads(data))
    assert chunks and chunks[-1] == "[DONE]", chunks[-3:]
    texts, usage, finish = {}, None, {}
    for c in chunks[:-1]:
        assert "error" not in c, c
        if c.get("usage"):
            usage = c["usage"]
        for ch in c["choices"]:
            texts[ch["index"]] = texts.get(ch["index"], "") + (ch["delta"].get("content") or "")
            if ch["finish_reason"]:
                finish[ch["index"]] = ch["finish_reason"]
    return chunks, texts, usage, finish


class Results:
    """Collects named checks; prints each and fails at the end if any failed."""

    def __init__(self):
        self.failed = []
        self.passed = 0
        self.lock = threading.Lock()

    def run(self, name, fn, *args):
        t0 = time.time()
        try:
            fn(*args)
            print(f"PASS {name} ({time.time() - t0:.1f} s)", flush=True)
            self.passed += 1
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            import traceback
            print(f"FAIL {name}: {e!r}", flush=True)
            traceback.print_exc()
            self.failed.append(name)

    def finish(self):
        print(f"{self.passed} passed, {len(self.failed)} failed", flush=True)
        if self.failed:
            print("failed: " + ", ".join(self.failed))
            sys.exit(1)
