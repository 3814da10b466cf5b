#!/usr/bin/env bash
# Sets up, builds and starts qwenserve on a model directory. With no argument
# it makes a random-weight model of the exact Qwen2.5-0.5B shape (real
# tokenizer, noise weights) in models/qwen2.5-0.5b-random, since real weights
# cannot be downloaded everywhere. Extra arguments go to `qwenserve serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
MODEL="${1:-}"
[ $# -gt 0 ] && shift
if [ -z "$MODEL" ]; then
  MODEL=models/qwen2.5-0.5b-random
  if [ ! -f "$MODEL/model.safetensors" ]; then
    echo "quickstart: synthesizing a random model of the 0.5B shape in $MODEL"
    ./build/tools/synth/qs-synth --config tools/synth/configs/qwen2.5-0.5b.json --seed 1 \
      --dtype bf16 --tokenizer ../shared/qwen2-tokenizer -o "$MODEL"
  fi
fi
echo "quickstart: serving $MODEL (chat page and OpenAI API on http://127.0.0.1:8000)"
exec ./build/src/cli/qwenserve serve -m "$MODEL" "$@"
