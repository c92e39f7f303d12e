#!/usr/bin/env bash
# The main job: starts toolcalld on a private session bus with the default model and asks it,
# through toolcallctl, for a tool call. Prints the result JSON.
#   scripts/demo.sh ["QUERY"]   (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
query=${1:-"Set a timer for 10 minutes for the pasta"}
exec dbus-run-session -- bash -c '
  set -euo pipefail
  target/debug/toolcalld --bus session --model model/bundles/smollm2-135m-toolcall-q4 &
  daemon=$!
  trap "kill $daemon 2>/dev/null; wait $daemon 2>/dev/null || true" EXIT
  for _ in $(seq 1 120); do
    busctl --user status org.toolcalld.ToolCall1 >/dev/null 2>&1 && break
    kill -0 $daemon 2>/dev/null || { echo "toolcalld failed to start" >&2; exit 1; }
    sleep 0.5
  done
  echo "tools: examples/tools/home.json"
  echo "query: $1"
  target/debug/toolcallctl --session call --tools examples/tools/home.json "$1"
' demo "$query"
