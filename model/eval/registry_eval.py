"""Retrieval and Route over a catalogue of published tools: the figures of docs/REGISTRY.md.

    .venv/bin/python model/eval/registry_eval.py --bundle model/bundles/smollm2-135m-toolcall-q4 \
        --out /tmp/registry-eval [--k 5] [--jobs 1] [--recall-only] [--ways right5,published_all] \
        [--sample 40] [--bin-dir target/release] [--encoder model/encoders/minilm-l6-int8 | --encoder '']

The catalogue is what many apps would publish to the registry, each under a prefix of its own
(the registry names a tool `prefix.name`): the held-out sets' tool sets (the fresh app
developers' three apps, the ten MCP servers' whole tool lists, the voice assistant's tools) and
the generated evaluation split's API functions as distractors (`make_dataset --train 0 --eval
500`; its home and general-assistant tools are left out, since they are the voice assistant's
own over again). Several schema styles: bare and OpenAI-wrapped, MCP `inputSchema`, dotted,
snake_case and camelCase names, tools with long, short and no descriptions.

The requests judged are every case of the held-out sets (fresh_app, public_tools, assistant,
assistant_unseen), their gold calls renamed to the catalogue's names, with their facts. Each is
written three ways:
- `right5`: a Call with the right tools given directly: the gold tools and others of the
  case's own list, 5 in all (fewer where its list is shorter), seeded;
- `published8`: a Route with 8 tools published: the gold tools and others drawn from the whole
  catalogue, seeded; no retrieval (8 is below the daemon's `retrieval_above`);
- `published_all`: a Route with the whole catalogue published: retrieval keeps `--k` tools,
  ranked as the daemon ranks them (BM25 fused with the sentence encoder `--encoder`, set up in
  model/encoders/; `--encoder ''` for BM25 alone).
Then `toolcall-retrieve` gives recall@k on `published_all`, and `toolcall-eval` (the engine as
the daemon serves it) the exact-call accuracy and time per case of each way. The figures do not
depend on a bus: Route hands the engine what these files hand it.
"""

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVAL_DIR = ROOT / "model/eval"
SEED = 20261207
FRESH_PREFIX = {"home_speaker": "home", "car_companion": "car", "fitness_watch": "watch"}
MCP_PREFIX = {
    "@modelcontextprotocol/server-filesystem": "filesystem",
    "@modelcontextprotocol/server-memory": "memory",
    "@modelcontextprotocol/server-sequential-thinking": "thinking",
    "time-mcp": "clock",
    "@kazuph/mcp-taskmanager": "tasks",
    "@h1deya/mcp-server-weather": "weather",
    "open-meteo-mcp-server": "openmeteo",
    "mcp-server-apple-events": "reminders",
    "mcp-git": "git",
    "@coo-quack/calc-mcp": "calc",
}


def inner(tool: dict) -> dict:
    return tool.get("function", tool)


def renamed(tool: dict, prefix: str) -> dict:
    tool = json.loads(json.dumps(tool))
    inner(tool)["name"] = f"{prefix}.{inner(tool)['name']}"
    return tool


def read(name: str) -> list[dict]:
    return [json.loads(line) for line in (EVAL_DIR / name).read_text().splitlines() if line.strip()]


def api_functions(workdir: Path) -> list[dict]:
    """The generated evaluation split's API functions (not its home or assistant tools)."""
    sys.path.insert(0, str(ROOT / "model"))
    from toolcall_model import general_data, home_data

    subprocess.run([sys.executable, "-m", "toolcall_model.make_dataset", "--out", str(workdir), "--train", "0",
                    "--eval", "500"], cwd=ROOT / "model", check=True, stdout=subprocess.DEVNULL)
    assistant = set(home_data.TOOLS) | set(general_data.TOOLS)
    seen: dict[str, dict] = {}
    for line in (workdir / "eval.jsonl").read_text().splitlines():
        for tool in json.loads(line)["tools"]:
            name = inner(tool)["name"]
            if name not in assistant:
                seen.setdefault(name, tool)
    return [seen[name] for name in sorted(seen)]


def build(workdir: Path) -> tuple[list[dict], list[dict]]:
    """The catalogue, and the judged cases with their own tool lists, all in catalogue names."""
    catalogue: list[dict] = []
    cases: list[dict] = []
    fresh = read("fresh_app_requests.jsonl")
    for set_name, prefix in FRESH_PREFIX.items():
        own = next(c["tools"] for c in fresh if c["set"] == set_name)
        catalogue += [renamed(t, prefix) for t in own]
    for c in fresh:
        cases.append(case(c, c["set"], FRESH_PREFIX[c["set"]]))
    sources = json.loads((ROOT / "model/data/public_tools.json").read_text())["sources"]
    for source in sources:
        catalogue += [renamed(t, MCP_PREFIX[source["package"]]) for t in source["tools"]]
    # A public case mixes packages: each of its tools gets the prefix of the package that
    # published a tool of that name and description.
    owner = {(t["name"], t.get("description")): MCP_PREFIX[s["package"]] for s in sources for t in s["tools"]}
    for c in read("public_tools_requests.jsonl"):
        prefixes = {inner(t)["name"]: owner[(inner(t)["name"], inner(t).get("description"))] for t in c["tools"]}
        cases.append(case(c, "public_tools", prefixes))
    assistant = read("assistant_requests.jsonl")
    catalogue += [renamed(t, "assistant") for t in assistant[0]["tools"]]
    for i, c in enumerate(assistant):
        cases.append(case({"id": f"assistant-{i:02d}", **c}, "assistant", "assistant"))
    for c in read("assistant_requests_unseen.jsonl"):
        cases.append(case(c, "assistant_unseen", "assistant"))
    catalogue += [renamed(t, "api") for t in api_functions(workdir)]
    names = [inner(t)["name"] for t in catalogue]
    assert len(names) == len(set(names)), "catalogue names are unique"
    for c in cases:
        assert all(a["name"] in names for a in c["answer"]), c["id"]
    return catalogue, cases


def case(c: dict, set_name: str, prefix) -> dict:
    """A held-out case in catalogue names; `prefix` is one prefix or a name -> prefix map."""
    def full(name: str) -> str:
        return f"{prefix if isinstance(prefix, str) else prefix[name]}.{name}"
    return {
        "id": c["id"], "set": set_name, "facts": c.get("facts"), "query": c["query"],
        "answer": [{"name": full(a["name"]), "arguments": a["arguments"]} for a in c["answer"]],
        "own": [full(inner(t)["name"]) for t in c["tools"]],
    }


def offered(catalogue: list[dict], names: set[str]) -> list[dict]:
    """The catalogue's tools named in `names`, in catalogue order (as the registry lists them)."""
    return [t for t in catalogue if inner(t)["name"] in names]


def ways(catalogue: list[dict], cases: list[dict]) -> dict[str, list[dict]]:
    rng = random.Random(SEED)
    every = [inner(t)["name"] for t in catalogue]
    out: dict[str, list[dict]] = {"right5": [], "published8": [], "published_all": []}
    for c in cases:
        gold = {a["name"] for a in c["answer"]}
        base = {k: c[k] for k in ("id", "set", "facts", "query", "answer")}
        others = [n for n in c["own"] if n not in gold]
        right = gold | set(rng.sample(others, max(0, min(len(others), 5 - len(gold)))))
        rest = [n for n in every if n not in gold]
        eight = gold | set(rng.sample(rest, 8 - len(gold)))
        out["right5"].append({**base, "tools": offered(catalogue, right)})
        out["published8"].append({**base, "tools": offered(catalogue, eight)})
        out["published_all"].append({**base, "tools": catalogue})
    return out


def scored(cases: list[dict], predictions: Path) -> dict:
    """Accuracy per set, and how many wrong answers called another app's tool (a prefix no
    gold call has): what a shared catalogue adds to a model's own mistakes."""
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    per_set: dict[str, list[int]] = {}
    other_app = 0
    for case, row in zip(cases, rows):
        per_set.setdefault(case["set"], [0, 0])
        per_set[case["set"]][0] += row["correct"]
        per_set[case["set"]][1] += 1
        apps = {a["name"].split(".")[0] for a in case["answer"]}
        called = {c["name"].split(".")[0] for c in row["function_calls"]}
        other_app += int(not row["correct"] and bool(called - apps))
    return {"per_set": {name: {"correct": c, "cases": n} for name, (c, n) in per_set.items()},
            "wrong_calling_another_app": other_app}


def run(command: list[str]) -> dict:
    print("$", " ".join(command), file=sys.stderr)
    return json.loads(subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", default=str(ROOT / "model/bundles/smollm2-135m-toolcall-q4"))
    parser.add_argument("--out", required=True, help="a folder for the case files and figures")
    parser.add_argument("--k", type=int, default=5, help="tools retrieval keeps (retrieval_top_k)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--encoder", default=str(ROOT / "model/encoders/minilm-l6-int8"),
                        help="the sentence encoder retrieval fuses with BM25 (the daemon's retrieval_encoder); '' for BM25 alone")
    parser.add_argument("--recall-only", action="store_true", help="no model: recall@k only")
    parser.add_argument("--bin-dir", default=str(ROOT / "target/debug"), help="toolcall-eval and toolcall-retrieve")
    parser.add_argument("--ways", default="right5,published8,published_all", help="which ways to run the model on")
    parser.add_argument("--sample", type=int, help="a seeded random sample of this many cases (the same in each way)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    catalogue, cases = build(out)
    (out / "catalogue.json").write_text(json.dumps(catalogue))
    files, written = {}, ways(catalogue, cases)
    chosen = range(len(cases))
    if args.sample:
        chosen = sorted(random.Random(SEED).sample(range(len(cases)), args.sample))
    for way, lines in written.items():
        files[way] = out / f"{way}.jsonl"
        files[way].write_text("".join(json.dumps(lines[i]) + "\n" for i in chosen))
    encoder = ["--encoder", args.encoder] if args.encoder else []
    figures = {"catalogue_tools": len(catalogue), "cases": len(cases), "seed": SEED, "k": args.k,
               "encoder": args.encoder or None,
               "recall": run([str(Path(args.bin_dir) / "toolcall-retrieve"), str(files["published_all"]),
                              "--k", "1,3,5,8,10", *encoder])}
    if not args.recall_only:
        for way in args.ways.split(","):
            path = files[way]
            command = [str(Path(args.bin_dir) / "toolcall-eval"), args.bundle, str(path), "--jobs", str(args.jobs),
                       "--predictions", str(out / f"{way}.predictions.jsonl")]
            if way == "published_all":
                command += ["--retrieve", str(args.k), *encoder]
            summary = run(command)
            figures[way] = {key: summary[key] for key in ("cases", "accuracy", "errors", "mean_case_ms", "wall_s")}
            figures[way].update(scored([cases[i] for i in chosen], out / f"{way}.predictions.jsonl"))
    (out / "figures.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
