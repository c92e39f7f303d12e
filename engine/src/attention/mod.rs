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
//! (matrixmultiply) for a prefill's blocks of positions, all query heads of a KV head in one
//! GEMM so that its keys and values are packed once. ~4 ms of a 49 ms step at 300 tokens. With
//! [`crate::set_threads`] above 1 the (KV head, query head) or (KV head, block) units run on the
//! matmuls' pool.
//!
//! [`fuse_cached_attention`] finds that subgraph after tract's rewrites and puts the op in its
//! place. The exporter's mask is causal (the query at position p sees keys 0..=p; see
//! `model/toolcall_model/onnx_export.py`), and the op applies that mask itself. Checked by
//! `engine/tests/model_parity.rs`: logits against the numpy reference, and against tract's own
//! cache and attention ops over a long prefill, a second turn and decode steps.

//!
//! Layout: this file is the op and its per-sequence state; `kernels.rs` the attention arithmetic
//! (position blocks, dot products, softmax); `rewrite.rs` the graph rewrite that puts the op in.

mod kernels;
pub(crate) use kernels::QUERY_BLOCK;
mod rewrite;

use rayon::prelude::*;
use tract_linalg::multithread::{Executor, current_tract_executor};
use tract_onnx::prelude::tract_ndarray::{ArrayView2, s};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_transformers::ops::dyn_kv_cache::DynKeyValueCacheState;

pub(crate) use kernels::dot;
use kernels::{DIRECT_MAX_POSITIONS, Shape};
pub use rewrite::fuse_cached_attention;

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
        let shape = Shape {
            group,
            seq,
            past: self.len,
            head_dim,
            scale: self.op.scale,
        };
        self.len += seq;
        let output = if seq <= DIRECT_MAX_POSITIONS {
            attend_heads_directly(&shape, queries, (&self.keys, &self.values))?
        } else {
            attend_by_blocks(&shape, queries, (&self.keys, &self.values))?
        };
        let output = Tensor::from_shape(&[kv_heads, group, seq, head_dim], &output)?;
        Ok(tvec!(output.into_tvalue()))
    }

    fn reset_lanes(&mut self, _lanes: &[LaneId]) -> TractResult<()> {
        bail!("CachedAttention is not lane-aware: the cache has no lane axis")
    }
}

/// Runs `work` on each item, on the matmuls' pool when [`crate::set_threads`] made one. Each
/// item's arithmetic is the same either way, so the output does not depend on the thread count.
fn on_the_pool<I: Send, T: Send>(
    items: Vec<I>,
    work: impl Fn(I) -> TractResult<T> + Sync + Send,
) -> TractResult<Vec<T>> {
    match current_tract_executor() {
        Executor::MultiThread(pool) => pool.install(|| items.into_par_iter().map(work).collect()),
        _ => items.into_iter().map(work).collect(),
    }
}

/// A decode step or a short pass: each (KV head, query head) by dot products, one work item
/// each, writing its own rows of the `[kv_heads, group, seq, head_dim]` output.
fn attend_heads_directly(
    shape: &Shape,
    queries: &[f32],
    (keys, values): (&[Vec<f32>], &[Vec<f32>]),
) -> TractResult<Vec<f32>> {
    let rows = shape.seq * shape.head_dim;
    let mut output = vec![0f32; queries.len()];
    let items: Vec<_> = output.chunks_mut(rows).zip(queries.chunks(rows)).enumerate().collect();
    let attend = |(unit, (out, query_rows)): (usize, (&mut [f32], &[f32]))| {
        let head = unit / shape.group;
        shape.attend_directly(0, query_rows, (&keys[head], &values[head]), out);
        Ok(())
    };
    on_the_pool(items, attend)?;
    Ok(output)
}

/// A prefill: each (KV head, block of positions) by two GEMMs for all the head's query heads
/// at once, a short last block directly ([`Shape::attend_block`]), one work item each; the blocks' rows are then put in
/// their places of the `[kv_heads, group, seq, head_dim]` output.
fn attend_by_blocks(
    shape: &Shape,
    queries: &[f32],
    (keys, values): (&[Vec<f32>], &[Vec<f32>]),
) -> TractResult<Vec<f32>> {
    let (seq, head_dim, cached) = (shape.seq, shape.head_dim, shape.past + shape.seq);
    let per_head = shape.group * seq * head_dim;
    let items: Vec<_> = (0..keys.len())
        .flat_map(|head| shape.blocks().map(move |block| (head, block)))
        .collect();
    let attend = |(head, (first, end)): (usize, (usize, usize))| {
        let visible = shape.visible(end - 1);
        let all_keys = ArrayView2::from_shape((cached, head_dim), &keys[head])?;
        let all_values = ArrayView2::from_shape((cached, head_dim), &values[head])?;
        shape.attend_block(
            &queries[head * per_head..(head + 1) * per_head],
            (first, end),
            all_keys.slice(s![..visible, ..]),
            all_values.slice(s![..visible, ..]),
        )
    };
    let blocks = on_the_pool(items.clone(), attend)?;
    let mut output = vec![0f32; queries.len()];
    for ((head, (first, end)), block) in items.into_iter().zip(blocks) {
        let block = block.as_slice().context("a block's output is contiguous")?;
        let member_rows = (end - first) * head_dim;
        for (member, rows) in block.chunks_exact(member_rows).enumerate() {
            let to = head * per_head + (member * seq + first) * head_dim;
            output[to..to + member_rows].copy_from_slice(rows);
        }
    }
    Ok(output)
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
