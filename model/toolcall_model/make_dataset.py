"""Generate the tool-calling dataset (training and evaluation splits) as JSON lines
`{"tools": [...], "facts": "...", "query": "...", "answer": [calls]}`.

    python -m toolcall_model.make_dataset --out data/ --train 12000 --eval 500 --seed 20261126

Mix (DOMAIN_SHARE): smart-home requests from Home Assistant intent templates (home_data),
assistant tools from templates (general_data), and a catalogue of API/library functions
(api_data, which also asks for the same function several times in one request: parallel
calls); distractor tools in most examples (API requests sometimes offer only the right one);
~12% with the right tool removed (answer []); two requests for different tools in one
utterance in 8% of home/general examples (TWO_REQUESTS; in the train split since v4 also 20% of
API examples, and parallel requests ask for 2-5 values). The train split also holds hard_data's
kinds (v5, HARD_SHARE: near-topic negatives, sibling picks, parallel 2-5, 2-3 functions per
request) from their own random stream, and (v6) light-level requests
(home_data.light_level_example) from another; since v6 the train split's main stream draws more
home requests and (v7) as many API requests as v5 (DOMAIN_SHARE_TRAIN). Number-typed arguments
of API and general calls are written as floats (`floats`). The home's areas and device names
travel as facts, as they will at run time. The evaluation split uses held-out Home
Assistant templates and other seeds. Every gold call is validated against its tool's schema.
Since v9 the train split also holds Home Assistant's own intent tools (ha_tools) and half of
its examples are rewritten into other developers' schema styles, with a quarter of the queries
framed as people say them (style_data); `--eval-style N` writes the held-out-by-style
evaluation (`eval_style.jsonl`) from the eval split in styles training never shows.
Render with `toolcall-render` (the engine's own renderer) before training."""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import random
from pathlib import Path

import jsonschema

from . import api_data, general_data, ha_tools, hard_data, home_data, style_data

ALL_TOOLS = {
    **{k: ("home", v) for k, v in home_data.TOOLS.items()},
    **{k: ("general", v) for k, v in general_data.TOOLS.items()},
    **{k: ("api", v) for k, v in api_data.TOOLS.items()},
}
# Share of examples per source: smart home, the general assistant tools, the API catalogue.
DOMAIN_SHARE = {"home": 0.45, "general": 0.15, "api": 0.40}
# The train split's main stream since v6 draws more home requests than DOMAIN_SHARE (v6: 0.58,
# 0.12, 0.30 of 28,000). v7 (--train 32000) keeps v6's home and general counts and brings the
# API share back to v5's 0.40: v6, with fewer one-call API requests, made more calls than asked
# on BFCL `multiple` (docs/MODEL.md). The eval split keeps DOMAIN_SHARE.
DOMAIN_SHARE_TRAIN = {"home": 0.50, "general": 0.10, "api": 0.40}
# Share of utterances that hold two requests for different tools (each API one may itself be
# parallel: several calls of each of two functions). The eval split keeps v3's mix; the train
# split since v4 also joins two API requests in 20% of API utterances.
TWO_REQUESTS = {"home": 0.08, "general": 0.08, "api": 0.0}
TWO_REQUESTS_TRAIN = {"home": 0.08, "general": 0.08, "api": 0.20}
# Train-only kinds from hard_data (v5), as shares of the train split, drawn from their own
# random stream so that the main stream (and the eval split) is unchanged.
# v7 (--train 32000): shares set so the counts stay v5's and v6's (2761, 1439, 1081, 1081).
# v8: near-topic negatives back to v5's share (0.115; v6 0.099, v7 0.086): v7 declined fewer
# BFCL irrelevance questions than v6 (docs/MODEL.md). 919 more near-topic examples; the main
# stream gives up as many. Measured: 29,617 of v7's 32,000 examples are in v8 unchanged.
HARD_SHARE = {"near_negative": 0.115, "sibling_pick": 0.044975, "parallel_n": 0.033775, "multi_function": 0.033775}
# Train-only light-level requests (v6, home_data.light_level_example), from their own random
# stream: set_light with an integer brightness, offered among many home tools; LIGHT_NEGATIVE of
# them have set_light removed (answer []). v7: 0.035 of 32,000, v6's 1,120 (0.04 of 28,000).
LIGHT_SHARE, LIGHT_NEGATIVE = 0.035, 0.05
# Every tool a generated example can offer (the sibling functions are train-only).
TOOL_SPECS = {**ALL_TOOLS, **{k: ("api", v) for k, v in api_data.EXTRA_TOOLS.items()}}


def tool_json(name: str) -> dict:
    spec = TOOL_SPECS[name][1]
    return {"name": name, "description": spec["description"], "parameters": spec["parameters"]}


def facts_for(home: dict | None, today: dt.date, r: random.Random) -> str:
    parts = [f"date: {today.isoformat()} {today.strftime('%A')}"]
    if home:
        parts.append("areas: " + ", ".join(home["areas"]))
        devices = [n for names in home["devices"].values() for n in names]
        r.shuffle(devices)
        parts.append("devices: " + ", ".join(devices))
    return "; ".join(parts)


def floats(value, schema: dict):
    """Numbers where the schema says number (also inside arrays and objects) as JSON floats,
    1 -> 1.0; integers stay integers. Home tools are left alone (model/eval/assistant_requests
    expects `"temperature": 21` from the committed adapter)."""
    kind = schema.get("type")
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind == "array" and isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [floats(v, schema["items"]) for v in value]
    if kind == "object" and isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: floats(v, props[k]) if k in props else v for k, v in value.items()}
    return value


def finish(call: dict) -> dict:
    domain, spec = TOOL_SPECS[call["name"]]
    if domain == "home":
        return call
    return {"name": call["name"], "arguments": floats(call["arguments"], spec["parameters"])}


def request(domain: str, r: random.Random, today: dt.date, home_gen: home_data.HomeGenerator, ks=api_data.PARALLEL_K):
    """(query, calls, home or None) for one spoken request, or None when the generator gave up."""
    if domain == "home":
        got = home_gen.example()
        if got is None:
            return None
        query, call, home = got
        return query, [call], home
    if domain == "general":
        query, call = general_data.example(r, today)
        return query, [call], None
    query, calls = api_data.example(r, today, ks)
    return query, calls, None


def hard_examples(n: int, seed: int) -> tuple[list[dict], collections.Counter]:
    """The train-only kinds of hard_data, n examples in the proportions of HARD_SHARE."""
    r = random.Random(seed * 7919 + 5)
    out, counts, total = [], collections.Counter(), sum(HARD_SHARE.values())
    for kind, share in HARD_SHARE.items():
        for _ in range(round(n * share / total)):
            today = dt.date(2026, 1, 1) + dt.timedelta(days=r.randrange(730))
            query, offered, calls = hard_data.example(kind, r, today)
            answer = [finish(c) for c in calls]
            for call in answer:
                jsonschema.validate(call["arguments"], TOOL_SPECS[call["name"]][1]["parameters"])
            out.append({"tools": [tool_json(t) for t in offered], "facts": facts_for(None, today, r),
                        "query": query, "answer": answer})
            counts[kind] += 1
    return out, counts


def light_examples(n: int, seed: int) -> tuple[list[dict], collections.Counter]:
    r = random.Random(seed * 7919 + 7)
    out, counts = [], collections.Counter()
    home_tools = [t for t, (d, _) in ALL_TOOLS.items() if d == "home" and t != "set_light"]
    others = [t for t, (d, _) in ALL_TOOLS.items() if d != "home"]
    for _ in range(n):
        today = dt.date(2026, 1, 1) + dt.timedelta(days=r.randrange(730))
        query, call, home = home_data.light_level_example(r)
        near = [t for t in ("turn_on", "turn_off") if r.random() < 0.8]
        rest = [t for t in home_tools if t not in near]
        offered = ["set_light"] + near + r.sample(rest, r.randint(1, len(rest))) + r.sample(others, r.randint(0, 2))
        negative = r.random() < LIGHT_NEGATIVE
        if negative:
            offered.remove("set_light")
        r.shuffle(offered)
        answer = [] if negative else [call]
        for c in answer:
            jsonschema.validate(c["arguments"], ALL_TOOLS[c["name"]][1]["parameters"])
        out.append({"tools": [tool_json(t) for t in offered], "facts": facts_for(home, today, r),
                    "query": query, "answer": answer})
        counts["light_negative" if negative else "light_level"] += 1
    return out, counts


def build(n: int, seed: int, split: str) -> tuple[list[dict], collections.Counter]:
    train = split == "train"
    two_requests, ks = (TWO_REQUESTS_TRAIN, api_data.PARALLEL_K_V4) if train else (TWO_REQUESTS, api_data.PARALLEL_K)
    hard, hard_counts = hard_examples(round(n * sum(HARD_SHARE.values())), seed) if train else ([], collections.Counter())
    light, light_counts = light_examples(round(n * LIGHT_SHARE), seed) if train else ([], collections.Counter())
    ha = style_data.ha_examples(round(n * style_data.HA_SHARE), seed, "train", ha_tools.TRAIN_INTENTS) if train else []
    n -= len(hard) + len(light) + len(ha)
    shares = DOMAIN_SHARE_TRAIN if train else DOMAIN_SHARE
    r = random.Random(seed)
    home_gen = home_data.HomeGenerator(seed + 1, split)
    out, counts = [], collections.Counter()
    while len(out) < n:
        today = dt.date(2026, 1, 1) + dt.timedelta(days=r.randrange(730))
        domain = r.choices(list(shares), weights=list(shares.values()))[0]
        requests, home = [], None
        for _ in range(2 if two_requests[domain] and r.random() < two_requests[domain] else 1):
            got = request(domain, r, today, home_gen, ks)
            if got is None:
                break
            query, calls, h = got
            home = home or h
            requests.append((query, calls))
        # Two requests in one utterance must ask for different tools.
        if not requests or len(requests) > 1 and requests[0][1][0]["name"] == requests[1][1][0]["name"]:
            continue
        gold_calls = [c for _, calls in requests for c in calls]
        gold_names = list(dict.fromkeys(c["name"] for c in gold_calls))
        pool = [t for t in ALL_TOOLS if t not in gold_names]
        same = [t for t in pool if ALL_TOOLS[t][0] == domain]
        low = 0 if domain == "api" else 2
        distractors = r.sample(same, min(len(same), r.randint(low, 5))) + r.sample(pool, r.randint(0, 2))
        offered = list(dict.fromkeys(gold_names + distractors))
        negative = len(requests) == 1 and r.random() < 0.12
        if negative:
            for name in gold_names:
                offered.remove(name)
            if not offered:
                offered = r.sample(pool, r.randint(1, 3))
        r.shuffle(offered)
        answer = [] if negative else [finish(c) for c in gold_calls]
        for call in answer:
            jsonschema.validate(call["arguments"], ALL_TOOLS[call["name"]][1]["parameters"])
        joiner = r.choice([" and ", " and then ", ", also ", ". "])
        if domain == "api" and len(requests) > 1:  # two sentences: end the first, keep the second's capital
            joiner = r.choice([" ", " Also: ", "\n"])
            query = joiner.join(q if i or q[-1] in ".?!" else q + "." for i, (q, _) in enumerate(requests))
        else:
            query = joiner.join(q for q, _ in requests)
        out.append({"tools": [tool_json(t) for t in offered], "facts": facts_for(home, today, r),
                    "query": query, "answer": answer})
        if negative:
            counts["negative"] += 1
        elif len(requests) > 1:
            counts["multi"] += 1
        elif len(answer) > 1:
            counts["parallel"] += 1
        else:
            counts[domain] += 1
    if hard:  # mixed in at random places, from the hard stream's own generator
        rh = random.Random(seed * 7919 + 6)
        for ex in hard:
            out.insert(rh.randrange(len(out) + 1), ex)
        counts.update(hard_counts)
    if light:  # likewise, with positions from a third generator
        rl = random.Random(seed * 7919 + 8)
        for ex in light:
            out.insert(rl.randrange(len(out) + 1), ex)
        counts.update(light_counts)
    if train:  # v9: Home Assistant's intent tools at places from a fourth generator, then styles
        ra = random.Random(seed * 7919 + 9)
        for ex in ha:
            out.insert(ra.randrange(len(out) + 1), ex)
        counts["home_assistant"] += len(ha)
        counts.update(style_data.add_styles(out, seed))
    return out, counts


def _write(path: Path, rows: list[dict]) -> None:
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--train", type=int, default=12000, help="0: leave the train split out")
    ap.add_argument("--eval", type=int, default=500)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--eval-style", type=int, default=240, help="cases in eval_style.jsonl (0: none)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for split, n, seed in [("train", args.train, args.seed), ("eval", args.eval, args.seed + 1000)]:
        if n == 0:  # e.g. --train 0: the evaluation sets only, an existing train.jsonl kept
            continue
        rows, counts = build(n, seed, split)
        _write(args.out / f"{split}.jsonl", rows)
        summary[split] = dict(counts)
        print(split, len(rows), dict(counts))
        if split == "eval" and args.eval_style:
            cases = style_data.eval_style(rows, args.eval_style, seed, lambda name: ALL_TOOLS[name][0])
            _write(args.out / "eval_style.jsonl", cases)
            summary["eval_style"] = dict(collections.Counter(c["kind"] for c in cases))
            print("eval_style", len(cases), summary["eval_style"])
    if args.train and args.eval:  # counts.json describes a whole set
        (args.out / "counts.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
