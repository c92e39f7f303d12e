//! The decoder under tract: loads the ONNX step graph once, applies tract-transformers'
//! rewrites (fused RoPE, norms, SiLU), puts the engine's [`CachedAttention`] in place of each
//! layer's KV cache and attention, and runs token ids -> embedding rows -> graph -> last hidden
//! state; the tied output projection ([`Embedding::logits`]) turns that into logits, for all
//! tokens or for those a mask allows. A `q4` bundle's `MatMulNBits` weights stay Q4_0 blocks in
//! tract's packed block-quant form (bundle.rs, `WeightForm`).
//!
//! A [`DecoderState`] owns one sequence's KV cache. Cloning it copies the cache (~14 MB for a
//! 300-token toolset prefix on the default model), which is how a toolset's pre-filled prompt
//! prefix is reused.
//!
//! [`CachedAttention`]: crate::attention::CachedAttention
//! [`Embedding::logits`]: crate::embedding::Embedding::logits

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::transform::get_transform;

use llguidance::toktrie::SimpleVob;

use crate::bundle::{Bundle, WeightForm};
use crate::embedding::Embedding;
use crate::error::{Error, Result};

/// Ops the optimised plan must contain, or the graph was not recognised by tract's LLM
/// rewrites (it would still run, only far slower).
const EXPECTED_OPS: &[&str] = &["CachedAttention", "ApplyRope", "RmsNorm"];
/// tract's own KV cache op: left in the plan, it means a layer's attention was not replaced by
/// the engine's (the graph is not in the exporter's form).
const UNFUSED_CACHE_OP: &str = "DynamicKeyValueCache";
/// The engine's op for a decode step's 4-bit matmuls (`q4_gemv`).
const Q4_GEMV_OP: &str = "Q4Gemv";

/// The smallest matmul (multiply-adds) split between threads: below every projection of the
/// default model's decode step (the K and V ones: 192 x 576 = 110,592), above the per-split cost.
/// Two threads on the 2-core VM, decode after 16 tokens: 18-22.5 tok/s against 14-17.5 on one
/// (docs/PERFORMANCE.md); with tract's own threshold, 2^21, no faster than one thread.
const PARALLEL_MATMUL_MIN_MACS: usize = 1 << 16;

/// How many threads one forward pass's matrix products may use, process-wide (tract's default
/// executor). 1, the default, runs them on the calling thread. With more, every request in the
/// process shares one pool of `threads` threads for its matmuls and the engine's attention op
/// (`attention.rs`); the rest of a step (norms, RoPE, residual adds) stays on the calling thread.
pub fn set_threads(threads: usize) {
    use tract_linalg::multithread::{Executor, set_default_executor, set_threading_mac_threshold};
    set_default_executor(if threads <= 1 {
        Executor::SingleThread
    } else {
        Executor::multithread_with_name(threads, "toolcall-mm")
    });
    // tract splits a matmul only from 2^21 multiply-adds (or 64 row panels) up; a decode step's
    // are all below (the largest, 1536 x 576, is 884,736), so without this a second thread
    // sped up prefill alone. From 2^16 every projection of a step is split.
    set_threading_mac_threshold(PARALLEL_MATMUL_MIN_MACS);
}

/// tract's ONNX reader with the engine's own ops, which a `q4` bundle's graph uses
/// (`Q4Correction`, engine/src/q4_correction/).
pub fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    crate::q4_correction::register(&mut onnx);
    onnx
}

/// Puts the engine's 4-bit matrix-vector op in place of tract's for every Q4_0 matmul of the
/// optimised `model` this CPU can run it on (x86_64 with AVX2, FMA and F16C: `q4_gemv`); returns
/// how many. Elsewhere, or for a float32 graph, 0: the plan stays tract's.
pub fn wrap_q4_matmuls(model: &mut TypedModel) -> TractResult<usize> {
    #[cfg(target_arch = "x86_64")]
    return crate::q4_gemv::wrap_q4_matmuls(model);
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = model;
        Ok(0)
    }
}

/// Whether [`wrap_q4_matmuls`] can wrap anything on this CPU.
fn q4_gemv_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    return crate::q4_gemv::supported();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

pub struct Decoder {
    plan: Arc<TypedRunnableModel>,
    embedding: Embedding,
    /// The most tokens one pass of the graph takes; longer inputs go in passes of that many, the
    /// rest in the last (`q4` bundles: [`crate::block_quant::prompt_pass_tokens`]; otherwise
    /// unbounded).
    pass_tokens: usize,
    /// Op name -> count in the optimised plan (for diagnostics and tests).
    pub op_histogram: BTreeMap<String, usize>,
}

#[derive(Clone)]
pub struct DecoderState {
    state: TypedSimpleState,
    /// Tokens in the KV cache.
    pub len: usize,
}

impl Decoder {
    /// Loads a bundle's step graph and embedding table.
    pub fn load(bundle: &Bundle) -> Result<Decoder> {
        let loaded = Self::load_graph(&bundle.model_path(), Embedding::of_bundle(bundle)?);
        // Loading freed the graph's float and unpacked constants once tract had packed them
        // (whether or not it then succeeded), in pieces under glibc's mmap threshold: pages the
        // heap would otherwise keep.
        crate::memory::return_free_heap();
        let mut decoder = loaded?;
        if bundle.manifest.quantization.form == WeightForm::Q4 {
            let arch = &bundle.manifest.architecture;
            decoder.pass_tokens = crate::block_quant::prompt_pass_tokens(arch.d_model.max(arch.d_ffn));
        }
        if bundle.manifest.quantization.form == WeightForm::Q4 && !crate::block_quant::prompt_extractor_in_place() {
            log::warn!(
                "{}: tract's dispatcher does not list the engine's 4-bit panel extractor \
                 (engine/src/block_quant.rs); prompts will prefill ~2.5x slower",
                bundle.dir.display()
            );
        }
        if bundle.manifest.quantization.form == WeightForm::Q4
            && q4_gemv_supported()
            && !decoder.op_histogram.contains_key(Q4_GEMV_OP)
        {
            log::warn!(
                "{}: no 4-bit matmul of the plan is in the form the engine's decode kernel runs \
                 (engine/src/q4_gemv); decode steps will run on tract's, ~1.2x slower",
                bundle.dir.display()
            );
        }
        Ok(decoder)
    }

    /// Loads the step graph at `path`, to run with `embedding`.
    pub fn load_graph(path: &Path, embedding: Embedding) -> Result<Decoder> {
        let bundle_err = |e: anyhow::Error| Error::Bundle {
            path: path.display().to_string(),
            message: format!("{e:#}"),
        };
        let mut model = onnx()
            .model_for_path(path)
            .and_then(|m| m.into_typed())
            .and_then(|m| m.into_decluttered())
            .map_err(bundle_err)?;
        let detect = get_transform("transformers_detect_all")
            .map_err(bundle_err)?
            .ok_or_else(|| Error::Internal("tract-transformers rewrites are not linked".into()))?;
        detect.transform(&mut model).map_err(bundle_err)?;
        crate::attention::fuse_cached_attention(&mut model).map_err(bundle_err)?;
        let plan = model
            .into_optimized()
            .and_then(|mut m| wrap_q4_matmuls(&mut m).map(|_| m))
            .and_then(|m| m.into_runnable())
            .map_err(bundle_err)?;
        let mut op_histogram = BTreeMap::new();
        for node in plan.model().nodes() {
            *op_histogram.entry(node.op().name().to_string()).or_insert(0usize) += 1;
        }
        for op in EXPECTED_OPS {
            if !op_histogram.contains_key(*op) {
                return Err(Error::Bundle {
                    path: path.display().to_string(),
                    message: format!("graph not in the expected form: no {op} after tract's rewrites"),
                });
            }
        }
        if op_histogram.contains_key(UNFUSED_CACHE_OP) {
            return Err(Error::Bundle {
                path: path.display().to_string(),
                message: "graph not in the expected form: a layer's attention was not fused".into(),
            });
        }
        if plan.model().inputs.len() != 1 {
            return Err(Error::Bundle {
                path: path.display().to_string(),
                message: "KV cache inputs were not turned into internal state".into(),
            });
        }
        Ok(Decoder {
            plan,
            embedding,
            pass_tokens: usize::MAX,
            op_histogram,
        })
    }

    /// A state with an empty KV cache.
    pub fn new_state(&self) -> Result<DecoderState> {
        Ok(DecoderState {
            state: TypedSimpleState::new(&self.plan).map_err(Error::model)?,
            len: 0,
        })
    }

    /// The most tokens one pass of the graph takes ([`Decoder::forward`] splits longer inputs).
    pub fn pass_tokens(&self) -> usize {
        self.pass_tokens
    }

    /// Feeds `tokens` to the model and returns the last position's hidden state (after the
    /// final norm), from which [`Decoder::logits`] gives the next token's logits. More than
    /// [`Decoder::pass_tokens`] go in passes of that many, the rest in the last.
    pub fn forward(&self, state: &mut DecoderState, tokens: &[u32]) -> Result<Vec<f32>> {
        if tokens.is_empty() {
            return Err(Error::Internal("forward with no tokens".into()));
        }
        let mut hidden = Vec::new();
        for pass in tokens.chunks(self.pass_tokens) {
            hidden = self.forward_pass(state, pass)?;
        }
        Ok(hidden)
    }

    /// One pass of the graph over `tokens`.
    fn forward_pass(&self, state: &mut DecoderState, tokens: &[u32]) -> Result<Vec<f32>> {
        let rows = self.embedding.lookup(tokens)?;
        let input = Tensor::from_shape(&[1, tokens.len(), self.embedding.dim()], &rows).map_err(Error::model)?;
        let outputs = state.state.run(tvec![input.into()]).map_err(Error::model)?;
        let hidden = outputs[0]
            .try_as_plain_ram()
            .and_then(|view| view.as_slice::<f32>().map(|s| s.to_vec()))
            .map_err(Error::model)?;
        if hidden.len() != self.embedding.dim() {
            return Err(Error::Model(format!(
                "hidden state of length {}, the model's width is {}",
                hidden.len(),
                self.embedding.dim()
            )));
        }
        state.len += tokens.len();
        Ok(hidden)
    }

    /// The next token's logits from `hidden`: those `allowed` holds (all when `None`), minus
    /// infinity for the rest.
    pub fn logits(&self, hidden: &[f32], allowed: Option<&SimpleVob>) -> Vec<f32> {
        self.embedding.logits(hidden, allowed)
    }

    /// [`Decoder::forward`], then every logit.
    pub fn forward_logits(&self, state: &mut DecoderState, tokens: &[u32]) -> Result<Vec<f32>> {
        let hidden = self.forward(state, tokens)?;
        Ok(self.logits(&hidden, None))
    }
}

impl DecoderState {
    /// Forgets every token after the first `len`: the state is as it was when it held `len`
    /// tokens (a session's answer rewritten after decoding, see `Engine::turn`).
    pub fn truncate(&mut self, len: usize) -> Result<()> {
        if len > self.len {
            return Err(Error::Internal(format!(
                "cannot truncate a state of {} tokens to {len}",
                self.len
            )));
        }
        for op_state in self.state.op_states.iter_mut().flatten() {
            crate::attention::truncate_cache(op_state.as_mut(), len).map_err(Error::model)?;
        }
        self.len = len;
        Ok(())
    }
}
