#!/usr/bin/env bash
# Builds tests/tokenizer/fuzz_tokenizer.cc with clang++ -fsanitize=fuzzer,address,undefined
# (compiling the tokenizer sources directly) and runs it for a bounded time.
#   run_fuzz.sh SRC_DIR BUILD_DIR DATA_DIR [SECONDS]
# Fails if the build fails or the fuzzer finds a crash, leak or broken invariant.
set -euo pipefail
src="$1"; out="$2/fuzz_tokenizer"; data="$3"; secs="${4:-20}"
if [ ! -d "$data" ]; then echo "tokenizer data folder missing: $data" >&2; exit 1; fi
cxx="$(command -v clang++-14 || command -v clang++)"
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
       -fno-sanitize-recover=undefined -I"$src/src")
mkdir -p "$out/obj" "$out/corpus"
srcs=("$src"/src/tokenizer/*.cc "$src/src/core/mapped_file.cc" "$src/tests/tokenizer/fuzz_tokenizer.cc")
# Compile two at a time; objects are rebuilt only when their source is newer.
for f in "${srcs[@]}"; do
  o="$out/obj/$(basename "$f" .cc).o"
  if [ ! -f "$o" ] || [ "$f" -nt "$o" ] || [ -n "$(find "$src/src/tokenizer" -name '*.h' -newer "$o")" ]; then
    echo "$f $o"
  fi
done | xargs -r -P2 -n2 sh -c '"$0" '"${flags[*]}"' -c "$1" -o "$2"' "$cxx"
"$cxx" -fsanitize=fuzzer,address,undefined "$out"/obj/*.o -lutf8proc -o "$out/fuzz_tokenizer"
# Seeds: a few interesting inputs.
printf 'Hello world 123' > "$out/corpus/ascii"
printf '<|im_start|>user\n你好 😀<|im_end|>' > "$out/corpus/special"
printf '\xc3\x28\xe2\x82\xf0\x9f\x98 e\xcc\x81 \xed\xa0\x80' > "$out/corpus/invalid"
printf '<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>' > "$out/corpus/tool"
QS_TOKENIZER_DATA="$data" "$out/fuzz_tokenizer" -max_total_time="$secs" -max_len=2048 \
  -rss_limit_mb=3000 -print_final_stats=1 "$out/corpus"
