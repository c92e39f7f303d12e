"""The weight forms a bundle can store (`build_bundle.py --quant`), and the weights as each form
holds them, for the numpy reference the engine's parity tests check against.

- `f32` (the default): every matrix float32 (a LoRA adapter merged in), the embedding (tied
  with the output projection) float32.
- `q4`: each layer's seven matrices in 4-bit blocks of 32 weights, `code * scale + low` with a
  float16 scale and a float32 minimum per block (weights.Blocks4, GGUF's Q4_1 form). An imported
  Q4_1 matrix keeps the file's own blocks, so the base model loses nothing; other matrices (the
  tiny test model's) are quantised here. A LoRA adapter stays apart, in float16, instead of
  being merged and rounded to 4 bits again (which cost up to half of the held-out requests,
  docs/MODEL.md). The graph stores each matrix as a com.microsoft `MatMulNBits` without zero
  points, which tract-onnx keeps as a Q4_0 constant (`(code - 8) * scale`) for its packed
  block-quant kernels (x86_64 FMA, arm64 NEON and fp16), followed by the engine's
  `Q4Correction` op (engine/src/q4_correction/): the activations' block sums times each
  block's offset `low + 8 * scale`, plus the adapter's `B (A x)`, both stored in float16
  (`side_offsets`, `side_adapter`: a step reads 16 MB of them instead of 55 MB of float32).
  The embedding is 8-bit, GGUF's Q8_0 (blocks of 32 with a float16 scale: the base GGUF's own
  bytes, which quantising its dequantised table again reproduces exactly); it feeds the input
  lookup and the output projection, both of which the engine computes itself on float32 rows
  (a 4-bit output projection moved the logits by up to 14, ../shared/facts/runtime.md). Norms
  stay float32.
"""

from __future__ import annotations

import copy

import gguf
import numpy as np
from gguf.quants import dequantize, quantize

from .weights import Blocks4, Weights

FORMS = ("f32", "q4")
BLOCK = 32
LAYER_MATRICES = ("wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down")


def q4(w: np.ndarray) -> Blocks4:
    """`w` [out, in] in 4-bit blocks of 32: each block spans its own range, scale = (max - min)
    / 15 rounded to float16 as the kernels store it, low = min, codes the nearest steps."""
    out_f, in_f = w.shape
    if in_f % BLOCK:
        raise ValueError(f"a q4 matrix needs a multiple of {BLOCK} inputs, not {in_f}")
    blocks = w.reshape(out_f, in_f // BLOCK, BLOCK).astype(np.float32)
    low = blocks.min(-1)
    scale = ((blocks.max(-1) - low) / 15.0).astype(np.float16).astype(np.float32)
    inverse = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale != 0)
    codes = np.clip(np.round((blocks - low[..., None]) * inverse[..., None]), 0, 15).astype(np.uint8)
    return Blocks4(codes=codes.reshape(out_f, in_f), scale=scale, low=low)


def layer_blocks(weights: Weights, layer: int, matrix: str) -> Blocks4:
    """Layer `layer`'s `matrix` (a LAYER_MATRICES name) as the q4 form stores it: the source
    file's own blocks where the importer kept them, else quantised here."""
    found = weights.blocks.get((layer, matrix))
    return found if found is not None else q4(getattr(weights.layers[layer], matrix))


def side_offsets(blocks: Blocks4) -> np.ndarray:
    """[out, in/32] float16: per block, what turns the graph's Q4_0 product (`(code - 8) *
    scale`) into the block's `code * scale + low`, rounded to float16 as the bundle stores it."""
    offsets = (blocks.low + 8 * blocks.scale).astype(np.float16)
    if not np.isfinite(offsets).all():
        raise ValueError("a block offset is beyond float16's range")
    return offsets


def side_adapter(adapter: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A LoRA adapter (A [r, in], B [out, r]) in float16, as the bundle stores it."""
    a, b = (m.astype(np.float16) for m in adapter)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a LoRA adapter value is beyond float16's range")
    return a, b


def q4_matrix(blocks: Blocks4, adapter: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """The float32 matrix a q4 bundle computes with for `blocks` (and its adapter kept apart):
    the Q4_0 part exact, the float16 offsets and adapter widened."""
    out_f, in_f = blocks.codes.shape
    codes = blocks.codes.reshape(out_f, in_f // BLOCK, BLOCK).astype(np.float32)
    offsets = side_offsets(blocks).astype(np.float32)
    matrix = ((codes - 8) * blocks.scale[..., None] + offsets[..., None]).reshape(out_f, in_f)
    if adapter is not None:
        a, b = side_adapter(adapter)
        matrix = matrix + b.astype(np.float32) @ a.astype(np.float32)
    return matrix


def pack_nibbles(codes: np.ndarray) -> np.ndarray:
    """Two 4-bit values a byte along the last axis, the lower index in the low nibble (an odd
    count padded with 0): MatMulNBits' B input ([out, in/32, 16] from codes [out, in/32, 32])."""
    if codes.shape[-1] % 2:
        codes = np.concatenate([codes, np.zeros(codes.shape[:-1] + (1,), np.uint8)], axis=-1)
    pairs = codes.reshape(codes.shape[:-1] + (codes.shape[-1] // 2, 2))
    return (pairs[..., 0] | (pairs[..., 1] << 4)).astype(np.uint8)


def embedding_type(form: str) -> str:
    """How `embedding.bin` holds the table in `form` (the manifest's `quantization.embedding`)."""
    return "float32" if form == "f32" else "q8_0"


def embedding_bytes(table: np.ndarray, form: str) -> bytes:
    """`embedding.bin` in `form`: little-endian float32 rows, or GGUF Q8_0 rows (per block of
    32: a float16 scale, then 32 int8 codes)."""
    if form == "f32":
        return np.ascontiguousarray(table, dtype=np.dtype(np.float32).newbyteorder("<")).tobytes()
    return quantize(np.ascontiguousarray(table, dtype=np.float32), gguf.GGMLQuantizationType.Q8_0).tobytes()


def q8_0_table(table: np.ndarray) -> np.ndarray:
    """The table as a Q8_0 `embedding.bin` holds it, widened to float32."""
    raw = quantize(np.ascontiguousarray(table, dtype=np.float32), gguf.GGMLQuantizationType.Q8_0)
    return np.asarray(dequantize(raw, gguf.GGMLQuantizationType.Q8_0), dtype=np.float32)


def stored(weights: Weights, form: str) -> Weights:
    """The weights exactly as a bundle of `form` computes with them, widened to float32, any
    adapter kept apart added in (in q4: `q4_matrix`, its float16 parts rounded)."""
    if form not in FORMS:
        raise ValueError(f"unknown weight form {form!r}; known: {', '.join(FORMS)}")
    if form == "f32" and not weights.adapter:
        return weights
    out = copy.copy(weights)
    out.adapter, out.blocks = {}, {}
    if form != "f32":
        out.embedding = q8_0_table(weights.embedding)
    out.layers = []
    for i, layer in enumerate(weights.layers):
        layer = copy.copy(layer)
        for name in LAYER_MATRICES:
            adapter = weights.adapter.get((i, name))
            if form == "q4":
                matrix = q4_matrix(layer_blocks(weights, i, name), adapter)
            else:
                matrix = getattr(layer, name)
                if adapter is not None:
                    matrix = matrix + adapter[1] @ adapter[0]
            setattr(layer, name, matrix)
        out.layers.append(layer)
    return out
