"""Write a llama decoder as the ONNX step graph toolcalld's engine runs with tract.

Graph contract (see ARCHITECTURE.md and shared facts on tract's LLM rewrites):
- inputs: `input_ids` int64 [1, S], then `past_key_i`, `past_value_i` float32
  [1, n_kv_heads, P, head_dim] for each layer i;
- outputs: `logits` float32 [1, 1, vocab] (last position only), then `present_key_i`,
  `present_value_i` [1, n_kv_heads, P+S, head_dim].
Positions come from P = Shape(past_key_0)[2]; RoPE tables and the causal mask are computed in
the graph. KV is `Concat(past, new)` wired straight to an output, RoPE is HF "rotate half",
RMSNorm is Pow/ReduceMean/Add/Sqrt/Reciprocal/Mul/Mul, SiLU is x*Sigmoid(x), and attention is
plain MatMul/Mul/Add/Softmax with grouped heads: the forms tract-transformers rewrites into
DynamicKeyValueCache, ApplyRope, RmsNorm, Silu and ScaledMaskedSoftmax; the engine then replaces
each layer's caches and attention with its own op (engine/src/attention.rs), which relies on
the mask below being causal.
Weights are float32 initializers; each weight matrix is the *first* MatMul operand
(y = (W x^T)^T), the form in which tract packs it once at load instead of on every step, and
a matrix too big for tract to pre-pack (here the embedding, tied with the output projection) is
stored in row blocks (`weight_rows`).
The weights live beside the graph in `model.onnx.data` (ONNX external data): tract then reads
each tensor straight from that file instead of decoding a 538 MB protobuf and copying every
tensor out of it, which took load-time peak RSS from 1044 to 752 MB (docs/PERFORMANCE.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .weights import Weights

OPSET = 17
# tract-core's CONST_FOLD_MEM_BUDGET: the largest packed constant it folds at load whatever its input.
PACK_BUDGET = 4 << 20


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

    def weight_rows(self, w: np.ndarray, hint: str) -> list[str]:
        """A weight matrix [out, in] as one float32 constant, or as row blocks of at most 3 MiB
        when its packed form would pass PACK_BUDGET: tract pre-packs a constant at load only if
        the packed form (one record more than the matrix) is no bigger than max(its input,
        4 MiB); a bigger one is re-packed on every run (the 49152 x 576 output projection took
        110 of 180 ms per decode step that way, measured)."""
        out_dim, in_dim = w.shape
        if out_dim * (in_dim + 1) * 4 <= PACK_BUDGET:
            return [self.weight(w, hint)]
        rows = max(128, (3 << 20) // (4 * (in_dim + 1)) // 128 * 128)
        return [self.weight(w[start : start + rows], hint) for start in range(0, out_dim, rows)]

    def matmul_rows(self, blocks: list[str], xt: str, hint: str | None = None) -> str:
        """W x^T [1, out, S] for W given as weight_rows blocks: one MatMul per block, joined."""
        parts = [self.op("MatMul", [block, xt], hint) for block in blocks]
        return parts[0] if len(parts) == 1 else self.op("Concat", parts, (hint or "matmul") + "_all", axis=1)


def external_data_path(model_path: Path) -> Path:
    """Where export_onnx writes the weights of the graph at `model_path`."""
    return model_path.with_name(model_path.name + ".data")


def export_onnx(weights: Weights, path: Path) -> None:
    a = weights.arch
    b = _Builder()
    d, hd, n_kv = a.d_model, a.head_dim, a.n_kv_heads
    group = a.n_heads // a.n_kv_heads

    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "S"])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, a.vocab_size])]
    for i in range(a.n_layers):
        for kind in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(f"past_{kind}_{i}", TensorProto.FLOAT, [1, n_kv, "P", hd]))
            outputs.append(helper.make_tensor_value_info(f"present_{kind}_{i}", TensorProto.FLOAT, [1, n_kv, "P+S", hd]))

    # Sequence lengths and positions.
    i64 = lambda v: np.array(v, dtype=np.int64)  # noqa: E731
    past_len = b.op("Shape", ["past_key_0"], "past_len", start=2, end=3)  # [1]
    seq_len = b.op("Shape", ["input_ids"], "seq_len", start=1, end=2)  # [1]
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

    def linear(x: str, w: np.ndarray, hint: str) -> str:
        # y = (W x^T)^T with W [out, in] as the *first* MatMul operand: tract packs a constant
        # first operand once at load, but re-packs a constant second operand on every run.
        xt = b.op("Transpose", [x], perm=[0, 2, 1])
        return b.op("Transpose", [b.matmul_rows(b.weight_rows(w, hint), xt)], hint + "_out", perm=[0, 2, 1])

    heads_shape = lambda n: b.const(i64([1, -1, n, hd]), "heads_shape")  # noqa: E731
    # The embedding, tied with the output projection, in row blocks (weight_rows); the input
    # Gather reads them joined again (a Concat tract folds into one constant at load).
    embedding_blocks = b.weight_rows(weights.embedding, "embedding_rows")
    embedding = embedding_blocks[0] if len(embedding_blocks) == 1 else b.op("Concat", embedding_blocks, "embedding", axis=0)
    x = b.op("Gather", [embedding, "input_ids"], "embed")
    for i, layer in enumerate(weights.layers):
        h = rms_norm(x, layer.attn_norm, f"l{i}_attn_norm")
        q = b.op("Transpose", [b.op("Reshape", [linear(h, layer.wq, f"l{i}_q"), heads_shape(a.n_heads)])], perm=[0, 2, 1, 3])
        k = b.op("Transpose", [b.op("Reshape", [linear(h, layer.wk, f"l{i}_k"), heads_shape(n_kv)])], perm=[0, 2, 1, 3])
        v = b.op("Transpose", [b.op("Reshape", [linear(h, layer.wv, f"l{i}_v"), heads_shape(n_kv)])], perm=[0, 2, 1, 3])
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
        x = b.op("Add", [x, linear(ctx, layer.wo, f"l{i}_o")], f"l{i}_attn_res")
        h = rms_norm(x, layer.ffn_norm, f"l{i}_ffn_norm")
        gate = linear(h, layer.w_gate, f"l{i}_gate")
        act = b.op("Mul", [gate, b.op("Sigmoid", [gate])], "silu")
        x = b.op("Add", [x, linear(b.op("Mul", [act, linear(h, layer.w_up, f"l{i}_up")]), layer.w_down, f"l{i}_down")], f"l{i}_ffn_res")
    x = rms_norm(x, weights.final_norm, "final_norm")
    last = b.op("Slice", [x, b.const(i64([-1]), "minus1"), seq_len, b.const(i64([1]), "ax1c")], "last_hidden")
    # Tied output projection: the embedding blocks as first operands, as in linear().
    scores = b.matmul_rows(embedding_blocks, b.op("Transpose", [last], perm=[0, 2, 1]), "lm_head")  # [1, V, 1]
    b.nodes.append(helper.make_node("Transpose", [scores], ["logits"], name="logits", perm=[0, 2, 1]))

    graph = helper.make_graph(b.nodes, "toolcalld_decoder_step", inputs, outputs, b.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="toolcalld-model")
    model.ir_version = 8
    onnx.checker.check_model(model)
    data = external_data_path(path)
    data.unlink(missing_ok=True)  # onnx appends to an existing data file
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location=data.name, size_threshold=1024)
    data.chmod(0o644)  # onnx creates it 0600; the daemon may run as another user
