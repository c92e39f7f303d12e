//! Each layer's KV cache and attention as one stateful tract op, [`CachedAttention`].
//!
//! tract-transformers turns the exporter's attention into, per layer, two
//! `DynamicKeyValueCache` ops (K and V), a scores matmul, a `ScaledMaskedSoftmax` and a context
//! matmul. On every decode step that subgraph copies the whole cache into a new tensor (the cache
//! ops are concatenations), packs K and V again for the matmul kernels, and pads the three query
//! rows of a KV head to a 64-row kernel tile: ~17 ms of a 62 ms step after 300 tokens on the
//! default model (docs/PERFORMANCE.md). `CachedAttention` keeps K and V per KV head in growable
//! buffers that take each new token in place, and computes causal grouped-query attention where
//! the cache lies: dot products for a decode step's few query rows, ndarray's GEMM
//! (matrixmultiply) for a prefill's blocks. ~4 ms of a 49 ms step at 300 tokens. With
//! [`crate::set_threads`] above 1 the (KV head, query block) units run on the matmuls' pool.
//!
//! [`fuse_cached_attention`] finds that subgraph after tract's rewrites and puts the op in its
//! place. The exporter's mask is causal (the query at position p sees keys 0..=p; see
//! `model/toolcall_model/onnx_export.py`), and the op applies that mask itself. Checked by
//! `engine/tests/model_parity.rs`: logits against the numpy reference, and against tract's own
//! cache and attention ops over a long prefill, a second turn and decode steps.

use rayon::prelude::*;
use tract_linalg::multithread::{Executor, current_tract_executor};
use tract_onnx::prelude::tract_ndarray::linalg::general_mat_mul;
use tract_onnx::prelude::tract_ndarray::{Array2, ArrayView2, ArrayViewMut2, s};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::array::Slice;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_transformers::ops::dyn_kv_cache::{DynKeyValueCache, DynKeyValueCacheState};
use tract_transformers::ops::scaled_masked_softmax::ScaledMaskedSoftmax;

/// Queries per GEMM block in a long prefill: bounds the scores buffer to 64 x keys and skips
/// the keys a block's causal mask hides.
const QUERY_BLOCK: usize = 64;
/// Blocks of at most this many query rows skip the GEMM (see [`QueryBlock::attend_directly`]).
const DIRECT_MAX_ROWS: usize = 16;

/// Causal grouped-query attention over a KV cache the op holds itself.
/// Inputs: queries `[1, kv_heads, group, S, head_dim]` (RoPE applied), new keys and new values
/// `[1, kv_heads, S, head_dim]`. Output: `[kv_heads, group, S, head_dim]`, the layout of the
/// context matmul it replaces.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedAttention {
    /// Name of the K cache op this one replaces, and its past fact `[1, kv_heads, P, head_dim]`:
    /// the op resolves the symbol `P` (tokens already cached) from it before each run, as the
    /// cache op did.
    cache_name: String,
    past_fact: TypedFact,
    scale: f32,
}

impl Eq for CachedAttention {}

impl Op for CachedAttention {
    fn name(&self) -> StaticName {
        "CachedAttention".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("scale: {}", self.scale)])
    }

    op_as_typed_op!();
}

impl EvalOp for CachedAttention {
    not_out_of_plan!();

    fn state(&self, _ctx: &EvalContext) -> TractResult<Option<Box<dyn OpState>>> {
        Ok(Some(Box::new(CachedAttentionState {
            op: self.clone(),
            keys: vec![],
            values: vec![],
            len: 0,
        })))
    }
}

impl TypedOp for CachedAttention {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs.len() == 3,
            "CachedAttention takes queries, new keys and new values"
        );
        ensure!(
            inputs[0].rank() == 5,
            "CachedAttention queries must be [1, kv_heads, group, S, head_dim]"
        );
        let dims = inputs[0].shape.dims();
        Ok(tvec!(f32::fact(&dims[1..])))
    }

    as_op!();
}

/// One sequence's cache: per KV head, `len` rows of `head_dim` keys (values), appended in place.
#[derive(Debug)]
struct CachedAttentionState {
    op: CachedAttention,
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    len: usize,
}

/// Room for this many more tokens whenever a cache grows or is cloned: a call's user turn and
/// answer usually fit in the spare of the toolset prefix's clone, and a cache never holds more
/// than this much unused (vector doubling could leave a session's cache half empty).
const SPARE_TOKENS: usize = 96;

impl Clone for CachedAttentionState {
    fn clone(&self) -> Self {
        let with_headroom = |heads: &Vec<Vec<f32>>| -> Vec<Vec<f32>> {
            heads
                .iter()
                .map(|head| {
                    let row = head.len().checked_div(self.len).unwrap_or(0);
                    let mut copy = Vec::with_capacity(head.len() + SPARE_TOKENS * row);
                    copy.extend_from_slice(head);
                    copy
                })
                .collect()
        };
        CachedAttentionState {
            op: self.op.clone(),
            keys: with_headroom(&self.keys),
            values: with_headroom(&self.values),
            len: self.len,
        }
    }
}

impl OpState for CachedAttentionState {
    fn init_tensor_fact(&self) -> Option<(String, TypedFact)> {
        Some((self.op.cache_name.clone(), self.op.past_fact.clone()))
    }

    fn has_init_tensor_fact(&self) -> bool {
        true
    }

    fn resolve_symbols(&mut self, state: &mut TurnState) -> TractResult<()> {
        let shape: Vec<usize> = self
            .op
            .past_fact
            .shape
            .iter()
            .map(|dim| dim.to_usize().unwrap_or(self.len))
            .collect();
        DynKeyValueCacheState::resolve_symbols(state, self.op.past_fact.clone(), Some(&shape))
    }

    fn eval(&mut self, _ctx: &EvalContext, _op: &dyn Op, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (queries, new_keys, new_values) = args_3!(inputs);
        let &[1, kv_heads, group, seq, head_dim] = queries.shape() else {
            bail!("CachedAttention queries of shape {:?}", queries.shape());
        };
        for new in [&new_keys, &new_values] {
            ensure!(
                new.shape() == [1, kv_heads, seq, head_dim],
                "CachedAttention K/V of shape {:?}",
                new.shape()
            );
        }
        let queries_view = queries.try_as_plain_ram()?;
        let queries = queries_view.as_slice::<f32>()?;
        if self.keys.is_empty() {
            self.keys = vec![vec![]; kv_heads];
            self.values = vec![vec![]; kv_heads];
        }
        ensure!(
            self.keys.len() == kv_heads,
            "CachedAttention cache has {} heads, input {kv_heads}",
            self.keys.len()
        );
        let head_block = seq * head_dim;
        for (cache, new) in [(&mut self.keys, &new_keys), (&mut self.values, &new_values)] {
            let new_view = new.try_as_plain_ram()?;
            let new = new_view.as_slice::<f32>()?;
            for (head, rows) in cache.iter_mut().zip(new.chunks_exact(head_block)) {
                if head.capacity() - head.len() < rows.len() {
                    head.reserve_exact(rows.len() + SPARE_TOKENS * head_dim);
                }
                head.extend_from_slice(rows);
            }
        }
        let past = self.len;
        self.len += seq;

        let rows_per_head = group * seq;
        let mut output = vec![0f32; kv_heads * rows_per_head * head_dim];
        // One work item per (KV head, query block), each writing its own rows of the output:
        // the blocks of a head are consecutive row ranges that cover it, heads follow each other.
        let blocks = query_blocks(group, seq);
        let mut items = Vec::with_capacity(kv_heads * blocks.len());
        let mut rest = output.as_mut_slice();
        for head in 0..kv_heads {
            for &(start, end) in &blocks {
                let (block_output, tail) = rest.split_at_mut((end - start) * head_dim);
                rest = tail;
                items.push((head, start, end, block_output));
            }
        }
        let (keys, values, scale) = (&self.keys, &self.values, self.op.scale);
        let attend = |(head, start, end, block_output): (usize, usize, usize, &mut [f32])| -> TractResult<()> {
            let first = (head * rows_per_head + start) * head_dim;
            let block_queries = &queries[first..first + (end - start) * head_dim];
            let block = QueryBlock {
                first_row: start,
                seq,
                past,
                head_dim,
                scale,
            };
            if end - start <= DIRECT_MAX_ROWS {
                block.attend_directly(block_queries, &keys[head], &values[head], block_output);
                return Ok(());
            }
            // Rows are (group member, position) pairs; the block's last row sees the most keys.
            let visible = past + (end - 1) % seq + 1;
            let all_keys = ArrayView2::from_shape((past + seq, head_dim), &keys[head])?;
            let all_values = ArrayView2::from_shape((past + seq, head_dim), &values[head])?;
            block.attend_by_gemm(
                block_queries,
                all_keys.slice(s![..visible, ..]),
                all_values.slice(s![..visible, ..]),
                block_output,
            )
        };
        // With `set_threads(n > 1)` the blocks share the matmuls' pool; each block's arithmetic
        // is the same either way, so the output does not depend on the thread count.
        match current_tract_executor() {
            Executor::MultiThread(pool) => pool.install(|| items.into_par_iter().try_for_each(attend))?,
            _ => items.into_iter().try_for_each(attend)?,
        }
        let output = Tensor::from_shape(&[kv_heads, group, seq, head_dim], &output)?;
        Ok(tvec!(output.into_tvalue()))
    }

    fn reset_lanes(&mut self, _lanes: &[LaneId]) -> TractResult<()> {
        bail!("CachedAttention is not lane-aware: the cache has no lane axis")
    }
}

/// Cuts a [`CachedAttention`] op's cache back to its first `len` tokens. Any other op's state
/// is an error: the engine's plans hold no other per-sequence state, and one it does not know
/// could not be rewound.
pub fn truncate_cache(state: &mut dyn OpState, len: usize) -> TractResult<()> {
    let Some(cache) = state.downcast_mut::<CachedAttentionState>() else {
        bail!("the plan holds an op state other than CachedAttention's: it cannot be rewound");
    };
    ensure!(
        len <= cache.len,
        "cannot truncate a cache of {} tokens to {len}",
        cache.len
    );
    let held = cache.len;
    for head in cache.keys.iter_mut().chain(cache.values.iter_mut()) {
        let row = head.len().checked_div(held).unwrap_or(0);
        head.truncate(len * row);
    }
    cache.len = len;
    Ok(())
}

/// Row ranges of one KV head's `group * seq` query rows, each computed as one unit (one GEMM
/// when it is long): up to `QUERY_BLOCK` positions of one group member. A decode step has one
/// row per member, so a step's `kv_heads * group` rows can go to as many threads.
fn query_blocks(group: usize, seq: usize) -> Vec<(usize, usize)> {
    (0..group)
        .flat_map(|member| {
            (0..seq)
                .step_by(QUERY_BLOCK)
                .map(move |first| (member * seq + first, member * seq + (first + QUERY_BLOCK).min(seq)))
        })
        .collect()
}

/// One GEMM block of a KV head's query rows: rows `first_row..` of the head's `group * seq`
/// (group member, position) rows, over a cache that held `past` tokens before this input.
struct QueryBlock {
    first_row: usize,
    seq: usize,
    past: usize,
    head_dim: usize,
    scale: f32,
}

impl QueryBlock {
    /// Keys row `row` of the block may see: its own position and all before it.
    fn visible(&self, row: usize) -> usize {
        self.past + (self.first_row + row) % self.seq + 1
    }

    /// A few rows (a decode step): dot products and scaled sums straight over the cache rows.
    /// A GEMM would first copy all of K and V into its packed layout, every step.
    fn attend_directly(&self, queries: &[f32], keys: &[f32], values: &[f32], output: &mut [f32]) {
        let head_dim = self.head_dim;
        let mut scores = Vec::new();
        for (row, (query, out)) in queries
            .chunks_exact(head_dim)
            .zip(output.chunks_exact_mut(head_dim))
            .enumerate()
        {
            let visible = self.visible(row);
            scores.clear();
            scores.extend(
                keys.chunks_exact(head_dim)
                    .take(visible)
                    .map(|key| self.scale * dot(query, key)),
            );
            causal_softmax(&mut scores, visible);
            out.fill(0.0);
            for (&weight, value) in scores.iter().zip(values.chunks_exact(head_dim)) {
                if weight != 0.0 {
                    out.iter_mut().zip(value).for_each(|(o, v)| *o += weight * v);
                }
            }
        }
    }

    /// Many rows (a prefill block): scores and context as two GEMMs over the visible keys.
    fn attend_by_gemm(
        &self,
        queries: &[f32],
        keys: ArrayView2<f32>,
        values: ArrayView2<f32>,
        output: &mut [f32],
    ) -> TractResult<()> {
        let rows = queries.len() / self.head_dim;
        let queries = ArrayView2::from_shape((rows, self.head_dim), queries)?;
        let mut scores = Array2::<f32>::zeros((rows, keys.nrows()));
        general_mat_mul(self.scale, &queries, &keys.t(), 0.0, &mut scores);
        for (row, mut row_scores) in scores.rows_mut().into_iter().enumerate() {
            let row_scores = row_scores.as_slice_mut().context("scores row is contiguous")?;
            causal_softmax(row_scores, self.visible(row));
        }
        let mut output = ArrayViewMut2::from_shape((rows, self.head_dim), output)?;
        general_mat_mul(1.0, &scores, &values, 0.0, &mut output);
        Ok(())
    }
}

/// e^x for x in [NEGLIGIBLE_LOGIT, 0]: 2^n * 2^f with n = round(x log2 e) and the degree-7
/// Taylor series of 2^f on |f| <= 1/2. Relative error is float32's rounding of x log2 e, about
/// (1 + |x|) * 1.2e-7: the same as float32's own resolution for the scores that carry weight.
/// Inline arithmetic instead of a libm call per score: with `f32::exp` the op took 17 ms of a
/// decode step after 300 tokens, with this 4 ms (docs/PERFORMANCE.md).
fn exp_of_nonpositive(x: f32) -> f32 {
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    // Taylor coefficients of 2^f = e^(f ln 2): ln(2)^k / k!, k = 1..=7.
    const LN2: f32 = std::f32::consts::LN_2;
    const COEFFICIENTS: [f32; 7] = [
        LN2,
        LN2 * LN2 / 2.0,
        LN2 * LN2 * LN2 / 6.0,
        LN2 * LN2 * LN2 * LN2 / 24.0,
        LN2 * LN2 * LN2 * LN2 * LN2 / 120.0,
        LN2 * LN2 * LN2 * LN2 * LN2 * LN2 / 720.0,
        LN2 * LN2 * LN2 * LN2 * LN2 * LN2 * LN2 / 5040.0,
    ];
    let t = x * std::f32::consts::LOG2_E;
    let n = (t + ROUND) - ROUND;
    let f = t - n;
    let power_of_f = COEFFICIENTS.iter().rev().fold(0.0, |acc, &c| (acc + c) * f) + 1.0;
    let power_of_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    power_of_f * power_of_n
}

/// Dot product with independent partial sums, so the compiler vectorises it; the order of the
/// sums is fixed, so a row's product is the same wherever it is computed (embedding.rs relies
/// on that).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut partial = [0f32; LANES];
    let (a_lanes, b_lanes) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_lanes
        .remainder()
        .iter()
        .zip(b_lanes.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_lanes.zip(b_lanes) {
        for lane in 0..LANES {
            partial[lane] += x[lane] * y[lane];
        }
    }
    partial.iter().sum::<f32>() + tail
}

/// A score this far below the row's largest gets probability 0: its weight (< 1e-13 against
/// the largest's 1) is below float32 resolution in the sums it enters, the context loop skips
/// it, and [`exp_of_nonpositive`] only has to cover [-30, 0] (its 2^n must stay a normal float).
const NEGLIGIBLE_LOGIT: f32 = -30.0;

/// Softmax over the first `visible` scores; the rest (future keys) get probability 0.
/// Each pass is a plain loop over the row, which the compiler vectorises.
fn causal_softmax(scores: &mut [f32], visible: usize) {
    let (seen, hidden) = scores.split_at_mut(visible);
    let max = seen.iter().fold(f32::NEG_INFINITY, |max, &x| max.max(x));
    seen.iter_mut().for_each(|x| {
        let shifted = *x - max;
        let weight = exp_of_nonpositive(shifted.max(NEGLIGIBLE_LOGIT));
        *x = if shifted < NEGLIGIBLE_LOGIT { 0.0 } else { weight };
    });
    let inverse = sum(seen).recip();
    seen.iter_mut().for_each(|x| *x *= inverse);
    hidden.fill(0.0);
}

/// Sum with independent partial sums, so the compiler vectorises it.
fn sum(values: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut partial = [0f32; LANES];
    let lanes = values.chunks_exact(LANES);
    let tail: f32 = lanes.remainder().iter().sum();
    for chunk in lanes {
        for lane in 0..LANES {
            partial[lane] += chunk[lane];
        }
    }
    partial.iter().sum::<f32>() + tail
}

/// Replaces every layer's `{K cache, V cache, scores, ScaledMaskedSoftmax, context}` subgraph
/// with a [`CachedAttention`] op. Returns how many layers were rewritten; a layer whose graph
/// is not in the exporter's form is left as tract built it.
pub fn fuse_cached_attention(model: &mut TypedModel) -> TractResult<usize> {
    let softmaxes: Vec<usize> = model
        .nodes()
        .iter()
        .filter(|node| node.op_is::<ScaledMaskedSoftmax>())
        .map(|node| node.id)
        .collect();
    let mut fused = 0;
    for softmax in softmaxes {
        if let Some(patch) = attention_patch(model, softmax)? {
            patch.apply(model)?;
            fused += 1;
        }
    }
    Ok(fused)
}

fn einsum_is(node: &TypedNode, expression: &str) -> bool {
    node.op_as::<EinSum>()
        .is_some_and(|op| op.q_params.is_none() && op.axes.to_string() == expression)
}

/// The cache op feeding `outlet`, if it feeds nothing else.
fn sole_use_cache(model: &TypedModel, outlet: OutletId) -> Option<&DynKeyValueCache> {
    let node = model.node(outlet.node);
    (node.outputs[0].successors.len() == 1)
        .then(|| node.op_as::<DynKeyValueCache>())
        .flatten()
}

fn attention_patch(model: &TypedModel, softmax_id: usize) -> TractResult<Option<TypedModelPatch>> {
    let softmax = model.node(softmax_id);
    let softmax_op = softmax
        .op_as::<ScaledMaskedSoftmax>()
        .context("not a ScaledMaskedSoftmax")?;
    if softmax_op.post_softmax_mask || softmax_op.scale.len() != 1 {
        return Ok(None);
    }
    let scale = *softmax_op
        .scale
        .cast_to::<f32>()?
        .try_as_plain_ram()?
        .as_slice::<f32>()?
        .first()
        .context("scale")?;
    let scores = model.node(softmax.inputs[0].node);
    let Some(successor) = model.single_succ(softmax_id)? else {
        return Ok(None);
    };
    // In the last layer tract keeps only the last position's probabilities (the graph's output
    // is the last position's logits): a Slice sits before the context matmul, which then
    // drops the position axis.
    let (last_position, context) = match successor.op_as::<Slice>() {
        Some(slice) if slice.axis == 2 => match model.single_succ(successor.id)? {
            Some(context) => (Some(slice.clone()), context),
            None => return Ok(None),
        },
        Some(_) => return Ok(None),
        None => (None, successor),
    };
    // After that Slice the context matmul drops the position axis, or keeps it (of length 1)
    // where what follows needs it (seen in a q4 graph, whose projections add a zero-point
    // correction beside the matmul).
    let (drop_position, probabilities) = match last_position {
        Some(_) => (einsum_is(context, "bcmk,abkn->bcn"), OutletId::new(successor.id, 0)),
        None => (false, OutletId::new(softmax_id, 0)),
    };
    let context_matches = einsum_is(context, "bcmk,abkn->bcmn") || drop_position;
    if !einsum_is(scores, "abcmk,abnk->bcmn") || !context_matches || context.inputs[0] != probabilities {
        return Ok(None);
    }
    let (Some(key_cache), Some(value_cache)) = (
        sole_use_cache(model, scores.inputs[1]),
        sole_use_cache(model, context.inputs[1]),
    ) else {
        return Ok(None);
    };
    if key_cache.axis != 2 || value_cache.axis != 2 {
        return Ok(None);
    }
    let op = CachedAttention {
        cache_name: key_cache.name.clone(),
        past_fact: key_cache.past_sequence_fact.clone(),
        scale,
    };
    let query_fact = model.outlet_fact(scores.inputs[0])?;
    if query_fact.datum_type != f32::datum_type() || query_fact.rank() != 5 {
        return Ok(None);
    }
    let mut patch = TypedModelPatch::new(format!("cached attention for {}", context.name));
    let queries = patch.tap_model(model, scores.inputs[0])?;
    let new_keys = patch.tap_model(model, model.node(scores.inputs[1].node).inputs[0])?;
    let new_values = patch.tap_model(model, model.node(context.inputs[1].node).inputs[0])?;
    let name = format!("{}.cached_attention", context.name);
    let mut attended = patch.wire_node(&name, op, &[queries, new_keys, new_values])?;
    if let Some(slice) = last_position {
        attended = patch.wire_node(format!("{name}.last_position"), slice, &attended)?;
        if drop_position {
            attended = patch.wire_node(format!("{name}.drop_position"), AxisOp::Rm(2), &attended)?;
        }
    }
    if patch.outlet_fact(attended[0])?.shape != model.outlet_fact(context.id.into())?.shape {
        return Ok(None);
    }
    patch.shunt_outside(model, context.id.into(), attended[0])?;
    Ok(Some(patch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_blocks_cover_every_row_once() {
        for (group, seq) in [(3, 1), (3, 64), (3, 65), (2, 200)] {
            let blocks = query_blocks(group, seq);
            let mut next = 0;
            for (start, end) in blocks {
                assert_eq!(start, next);
                assert!(end > start && end - start <= QUERY_BLOCK);
                // A block never spans two group members.
                assert_eq!(start / seq, (end - 1) / seq);
                next = end;
            }
            assert_eq!(next, group * seq);
        }
    }

    #[test]
    fn exp_of_nonpositive_matches_libm() {
        let mut x = NEGLIGIBLE_LOGIT;
        while x <= 0.0 {
            let (ours, libm) = (exp_of_nonpositive(x), x.exp());
            let tolerance = (2.0 + x.abs()) * f32::EPSILON * libm;
            assert!((ours - libm).abs() <= tolerance, "exp({x}): {ours} vs {libm}");
            x += 0.0137;
        }
        assert_eq!(exp_of_nonpositive(0.0), 1.0);
    }

    #[test]
    fn causal_softmax_hides_future_keys() {
        let mut scores = [1.0, 2.0, 3.0, 100.0];
        causal_softmax(&mut scores, 3);
        let total: f32 = scores.iter().sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert_eq!(scores[3], 0.0);
        assert!(scores[2] > scores[1] && scores[1] > scores[0]);
    }
}
