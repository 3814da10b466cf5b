#!/usr/bin/env python3
"""End-to-end tests of `qwenserve serve` on a tiny random model (qs-synth):
the OpenAI client snippet on port 8000, streaming == whole responses, 64
concurrent streams, batch invariance, disconnects, a full queue, 30+ bad
requests, the prefix cache, config.yaml, and a clean SIGTERM drain.

Usage: server_test.py QWENSERVE QS_SYNTH TINY_CONFIG_JSON TOKENIZER_DIR
"""
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Results, Server, make_tiny_model, port_is_free, stream_chat  # noqa: E402

QWENSERVE, SYNTH, CONFIG, TOKDIR = sys.argv[1:5]
MODEL_ALIAS = "qwen2.5-0.5b-instruct"


def chat(url, body, headers=None, timeout=300):
    r = requests.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=timeout)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


# --- checks against the main server (port 8000 when free) -------------------

def check_python_snippet(url):
    # The snippet, verbatim but for the host:port when 8000 is taken.
    content = requests.post(url + "/v1/chat/completions", json={"model": "qwen2.5-0.5b-instruct", "messages": [{"role": "system", "content": "你是一个擅长数学推理的助教"}, {"role": "user", "content": "请逐步求解方程:2x + 5 = 17"}], "temperature": 0.3, "max_tokens": 256}).json()["choices"][0]["message"]["content"]  # noqa: E501
    assert isinstance(content, str) and content, content


def check_models(url, model_dir):
    r = requests.get(url + "/v1/models", timeout=10).json()
    ids = [m["id"] for m in r["data"]]
    assert r["object"] == "list" and os.path.basename(model_dir) in ids and MODEL_ALIAS in ids, ids
    for name in ids:
        out = chat(url, {"model": name, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
        assert out["model"] == name and out["object"] == "chat.completion", out
        assert out["id"].startswith("chatcmpl-") and isinstance(out["created"], int), out


def check_stream_equals_whole(url):
    for seed in (1, 2):
        body = {"model": MODEL_ALIAS, "messages": [{"role": "user", "content": "Tell me a story"}],
                "temperature": 0.9, "top_p": 0.95, "seed": seed, "max_tokens": 40}
        whole = chat(url, body)
        _, texts, usage, finish = stream_chat(url, {**body, "stream_options": {"include_usage": True}})
        assert texts[0] == whole["choices"][0]["message"]["content"], (texts[0], whole)
        assert usage["completion_tokens"] == whole["usage"]["completion_tokens"], (usage, whole["usage"])
        assert finish[0] == whole["choices"][0]["finish_reason"]
    # /v1/completions too.
    body = {"model": MODEL_ALIAS, "prompt": "Once upon a time", "max_tokens": 30, "seed": 5,
            "temperature": 0.8}
    whole = requests.post(url + "/v1/completions", json=body, timeout=60).json()
    assert whole["object"] == "text_completion" and whole["id"].startswith("cmpl-"), whole
    text = ""
    with requests.post(url + "/v1/completions", json={**body, "stream": True}, stream=True,
                       timeout=60) as r:
        for line in r.iter_lines():
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                text += json.loads(line[6:])["choices"][0]["text"]
    assert text == whole["choices"][0]["text"], (text, whole)


def greedy_body(prompt, n_tokens):
    return {"model": MODEL_ALIAS, "messages": [{"role": "user", "content": prompt}],
            "temperature": 0, "max_tokens": n_tokens, "ignore_eos": True}


def check_64_concurrent_streams(url):
    n_tokens = 24
    prompts = [f"Request number {i}: say something about {i * 7}" for i in range(64)]

    def one(i):
        chunks, texts, usage, finish = stream_chat(
            url, {**greedy_body(prompts[i], n_tokens), "stream_options": {"include_usage": True}})
        ids = {c["id"] for c in chunks[:-1]}
        assert len(ids) == 1, ids
        return texts[0], usage, finish[0], ids.pop()

    with ThreadPoolExecutor(64) as ex:
        results = list(ex.map(one, range(64)))
    assert len({r[3] for r in results}) == 64  # every stream its own id
    for text, usage, finish, _ in results:
        assert usage["completion_tokens"] == n_tokens and finish == "length", (usage, finish)
    # None mixed up: each answer is what its prompt gives when it runs alone.
    for i in (0, 17, 42, 63):
        alone = chat(url, greedy_body(prompts[i], n_tokens))["choices"][0]["message"]["content"]
        assert alone == results[i][0], (i, alone, results[i][0])


def check_batch_invariance(url):
    target = greedy_body("What is the capital of France?", 32)
    alone = chat(url, target)["choices"][0]["message"]["content"]
    bodies = [target] + [greedy_body(f"Other request {k} " * (k + 1), 20 + k) for k in range(15)]
    with ThreadPoolExecutor(16) as ex:
        outs = list(ex.map(lambda b: chat(url, b), bodies))
    assert outs[0]["choices"][0]["message"]["content"] == alone


def wait_for(pred, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def check_disconnect_frees_sequence(srv):
    before = srv.metrics().get("qwenserve_requests_cancelled_total", 0)
    body = {**greedy_body("A very long answer please", 4000), "stream": True}
    r = requests.post(srv.url + "/v1/chat/completions", json=body, stream=True, timeout=60)
    assert r.status_code == 200
    it = r.iter_lines()
    got = 0
    for line in it:
        if line.startswith(b"data: "):
            got += 1
        if got >= 5:
            break
    assert srv.metrics()["qwenserve_num_requests_running"] >= 1
    r.raw._fp.fp.raw._sock.shutdown(socket.SHUT_RDWR)  # hang up mid-stream
    r.close()
    wait_for(lambda: srv.metrics()["qwenserve_num_requests_running"] == 0, "the sequence to be freed")
    m = srv.metrics()
    assert m["qwenserve_requests_cancelled_total"] == before + 1, m
    assert m["qwenserve_kv_blocks_used"] <= m["qwenserve_kv_blocks_total"]
    # The generation stopped early: far fewer than 4000 tokens were made.
    assert m["qwenserve_generation_tokens_total"] < 100000


def check_stop_strings(url):
    base = greedy_body("Write a list", 40)
    full = chat(url, base)["choices"][0]["message"]["content"]
    assert len(full) > 12, full
    stop = full[8:11]
    cut = full[: full.find(stop)]
    out = chat(url, {**base, "stop": [stop, "never-appears"]})
    assert out["choices"][0]["message"]["content"] == cut, (stop, out, cut)
    assert out["choices"][0]["finish_reason"] == "stop"
    _, texts, _, finish = stream_chat(url, {**base, "stop": stop})
    assert texts[0] == cut and finish[0] == "stop", (texts, finish)


def check_n_logprobs_usage(url):
    body = {"model": MODEL_ALIAS, "messages": [{"role": "user", "content": "hello"}], "n": 3,
            "seed": 11, "temperature": 1.0, "max_tokens": 6, "ignore_eos": True,
            "logprobs": True, "top_logprobs": 3}
    out = chat(url, body)
    assert [c["index"] for c in out["choices"]] == [0, 1, 2]
    assert out["usage"]["completion_tokens"] == 18, out["usage"]
    assert out["usage"]["total_tokens"] == out["usage"]["prompt_tokens"] + 18
    for c in out["choices"]:
        lp = c["logprobs"]["content"]
        assert len(lp) == 6 and all(len(t["top_logprobs"]) == 3 for t in lp), lp
        assert all(t["logprob"] <= 0 for t in lp)
    _, texts, usage, _ = stream_chat(url, {**body, "stream_options": {"include_usage": True}})
    assert [texts[i] for i in range(3)] == [c["message"]["content"] for c in out["choices"]]
    assert usage["completion_tokens"] == 18


def check_tokenize(url):
    r = requests.post(url + "/tokenize", json={"prompt": "Hello world"}, timeout=10).json()
    assert r["tokens"] == [9707, 1879] and r["count"] == 2, r
    d = requests.post(url + "/detokenize", json={"tokens": r["tokens"]}, timeout=10).json()
    assert d["prompt"] == "Hello world", d
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                               "parameters": {"type": "object", "properties": {}}}}]
    t = requests.post(url + "/tokenize", json={"messages": [{"role": "user", "content": "hi"}],
                                               "tools": tools, "return_token_strs": True},
                      timeout=10).json()
    joined = "".join(t["token_strs"])
    assert "<tools>" in joined and "get_weather" in joined, joined[:400]
    # A chat request with tools renders them (more prompt tokens than without).
    base = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    a = chat(url, base)["usage"]["prompt_tokens"]
    b = chat(url, {**base, "tools": tools})["usage"]["prompt_tokens"]
    assert b > a + 20, (a, b)


def check_metrics_names(srv):
    text = requests.get(srv.url + "/metrics", timeout=10).text
    for name in ["qwenserve_requests_total", "qwenserve_prompt_tokens_total",
                 "qwenserve_generation_tokens_total", "qwenserve_time_to_first_token_seconds_bucket",
                 "qwenserve_time_per_output_token_seconds_bucket", "qwenserve_num_requests_waiting",
                 "qwenserve_num_requests_running", "qwenserve_kv_blocks_used",
                 "qwenserve_prefix_cache_hit_rate", "qwenserve_prefix_cache_hits_total"]:
        assert name in text, name


def check_prefix_cache(srv):
    words = "The quick brown fox jumps over the lazy dog near the quiet river bank. "
    system = words * 16
    n = requests.post(srv.url + "/tokenize", json={"prompt": system}, timeout=10).json()["count"]
    assert 190 <= n <= 260, n
    def ttft(user):
        body = {"model": MODEL_ALIAS, "temperature": 0, "max_tokens": 2,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
                "stream_options": {"include_usage": True}}
        t0 = time.time()
        first = None
        usage = None
        with requests.post(srv.url + "/v1/chat/completions", json={**body, "stream": True},
                           stream=True, timeout=60) as r:
            for line in r.iter_lines():
                if line.startswith(b"data: {"):
                    c = json.loads(line[6:])
                    if first is None and c["choices"] and c["choices"][0]["delta"].get("content") is not None \
                            and "role" not in c["choices"][0]["delta"]:
                        first = time.time() - t0
                    if c.get("usage"):
                        usage = c["usage"]
        return first, usage
    m0 = srv.metrics()
    t1, u1 = ttft("first question")
    m1 = srv.metrics()
    t2, u2 = ttft("second question")
    m2 = srv.metrics()
    hits1 = m1["qwenserve_prefix_cache_hits_total"] - m0["qwenserve_prefix_cache_hits_total"]
    hits2 = m2["qwenserve_prefix_cache_hits_total"] - m1["qwenserve_prefix_cache_hits_total"]
    print(f"  prefix cache: system prompt {n} tokens; hits {hits1:.0f} then {hits2:.0f}; "
          f"cached_tokens {u1['prompt_tokens_details']['cached_tokens']} then "
          f"{u2['prompt_tokens_details']['cached_tokens']}; TTFT {t1 * 1e3:.1f} ms then {t2 * 1e3:.1f} ms")
    assert hits2 >= (n // 16) * 16 - 16, (hits1, hits2)
    assert u2["prompt_tokens_details"]["cached_tokens"] >= (n // 16) * 16 - 16, u2


# --- the auxiliary server: API key, small queue, small body limit -----------

KEY = "sk-test-123"


def bad_request_table(url):
    """(name, method, path, body bytes or json, headers, expected status)."""
    H = {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}
    msgs = [{"role": "user", "content": "hi"}]
    ok = {"model": MODEL_ALIAS, "messages": msgs, "max_tokens": 2}
    rows = [
        ("bad json", "/v1/chat/completions", b"{not json", H, 400),
        ("truncated json", "/v1/chat/completions", b'{"messages": [', H, 400),
        ("json array body", "/v1/chat/completions", b"[]", H, 400),
        ("empty body", "/v1/chat/completions", b"", H, 400),
        ("invalid utf-8", "/v1/chat/completions",
         b'{"messages":[{"role":"user","content":"\xff\xfe"}]}', H, 400),
        ("missing messages", "/v1/chat/completions", {"model": MODEL_ALIAS}, H, 400),
        ("empty messages", "/v1/chat/completions", {"messages": []}, H, 400),
        ("messages not a list", "/v1/chat/completions", {"messages": "hi"}, H, 400),
        ("message without role", "/v1/chat/completions", {"messages": [{"content": "x"}]}, H, 400),
        ("unknown role", "/v1/chat/completions", {"messages": [{"role": "wizard", "content": "x"}]}, H, 400),
        ("content wrong type", "/v1/chat/completions", {"messages": [{"role": "user", "content": 5}]}, H, 400),
        ("unknown model", "/v1/chat/completions", {**ok, "model": "gpt-17"}, H, 400),
        ("model wrong type", "/v1/chat/completions", {**ok, "model": 3}, H, 400),
        ("max_tokens negative", "/v1/chat/completions", {**ok, "max_tokens": -1}, H, 400),
        ("max_tokens zero", "/v1/chat/completions", {**ok, "max_tokens": 0}, H, 400),
        ("max_tokens huge", "/v1/chat/completions", {**ok, "max_tokens": 10**12}, H, 400),
        ("max_tokens over context", "/v1/chat/completions", {**ok, "max_tokens": 9000}, H, 400),
        ("max_tokens string", "/v1/chat/completions", {**ok, "max_tokens": "10"}, H, 400),
        ("temperature string", "/v1/chat/completions", {**ok, "temperature": "hot"}, H, 400),
        ("temperature too high", "/v1/chat/completions", {**ok, "temperature": 5}, H, 400),
        ("top_p zero", "/v1/chat/completions", {**ok, "top_p": 0}, H, 400),
        ("top_k bad", "/v1/chat/completions", {**ok, "top_k": -5}, H, 400),
        ("min_p above 1", "/v1/chat/completions", {**ok, "min_p": 1.5}, H, 400),
        ("presence_penalty range", "/v1/chat/completions", {**ok, "presence_penalty": 3}, H, 400),
        ("frequency_penalty type", "/v1/chat/completions", {**ok, "frequency_penalty": []}, H, 400),
        ("repetition_penalty zero", "/v1/chat/completions", {**ok, "repetition_penalty": 0}, H, 400),
        ("seed string", "/v1/chat/completions", {**ok, "seed": "x"}, H, 400),
        ("stop wrong type", "/v1/chat/completions", {**ok, "stop": 7}, H, 400),
        ("too many stops", "/v1/chat/completions", {**ok, "stop": ["a", "b", "c", "d", "e"]}, H, 400),
        ("n zero", "/v1/chat/completions", {**ok, "n": 0}, H, 400),
        ("n huge", "/v1/chat/completions", {**ok, "n": 1000}, H, 400),
        ("top_logprobs without logprobs", "/v1/chat/completions", {**ok, "top_logprobs": 3}, H, 400),
        ("top_logprobs too many", "/v1/chat/completions", {**ok, "logprobs": True, "top_logprobs": 50}, H, 400),
        ("stream not bool", "/v1/chat/completions", {**ok, "stream": "yes"}, H, 400),
        ("tools malformed", "/v1/chat/completions", {**ok, "tools": [{"type": "function"}]}, H, 400),
        ("tool_choice unknown fn", "/v1/chat/completions",
         {**ok, "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
          "tool_choice": {"type": "function", "function": {"name": "g"}}}, H, 400),
        ("logit_bias unsupported", "/v1/chat/completions", {**ok, "logit_bias": {"1": 5}}, H, 400),
        ("prompt longer than context", "/v1/chat/completions",
         {**ok, "messages": [{"role": "user", "content": "word " * 9000}]}, H, 400),
        ("oversized body", "/v1/chat/completions",
         {**ok, "messages": [{"role": "user", "content": "x" * 200000}]}, H, 413),
        ("missing api key", "/v1/chat/completions", ok, {"Content-Type": "application/json"}, 401),
        ("wrong api key", "/v1/chat/completions", ok, {**H, "Authorization": "Bearer nope"}, 401),
        ("completions missing prompt", "/v1/completions", {"max_tokens": 2}, H, 400),
        ("completions bad token id", "/v1/completions", {"prompt": [1, 2, 10**9]}, H, 400),
        ("completions empty prompt", "/v1/completions", {"prompt": ""}, H, 400),
        ("completions logprobs too many", "/v1/completions", {"prompt": "a", "logprobs": 99}, H, 400),
        ("tokenize without prompt", "/tokenize", {}, H, 400),
        ("detokenize bad tokens", "/detokenize", {"tokens": ["a"]}, H, 400),
        ("unknown route", "/v1/nothing", ok, H, 404),
    ]
    return rows


def check_bad_requests(aux):
    rows = bad_request_table(aux.url)
    assert len(rows) >= 30
    wrong = []
    for name, path, body, headers, want in rows:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        r = requests.post(aux.url + path, data=data, headers=headers, timeout=60)
        ok = r.status_code == want
        if ok:
            e = r.json().get("error", {})
            ok = isinstance(e.get("message"), str) and e["message"] and "type" in e and "code" in e
        if not ok:
            wrong.append((name, want, r.status_code, r.text[:200]))
        # The server keeps serving after each one.
    assert not wrong, "\n".join(map(str, wrong))
    long_prompt = requests.post(aux.url + "/v1/chat/completions", headers={"Authorization": "Bearer " + KEY},
                                json={"messages": [{"role": "user", "content": "word " * 9000}]}, timeout=60)
    msg = long_prompt.json()["error"]["message"]
    assert "8192" in msg and any(ch.isdigit() for ch in msg.replace("8192", "")), msg
    good = chat(aux.url, {"messages": [{"role": "user", "content": "still alive?"}], "max_tokens": 2},
                headers={"Authorization": "Bearer " + KEY})
    assert good["choices"][0]["finish_reason"] in ("stop", "length")
    print(f"  {len(rows)} bad requests answered with the expected 4xx")


def check_health_and_metrics_need_no_key(aux):
    assert requests.get(aux.url + "/health", timeout=10).status_code == 200
    assert requests.get(aux.url + "/metrics", timeout=10).status_code == 200
    assert requests.get(aux.url + "/v1/models", timeout=10).status_code == 401
    assert requests.get(aux.url + "/v1/models", headers={"Authorization": "Bearer " + KEY},
                        timeout=10).status_code == 200


def check_full_queue(aux):
    # max_batch_size 1 and max_waiting 1: of 8 long requests at once, some must be refused.
    H = {"Authorization": "Bearer " + KEY}
    body = {**greedy_body("fill the queue", 300)}
    with ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(lambda _: requests.post(aux.url + "/v1/chat/completions", json=body,
                                                    headers=H, timeout=300).status_code, range(8)))
    assert any(c in (429, 503) for c in codes) and 200 in codes, codes
    assert all(c in (200, 429, 503) for c in codes), codes
    r = requests.post(aux.url + "/v1/chat/completions", json=greedy_body("after", 2), headers=H, timeout=60)
    assert r.status_code == 200
    print(f"  status codes under overload: {sorted(codes)}")


def check_config_yaml_and_flags(tiny, tmp):
    cfg = os.path.join(tmp, "config.yaml")
    with open(cfg, "w") as f:
        f.write("api_key: sk-from-yaml\nmax_batch_size: 2\nmax_seq_len: 512\n"
                "enable_chunked_prefill: true\ncors_origins: [\"http://example.test\"]\n")
    with Server(QWENSERVE, tiny, args=["--config", cfg]) as s:
        ok = requests.get(s.url + "/v1/models", headers={"Authorization": "Bearer sk-from-yaml"}, timeout=10)
        assert ok.status_code == 200 and ok.json()["data"][0]["max_model_len"] == 512, ok.text
        pre = requests.options(s.url + "/v1/chat/completions",
                               headers={"Origin": "http://example.test",
                                        "Access-Control-Request-Method": "POST"}, timeout=10)
        assert pre.headers.get("Access-Control-Allow-Origin") == "http://example.test", pre.headers
        other = requests.options(s.url + "/v1/chat/completions", headers={"Origin": "http://evil.test"},
                                 timeout=10)
        assert "Access-Control-Allow-Origin" not in other.headers
    with Server(QWENSERVE, tiny, args=["--config", cfg, "--api-key", "sk-flag", "--max-seq-len", "256"]) as s:
        H = {"Authorization": "Bearer sk-flag"}
        assert requests.get(s.url + "/v1/models", headers={"Authorization": "Bearer sk-from-yaml"},
                            timeout=10).status_code == 401
        r = requests.get(s.url + "/v1/models", headers=H, timeout=10)
        assert r.status_code == 200 and r.json()["data"][0]["max_model_len"] == 256, r.text
    with open(cfg, "w") as f:
        f.write("max_batch_sise: 2\n")
    import subprocess
    p = subprocess.run([QWENSERVE, "serve", "-m", tiny, "--config", cfg, "--port", "0"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "max_batch_sise" in p.stderr, (p.returncode, p.stderr)


def check_sigterm_drains(tiny):
    s = Server(QWENSERVE, tiny)
    try:
        result = {}

        def run():
            result["r"] = stream_chat(s.url, {**greedy_body("drain me", 200),
                                              "stream_options": {"include_usage": True}})

        t = threading.Thread(target=run)
        t.start()
        wait_for(lambda: s.metrics()["qwenserve_generation_tokens_total"] >= 5, "generation to start")
        s.proc.send_signal(signal.SIGTERM)
        t.join(120)
        code = s.proc.wait(60)
        chunks, texts, usage, finish = result["r"]
        assert usage["completion_tokens"] == 200 and finish[0] == "length", (usage, finish)
        assert code == 0, (code, s.read_log()[-2000:])
        assert "stopped" in s.read_log()
    finally:
        s.stop()
        os.unlink(s.log.name)


def main():
    res = Results()
    with tempfile.TemporaryDirectory() as tmp:
        tiny = make_tiny_model(SYNTH, CONFIG, TOKDIR, os.path.join(tmp, "Qwen2.5-tiny-test"))
        port = 8000 if port_is_free(8000) else 0
        if port == 0:
            print("port 8000 is busy: the snippet runs against a free port instead")
        with Server(QWENSERVE, tiny, port=port) as srv:
            res.run("python client snippet (port %d)" % srv.port, check_python_snippet, srv.url)
            res.run("models and aliases", check_models, srv.url, tiny)
            res.run("streaming == non-streaming for a seed", check_stream_equals_whole, srv.url)
            res.run("64 concurrent streams", check_64_concurrent_streams, srv.url)
            res.run("greedy alone == among 15 others", check_batch_invariance, srv.url)
            res.run("client disconnect frees its sequence", check_disconnect_frees_sequence, srv)
            res.run("stop strings", check_stop_strings, srv.url)
            res.run("n, logprobs, usage", check_n_logprobs_usage, srv.url)
            res.run("tokenize / detokenize / tools rendering", check_tokenize, srv.url)
            res.run("prefix cache hit", check_prefix_cache, srv)
            res.run("metrics names", check_metrics_names, srv)
        aux_args = ["--api-key", KEY, "--max-batch-size", "1", "--max-waiting", "1",
                    "--max-body-bytes", "65536"]
        with Server(QWENSERVE, tiny, args=aux_args) as aux:
            res.run("bad request table", check_bad_requests, aux)
            res.run("health/metrics open, API needs key", check_health_and_metrics_need_no_key, aux)
            res.run("full queue answers 429/503", check_full_queue, aux)
        res.run("config.yaml, flags override, CORS", check_config_yaml_and_flags, tiny, tmp)
        res.run("SIGTERM drains running requests", check_sigterm_drains, tiny)
    res.finish()


if __name__ == "__main__":
    main()
