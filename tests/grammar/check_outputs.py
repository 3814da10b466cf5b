#!/usr/bin/env python3
"""Validates constrained_gen's JSONL: every output must be exactly one JSON
value (nothing after it), valid against its schema (jsonschema, with format
checks), and the generation must have ended with eos. Usage:
check_outputs.py SCHEMA_DIR OUT.jsonl"""
import copy
import datetime
import json
import pathlib
import sys

import jsonschema


def _date_time(s):
    """RFC 3339 date-time (jsonschema checks it only with rfc3339-validator)."""
    if not isinstance(s, str):
        return True
    if "T" not in s or not (s.endswith("Z") or s[-6] in "+-"):
        raise ValueError("not RFC 3339")
    datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return True


def _time(s):
    """RFC 3339 full-time, e.g. 13:45:00.5+02:00 (same reason)."""
    if not isinstance(s, str):
        return True
    return _date_time("2000-01-01T" + s)


def checker_for(cls):
    fc = copy.deepcopy(cls.FORMAT_CHECKER)
    for name, fn in (("date-time", _date_time), ("time", _time)):
        if name not in fc.checkers:
            fc.checks(name, raises=ValueError)(fn)
    return fc


def main() -> int:
    schema_dir = pathlib.Path(sys.argv[1])
    lines = pathlib.Path(sys.argv[2]).read_text(encoding="utf-8").splitlines()
    bad = 0
    per_schema = {}
    for line in lines:
        rec = json.loads(line)
        schema = json.loads((schema_dir / rec["schema"]).read_text(encoding="utf-8"))
        name = f'{rec["schema"]} seed={rec["seed"]} T={rec["temperature"]}'
        per_schema[rec["schema"]] = per_schema.get(rec["schema"], 0) + 1
        problem = None
        if rec.get("error"):
            problem = "generation error: " + rec["error"]
        elif not rec["terminated"]:
            problem = f'did not end with eos within {rec["tokens"]} tokens'
        else:
            try:
                value = json.loads(rec["output"])  # strict: no trailing text
            except json.JSONDecodeError as e:
                problem = f"not JSON: {e}"
            else:
                if rec["output"] != rec["output"].rstrip() or rec["output"] != rec["output"].lstrip():
                    problem = "whitespace around the value"
                else:
                    try:
                        cls = jsonschema.validators.validator_for(schema)
                        cls(schema, format_checker=checker_for(cls)).validate(value)
                    except jsonschema.ValidationError as e:
                        problem = f"invalid: {e.message}"
        if problem:
            bad += 1
            print(f"FAIL {name}: {problem}\n  output: {rec['output'][:300]!r}")
    schemas = len(list(schema_dir.glob("*.json")))
    print(f"check_outputs: {len(lines)} outputs, {len(per_schema)}/{schemas} schemas, {bad} failing")
    if len(per_schema) != schemas:
        print("FAIL: some schemas produced no output")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
