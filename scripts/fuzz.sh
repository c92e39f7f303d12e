#!/usr/bin/env bash
# Fuzzes toolcalld's input parsers with cargo fuzz (libFuzzer + AddressSanitizer) for a fixed
# budget per target, seeded with the hostile-input corpus, and prints what each run did.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     # default 600; after scripts/setup.sh
#
# Targets (tests/fuzz/fuzz_targets/): tool_schemas (the tool-schema compiler: validation,
# prompt rendering, llguidance grammar and its first mask) and request_options (a Call's D-Bus
# body decoded as the daemon receives it, then its options type-checked). A crash or timeout
# leaves its input under target/fuzz/artifacts/<target>/ and fails the script: turn it into a
# case of tests/corpus/hostile.json and fix the code.
#
# cargo fuzz passes unstable compiler flags (-Zsanitizer); RUSTC_BOOTSTRAP=1 lets the
# machine's stable toolchain accept them, so no nightly toolchain is needed. Instrumented builds
# go to target/fuzz/build (first build ~10 min on 2 cores); corpora to target/fuzz/corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-600}
[ -f model/bundles/tiny/bundle.json ] && [ -x .venv/bin/python ] \
  || { echo "run scripts/setup.sh first (the tiny bundle's tokenizer, the Python venv)" >&2; exit 1; }
tools=$PWD/target/tools
[ -x "$tools/bin/cargo-fuzz" ] || cargo install cargo-fuzz --version 0.13.2 --locked --root "$tools"
export RUSTC_BOOTSTRAP=1
work=target/fuzz

echo "== seed corpora from tests/corpus/hostile.json and the tool lists in the tree"
.venv/bin/python - "$work/corpus" <<'PY'
import hashlib, json, pathlib, sys
from jeepney.low_level import Endianness, parse_signature

out = pathlib.Path(sys.argv[1])
def seed(target, data):
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    (d / ("seed-" + hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)

tool_lists = []
for case in json.load(open("tests/corpus/hostile.json")):
    if "tools_text" in case:
        tool_lists.append(case["tools_text"])
    elif "tools" in case:
        tool_lists.append(json.dumps(case["tools"]))
for path in pathlib.Path("engine/tests/fixtures").glob("*tools*.json"):
    tool_lists.append(path.read_text())
for line in open("model/eval/assistant_requests.jsonl"):
    tool_lists.append(json.dumps(json.loads(line)["tools"]))
for text in tool_lists:
    seed("tool_schemas", text.encode())

body = parse_signature(list("(ssa{sv})"))
options = [
    {},
    {"max_calls": ("u", 3), "allow_empty": ("b", False)},
    {"max_new_tokens": ("u", 64), "timeout_ms": ("u", 2000), "facts": ("s", "date: 2026-11-26")},
    {"max_calls": ("s", "3")},
    {"timeout_ms": ("u", 0)},
    {"test_fault": ("s", "stall:10")},
    {"nested": ("v", ("u", 1))},
    {"list": ("as", ["a", "b"])},
]
for opts in options:
    seed("request_options", body.serialise((tool_lists[-1], "turn off the desk lamp", opts), 0, Endianness.little))
print("corpus inputs:", {t.name: len(list(t.iterdir())) for t in out.iterdir()})
PY

status=0
for target in tool_schemas request_options; do
  echo "== $target: $budget s"
  mkdir -p "$work/artifacts/$target"
  log=$work/$target.log
  dict=()
  [ -f "tests/fuzz/$target.dict" ] && dict=(-dict="tests/fuzz/$target.dict")
  if ! "$tools/bin/cargo-fuzz" run --fuzz-dir tests/fuzz --target-dir "$work/build" --codegen-units 16 \
      "$target" "$work/corpus/$target" -- -max_total_time="$budget" -timeout=10 -rss_limit_mb=4096 \
      -print_final_stats=1 -artifact_prefix="$work/artifacts/$target/" "${dict[@]}" > "$log" 2>&1; then
    status=1
    echo "FAILED: see $log and $work/artifacts/$target/"
  fi
  grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)" "$log" | tail -2 || true
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs" "$log" || true
  echo "corpus: $(ls "$work/corpus/$target" | wc -l) inputs"
  # Coverage of our own code: replay the corpus once and count the instrumented edges reached
  # per function of engine/src and dbus-interfaces/src (libFuzzer's -print_coverage; the
  # totals include edges of inlined library code such as panics and formatting).
  "$work/build/x86_64-unknown-linux-gnu/release/$target" "$work/corpus/$target" -runs=0 -print_coverage=1 \
    2>&1 | grep -E "_FUNC: .*$PWD/(engine|dbus-interfaces)/src/(tools|grammar|prompt|lib)\.rs" \
    | awk '{ split($5, e, "/"); hit += e[1]; all += e[2]; n++; if ($1 == "UNCOVERED_FUNC:") { un++; sub(/^.*edges: [0-9]+\/[0-9]+ /, ""); print "  not reached:", $0 } }
           END { printf "our code: %d functions, %d not reached; edges %d of %d\n", n, un, hit, all }'
done
exit $status
