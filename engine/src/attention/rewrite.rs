//! The graph rewrite that puts a [`CachedAttention`] op in place of each layer's KV cache ops,
//! scores, masked softmax and context matmul, as tract-transformers left them.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::array::Slice;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_transformers::ops::dyn_kv_cache::DynKeyValueCache;
use tract_transformers::ops::scaled_masked_softmax::ScaledMaskedSoftmax;

use super::CachedAttention;

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
    // where what follows needs it (seen in a format 2 q4 graph, whose projections added a side
    // matmul beside the 4-bit one).
    let (drop_position, probabilities) = match last_position {
        Some(_) => (einsum_is(context, "bcmk,abkn->bcn"), OutletId::new(successor.id, 0)),
        None => (false, OutletId::new(softmax_id, 0)),
    };
    // The context may also keep the values' batch axis (of length 1), where what follows keeps
    // it (seen in a q4 graph since its projections end in the engine's Q4Correction op).
    let keep_batch = einsum_is(context, "bcmk,abkn->abcmn");
    let context_matches = einsum_is(context, "bcmk,abkn->bcmn") || drop_position || keep_batch;
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
    if keep_batch {
        attended = patch.wire_node(format!("{name}.batch"), AxisOp::Add(0), &attended)?;
    }
    if patch.outlet_fact(attended[0])?.shape != model.outlet_fact(context.id.into())?.shape {
        return Ok(None);
    }
    patch.shunt_outside(model, context.id.into(), attended[0])?;
    Ok(Some(patch))
}
