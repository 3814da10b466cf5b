#!/usr/bin/env bash
# Runs the SSE parser unit test, then the chat page browser test against
# webui/mock_server.mjs.
#   tests/webui/run_with_mock.sh [OUTDIR]     (default OUTDIR: out/webui)
# Needs: node, webui/node_modules (cd webui && npm ci), /usr/bin/chromium.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUTDIR="${1:-$ROOT/out/webui}"
mkdir -p "$OUTDIR"

node "$ROOT/tests/webui/sse_parser_test.mjs"
LOG="$OUTDIR/mock_server.log"

node "$ROOT/webui/mock_server.mjs" --port 0 >"$LOG" 2>&1 &
MOCK_PID=$!
trap 'kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true' EXIT

PORT=""
for _ in $(seq 1 100); do
  PORT="$(sed -n 's/^LISTENING \([0-9][0-9]*\)$/\1/p' "$LOG" | head -n1)"
  [[ -n "$PORT" ]] && break
  kill -0 "$MOCK_PID" 2>/dev/null || { echo "mock server exited:"; cat "$LOG"; exit 1; }
  sleep 0.1
done
[[ -n "$PORT" ]] || { echo "mock server did not start"; cat "$LOG"; exit 1; }

node "$ROOT/tests/webui/chat_page_test.mjs" "http://127.0.0.1:$PORT" "$OUTDIR"
