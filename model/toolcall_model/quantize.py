"""The weight forms a bundle can store (`build_bundle.py --quant`), and the weights as each form
holds them, for the numpy reference the engine's parity tests check against.

- `f32` (the default): every matrix float32, the embedding (tied with the output projection)
  float32.
- `q4`: each layer's seven matrices in blocks of 32 weights with a float16 scale and a 4-bit
  zero point per block, 4-bit codes `q` in 0..15 meaning `(q - zero) * scale`. The graph stores
  them as com.microsoft `MatMulNBits` (bits 4, block 32, with zero points); tract-onnx loads
  that as a Q4_0 constant (`(q - 8) * scale`) for its packed block-quant matmul kernels (x86_64
  FMA, arm64 NEON and fp16) plus a small correction, the activations' block sums times
  `(8 - zero) * scale` (a [K/32, N] matrix: 1/32 of the weights' multiply-adds).
- `q4ffn`: the three feed-forward matrices of each layer as in `q4`, the four attention ones
  float32 (4-bit attention cost the most accuracy, docs/MODEL.md).
In both 4-bit forms the embedding is float16: it feeds the input lookup and the output
projection, both of which the engine computes itself, and a quantised output projection moved
the logits by up to 14 (../shared/facts/runtime.md). Norms stay float32.
"""

from __future__ import annotations

import copy

import numpy as np

from .weights import Weights

FORMS = ("f32", "q4ffn", "q4")
BLOCK = 32
LAYER_MATRICES = ("wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down")
FFN_MATRICES = ("w_gate", "w_up", "w_down")


def quantized(form: str, matrix: str) -> bool:
    """Whether `form` stores a layer's `matrix` (a LAYER_MATRICES name) in 4 bits."""
    if form == "q4":
        return True
    if form == "q4ffn":
        return matrix in FFN_MATRICES
    return False


def q4(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes [out, in] (uint8, 0..15), block scales [out, in/32] (float16-exact float32) and
    block zero points [out, in/32] (uint8, 0..15): a weight is `(code - zero) * scale`.

    Each block of 32 spans its own range: scale = (max - min) / 15, rounded to float16 as the
    kernels store it, and the zero point is the code nearest to 0.0. The symmetric form (Q4_0's
    scale = largest magnitude / -8, zero 8) wastes half a bit on a block whose weights lean to one
    side (docs/MODEL.md, "Weight forms", measures both)."""
    out_f, in_f = w.shape
    if in_f % BLOCK:
        raise ValueError(f"a q4 matrix needs a multiple of {BLOCK} inputs, not {in_f}")
    blocks = w.reshape(out_f, in_f // BLOCK, BLOCK).astype(np.float32)
    low = np.minimum(blocks.min(-1), 0.0)
    high = np.maximum(blocks.max(-1), 0.0)
    scale = ((high - low) / 15.0).astype(np.float16).astype(np.float32)
    inverse = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale != 0)
    zero = np.clip(np.round(-low * inverse), 0, 15)
    codes = np.clip(np.round(blocks * inverse[..., None]) + zero[..., None], 0, 15).astype(np.uint8)
    return codes.reshape(out_f, in_f), scale, zero.astype(np.uint8)


def q4_dequantize(codes: np.ndarray, scale: np.ndarray, zero: np.ndarray) -> np.ndarray:
    out_f, in_f = codes.shape
    blocks = codes.reshape(out_f, in_f // BLOCK, BLOCK).astype(np.float32) - zero[..., None].astype(np.float32)
    return (blocks * scale[..., None]).reshape(out_f, in_f)


def pack_nibbles(codes: np.ndarray) -> np.ndarray:
    """Two 4-bit values a byte along the last axis, the lower index in the low nibble (an odd
    count padded with 0): MatMulNBits' B input ([out, in/32, 16] from codes [out, in/32, 32])
    and its zero points ([out, ceil(in/64)] from [out, in/32])."""
    if codes.shape[-1] % 2:
        codes = np.concatenate([codes, np.zeros(codes.shape[:-1] + (1,), np.uint8)], axis=-1)
    pairs = codes.reshape(codes.shape[:-1] + (codes.shape[-1] // 2, 2))
    return (pairs[..., 0] | (pairs[..., 1] << 4)).astype(np.uint8)


def embedding_dtype(form: str) -> type:
    return np.float32 if form == "f32" else np.float16


def stored(weights: Weights, form: str) -> Weights:
    """The weights exactly as a bundle of `form` holds them, widened to float32."""
    if form not in FORMS:
        raise ValueError(f"unknown weight form {form!r}; known: {', '.join(FORMS)}")
    if form == "f32":
        return weights
    out = copy.copy(weights)
    out.embedding = weights.embedding.astype(np.float16).astype(np.float32)
    out.layers = []
    for layer in weights.layers:
        layer = copy.copy(layer)
        for name in LAYER_MATRICES:
            if quantized(form, name):
                setattr(layer, name, q4_dequantize(*q4(getattr(layer, name))))
        out.layers.append(layer)
    return out
