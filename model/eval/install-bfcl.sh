#!/bin/sh
# Installs the BFCL v4 evaluation package (PyPI bfcl-eval, pinned) for model/eval/bfcl.py,
# without its heavy dependency tree (torch, vllm, provider SDKs...): --no-deps, into a
# directory of its own that is not on the venv's path and that ignores itself in git.
#
#     model/eval/install-bfcl.sh [TARGET_DIR]      (default: model/.bfcl)
#
# Then: python model/eval/bfcl.py convert --bfcl-dir TARGET_DIR/bfcl_eval ...
# Extra packages: none. bfcl.py loads ast_checker.py and the two type converters it imports
# straight from their files (the bfcl_eval package __init__ chain pulls in dotenv, tqdm,
# overrides, ...; the checker itself needs only the standard library).
# Set PIP_FIND_LINKS=DIR (with PIP_NO_INDEX=1) to install from a downloaded wheel offline.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${1:-"$repo/model/.bfcl"}
pip="$repo/.venv/bin/pip"
"$pip" install --quiet --no-deps --target "$target" "bfcl-eval==2026.3.23"
printf '*\n' > "$target/.gitignore"
echo "bfcl-eval installed in $target (use --bfcl-dir $target/bfcl_eval)"
