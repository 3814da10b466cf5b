#!/bin/sh
# ctest driver: generate under every corpus schema, then validate with jsonschema.
# Usage: run_constrained_gen.sh CONSTRAINED_GEN TESTS_GRAMMAR_DIR WORK_DIR
set -e
gen="$1"; dir="$2"; work="$3"
mkdir -p "$work"
"$gen" "$dir/schemas" "$work" "$work/outputs.jsonl" "${QS_GRAMMAR_SEEDS:-3}" "${QS_GRAMMAR_MAX_TOKENS:-300}"
exec /usr/bin/python3 "$dir/check_outputs.py" "$dir/schemas" "$work/outputs.jsonl"
