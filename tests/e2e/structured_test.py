"""End-to-end structured output through `qwenserve serve` on the tiny random
model: response_format json_schema / json_object and forced tool calls are
enforced by constrained decoding (streaming and whole), unsupported schemas
are 400s naming the keyword, impossible schemas do not hang.

usage: structured_test.py QWENSERVE QS_SYNTH TINY_CONFIG TOKENIZER_DIR"""
import json
import os
import sys
import tempfile

import jsonschema
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, make_tiny_model, stream_chat  # noqa: E402

QWENSERVE, SYNTH, CONFIG, TOKDIR = sys.argv[1:5]
SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "grammar", "schemas")
SCHEMAS = ["00_people_table_oldest.json", "13_enum_strings.json", "26_simple_object.json",
           "35_array_bounds.json", "48_ref_defs.json", "54_user_profile.json",
           "65_nullable_fields.json"]
MSG = [{"role": "user", "content": "Who is the oldest person in the table? Answer in JSON."}]
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, flush=True)


def load(name):
    with open(os.path.join(SCHEMA_DIR, name)) as f:
        return json.load(f)


def rf_schema(schema):
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}


def chat(url, body):
    r = requests.post(url + "/v1/chat/completions", json=body, timeout=600)
    return r


def validate(text, schema, what):
    try:
        v = json.loads(text)
    except json.JSONDecodeError as e:
        check(False, f"{what}: not JSON ({e}): {text!r}")
        return None
    try:
        jsonschema.validate(v, schema)
    except jsonschema.ValidationError as e:
        check(False, f"{what}: invalid ({e.message}): {text!r}")
    return v


def test_schemas(url):
    n = 0
    for i, name in enumerate(SCHEMAS):
        schema = load(name)
        for seed, temp in [(i, 1.0), (100 + i, 0.7), (200 + i, 1.5)]:
            body = {"messages": MSG, "response_format": rf_schema(schema), "seed": seed,
                    "temperature": temp, "max_tokens": 200}
            what = f"{name} seed={seed} T={temp}"
            r = chat(url, body)
            check(r.status_code == 200, f"{what}: HTTP {r.status_code} {r.text}")
            if r.status_code != 200:
                continue
            ch = r.json()["choices"][0]
            check(ch["finish_reason"] == "stop", f"{what}: finish_reason {ch['finish_reason']}")
            validate(ch["message"]["content"], schema, what)
            # Streaming gives the same tokens (same seed): the same text.
            _, texts, _, finish = stream_chat(url, body)
            check(texts.get(0) == ch["message"]["content"],
                  f"{what}: stream {texts.get(0)!r} != whole {ch['message']['content']!r}")
            check(finish.get(0) == "stop", f"{what}: stream finish_reason {finish}")
            n += 1
    print(f"schemas: {n} answers checked", flush=True)


def test_json_object(url):
    for seed in range(3):
        body = {"messages": MSG, "response_format": {"type": "json_object"}, "seed": seed,
                "max_tokens": 150}
        r = chat(url, body)
        check(r.status_code == 200, f"json_object: HTTP {r.status_code} {r.text}")
        if r.status_code != 200:
            continue
        ch = r.json()["choices"][0]
        v = validate(ch["message"]["content"], {"type": "object"}, f"json_object seed={seed}")
        check(isinstance(v, dict), f"json_object seed={seed}: not an object")
        check(ch["finish_reason"] == "stop", f"json_object seed={seed}: {ch['finish_reason']}")


WEATHER = {"type": "object",
           "properties": {"city": {"type": "string", "maxLength": 20},
                          "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
           "required": ["city", "unit"], "additionalProperties": False}
TIME = {"type": "object", "properties": {"tz": {"type": "string", "maxLength": 10}},
        "required": ["tz"], "additionalProperties": False}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}},
         {"type": "function", "function": {"name": "get_time", "parameters": TIME}}]
PARAMS = {"get_weather": WEATHER, "get_time": TIME}


def check_tool_calls(calls, finish, what, only=None):
    check(finish == "tool_calls", f"{what}: finish_reason {finish}")
    check(bool(calls), f"{what}: no tool_calls")
    for c in calls or []:
        name = c["function"]["name"]
        check(name in PARAMS and (only is None or name == only), f"{what}: function {name}")
        if name in PARAMS:
            validate(c["function"]["arguments"], PARAMS[name], f"{what} {name} arguments")


def test_tools(url):
    choices = [("required", "required", None),
               ("named", {"type": "function", "function": {"name": "get_time"}}, "get_time")]
    for label, tc, only in choices:
        for seed in range(3):
            body = {"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": TOOLS,
                    "tool_choice": tc, "seed": seed, "max_tokens": 300}
            what = f"tools {label} seed={seed}"
            r = chat(url, body)
            check(r.status_code == 200, f"{what}: HTTP {r.status_code} {r.text}")
            if r.status_code != 200:
                continue
            ch = r.json()["choices"][0]
            check_tool_calls(ch["message"].get("tool_calls"), ch["finish_reason"], what, only)
            if only:
                check(len(ch["message"].get("tool_calls") or []) == 1, f"{what}: not exactly one call")
            # Streaming: the tool calls arrive as deltas.
            chunks, _, _, finish = stream_chat(url, body)
            calls = {}
            for c in chunks[:-1]:
                for chd in c["choices"]:
                    for d in chd["delta"].get("tool_calls") or []:
                        e = calls.setdefault(d["index"], {"function": {"name": "", "arguments": ""}})
                        e["function"]["name"] += d.get("function", {}).get("name") or ""
                        e["function"]["arguments"] += d.get("function", {}).get("arguments") or ""
            check_tool_calls([calls[k] for k in sorted(calls)], finish.get(0), what + " stream", only)


def test_n_and_auto(url):
    # n choices share the grammar but each has its own matcher.
    schema = load(SCHEMAS[0])
    r = chat(url, {"messages": MSG, "response_format": rf_schema(schema), "n": 3, "seed": 7,
                   "temperature": 1.2, "max_tokens": 150})
    check(r.status_code == 200, f"n=3: HTTP {r.status_code} {r.text}")
    if r.status_code == 200:
        chs = r.json()["choices"]
        check(len(chs) == 3, f"n=3: {len(chs)} choices")
        for ch in chs:
            validate(ch["message"]["content"], schema, f"n=3 choice {ch['index']}")
            check(ch["finish_reason"] == "stop", f"n=3: finish_reason {ch['finish_reason']}")
    # tool_choice auto: free text, or calls whose arguments validate.
    for seed in range(3):
        r = chat(url, {"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": TOOLS,
                       "seed": seed, "max_tokens": 40})
        check(r.status_code == 200, f"auto seed={seed}: HTTP {r.status_code} {r.text}")
        if r.status_code == 200:
            ch = r.json()["choices"][0]
            if ch["message"].get("tool_calls"):
                check_tool_calls(ch["message"]["tool_calls"], ch["finish_reason"], f"auto seed={seed}")
            else:
                check(ch["finish_reason"] in ("stop", "length"), f"auto: {ch['finish_reason']}")


def test_errors(url):
    bad = {"type": "object", "properties": {"a": {"type": "integer", "multipleOf": 3}}}
    r = chat(url, {"messages": MSG, "response_format": rf_schema(bad), "max_tokens": 10})
    check(r.status_code == 400, f"multipleOf: HTTP {r.status_code}")
    if r.status_code == 400:
        err = r.json()["error"]
        check("multipleOf" in err["message"], f"multipleOf: message {err['message']}")
        check(err["param"] == "response_format.json_schema.schema", f"multipleOf: param {err}")
        check(err["type"] == "invalid_request_error", f"multipleOf: type {err}")
    for label, schema in [("min>max", {"type": "string", "minLength": 5, "maxLength": 2}),
                          ("empty enum", {"enum": []}),
                          ("infinite recursion", {"$ref": "#/$defs/a", "$defs": {
                              "a": {"type": "object", "properties": {"x": {"$ref": "#/$defs/a"}},
                                    "required": ["x"]}}})]:
        r = chat(url, {"messages": MSG, "response_format": rf_schema(schema), "max_tokens": 50})
        check(r.status_code == 400, f"impossible {label}: HTTP {r.status_code} {r.text[:200]}")
    # A budget too small for much: the value still closes, or it ends by length.
    r = chat(url, {"messages": MSG, "response_format": rf_schema(load(SCHEMAS[0])),
                   "max_tokens": 5, "seed": 1})
    check(r.status_code == 200, f"tiny budget: HTTP {r.status_code}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        tiny = make_tiny_model(SYNTH, CONFIG, TOKDIR, os.path.join(tmp, "Qwen2.5-tiny-test"))
        with Server(QWENSERVE, tiny) as srv:
            for t in (test_errors, test_json_object, test_tools, test_n_and_auto, test_schemas):
                print("==", t.__name__, flush=True)
                t(srv.url)
    if FAILS:
        print(f"{len(FAILS)} failures", flush=True)
        sys.exit(1)
    print("all structured output checks passed", flush=True)


if __name__ == "__main__":
    main()
