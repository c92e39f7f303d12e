#!/usr/bin/env bash
# Runs every test: sets up what is missing (scripts/setup.sh --no-demo), checks formatting and
# lints, then the Rust tests (unit, engine with the tiny and the real model, end-to-end against
# a real dbus-daemon), the model pipeline's data tests (Python, through the engine's
# renderer) and the Python client and Wyoming service against the daemon. .ci/run calls exactly
# this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-demo
printf '\n== format and lints\n'
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
printf '\n== tests\n'
cargo test --workspace --locked
printf '\n== model data tests\n'
.venv/bin/python -m unittest discover -s model/tests -t model
printf '\n== Python client and Wyoming service\n'
.venv/bin/python -m unittest discover -s python/tests -t python/tests
