"""Model weights in one plain form: the llama architecture numbers and float32 numpy matrices.

`load_gguf` reads the base model from a GGUF file (dequantising every tensor and undoing the
row permutation llama.cpp applies to q/k, and keeping the file's own 4-bit blocks of each Q4_1
matrix beside it), `random_weights` makes a tiny model of the same architecture for fast tests,
and `apply_lora` merges a PEFT LoRA adapter (W + B·A·alpha/r) or keeps it beside the weights.
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
class Blocks4:
    """A matrix [out, in] in 4-bit blocks of 32 along `in`: weight = code * scale + low, the
    form of GGUF's Q4_1 (a float16 scale `d` and minimum `m` per block)."""
    codes: np.ndarray  # uint8 [out, in], 0..15
    scale: np.ndarray  # float32 [out, in/32], float16-exact
    low: np.ndarray  # float32 [out, in/32]

    def dequantize(self) -> np.ndarray:
        out_f, in_f = self.codes.shape
        blocks = self.codes.reshape(out_f, in_f // 32, 32).astype(np.float32)
        return (blocks * self.scale[..., None] + self.low[..., None]).reshape(out_f, in_f)


@dataclasses.dataclass
class Weights:
    arch: Architecture
    embedding: np.ndarray  # [vocab, d_model], tied with the output projection
    layers: list[Layer]
    final_norm: np.ndarray
    # The source file's own 4-bit blocks of layer matrices, by (layer index, Layer field name):
    # exactly the float32 matrix beside them, as long as nothing was merged into it.
    blocks: dict[tuple[int, str], Blocks4] = dataclasses.field(default_factory=dict)
    # A LoRA adapter kept apart (apply_lora(merge=False)), by (layer index, Layer field name):
    # (A [r, in], B·alpha/r [out, r]); the layer computes W x + B (A x).
    adapter: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)


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


def _q4_1_blocks(data: np.ndarray) -> Blocks4:
    """GGUF Q4_1 rows (blocks of 20 bytes: float16 d, float16 m, 16 bytes holding element j in
    the low nibble and j + 16 in the high one) as Blocks4."""
    rows = data.shape[0]
    raw = np.asarray(data, dtype=np.uint8).reshape(rows, -1, 20)
    scale = raw[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
    low = raw[..., 2:4].copy().view(np.float16)[..., 0].astype(np.float32)
    packed = raw[..., 4:]
    codes = np.concatenate([packed & 15, packed >> 4], axis=-1).reshape(rows, -1)
    return Blocks4(codes=codes, scale=scale, low=low)


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
    from gguf import GGMLQuantizationType

    tensors, q4_1 = {}, {}
    for t in reader.tensors:
        tensors[t.name] = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32)
        if t.tensor_type == GGMLQuantizationType.Q4_1:
            q4_1[t.name] = _q4_1_blocks(t.data)

    def mat(name: str) -> np.ndarray:
        return tensors[name]

    gguf_names = {"wq": "attn_q", "wk": "attn_k", "wv": "attn_v", "wo": "attn_output",
                  "w_gate": "ffn_gate", "w_up": "ffn_up", "w_down": "ffn_down"}
    blocks = {}
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
        for field_name, gguf_name in gguf_names.items():
            found = q4_1.get(f"{p}{gguf_name}.weight")
            if found is None:
                continue
            if field_name in ("wq", "wk"):
                heads = arch.n_heads if field_name == "wq" else arch.n_kv_heads
                found = Blocks4(*(_unpermute_rows(m, heads) for m in (found.codes, found.scale, found.low)))
            blocks[(i, field_name)] = found
            if not np.array_equal(found.dequantize(), getattr(layers[i], field_name)):
                raise ValueError(f"{p}{gguf_name}: its 4-bit blocks do not give its dequantised matrix")
    if "output.weight" in tensors:
        raise ValueError("untied output projection is not supported by this importer")
    return Weights(arch=arch, embedding=mat("token_embd.weight"), layers=layers,
                   final_norm=mat("output_norm.weight"), blocks=blocks)


def gguf_tensor_bytes(path: Path, name: str) -> tuple[str, bytes]:
    """Tensor `name` of a GGUF file as the file stores it: its type's name and its bytes."""
    from gguf import GGUFReader

    tensor = next(t for t in GGUFReader(str(path)).tensors if t.name == name)
    return tensor.tensor_type.name, np.asarray(tensor.data).tobytes()


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


def apply_lora(weights: Weights, adapter_dir: Path, merge: bool = True) -> dict:
    """Merge a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) into the
    weights in place, or with `merge=False` keep it apart in `weights.adapter` (the 4-bit form
    keeps the base's own blocks exact and runs the adapter beside them, in float16).

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
        if merge:
            setattr(layer, attr, getattr(layer, attr) + scale * (b @ a))
            weights.blocks.pop((layer_idx, attr), None)
        else:
            weights.adapter[(layer_idx, attr)] = (a, scale * b)
        merged += 1
    if merged == 0:
        raise ValueError(f"no LoRA matrices found in {adapter_dir}")
    return {"adapter": adapter_dir.name, "r": r, "alpha": alpha, "matrices": merged, "merged": merge,
            "sha256": sha256_file(adapter_dir / "adapter_model.safetensors")}
