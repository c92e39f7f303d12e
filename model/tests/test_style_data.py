"""The v9 data: schema styles, value forms, Home Assistant's intent tools, and the
held-out-by-style evaluation. Run by scripts/test.sh after the Rust tests (the engine's
`toolcall-render` must be built: every generated tool list goes through the engine's parser).

    .venv/bin/python -m unittest discover -s model/tests -t model
"""

from __future__ import annotations

import json
import random
import subprocess
import unittest
from pathlib import Path

import jsonschema

from toolcall_model import ha_tools, make_dataset, styles, value_forms

ROOT = Path(__file__).resolve().parents[2]
HELD_OUT_NAMES = {n for _, out in styles.SYNONYMS.values() for n in out} | {
    n for _, out in styles.TOOL_SYNONYMS.values() for n in out}

TIMER = {"name": "start_timer", **make_dataset.TOOL_SPECS["start_timer"][1]}
POWER = [{"name": n, **make_dataset.TOOL_SPECS[n][1]} for n in ("turn_on", "turn_off")]


def _forms(**chosen) -> dict:
    return {**{k: train[0] for k, (train, _) in value_forms.FORMS.items()}, **chosen}


def _timer_call(form: str) -> dict:
    ex = {"tools": [TIMER], "facts": "date: 2026-12-06 Sunday", "query": "q",
          "answer": [{"name": "start_timer", "arguments": {"hours": 1, "minutes": 5, "name": "tea"}}]}
    out = value_forms.apply(ex, _forms(duration=form))
    jsonschema.validate(out["answer"][0]["arguments"], out["tools"][0]["parameters"])
    return out["answer"][0]["arguments"]


class ValueForms(unittest.TestCase):
    def test_durations_are_converted_exactly(self):
        self.assertEqual(_timer_call("seconds"), {"duration_seconds": 3900, "name": "tea"})
        self.assertEqual(_timer_call("iso8601"), {"duration": "PT1H5M", "name": "tea"})
        self.assertEqual(_timer_call("hms"), {"duration": "01:05:00", "name": "tea"})
        self.assertEqual(_timer_call("parts"), {"hours": 1, "minutes": 5, "name": "tea"})

    def test_on_off_tools_merge_into_one_with_a_mode(self):
        ex = {"tools": POWER, "facts": "date: 2026-12-06 Sunday", "query": "q",
              "answer": [{"name": "turn_off", "arguments": {"area": "kitchen"}}]}
        as_bool = value_forms.apply(ex, _forms(power="bool"))
        self.assertEqual([t["name"] for t in as_bool["tools"]], ["set_power"])
        self.assertEqual(as_bool["answer"], [{"name": "set_power", "arguments": {"area": "kitchen", "on": False}}])
        as_enum = value_forms.apply(ex, _forms(power="enum"))
        self.assertEqual(as_enum["answer"], [{"name": "set_power", "arguments": {"area": "kitchen", "state": "off"}}])

    def test_a_removed_tool_is_not_brought_back_by_a_merge(self):
        # turn_on was removed (answer []): merging turn_off alone would offer a tool that serves the request.
        ex = {"tools": POWER[1:], "facts": "date: 2026-12-06 Sunday", "query": "turn on the kitchen lights", "answer": []}
        for form in ("bool", "enum"):
            self.assertEqual(value_forms.apply(ex, _forms(power=form))["tools"], POWER[1:])


class Styles(unittest.TestCase):
    def test_names_in_each_style(self):
        style = {"prefix": "Home"}
        got = {kind: styles.tool_name("add_to_shopping_list", {**style, "names": kind})
               for kind in ("snake", "noun_verb", "pascal", "dotted", "camel", "kebab")}
        self.assertEqual(got, {"snake": "add_to_shopping_list", "noun_verb": "shopping_list_add",
                               "pascal": "HomeAddToShoppingList", "dotted": "shopping_list.add",
                               "camel": "addToShoppingList", "kebab": "add-to-shopping-list"})

    def test_restyled_gold_calls_follow_the_restyled_schema(self):
        rows, _ = make_dataset.build(120, 3, "eval")
        r, done = random.Random(4), 0
        for ex in rows:
            for held_out in (False, True):
                out = styles.restyle(ex, styles.draw_style(r, held_out), r)
                if out is None:
                    continue
                tools = {t["name"]: t for t in out["tools"]}
                self.assertEqual(len(tools), len(out["tools"]))
                for call in out["answer"]:
                    jsonschema.validate(call["arguments"], tools[call["name"]]["parameters"])
                done += 1
        self.assertGreater(done, 200)


class Dataset(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.train, cls.counts = make_dataset.build(400, 11, "train")

    def test_held_out_argument_names_are_none_of_our_tools_own(self):
        ours = {k for _, spec in make_dataset.TOOL_SPECS.values() for k in spec["parameters"].get("properties", {})}
        self.assertFalse(HELD_OUT_NAMES & ours)

    def test_training_never_shows_a_held_out_style_or_intent(self):
        for ex in self.train:
            names = {c["name"] for c in ex["answer"]}
            self.assertFalse(names & set(ha_tools.HELD_OUT_INTENTS), ex)
            for tool in ex["tools"]:
                self.assertNotIn("-", tool["name"], ex)  # kebab-case
                if tool["name"] in names:
                    self.assertFalse(set(tool["parameters"].get("properties", {})) & HELD_OUT_NAMES, tool)
                    self.assertNotIn(":[0-5]", json.dumps(tool), "the HH:MM:SS duration is held out")

    def test_the_mix_holds_styles_people_and_home_assistant(self):
        n = len(self.train)
        self.assertGreater(self.counts["restyled"], 0.4 * n)
        self.assertGreater(self.counts["humanized"], 0.15 * n)
        hass = [ex for ex in self.train if any(t["name"].startswith("Hass") for t in ex["tools"])]
        self.assertGreater(len(hass), 0.05 * n)
        catalogue = ha_tools.tools(ha_tools.TRAIN_INTENTS)
        for ex in hass:  # Home Assistant's tools keep the form Home Assistant gives them
            self.assertTrue(all(t == catalogue[t["name"]] for t in ex["tools"]), ex)

    def test_the_engine_accepts_every_generated_tool_list(self):
        render = ROOT / "target/debug/toolcall-render"
        lines = "".join(json.dumps(ex) + "\n" for ex in self.train)
        done = subprocess.run([render], input=lines, capture_output=True, text=True, check=True)
        self.assertEqual(len(done.stdout.splitlines()), len(self.train), done.stderr)


if __name__ == "__main__":
    unittest.main()


class WyomingTools(unittest.TestCase):
    def test_the_python_packages_home_assistant_tools_are_the_generated_ones(self):
        from pathlib import Path

        from toolcall_model import ha_tools
        committed = Path(__file__).resolve().parents[2].joinpath(ha_tools.WYOMING_TOOLS_FILE).read_text()
        self.assertEqual(committed, ha_tools.wyoming_tools_json(),
                         "stale: run (cd model && ../.venv/bin/python -m toolcall_model.ha_tools)")
