"""Write a llama decoder as the ONNX step graph toolcalld's engine runs with tract, and its
embedding table beside it.

Graph contract (see ARCHITECTURE.md and shared facts on tract's LLM rewrites):
- inputs: `inputs_embeds` float32 [1, S, d_model] (the engine looks the tokens up in
  `embedding.bin` itself), then `past_key_i`, `past_value_i` float32
  [1, n_kv_heads, P, head_dim] for each layer i;
- outputs: `hidden` float32 [1, 1, d_model], the last position after the final norm (the
  engine owns the output projection, tied with the embedding, so that it computes only the
  logits the answer grammar allows), then `present_key_i`, `present_value_i`
  [1, n_kv_heads, P+S, head_dim].
Positions come from P = Shape(past_key_0)[2]; RoPE tables and the causal mask are computed in
the graph. KV is `Concat(past, new)` wired straight to an output, RoPE is HF "rotate half",
RMSNorm is Pow/ReduceMean/Add/Sqrt/Reciprocal/Mul/Mul, SiLU is x*Sigmoid(x), and attention is
plain MatMul/Mul/Add/Softmax with grouped heads: the forms tract-transformers rewrites into
DynamicKeyValueCache, ApplyRope, RmsNorm, Silu and ScaledMaskedSoftmax; the engine then replaces
each layer's caches and attention with its own op (engine/src/attention.rs), which relies on
the mask below being causal.
Layer matrices are float32 initializers used as the *first* MatMul operand (y = (W x^T)^T), the
form in which tract packs them once at load instead of on every step; or, in the `q4` form
(quantize.py), com.microsoft `MatMulNBits` nodes that tract-onnx keeps as Q4_0 block-quant
constants, each followed by the engine's `Q4Correction` (the blocks' offsets and a LoRA adapter kept
apart, in float16). The weights live beside the graph in `model.onnx.data` (ONNX external data): tract
then reads each tensor straight from that file instead of decoding the whole protobuf and
copying every tensor out of it (docs/PERFORMANCE.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from . import quantize
from .weights import Blocks4, Weights

OPSET = 17
MS_DOMAIN = "com.microsoft"
# The engine's own ops (engine/src/q4_correction/).
TOOLCALLD_DOMAIN = "ai.toolcalld"


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs) -> str:
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def const(self, value: np.ndarray, hint: str) -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def weight(self, value: np.ndarray, hint: str) -> str:
        """A float weight, stored as float32: a constant operand is what tract pre-packs at load
        (a Cast in front of it, e.g. from float16 storage, makes it re-pack on every run)."""
        return self.const(value.astype(np.float32), hint)

    def q4_linears(self, x: str, matrices: list[tuple[Blocks4, tuple[np.ndarray, np.ndarray] | None]],
                   hint: str) -> list[str]:
        """x @ W^T (+ x @ A^T @ B^T) for each matrix W [out, in] in 4-bit blocks (with its LoRA
        adapter, if kept apart), all taking the same input `x` (q, k and v; gate and up).

        Each W is a `MatMulNBits` without zero points, which tract-onnx loads as a Q4_0 constant
        (`(code - 8) * scale`) for its block-quant kernels, followed by the engine's
        `Q4Correction` (domain ai.toolcalld, engine/src/q4_correction/), which adds
        `side^T [block sums of x; A x]`: `side` [in/32 + r, out] float16 holds each block's
        offset `low + 8 * scale` (making the product `code * scale + low`) and the adapter's B
        transposed; its fourth input, A [r, in] float16, is there only with an adapter."""
        in_f = matrices[0][0].codes.shape[1]
        n_blocks = in_f // quantize.BLOCK
        outputs = []
        for j, (w, adapter) in enumerate(matrices):
            out_f = w.codes.shape[0]
            nibbles = quantize.pack_nibbles(w.codes.reshape(out_f, n_blocks, quantize.BLOCK))
            main = self.op("MatMulNBits", [x, self.const(nibbles, f"{hint}{j}_q4"),
                                           self.const(w.scale.reshape(-1), f"{hint}{j}_scales")],
                           f"{hint}{j}_q4_out", domain=MS_DOMAIN, K=in_f, N=out_f, bits=4,
                           block_size=quantize.BLOCK)
            side = [quantize.side_offsets(w)]  # [out, in/32]
            inputs = [main, x]
            if adapter is not None:
                a, b = quantize.side_adapter(adapter)
                side.append(b)  # [out, r]
                inputs += [self.const(np.ascontiguousarray(np.concatenate(side, axis=1).T), f"{hint}{j}_side"),
                           self.const(a, f"{hint}{j}_adapter_a")]
            else:
                inputs.append(self.const(np.ascontiguousarray(side[0].T), f"{hint}{j}_side"))
            outputs.append(self.op("Q4Correction", inputs, f"{hint}{j}_out", domain=TOOLCALLD_DOMAIN,
                                   block_size=quantize.BLOCK))
        return outputs


def external_data_path(model_path: Path) -> Path:
    """Where export_onnx writes the weights of the graph at `model_path`."""
    return model_path.with_name(model_path.name + ".data")


def embedding_path(model_path: Path) -> Path:
    """Where export_onnx writes the embedding table (rows [vocab, d_model]: quantize.embedding_bytes)."""
    return model_path.with_name("embedding.bin")


def export_onnx(weights: Weights, path: Path, form: str = "f32") -> None:
    """Writes the step graph of `weights` in weight form `form` (quantize.FORMS) to `path`, its
    weights to external_data_path(path) and the embedding table to embedding_path(path)."""
    if form not in quantize.FORMS:
        raise ValueError(f"unknown weight form {form!r}")
    a = weights.arch
    b = _Builder()
    d, hd, n_kv = a.d_model, a.head_dim, a.n_kv_heads
    group = a.n_heads // a.n_kv_heads

    inputs = [helper.make_tensor_value_info("inputs_embeds", TensorProto.FLOAT, [1, "S", d])]
    outputs = [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, [1, 1, d])]
    for i in range(a.n_layers):
        for kind in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(f"past_{kind}_{i}", TensorProto.FLOAT, [1, n_kv, "P", hd]))
            outputs.append(helper.make_tensor_value_info(f"present_{kind}_{i}", TensorProto.FLOAT, [1, n_kv, "P+S", hd]))

    # Sequence lengths and positions.
    i64 = lambda v: np.array(v, dtype=np.int64)  # noqa: E731
    past_len = b.op("Shape", ["past_key_0"], "past_len", start=2, end=3)  # [1]
    seq_len = b.op("Shape", ["inputs_embeds"], "seq_len", start=1, end=2)  # [1]
    total_len = b.op("Add", [past_len, seq_len], "total_len")
    zero_axis = b.const(i64([0]), "axis0")
    p_scalar = b.op("Squeeze", [past_len, zero_axis], "p_scalar")
    t_scalar = b.op("Squeeze", [total_len, zero_axis], "t_scalar")
    one = b.const(i64(1), "one")
    q_pos = b.op("Range", [p_scalar, t_scalar, one], "q_pos")  # [S]
    k_pos = b.op("Range", [b.const(i64(0), "zero"), t_scalar, one], "k_pos")  # [T]

    # RoPE tables [1, 1, S, hd].
    inv_freq = 1.0 / (a.rope_theta ** (np.arange(0, hd, 2, dtype=np.float32) / hd))
    pos_f = b.op("Cast", [b.op("Unsqueeze", [q_pos, b.const(i64([1]), "ax1")])], "pos_f", to=TensorProto.FLOAT)
    freqs = b.op("Mul", [pos_f, b.const(inv_freq.reshape(1, -1).astype(np.float32), "inv_freq")], "freqs")
    angles = b.op("Concat", [freqs, freqs], "angles", axis=-1)
    ax01 = b.const(i64([0, 1]), "ax01")
    cos = b.op("Unsqueeze", [b.op("Cos", [angles]), ax01], "cos")
    sin = b.op("Unsqueeze", [b.op("Sin", [angles]), ax01], "sin")

    # Causal mask [1, 1, 1, S, T]: 0 where key pos <= query pos, large negative elsewhere.
    q_col = b.op("Unsqueeze", [q_pos, b.const(i64([1]), "ax1b")], "q_col")  # [S,1]
    k_row = b.op("Unsqueeze", [k_pos, b.const(i64([0]), "ax0b")], "k_row")  # [1,T]
    future = b.op("Greater", [k_row, q_col], "future")
    mask2d = b.op("Where", [future, b.const(np.array(-1e9, np.float32), "neg"), b.const(np.array(0.0, np.float32), "zerof")], "mask2d")
    mask = b.op("Unsqueeze", [mask2d, b.const(i64([0, 1, 2]), "ax012")], "mask")

    half = hd // 2
    s_lo, s_mid, s_hi, s_axis = b.const(i64([0]), "s0"), b.const(i64([half]), "sh"), b.const(i64([hd]), "sd"), b.const(i64([-1]), "sax")

    def rms_norm(x: str, w: np.ndarray, hint: str) -> str:
        sq = b.op("Pow", [x, b.const(np.array(2.0, np.float32), "two")])
        mean = b.op("ReduceMean", [sq], axes=[-1], keepdims=1)
        rstd = b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [mean, b.const(np.array(a.rms_eps, np.float32), "eps")])])])
        return b.op("Mul", [b.op("Mul", [x, rstd]), b.weight(w, hint)], hint + "_out")

    def rope(x: str) -> str:
        lo = b.op("Slice", [x, s_lo, s_mid, s_axis])
        hi = b.op("Slice", [x, s_mid, s_hi, s_axis])
        rotated = b.op("Concat", [b.op("Neg", [hi]), lo], axis=-1)
        return b.op("Add", [b.op("Mul", [x, cos]), b.op("Mul", [rotated, sin])], "rope")

    if form == "f32" and weights.adapter:
        raise ValueError("the f32 form merges its adapter (apply_lora(merge=True))")

    def linears(x: str, i: int, *matrices: str) -> list[str]:
        """x @ W^T for each of layer i's `matrices` (LAYER_MATRICES names), all on input x."""
        if form == "q4":
            return b.q4_linears(x, [(quantize.layer_blocks(weights, i, m), weights.adapter.get((i, m)))
                                    for m in matrices], f"l{i}_{'_'.join(matrices)}")
        # y = (W x^T)^T with W [out, in] as the *first* MatMul operand: tract packs a constant
        # first operand once at load, but re-packs a constant second operand on every run.
        xt = b.op("Transpose", [x], perm=[0, 2, 1])
        return [b.op("Transpose", [b.op("MatMul", [b.weight(getattr(weights.layers[i], m), f"l{i}_{m}"), xt])],
                     f"l{i}_{m}_out", perm=[0, 2, 1]) for m in matrices]

    heads_shape = lambda n: b.const(i64([1, -1, n, hd]), "heads_shape")  # noqa: E731
    x = "inputs_embeds"
    for i, layer in enumerate(weights.layers):
        h = rms_norm(x, layer.attn_norm, f"l{i}_attn_norm")
        q, k, v = linears(h, i, "wq", "wk", "wv")
        q = b.op("Transpose", [b.op("Reshape", [q, heads_shape(a.n_heads)])], perm=[0, 2, 1, 3])
        k = b.op("Transpose", [b.op("Reshape", [k, heads_shape(n_kv)])], perm=[0, 2, 1, 3])
        v = b.op("Transpose", [b.op("Reshape", [v, heads_shape(n_kv)])], perm=[0, 2, 1, 3])
        q, k = rope(q), rope(k)
        b.nodes.append(helper.make_node("Concat", [f"past_key_{i}", k], [f"present_key_{i}"], name=f"present_key_{i}", axis=2))
        b.nodes.append(helper.make_node("Concat", [f"past_value_{i}", v], [f"present_value_{i}"], name=f"present_value_{i}", axis=2))
        q5 = b.op("Reshape", [q, b.const(i64([1, n_kv, group, -1, hd]), "q5_shape")], "q5")
        k5 = b.op("Unsqueeze", [f"present_key_{i}", b.const(i64([2]), "ax2")], "k5")
        v5 = b.op("Unsqueeze", [f"present_value_{i}", b.const(i64([2]), "ax2")], "v5")
        scores = b.op("MatMul", [q5, b.op("Transpose", [k5], perm=[0, 1, 2, 4, 3])], "scores")
        scaled = b.op("Mul", [scores, b.const(np.array(1.0 / np.sqrt(hd), np.float32), "scale")])
        probs = b.op("Softmax", [b.op("Add", [scaled, mask])], axis=-1)
        ctx = b.op("MatMul", [probs, v5], "ctx")  # [1, n_kv, group, S, hd]
        ctx = b.op("Reshape", [ctx, b.const(i64([1, a.n_heads, -1, hd]), "ctx_shape")])
        ctx = b.op("Reshape", [b.op("Transpose", [ctx], perm=[0, 2, 1, 3]), b.const(i64([1, -1, d]), "flat_shape")])
        x = b.op("Add", [x, linears(ctx, i, "wo")[0]], f"l{i}_attn_res")
        h = rms_norm(x, layer.ffn_norm, f"l{i}_ffn_norm")
        gate, up = linears(h, i, "w_gate", "w_up")
        act = b.op("Mul", [gate, b.op("Sigmoid", [gate])], "silu")
        x = b.op("Add", [x, linears(b.op("Mul", [act, up]), i, "w_down")[0]], f"l{i}_ffn_res")
    x = rms_norm(x, weights.final_norm, "final_norm")
    b.nodes.append(helper.make_node("Slice", [x, b.const(i64([-1]), "minus1"), seq_len, b.const(i64([1]), "ax1c")],
                                    ["hidden"], name="hidden"))

    graph = helper.make_graph(b.nodes, "toolcalld_decoder_step", inputs, outputs, b.initializers)
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid(MS_DOMAIN, 1), helper.make_opsetid(TOOLCALLD_DOMAIN, 1)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="toolcalld-model")
    model.ir_version = 8
    onnx.checker.check_model(model)
    data = external_data_path(path)
    data.unlink(missing_ok=True)  # onnx appends to an existing data file
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location=data.name, size_threshold=1024)
    data.chmod(0o644)  # onnx creates it 0600; the daemon may run as another user
    embedding_path(path).write_bytes(quantize.embedding_bytes(weights.embedding, form))
