#!/usr/bin/env python3
"""End-to-end load benchmark of a running `qwenserve serve`.

For each concurrency C (default 1, 4, 16, 64) it starts C streaming chat
clients at once, each asking for N tokens with ignore_eos (greedy, distinct
prompts), and prints aggregate output tokens/s, time to first token (p50,
p99) and time per output token (mean of each request's inter-token time,
p50/p99), plus the ratio of the aggregate rate to the single-stream one.

  qwenserve serve -m /models/qwen2.5-0.5b-shape -t 2 &
  python3 bench/load_bench.py --url http://127.0.0.1:8000 --tokens 64

  # or let it start (and stop) the server itself:
  python3 bench/load_bench.py --spawn build/src/cli/qwenserve --model DIR --threads 2
"""
import argparse
import json
import re
import subprocess
import sys
import threading
import time

import requests


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(p / 100 * (len(xs) - 1)))))
    return xs[k]


def one_stream(url, prompt, n_tokens, model, out, i):
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": n_tokens,
            "temperature": 0, "ignore_eos": True, "stream": True,
            "stream_options": {"include_usage": True}}
    t0 = time.perf_counter()
    times = []
    usage = None
    with requests.post(url + "/v1/chat/completions", json=body, stream=True, timeout=3600) as r:
        if r.status_code != 200:
            out[i] = {"error": f"HTTP {r.status_code}: {r.text[:200]}"}
            return
        for line in r.iter_lines():
            if not line.startswith(b"data: {"):
                continue
            c = json.loads(line[6:])
            if c.get("usage"):
                usage = c["usage"]
            for ch in c.get("choices", []):
                if ch["delta"].get("content"):
                    times.append(time.perf_counter())
    t1 = time.perf_counter()
    tokens = usage["completion_tokens"] if usage else len(times)
    ttft = (times[0] - t0) if times else float("nan")
    tpot = (times[-1] - times[0]) / (tokens - 1) if len(times) > 1 and tokens > 1 else float("nan")
    out[i] = {"tokens": tokens, "ttft": ttft, "tpot": tpot, "start": t0, "end": t1}


def run_level(url, c, n_tokens, model):
    out = [None] * c
    threads = [threading.Thread(target=one_stream,
                                args=(url, f"Client {i}: write about topic {i * 31 % 97}.", n_tokens,
                                      model, out, i)) for i in range(c)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    errors = [o["error"] for o in out if "error" in o]
    ok = [o for o in out if "error" not in o]
    total = sum(o["tokens"] for o in ok)
    return {"c": c, "wall": wall, "tokens": total, "tps": total / wall, "errors": errors,
            "short": sum(1 for o in ok if o["tokens"] != n_tokens),
            "ttft_p50": pct([o["ttft"] for o in ok], 50), "ttft_p99": pct([o["ttft"] for o in ok], 99),
            "tpot_p50": pct([o["tpot"] for o in ok], 50), "tpot_p99": pct([o["tpot"] for o in ok], 99)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--concurrency", default="1,4,16,64")
    ap.add_argument("--tokens", type=int, default=64, help="output tokens per request")
    ap.add_argument("--model", default="qwen2.5-0.5b-instruct", help="model name, or model dir with --spawn")
    ap.add_argument("--spawn", help="path of qwenserve: start a server on --model (a directory)")
    ap.add_argument("--threads", type=int, default=2, help="model threads for --spawn")
    ap.add_argument("--max-batch-size", type=int, default=16, help="for --spawn")
    args = ap.parse_args()

    proc = None
    url, model = args.url, args.model
    if args.spawn:
        proc = subprocess.Popen([args.spawn, "serve", "-m", args.model, "--port", "0", "-t", str(args.threads),
                                 "--max-batch-size", str(args.max_batch_size)],
                                stderr=subprocess.PIPE, text=True)
        for line in proc.stderr:
            sys.stderr.write(line)
            m = re.search(r"qwenserve ready: (http://[^/]+)/", line)
            if m:
                url = m.group(1)
                break
        else:
            sys.exit("the server exited before it was ready")
        # Measure the steady state: the server answers at once from the
        # mmapped weights and switches to 2 MB pages once their background
        # copy is done (a few seconds; logged, after the next request).
        settled = threading.Event()

        def drain():
            for line in proc.stderr:
                if "weights now read from 2 MB pages" in line:
                    sys.stderr.write(line)
                    settled.set()
        threading.Thread(target=drain, daemon=True).start()
        model = "qwen2.5-0.5b-instruct"
    try:
        run_level(url, 1, 4, model)  # warm-up
        if proc:
            deadline = time.time() + 30
            while not settled.is_set() and time.time() < deadline:
                run_level(url, 1, 4, model)  # the switch happens at a forward call
                settled.wait(0.5)
        print(f"# {url}, {args.tokens} tokens per request, greedy, ignore_eos")
        print(f"{'C':>4} {'tok/s':>9} {'x1':>6} {'TTFT p50':>10} {'TTFT p99':>10} "
              f"{'TPOT p50':>10} {'TPOT p99':>10} {'wall s':>8}  errors")
        base = None
        for c in [int(x) for x in args.concurrency.split(",")]:
            r = run_level(url, c, args.tokens, model)
            base = base or r["tps"]
            print(f"{c:>4} {r['tps']:>9.1f} {r['tps'] / base:>6.2f} {r['ttft_p50'] * 1e3:>8.0f}ms "
                  f"{r['ttft_p99'] * 1e3:>8.0f}ms {r['tpot_p50'] * 1e3:>8.1f}ms {r['tpot_p99'] * 1e3:>8.1f}ms "
                  f"{r['wall']:>8.2f}  {len(r['errors'])}{' short=%d' % r['short'] if r['short'] else ''}",
                  flush=True)
            for e in r["errors"][:3]:
                print("   ", e)
    finally:
        if proc:
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
