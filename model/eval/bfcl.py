"""BFCL v4 (non-live, single-turn) accuracy of a toolcalld bundle, scored by BFCL's own AST checker.

Measures a bundle on the Berkeley Function Calling Leaderboard v4 categories simple_python,
multiple, parallel, parallel_multiple and irrelevance. bfcl-eval (PyPI, pinned 2026.3.23) is
installed without its dependency tree by `model/eval/install-bfcl.sh` (into model/.bfcl);
BFCL_DIR below is its package directory, e.g. model/.bfcl/bfcl_eval.

    python model/eval/bfcl.py convert --bfcl-dir BFCL_DIR --category simple_python [--sample N [--seed S] | --limit N] --out cases.jsonl
    python model/eval/bfcl.py score --bfcl-dir BFCL_DIR --category simple_python --cases cases.jsonl \
        --predictions preds.jsonl [--json-out result.json]
    python model/eval/bfcl.py run --bfcl-dir BFCL_DIR --bundle BUNDLE [--categories a,b] [--sample N [--seed S] | --limit N] \
        [--workdir DIR] [--eval-args "--max-calls 8 --max-new-tokens 512 --jobs 2"] [--binary PATH]

convert: a seeded random sample of N cases drawn across the whole category (--sample N --seed S,
  kept in file order; the way to report a dev figure), all cases, or the first N in file order
  (--limit N: only for a quick look, it is not a sample: v7 scored simple_python 72.5% on the
  first 40 and 45% on a random 40) -> toolcall-eval lines `{"id", "tools", "facts": "",
  "query", "answer": []}`. The query is the user message(s) of the first (only) turn, joined by
  blank lines; system messages (none in these five categories) go to `facts`. Function docs
  become the engine's JSON Schema subset (engine/src/tools.rs) the way BFCL's own OpenAI-style
  conversion does it (dict->object, float->number plus " This is a float type value." in the
  description, tuple->array, any->string, and the " Note that the provided function is in
  Python 3 syntax." hint on every function, unless --no-hint); unsupported keywords are dropped
  and counted on stderr, objects without `properties` get `additionalProperties: true` (else the
  engine would only allow {}), and `required` names missing from a closed object are dropped.
  Names keep their dots (the engine accepts them), so the checker runs with underscore_to_dot off.
score: predictions are `toolcall-eval --predictions` lines, in the cases' order:
  `{"id", "function_calls": [{"name", "arguments"}], "error", "total_ms"}`. Calls become
  `[{name: arguments}]` and go to bfcl's `ast_checker` with the ORIGINAL BFCL function docs and
  possible answers. irrelevance: correct iff no call was made (BFCL's rule). A prediction with
  an engine error is counted wrong in every category (BFCL would count a failed decode as "no
  call" in irrelevance; our errors are rejected tools or limits, not model output).
  With `toolcall-eval --unconstrained`, text that is not a call list ("not a JSON array/not a
  call" errors) counts as "no call", as BFCL counts a failed decode, and so passes irrelevance.
run: convert -> `target/debug/toolcall-eval BUNDLE cases.jsonl --predictions preds.jsonl [--eval-args]`
  -> score, one markdown table row per category on stdout.

Data hygiene (mandatory): only the five categories above and their possible_answer files are ever
opened; categories starting with "live" or "multi_turn" (and anything else) are refused, and no
file is listed or globbed. BFCL data never goes into the repository: write cases, predictions and
results under /tmp (the default workdir of `run`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import shlex
import subprocess
import sys
import tempfile
import types
from collections import Counter
from pathlib import Path

CATEGORIES = ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"]
MODEL_NAME = "toolcalld"  # passed to the checker; only used for its dot->underscore name rule
REPO = Path(__file__).resolve().parents[2]
# toolcall-eval --unconstrained: model text that is not a call list (not an engine failure)
DECODE_ERRORS = ("not a JSON array", "not a call")
PY_HINT = " Note that the provided function is in Python 3 syntax."
FLOAT_HINT = " This is a float type value."
# engine/src/tools.rs: the keyword, format and type allow-lists.
KEYWORDS = {"type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
            "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
            "minLength", "maxLength", "pattern", "format", "anyOf", "description", "title", "default",
            "examples"}
FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid", "uri"}
TYPE_MAP = {"dict": "object", "object": "object", "float": "number", "number": "number",
            "integer": "integer", "int": "integer", "string": "string", "str": "string",
            "boolean": "boolean", "bool": "boolean", "array": "array", "list": "array",
            "tuple": "array", "any": "string", "null": "null"}


def check_category(cat: str) -> str:
    if cat.startswith(("live", "multi_turn")):
        sys.exit(f"bfcl.py: refusing category {cat!r}: live_* and multi_turn_* are held out, never opened")
    if cat not in CATEGORIES:
        sys.exit(f"bfcl.py: unsupported category {cat!r} (supported: {', '.join(CATEGORIES)})")
    return cat


def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    rows = []
    with open(path) as f:
        for line in f:
            if limit is not None and len(rows) >= limit:
                break
            if line.strip():
                rows.append(json.loads(line))
    return rows


def load_entries(bfcl_dir: Path, cat: str, limit: int | None = None, sample: int | None = None,
                 seed: int = 20261206) -> list[dict]:
    rows = read_jsonl(bfcl_dir / "data" / f"BFCL_v4_{check_category(cat)}.json", limit)
    if sample is None or sample >= len(rows):
        return rows
    keep = sorted(random.Random(f"{seed}/{cat}").sample(range(len(rows)), sample))
    return [rows[i] for i in keep]


def load_answers(bfcl_dir: Path, cat: str) -> dict[str, list]:
    path = bfcl_dir / "data" / "possible_answer" / f"BFCL_v4_{check_category(cat)}.json"
    return {row["id"]: row["ground_truth"] for row in read_jsonl(path)}


# ---------------------------------------------------------------------------------------- convert
def convert_schema(node: dict, stats: Counter, float_hint: bool = True, top: bool = False) -> dict:
    out: dict = {}
    for key, value in node.items():
        if key == "type":
            if value not in TYPE_MAP:
                stats[f"type {value!r} -> string (unknown)"] += 1
            new = TYPE_MAP.get(value, "string")
            if new != value:
                stats[f"type {value} -> {new}"] += 1
            out["type"] = new
        elif key == "properties" and isinstance(value, dict):
            out[key] = {k: convert_schema(v, stats, float_hint) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = convert_schema(value, stats, False)
        elif key == "format" and value not in FORMATS:
            stats[f"dropped format {value!r}"] += 1
        elif key == "enum" and not (isinstance(value, list) and value):
            stats["dropped empty enum"] += 1
        elif key in KEYWORDS:
            out[key] = value
        else:
            stats[f"dropped keyword {key!r}"] += 1
    if "type" not in out and "anyOf" not in out and "enum" not in out and "const" not in out:
        out["type"] = "string"  # BFCL's own default for an untyped parameter
        stats["missing type -> string"] += 1
    if out.get("type") == "object":
        props = out.get("properties")
        if top:
            out["properties"] = props or {}  # a function without parameters takes {}
        elif not props:
            out.pop("properties", None)
            out.setdefault("additionalProperties", True)
            stats["object without properties -> additionalProperties: true"] += 1
    if isinstance(out.get("required"), list):
        props = out.get("properties") or {}
        is_open = out.get("additionalProperties", False) is not False  # engine allows any name then
        keep = [r for r in out["required"] if isinstance(r, str) and (is_open or r in props)]
        if len(keep) != len(out["required"]):
            stats["dropped required names not in properties"] += len(out["required"]) - len(keep)
        if keep:
            out["required"] = keep
        else:
            del out["required"]
    elif "required" in out:
        del out["required"]
        stats["dropped non-list required"] += 1
    if float_hint and node.get("type") == "float":
        out["description"] = out.get("description", "") + FLOAT_HINT
    return out


def convert_function(fn: dict, stats: Counter, hint: bool) -> dict:
    params = convert_schema(fn.get("parameters") or {"type": "dict", "properties": {}}, stats, top=True)
    params["type"] = "object"
    name = fn["name"]
    if not (name[:1].isascii() and (name[:1].isalpha() or name[:1] == "_") and len(name) <= 64
            and all(c.isascii() and (c.isalnum() or c in "_.-") for c in name)):
        stats["function name the engine rejects (kept)"] += 1
    return {"name": name, "description": fn.get("description", "") + (PY_HINT if hint else ""),
            "parameters": params}


def convert_entry(entry: dict, stats: Counter, hint: bool = True) -> dict:
    turns = entry["question"]
    if len(turns) != 1:
        stats["cases with more than one turn (first used)"] += 1
    msgs = turns[0]
    users = [m["content"] for m in msgs if m["role"] == "user"]
    system = [m["content"] for m in msgs if m["role"] == "system"]
    if system:
        stats["cases with a system message (put in facts)"] += 1
    return {"id": entry["id"], "tools": [convert_function(f, stats, hint) for f in entry["function"]],
            "facts": "\n\n".join(system), "query": "\n\n".join(users), "answer": []}


def convert(bfcl_dir: Path, cat: str, limit: int | None, out: Path, hint: bool = True,
            sample: int | None = None, seed: int = 20261206) -> Counter:
    stats: Counter = Counter()
    rows = [convert_entry(e, stats, hint) for e in load_entries(bfcl_dir, cat, limit, sample, seed)]
    with open(out, "w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{cat}: {len(rows)} cases -> {out}", file=sys.stderr)
    for key, n in sorted(stats.items()):
        print(f"  {key}: {n}", file=sys.stderr)
    return stats


# ------------------------------------------------------------------------------------------ score
def load_checker(bfcl_dir: Path):
    """Imports bfcl's ast_checker with the standard library only. Its one heavy import,
    bfcl_eval.constants.model_config (every provider handler: openai, anthropic, ...), serves only
    MODEL_CONFIG_MAPPING[model].underscore_to_dot, so that module is stubbed with our model name."""
    if not (bfcl_dir / "eval_checker" / "ast_eval" / "ast_checker.py").is_file():
        sys.exit(f"bfcl.py: no eval_checker under {bfcl_dir}; run model/eval/install-bfcl.sh")
    sys.path.insert(0, str(bfcl_dir.resolve().parent))
    stub = types.ModuleType("bfcl_eval.constants.model_config")
    stub.MODEL_CONFIG_MAPPING = {MODEL_NAME: types.SimpleNamespace(underscore_to_dot=False)}
    sys.modules["bfcl_eval.constants.model_config"] = stub
    checker = importlib.import_module("bfcl_eval.eval_checker.ast_eval.ast_checker")
    enums = importlib.import_module("bfcl_eval.constants.enums")
    return checker.ast_checker, enums.Language.PYTHON


def is_call_list(output) -> bool:  # bfcl_eval.utils.is_function_calling_format_output
    return isinstance(output, list) and all(
        isinstance(i, dict) and len(i) == 1 and isinstance(next(iter(i.values())), dict) for i in output)


def score(bfcl_dir: Path, cat: str, cases_path: Path, preds_path: Path) -> dict:
    check_category(cat)
    cases, preds = read_jsonl(cases_path), read_jsonl(preds_path)
    if len(preds) != len(cases):
        sys.exit(f"bfcl.py: {len(cases)} cases but {len(preds)} predictions")
    entries = {e["id"]: e for e in load_entries(bfcl_dir, cat)}
    answers = load_answers(bfcl_dir, cat) if cat != "irrelevance" else {}
    ast_checker, python = load_checker(bfcl_dir)
    correct, errors, ms, failures = 0, 0, [], []
    for case, pred in zip(cases, preds):
        cid = case["id"]
        if pred.get("id") not in (None, cid):
            sys.exit(f"bfcl.py: prediction id {pred.get('id')!r} does not match case {cid!r}")
        if isinstance(pred.get("total_ms"), (int, float)):
            ms.append(pred["total_ms"])
        calls = pred.get("function_calls") or []
        output = [{c.get("name"): c.get("arguments")} for c in calls]
        decode_failed = str(pred.get("error") or "").startswith(DECODE_ERRORS)
        if cat == "irrelevance" and decode_failed:
            result = {"valid": True}  # BFCL: output that does not decode to calls is "no call"
        elif pred.get("error"):
            errors += 1
            result = {"valid": False, "error": [f"engine error: {pred['error']}"], "error_type": "engine_error"}
        elif cat == "irrelevance":
            ok = not calls
            result = {"valid": ok, "error": [] if ok else ["Made a call when none fits."],
                      "error_type": "irrelevance_error:decoder_success"}
        elif not is_call_list(output):
            result = {"valid": False, "error": ["Calls not in [{name: {args}}] form."],
                      "error_type": "ast_decoder:decoder_wrong_output_format"}
        else:
            result = ast_checker(entries[cid]["function"], output, answers[cid], python, cat, MODEL_NAME)
        if result["valid"]:
            correct += 1
        else:
            failures.append({"id": cid, "error_type": result.get("error_type"), "error": result.get("error"),
                             "output": output, "expected": answers.get(cid)})
    total = len(cases)
    return {"category": cat, "correct": correct, "total": total, "accuracy": correct / max(total, 1),
            "errors": errors, "mean_total_ms": sum(ms) / len(ms) if ms else None, "failures": failures}


def print_score(res: dict, out=sys.stdout) -> None:
    ms = "n/a" if res["mean_total_ms"] is None else f"{res['mean_total_ms']:.1f}"
    print(f"{res['category']}: {res['correct']}/{res['total']} = {res['accuracy']:.1%}"
          f"  (engine errors {res['errors']}, mean total_ms {ms})", file=out)
    for f in res["failures"][:5]:
        print(f"  FAIL {f['id']} [{f['error_type']}] {json.dumps(f['error'], ensure_ascii=False)[:300]}\n"
              f"       got {json.dumps(f['output'], ensure_ascii=False)[:300]}", file=out)


# -------------------------------------------------------------------------------------------- run
def run(args) -> None:
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bfcl-run-"))
    workdir.mkdir(parents=True, exist_ok=True)
    binary = Path(args.binary or REPO / "target" / "debug" / "toolcall-eval")
    cats = [check_category(c) for c in args.categories.split(",")]
    print(f"workdir {workdir}", file=sys.stderr)
    print("| category | correct | accuracy | engine errors | mean ms |\n| --- | --- | --- | --- | --- |")
    for cat in cats:
        cases, preds = workdir / f"{cat}.cases.jsonl", workdir / f"{cat}.preds.jsonl"
        convert(Path(args.bfcl_dir), cat, args.limit, cases, not args.no_hint, args.sample, args.seed)
        cmd = [str(binary), args.bundle, str(cases), "--predictions", str(preds), *shlex.split(args.eval_args)]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        (workdir / f"{cat}.summary.json").write_text(proc.stdout)
        if proc.returncode != 0 or not preds.exists():
            print(f"| {cat} | toolcall-eval failed (exit {proc.returncode}) | | | |", flush=True)
            continue
        res = score(Path(args.bfcl_dir), cat, cases, preds)
        print_score(res, sys.stderr)
        (workdir / f"{cat}.result.json").write_text(json.dumps(res, indent=1, ensure_ascii=False))
        ms = "n/a" if res["mean_total_ms"] is None else f"{res['mean_total_ms']:.0f}"
        print(f"| {cat} | {res['correct']}/{res['total']} | {res['accuracy']:.1%} | {res['errors']} | {ms} |",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("convert", "score", "run"):
        p = sub.add_parser(name)
        p.add_argument("--bfcl-dir", required=True, help="the bfcl_eval package directory")
        if name != "run":
            p.add_argument("--category", required=True)
        if name != "score":
            p.add_argument("--limit", type=int, help="first N cases in file order (a quick look, not a sample)")
            p.add_argument("--sample", type=int, help="N cases drawn at random across the whole category")
            p.add_argument("--seed", type=int, default=20261206, help="the sample's seed (with the category name)")
            p.add_argument("--no-hint", action="store_true", help="leave out BFCL's Python 3 syntax hint")
    c, s, r = (sub.choices[n] for n in ("convert", "score", "run"))
    c.add_argument("--out", required=True, type=Path)
    s.add_argument("--cases", required=True, type=Path)
    s.add_argument("--predictions", required=True, type=Path)
    s.add_argument("--json-out", type=Path)
    r.add_argument("--bundle", required=True)
    r.add_argument("--categories", default=",".join(CATEGORIES))
    r.add_argument("--workdir", help="where cases/predictions/results go (default: a new /tmp dir)")
    r.add_argument("--eval-args", default="--max-calls 8 --max-new-tokens 512 --jobs 2",
                   help="toolcall-eval flags (default: up to 8 calls of 512 tokens, as parallel cases need; 2 threads)")
    r.add_argument("--binary", help="toolcall-eval path (default: <repo>/target/debug/toolcall-eval)")
    args = ap.parse_args()
    if args.cmd == "convert":
        convert(Path(args.bfcl_dir), check_category(args.category), args.limit, args.out, not args.no_hint,
                args.sample, args.seed)
    elif args.cmd == "score":
        res = score(Path(args.bfcl_dir), args.category, args.cases, args.predictions)
        print_score(res)
        if args.json_out:
            args.json_out.write_text(json.dumps(res, indent=1, ensure_ascii=False))
    else:
        run(args)


if __name__ == "__main__":
    main()
