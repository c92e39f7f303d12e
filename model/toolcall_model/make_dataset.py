"""Generate the tool-calling dataset (training and evaluation splits) as JSON lines
`{"tools": [...], "facts": "...", "query": "...", "answer": [calls]}`.

    python -m toolcall_model.make_dataset --out data/ --train 12000 --eval 500 --seed 20261126

Mix: smart-home requests from Home Assistant intent templates (home_data), general tools from
templates (general_data); distractor tools in every example; ~12% with the right tool removed
(answer []); ~8% with two requests in one utterance (two calls). The home's areas and device
names travel as facts, as they will at run time. The evaluation split uses held-out Home
Assistant templates and other seeds. Every gold call is validated against its tool's schema.
Render with `toolcall-render` (the engine's own renderer) before training."""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import random
from pathlib import Path

import jsonschema

from . import general_data, home_data

ALL_TOOLS = {**{k: ("home", v) for k, v in home_data.TOOLS.items()}, **{k: ("general", v) for k, v in general_data.TOOLS.items()}}


def tool_json(name: str) -> dict:
    spec = ALL_TOOLS[name][1]
    return {"name": name, "description": spec["description"], "parameters": spec["parameters"]}


def facts_for(home: dict | None, today: dt.date, r: random.Random) -> str:
    parts = [f"date: {today.isoformat()} {today.strftime('%A')}"]
    if home:
        parts.append("areas: " + ", ".join(home["areas"]))
        devices = [n for names in home["devices"].values() for n in names]
        r.shuffle(devices)
        parts.append("devices: " + ", ".join(devices))
    return "; ".join(parts)


def build(n: int, seed: int, split: str) -> tuple[list[dict], collections.Counter]:
    r = random.Random(seed)
    home_gen = home_data.HomeGenerator(seed + 1, split)
    out, counts = [], collections.Counter()
    while len(out) < n:
        today = dt.date(2026, 1, 1) + dt.timedelta(days=r.randrange(730))
        domain = "home" if r.random() < 0.7 else "general"
        requests, home = [], None
        for _ in range(2 if r.random() < 0.08 else 1):
            if domain == "home":
                got = home_gen.example()
                if got is None:
                    break
                query, call, h = got
                home = home or h
            else:
                query, call = general_data.example(r, today)
            requests.append((query, call))
        if not requests or len({c["name"] for _, c in requests}) != len(requests):
            continue
        gold_names = [c["name"] for _, c in requests]
        pool = [t for t in ALL_TOOLS if t not in gold_names]
        same = [t for t in pool if ALL_TOOLS[t][0] == domain]
        distractors = r.sample(same, min(len(same), r.randint(2, 5))) + r.sample(pool, r.randint(0, 2))
        offered = list(dict.fromkeys(gold_names + distractors))
        negative = len(requests) == 1 and r.random() < 0.12
        if negative:
            offered.remove(gold_names[0])
        r.shuffle(offered)
        answer = [] if negative else [c for _, c in requests]
        for call in answer:
            jsonschema.validate(call["arguments"], ALL_TOOLS[call["name"]][1]["parameters"])
        joiner = r.choice([" and ", " and then ", ", also ", ". "])
        query = joiner.join(q for q, _ in requests)
        out.append({"tools": [tool_json(t) for t in offered], "facts": facts_for(home, today, r),
                    "query": query, "answer": answer})
        counts["negative" if negative else ("multi" if len(answer) > 1 else domain)] += 1
    return out, counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--train", type=int, default=12000)
    ap.add_argument("--eval", type=int, default=500)
    ap.add_argument("--seed", type=int, default=20261126)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for split, n, seed in [("train", args.train, args.seed), ("eval", args.eval, args.seed + 1000)]:
        rows, counts = build(n, seed, split)
        with open(args.out / f"{split}.jsonl", "w") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        summary[split] = dict(counts)
        print(split, len(rows), dict(counts))
    (args.out / "counts.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
