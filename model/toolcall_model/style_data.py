"""The style-diverse part of the dataset (data v9) and the held-out-by-style evaluation.

Training: make_dataset's examples, of which STYLE_SHARE are rewritten into a schema style
drawn from the training choices (styles, value_forms), HUMAN_SHARE of the queries framed as
people say them (phrasing), plus Home Assistant's own intent tools (ha_tools, HA_SHARE, the
intents of ha_tools.TRAIN_INTENTS on the training templates).

The held-out-by-style evaluation (`eval_style.jsonl`) is made only of what training never
shows: make_dataset's eval split (held-out Home Assistant templates, other seeds) in the
held-out styles (camelCase and kebab-case names, the held-out argument names and value forms),
Home Assistant's tools on held-out templates, and intents that training never asks for
(ha_tools.HELD_OUT_INTENTS). Each case carries a `kind` for toolcall-eval's per-kind scores.
Its general and API requests still come from templates shared with training (only values and
styles differ): the fresh app-developer set (`eval/fresh_app_requests.jsonl`) and public MCP
tools (`eval/public_tools_requests.jsonl`) are the sources held out as a whole."""

from __future__ import annotations

import collections
import datetime as dt
import random

import jsonschema

from . import ha_tools, phrasing, styles

STYLE_SHARE = 0.5
HUMAN_SHARE = 0.25
HA_SHARE = 0.10
# The held-out-by-style set: restyled eval-split examples, HA on held-out templates, HA's new intents.
EVAL_STYLE_MIX = {"restyled": 0.6, "ha": 0.25, "ha_new_intent": 0.15}


def _checked(ex: dict) -> dict:
    """The example, once every gold call validates against its tool (a generator bug raises)."""
    by_name = {t["name"]: t for t in ex["tools"]}
    for call in ex["answer"]:
        jsonschema.validate(call["arguments"], by_name[call["name"]]["parameters"])
    return ex


def _restyled(ex: dict, r: random.Random, held_out: bool) -> dict | None:
    for _ in range(5):
        out = styles.restyle(ex, styles.draw_style(r, held_out), r)
        if out is not None:
            return _checked(out)
    return None


def ha_examples(n: int, seed: int, split: str, intents: list[str]) -> list[dict]:
    gen = ha_tools.HaGenerator(seed, split, intents)
    r = random.Random(seed * 7919 + 11)
    out = []
    while len(out) < n:
        today = dt.date(2026, 1, 1) + dt.timedelta(days=r.randrange(730))
        ex = gen.example(f"date: {today.isoformat()} {today.strftime('%A')}")
        if ex is not None:
            out.append(_checked(ex))
    return out


def add_styles(rows: list[dict], seed: int) -> collections.Counter:
    """Rewrites STYLE_SHARE of the rows into training styles (not Home Assistant's, whose
    tools keep the form Home Assistant gives them) and frames HUMAN_SHARE of the queries, in
    place, from a random stream of its own."""
    r = random.Random(seed * 7919 + 13)
    counts = collections.Counter()
    for i, ex in enumerate(rows):
        home_assistant = any(t["name"].startswith("Hass") for t in ex["tools"])  # a format of its own
        if r.random() < STYLE_SHARE and not home_assistant:
            styled = _restyled(ex, r, held_out=False)
            if styled is not None:
                rows[i] = ex = styled
                counts["restyled"] += 1
        if r.random() < HUMAN_SHARE:
            rows[i] = {**ex, "query": phrasing.humanize(ex["query"], r)}
            counts["humanized"] += 1
    return counts


def _kind(ex: dict, domain_of) -> str:
    if not ex["answer"]:
        return "negative"
    if len(ex["answer"]) > 1:
        return "multi"
    return domain_of(ex["answer"][0]["name"])


def eval_style(eval_rows: list[dict], n: int, seed: int, domain_of) -> list[dict]:
    """The held-out-by-style set: n cases in the proportions of EVAL_STYLE_MIX, each with
    `id` and `kind`; 30% of queries framed as people say them; 30% of tools in the OpenAI
    wrapper."""
    r = random.Random(seed * 7919 + 17)
    cases = []
    want = {k: round(n * v) for k, v in EVAL_STYLE_MIX.items()}
    for ex in eval_rows:
        if sum(1 for c in cases if c["kind"].startswith("style_")) >= want["restyled"]:
            break
        styled = _restyled(ex, r, held_out=True)
        if styled is not None:
            cases.append({**styled, "kind": "style_" + _kind(ex, domain_of)})
    for kind, intents in (("ha", ha_tools.TRAIN_INTENTS), ("ha_new_intent", ha_tools.HELD_OUT_INTENTS)):
        for ex in ha_examples(want[kind], seed + len(kind), "eval", intents):
            cases.append({**ex, "kind": kind if ex["answer"] else "ha_negative"})
    out = []
    for i, case in enumerate(cases):
        query = phrasing.humanize(case["query"], r) if r.random() < 0.3 else case["query"]
        out.append({"id": f"style-{i:03d}", "kind": case["kind"], "tools": [styles.wrap(t, r) for t in case["tools"]],
                    "facts": case["facts"], "query": query, "answer": case["answer"]})
    return out
