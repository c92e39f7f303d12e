"""Decontamination against the Berkeley Function Calling Leaderboard (BFCL, PyPI `bfcl-eval`).

BFCL is evaluation data only. This drops generated examples whose offered or expected
function names appear in any BFCL file, or whose query shares a word 8-gram with a BFCL
question, and reports how many it dropped. It prints counts only, never BFCL content (the
`live_*` categories are a held-out set nobody looks at).

    python -m toolcall_model.decontaminate --bfcl-data DIR data/train.jsonl [--write]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

N = 8


def ngrams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(words[i : i + N]) for i in range(len(words) - N + 1)}


def bfcl_index(data_dir: Path) -> tuple[set[str], set[tuple[str, ...]]]:
    names, grams = set(), set()

    def walk(value):
        if isinstance(value, dict):
            if isinstance(value.get("name"), str) and "parameters" in value:
                names.add(value["name"])
            if value.get("role") == "user" and isinstance(value.get("content"), str):
                grams.update(ngrams(value["content"]))
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for path in sorted(data_dir.rglob("*.json")):
        for line in path.read_text().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    walk(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return names, grams


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bfcl-data", type=Path, required=True, help="bfcl_eval/data directory")
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--write", action="store_true", help="rewrite the dataset without the dropped items")
    args = ap.parse_args()
    names, grams = bfcl_index(args.bfcl_data)
    kept, by_name, by_ngram = [], 0, 0
    clashing_names = set()
    for line in args.dataset.read_text().splitlines():
        ex = json.loads(line)
        offered = {t["name"] for t in ex["tools"]}
        if offered & names:
            by_name += 1
            clashing_names |= offered & names
            continue
        if ngrams(ex["query"]) & grams:
            by_ngram += 1
            continue
        kept.append(line)
    report = {"dataset": str(args.dataset), "bfcl_function_names": len(names), "bfcl_query_8grams": len(grams),
              "examples": len(kept) + by_name + by_ngram, "dropped_by_function_name": by_name,
              "dropped_by_query_8gram": by_ngram, "our_names_also_in_bfcl": sorted(clashing_names)}
    print(json.dumps(report, indent=2))
    if args.write:
        args.dataset.write_text("".join(k + "\n" for k in kept))


if __name__ == "__main__":
    main()
