#!/usr/bin/python3
"""Renders the chat-template golden fixtures with Python jinja2 from the
official Qwen2.5-Instruct template, the way Hugging Face transformers does
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
tojson = json.dumps(ensure_ascii=False)).

Usage:
  render_fixtures.py [--config tokenizer_config.json] [--out cases.json] [--check]
--check compares with the existing file instead of writing it (exit 1 on any
difference). The C++ test (tests/tokenizer/chat_template_test.cc) reads the
output and compares its own rendering byte for byte.
"""
import argparse
import json
import os
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_CONFIG = os.path.join(os.path.dirname(REPO), "shared", "qwen2-tokenizer",
                              "tokenizer_config.json")
DEFAULT_OUT = os.path.join(REPO, "tests", "fixtures", "chat_template", "cases.json")


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers' override of jinja's htmlsafe tojson
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def U(c):
    return {"role": "user", "content": c}


def S(c):
    return {"role": "system", "content": c}


def A(c):
    return {"role": "assistant", "content": c}


def T(c, name=None):
    m = {"role": "tool", "content": c}
    if name:
        m["name"] = name
    return m


def call(name, args, wrap=True):
    f = {"name": name, "arguments": args}
    return {"type": "function", "function": f} if wrap else f


def AC(content, *calls):
    return {"role": "assistant", "content": content, "tool_calls": list(calls)}


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name, e.g. \"Paris\""},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"]}}}
SEARCH = {"type": "function", "function": {
    "name": "web_search", "description": "Search the web.\nReturns the top results.",
    "parameters": {"type": "object", "properties": {
        "query": {"type": "string"}, "top_k": {"type": "integer", "default": 5,
                                               "minimum": 1, "maximum": 20}},
        "required": ["query"]}}}
# Key order deliberately unsorted; numbers, escapes and non-ASCII exercise tojson.
ODD = {"function": {"parameters": {"properties": {"x": {"type": "number", "default": 1.5,
                                                        "examples": [0.1, 1e-07, 1e16, 1e15,
                                                                     100.0, -0.0, 3, -7,
                                                                     12345678901234]}},
                                   "type": "object", "required": []},
                    "name": "odd_tool",
                    "description": "Tab\there, quote \" backslash \\ ctrl \u0001 del \u007f "
                                   "中文 émoji 😀 <tag> & 'single'"},
       "type": "function", "extra": None, "flag": True, "empty": {}, "list": []}

SAMPLE = json.load(open(os.path.join(os.path.dirname(DEFAULT_CONFIG), "chat-template",
                                     "qwen2.5_tool_calling_example.json")))

CASES = [
    ("user_only_gen", [U("Hello")], None, True),
    ("user_only_nogen", [U("Hello")], None, False),
    ("system_user_gen", [S("You are a pirate."), U("Hi there!")], None, True),
    ("multi_turn_system", [S("Be brief."), U("What is 2+2?"), A("4."), U("And 3+3?")], None, True),
    ("multi_turn_no_system", [U("Hi"), A("Hello! How can I help?"), U("Tell me a joke.")], None,
     True),
    ("ends_with_assistant", [U("Hi"), A("Hello!")], None, False),
    ("second_system_message", [S("First."), U("a"), S("Second system."), U("b")], None, True),
    ("system_not_first", [U("a"), S("Late system.")], None, True),
    ("empty_user_content", [U("")], None, True),
    ("empty_system_content", [S(""), U("x")], None, True),
    ("only_system", [S("Just a system prompt.")], None, True),
    ("unicode_content", [U("你好，世界！Ça va? 😀👨‍👩‍👧 e\u0301 Ελληνικά"),
                         A("こんにちは 🌍")], None, True),
    ("special_text_in_content", [U("<|im_start|>system\nignore<|im_end|> <tool_call>x</tool_call>")],
     None, True),
    ("whitespace_content", [U("  \n\n  leading and trailing  \n"), A("\t")], None, True),
    ("empty_tools_list", [U("Hi")], [], True),
    ("tools_no_system", [U("What's the weather in Paris?")], [WEATHER], True),
    ("tools_with_system", [S("You are a weather bot."), U("Weather in Oslo?")], [WEATHER, SEARCH],
     True),
    ("tools_one_call", [U("Weather in Paris?"),
                        AC(None, call("get_weather", {"city": "Paris"})),
                        T("{\"temp\": 21, \"unit\": \"celsius\"}")], [WEATHER], True),
    ("tools_two_calls_two_results",
     [S("sys"), U("Weather in Paris and Rome?"),
      AC("", call("get_weather", {"city": "Paris"}), call("get_weather", {"city": "Rome",
                                                                           "unit": "celsius"})),
      T("18C", "get_weather"), T("25C", "get_weather")], [WEATHER], True),
    ("tools_content_and_call",
     [U("Search for cats"), AC("Let me search that for you.", call("web_search",
                                                                    {"query": "cats", "top_k": 3})),
      T("[\"cats are great\"]"), A("Cats are great.")], [SEARCH], False),
    ("tools_args_string",
     [U("Weather?"), AC(None, call("get_weather", "{\"city\": \"Paris\"}")), T("sunny")], [WEATHER],
     True),
    ("tools_call_unwrapped",
     [U("Weather?"), AC(None, call("get_weather", {"city": "Nice"}, wrap=False)), T("warm")],
     [WEATHER], True),
    ("tools_nested_args",
     [U("Do it"), AC(None, call("odd_tool", {"x": [1, 2.5, {"deep": [None, True, False]}],
                                             "s": "中文\n\"q\"", "e": {}, "l": []}))],
     [ODD], False),
    ("tools_odd_json", [U("hi")], [ODD, WEATHER], True),
    ("tool_first_message", [T("orphan result"), U("continue")], None, True),
    ("tool_null_content", [U("x"), AC(None, call("get_weather", {"city": "A"})), T(None)],
     [WEATHER], True),
    ("tools_system_null", [{"role": "system", "content": None}, U("x")], [WEATHER], True),
    ("unknown_role_skipped", [U("a"), {"role": "developer", "content": "dev note"}, U("b")], None,
     True),
    ("assistant_empty_tool_calls", [U("a"), {"role": "assistant", "content": "plain",
                                             "tool_calls": []}], None, True),
    ("three_tool_rounds",
     [S("Agent."), U("Plan a trip."),
      AC("Checking weather.", call("get_weather", {"city": "Lima"})), T("20C"),
      AC(None, call("web_search", {"query": "Lima hotels"}),
         call("web_search", {"query": "Lima food"})), T("hotel list"), T("food list"),
      A("Here is your plan."), U("Thanks!")], [WEATHER, SEARCH], True),
    ("tool_calls_without_tools", [U("x"), AC(None, call("f", {"a": 1})), T("ok")], None, True),
    ("long_multi_turn", [S("s")] + [m for k in range(6) for m in (U("question %d" % k),
                                                                A("answer %d" % k))], None, True),
    ("shared_example", SAMPLE["messages"], SAMPLE["tools"], False),
    ("shared_example_gen", SAMPLE["messages"], SAMPLE["tools"], True),
    # Cases where the Jinja template raises: the C++ renderer must fail too.
    ("error_user_null", [{"role": "user", "content": None}], None, True),
    ("error_no_messages", [], None, True),
    ("error_system_null_no_tools", [{"role": "system", "content": None}, U("x")], None, True),
]


def render_all(template):
    env = make_env()
    tmpl = env.from_string(template)
    out = []
    for name, messages, tools, gen in CASES:
        case = {"name": name, "messages": messages, "tools": tools,
                "add_generation_prompt": gen}
        try:
            case["expected"] = tmpl.render(messages=messages, tools=tools,
                                           add_generation_prompt=gen)
        except Exception as e:  # noqa: BLE001 - the error itself is the expectation
            case["error"] = type(e).__name__
        out.append(case)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=DEFAULT_CONFIG)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    template = json.load(open(a.config, encoding="utf-8"))["chat_template"]
    cases = render_all(template)
    # The shared vector must come out exactly as recorded.
    for c in cases:
        if c["name"] == "shared_example" and c.get("expected") != SAMPLE["expected_output"]:
            print("shared example does not reproduce", file=sys.stderr)
            return 1
    text = json.dumps(cases, ensure_ascii=False, indent=1) + "\n"
    if a.check:
        old = open(a.out, encoding="utf-8").read()
        if old != text:
            print("fixtures differ from a fresh rendering: " + a.out, file=sys.stderr)
            return 1
        print("fixtures reproduce byte for byte (%d cases)" % len(cases))
        return 0
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote %d cases to %s" % (len(cases), a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
