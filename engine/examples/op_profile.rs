//! op_profile: where a decode step's time goes, per kind of op in tract's optimised plan.
//! Loads a bundle's `model.onnx` the way the engine does (tract-transformers rewrites, one
//! optimised plan), pre-fills `PROMPT` tokens, then times `STEPS` single-token steps node by
//! node and prints the ops that took longest (ms per step, how many nodes, the op's kernels).
//! The output projection is the engine's, outside the graph (embedding.rs): not timed here.
//!
//!     target/debug/examples/op_profile model/bundles/smollm2-135m-instruct [PROMPT] [STEPS] [tract] [--threads N]
//!
//! With `tract` as the fourth argument each layer keeps tract's own KV cache and attention ops
//! instead of the engine's `CachedAttention` (the comparison in docs/PERFORMANCE.md).
//! `--threads N` runs the plan as `toolcall_engine::set_threads(N)` sets it up (default 1).
//! A `q4` bundle's 4-bit matmuls show as `Q4Gemv` where the engine's decode kernel runs them
//! (engine/src/q4_gemv), as in the engine.
//!
//! This is how the per-step re-packing of the output projection was found (docs/PERFORMANCE.md).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::eval;
use tract_onnx::tract_core::transform::get_transform;

fn main() -> TractResult<()> {
    let mut args: Vec<String> = std::env::args().collect();
    let threads = match args.iter().position(|a| a == "--threads") {
        Some(at) => {
            let n = args.get(at + 1).expect("--threads N").parse()?;
            args.drain(at..at + 2);
            n
        }
        None => 1,
    };
    toolcall_engine::set_threads(threads);
    let bundle = args.get(1).expect("usage: op_profile BUNDLE_DIR [PROMPT] [STEPS]");
    let prompt_tokens: u32 = args.get(2).map_or(Ok(300), |n| n.parse())?;
    let steps: u32 = args.get(3).map_or(Ok(16), |n| n.parse())?;
    let tract_attention = args.get(4).is_some_and(|a| a == "tract");

    let bundle = toolcall_engine::Bundle::open(std::path::Path::new(bundle))?;
    let arch = &bundle.manifest.architecture;
    let embedding = toolcall_engine::embedding::Embedding::of_bundle(&bundle)?;
    let rows = |tokens: &[u32]| -> TractResult<Tensor> {
        let rows = embedding.lookup(tokens)?;
        Tensor::from_shape(&[1, tokens.len(), arch.d_model], &rows)
    };
    let mut model = toolcall_engine::model::onnx()
        .model_for_path(bundle.model_path())?
        .into_typed()?
        .into_decluttered()?;
    get_transform("transformers_detect_all")?
        .expect("tract-transformers is linked")
        .transform(&mut model)?;
    if !tract_attention {
        toolcall_engine::attention::fuse_cached_attention(&mut model)?;
    }
    let mut model = model.into_optimized()?;
    toolcall_engine::model::wrap_q4_matmuls(&mut model)?;
    let plan = model.into_runnable()?;
    let mut state = TypedSimpleState::new(&plan)?;
    let prompt: Vec<u32> = (0..prompt_tokens).map(|i| 100 + i).collect();
    let prefill_started = Instant::now();
    state.run(tvec![rows(&prompt)?.into()])?;
    println!(
        "prefill of {prompt_tokens} tokens on {threads} thread(s): {:.1} ms",
        prefill_started.elapsed().as_secs_f64() * 1000.0
    );

    let mut per_node: HashMap<usize, Duration> = HashMap::new();
    let started = Instant::now();
    for step in 0..steps {
        let token = rows(&[200 + step])?;
        state.run_plan_with_eval(tvec![token.into()], |context, op_state, node, inputs| {
            let t = Instant::now();
            let outputs = eval(context, op_state, node, inputs);
            *per_node.entry(node.id).or_default() += t.elapsed();
            outputs
        })?;
    }
    let per_step_ms = |d: Duration| d.as_secs_f64() * 1000.0 / steps as f64;
    println!(
        "{steps} decode steps after {prompt_tokens} tokens: {:.1} ms per step",
        per_step_ms(started.elapsed())
    );

    let mut per_kind: HashMap<String, (Duration, usize)> = HashMap::new();
    for (id, took) in per_node {
        let node = plan.model().node(id);
        let info: String = node.op().info()?.join(" | ").chars().take(400).collect();
        let entry = per_kind.entry(format!("{} {info}", node.op().name())).or_default();
        entry.0 += took;
        entry.1 += 1;
    }
    let mut ranked: Vec<_> = per_kind.into_iter().collect();
    ranked.sort_by_key(|(_, (took, _))| std::cmp::Reverse(*took));
    for (kind, (took, nodes)) in ranked.iter().take(15) {
        println!("{:7.2} ms  x{nodes:3}  {kind}", per_step_ms(*took));
    }
    Ok(())
}
