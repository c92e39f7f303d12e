"""Model weights in one plain form: the llama architecture numbers and float32 numpy matrices.

`load_gguf` reads the base model from a GGUF file (dequantising every tensor and undoing the
row permutation llama.cpp applies to q/k), `random_weights` makes a tiny model of the same
architecture for fast tests, and `apply_lora` merges a PEFT LoRA adapter (W + B·A·alpha/r).
Matrices are stored as `[out_features, in_features]`, as in PyTorch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from pathlib import Path

import numpy as np


@dataclasses.dataclass
class Architecture:
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    d_ffn: int
    vocab_size: int
    rope_theta: float
    rms_eps: float
    context_length: int

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Layer:
    attn_norm: np.ndarray
    wq: np.ndarray
    wk: np.ndarray
    wv: np.ndarray
    wo: np.ndarray
    ffn_norm: np.ndarray
    w_gate: np.ndarray
    w_up: np.ndarray
    w_down: np.ndarray


@dataclasses.dataclass
class Weights:
    arch: Architecture
    embedding: np.ndarray  # [vocab, d_model], tied with the output projection
    layers: list[Layer]
    final_norm: np.ndarray


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _unpermute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's q/k row permutation (interleaved RoPE -> HF "rotate half" order)."""
    out_features, in_features = w.shape
    half = out_features // n_head // 2
    return w.reshape(n_head, half, 2, in_features).swapaxes(1, 2).reshape(out_features, in_features)


def load_gguf(path: Path) -> Weights:
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(str(path))

    def field(name: str):
        return reader.fields[name].contents()

    arch = Architecture(
        n_layers=int(field("llama.block_count")),
        d_model=int(field("llama.embedding_length")),
        n_heads=int(field("llama.attention.head_count")),
        n_kv_heads=int(field("llama.attention.head_count_kv")),
        head_dim=int(field("llama.rope.dimension_count")),
        d_ffn=int(field("llama.feed_forward_length")),
        vocab_size=int(field("llama.vocab_size")),
        rope_theta=float(field("llama.rope.freq_base")),
        rms_eps=float(field("llama.attention.layer_norm_rms_epsilon")),
        context_length=int(field("llama.context_length")),
    )
    tensors = {}
    for t in reader.tensors:
        tensors[t.name] = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32)

    def mat(name: str) -> np.ndarray:
        return tensors[name]

    layers = []
    for i in range(arch.n_layers):
        p = f"blk.{i}."
        layers.append(
            Layer(
                attn_norm=mat(p + "attn_norm.weight"),
                wq=_unpermute_rows(mat(p + "attn_q.weight"), arch.n_heads),
                wk=_unpermute_rows(mat(p + "attn_k.weight"), arch.n_kv_heads),
                wv=mat(p + "attn_v.weight"),
                wo=mat(p + "attn_output.weight"),
                ffn_norm=mat(p + "ffn_norm.weight"),
                w_gate=mat(p + "ffn_gate.weight"),
                w_up=mat(p + "ffn_up.weight"),
                w_down=mat(p + "ffn_down.weight"),
            )
        )
    if "output.weight" in tensors:
        raise ValueError("untied output projection is not supported by this importer")
    return Weights(arch=arch, embedding=mat("token_embd.weight"), layers=layers,
                   final_norm=mat("output_norm.weight"))


def gguf_metadata(path: Path) -> dict:
    """Name, license and tokenizer material of a GGUF file."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    f = reader.fields
    tokens = [bytes(f["tokenizer.ggml.tokens"].parts[i]).decode("utf-8") for i in f["tokenizer.ggml.tokens"].data]
    types = [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data]
    merges = [bytes(f["tokenizer.ggml.merges"].parts[i]).decode("utf-8") for i in f["tokenizer.ggml.merges"].data]
    return {
        "name": f["general.name"].contents(),
        "license": f["general.license"].contents(),
        "organization": f["general.organization"].contents() if "general.organization" in f else "",
        "tokenizer_pre": f["tokenizer.ggml.pre"].contents(),
        "bos_token_id": int(f["tokenizer.ggml.bos_token_id"].contents()),
        "eos_token_id": int(f["tokenizer.ggml.eos_token_id"].contents()),
        "tokens": tokens,
        "token_types": types,
        "merges": merges,
    }


def random_weights(seed: int, vocab_size: int) -> Weights:
    """A tiny model of the llama architecture (2 layers, d_model 64, GQA 4/2) from a seed."""
    arch = Architecture(n_layers=2, d_model=64, n_heads=4, n_kv_heads=2, head_dim=16, d_ffn=128,
                        vocab_size=vocab_size, rope_theta=10000.0, rms_eps=1e-5, context_length=2048)
    rng = np.random.default_rng(seed)

    def m(out_f: int, in_f: int) -> np.ndarray:
        return (rng.standard_normal((out_f, in_f)) / np.sqrt(in_f)).astype(np.float32)

    def norm(n: int) -> np.ndarray:
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    d, kv = arch.d_model, arch.n_kv_heads * arch.head_dim
    layers = [
        Layer(attn_norm=norm(d), wq=m(d, d), wk=m(kv, d), wv=m(kv, d), wo=m(d, d), ffn_norm=norm(d),
              w_gate=m(arch.d_ffn, d), w_up=m(arch.d_ffn, d), w_down=m(d, arch.d_ffn))
        for _ in range(arch.n_layers)
    ]
    embedding = rng.standard_normal((vocab_size, d)).astype(np.float32)
    return Weights(arch=arch, embedding=embedding, layers=layers, final_norm=norm(d))


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Minimal reader for the safetensors format (F32, F16, BF16), as PEFT saves adapters."""
    import ml_dtypes

    dtypes = {"F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16}
    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    base = 8 + header_len
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        arr = np.frombuffer(raw[base + start : base + end], dtype=dtypes[info["dtype"]])
        out[name] = arr.reshape(info["shape"]).astype(np.float32)
    return out


def apply_lora(weights: Weights, adapter_dir: Path) -> dict:
    """Merge a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) in place.

    Returns a summary for the bundle manifest."""
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    r, alpha = int(config["r"]), float(config["lora_alpha"])
    scale = alpha / r
    tensors = _read_safetensors(adapter_dir / "adapter_model.safetensors")
    targets = {"q_proj": "wq", "k_proj": "wk", "v_proj": "wv", "o_proj": "wo",
               "gate_proj": "w_gate", "up_proj": "w_up", "down_proj": "w_down"}
    merged = 0
    for name, a in tensors.items():
        if "lora_A" not in name:
            continue
        b = tensors[name.replace("lora_A", "lora_B")]
        layer_idx = int(name.split(".layers.")[1].split(".")[0])
        module = next(k for k in targets if f".{k}." in name)
        layer = weights.layers[layer_idx]
        attr = targets[module]
        setattr(layer, attr, getattr(layer, attr) + scale * (b @ a))
        merged += 1
    if merged == 0:
        raise ValueError(f"no LoRA matrices found in {adapter_dir}")
    return {"adapter": adapter_dir.name, "r": r, "alpha": alpha, "matrices": merged,
            "sha256": sha256_file(adapter_dir / "adapter_model.safetensors")}
