"""A plain numpy forward pass of the llama decoder: the independent reference the engine's
ONNX graph is checked against (logits parity, written into each bundle's selftest.json)."""

from __future__ import annotations

import numpy as np

from .weights import Weights


def _rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def _rope(x: np.ndarray, positions: np.ndarray, theta: float) -> np.ndarray:
    """x: [heads, S, hd]; HF rotate-half RoPE."""
    hd = x.shape[-1]
    inv_freq = 1.0 / (theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    ang = positions[:, None].astype(np.float64) * inv_freq[None, :]
    ang = np.concatenate([ang, ang], axis=-1)
    rotated = np.concatenate([-x[..., hd // 2 :], x[..., : hd // 2]], axis=-1)
    return x * np.cos(ang) + rotated * np.sin(ang)


def last_logits(weights: Weights, ids: list[int]) -> np.ndarray:
    """Logits of the next token after `ids` (float64 maths on the given weights)."""
    a = weights.arch
    s = len(ids)
    x = weights.embedding[np.array(ids)].astype(np.float64)
    pos = np.arange(s)
    causal = np.triu(np.full((s, s), -np.inf), k=1)
    group = a.n_heads // a.n_kv_heads
    for layer in weights.layers:
        h = _rms_norm(x, layer.attn_norm, a.rms_eps)
        q = (h @ layer.wq.T).reshape(s, a.n_heads, a.head_dim).transpose(1, 0, 2)
        k = (h @ layer.wk.T).reshape(s, a.n_kv_heads, a.head_dim).transpose(1, 0, 2)
        v = (h @ layer.wv.T).reshape(s, a.n_kv_heads, a.head_dim).transpose(1, 0, 2)
        q, k = _rope(q, pos, a.rope_theta), _rope(k, pos, a.rope_theta)
        k, v = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(a.head_dim) + causal
        scores -= scores.max(axis=-1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=-1, keepdims=True)
        ctx = (p @ v).transpose(1, 0, 2).reshape(s, a.d_model)
        x = x + ctx @ layer.wo.T
        h = _rms_norm(x, layer.ffn_norm, a.rms_eps)
        g = h @ layer.w_gate.T
        x = x + ((g / (1 + np.exp(-g))) * (h @ layer.w_up.T)) @ layer.w_down.T
    x = _rms_norm(x, weights.final_norm, a.rms_eps)
    return x[-1] @ weights.embedding.T
