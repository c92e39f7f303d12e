"""Write a HuggingFace `tokenizer.json` from a GGUF file's GPT-2 style BPE vocabulary.

SmolLM2's tokenizer ("smollm" pre-tokenizer in llama.cpp): byte-level BPE, digits split one
by one, no prefix space; control tokens (GGUF token type 3) become special added tokens so the
chat markers encode as single ids."""

from __future__ import annotations

import json
from pathlib import Path

CONTROL_TOKEN_TYPE = 3


def write_tokenizer_json(meta: dict, path: Path) -> None:
    if meta["tokenizer_pre"] != "smollm":
        raise ValueError(f"unsupported GGUF pre-tokenizer {meta['tokenizer_pre']!r} (only 'smollm')")
    tokens, types = meta["tokens"], meta["token_types"]
    added = [
        {"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, (tok, ty) in enumerate(zip(tokens, types))
        if ty == CONTROL_TOKEN_TYPE
    ]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    doc = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True}, byte_level]},
        "post_processor": None,
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {tok: i for i, tok in enumerate(tokens)},
            "merges": meta["merges"],
        },
    }
    path.write_text(json.dumps(doc, ensure_ascii=False))
