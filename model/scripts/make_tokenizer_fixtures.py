"""Golden tokenizer fixtures: ids from llama.cpp's own tokenizer (an implementation independent
of the HF `tokenizers` crate the engine uses) for a few hundred varied strings.

    .venv/bin/pip install llama-cpp-python==0.3.36   # compiles llama.cpp: tens of minutes
    .venv/bin/python model/scripts/make_tokenizer_fixtures.py GGUF engine/tests/fixtures/tokenizer_parity.json

The output is committed; engine/tests/tokenizer_parity.rs compares against it."""

import json
import random
import sys

from llama_cpp import Llama

BASE = [
    "set a timer for 10 minutes",
    "Dim the kitchen lights to 30%",
    "<|im_start|>user\nturn on the bedroom lamp<|im_end|>\n<|im_start|>assistant\n",
    "What's the weather in Zürich tomorrow at 7:45?",
    "Réglez le thermostat à 21,5 °C",
    "東京の天気は？", "😀 emoji 👍🏽 test", "tabs\tand\nnewlines\r\n", "   leading spaces",
    "trailing spaces   ", "digits 1234567890 and 3.14159 and -42 and 1e-9",
    '{"name":"set_timer","arguments":{"minutes":10}}',
    '[{"name": "light.turn_on", "arguments": {"area": "kitchen", "brightness": 30}}]',
    "CamelCaseWords and snake_case_words and kebab-case-words",
    "https://example.com/path?query=1&x=2", "C:\\Users\\me\\file.txt", "naïve café résumé",
    "Ωmega αβγ δ", "<|im_end|><|im_start|>system\n", "<tool_call>not special</tool_call>",
    "$20,000 and 8% and 1/2", "2026-11-26T14:30:00Z", "",
]
WORDS = ("the a lights kitchen bedroom timer set turn off on dim brightness music play next song "
         "volume up down 42 7 100 0.5 temperature °C °F München São Paulo weather tomorrow "
         "alarm 6:30 am pm lock door garage open close {\"x\": [1, 2]} , . ! ? ' \" - _ "
         "Ünïcödé 中文 русский العربية ✓ \t \n").split(" ")


def main() -> None:
    gguf, out = sys.argv[1], sys.argv[2]
    llm = Llama(model_path=gguf, vocab_only=True, verbose=False)
    rng = random.Random(20261126)
    texts = list(BASE)
    while len(texts) < 300:
        n = rng.randint(1, 12)
        texts.append(rng.choice(["", " "]).join(rng.choice(WORDS) for _ in range(n)))
    cases = [{"text": t, "ids": llm.tokenize(t.encode(), add_bos=False, special=True)} for t in texts]
    with open(out, "w") as f:
        json.dump({"source": "llama.cpp tokenizer via llama-cpp-python 0.3.36, special=True, add_bos=False",
                   "gguf": gguf.rsplit("/", 1)[-1], "cases": cases}, f, ensure_ascii=False, indent=0)


if __name__ == "__main__":
    main()
