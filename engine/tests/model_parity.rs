//! The ONNX graph under tract computes what the numpy reference computes (logits written into
//! each bundle's selftest.json at build time, on the weights as the bundle stores them: float32,
//! or 4-bit blocks, a LoRA adapter beside them and a Q8_0 embedding), and the KV cache changes nothing. The engine's
//! attention op computes what tract's own cache and attention ops compute, on prompts long enough
//! for its blocked prefill path. Two threads (`set_threads`) give the same logits as one. Logits
//! computed for a mask's tokens only are the full computation's.

mod common;

use llguidance::toktrie::SimpleVob;
use toolcall_engine::embedding::Embedding;
use toolcall_engine::model::Decoder;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::transform::get_transform;

/// The last position's hidden state after each of `chunks`, from the same graph run the plain
/// tract way: tract-transformers' rewrites, tract's own KV cache and attention ops.
fn tract_attention_hidden(bundle: &toolcall_engine::Bundle, chunks: &[&[u32]]) -> Vec<Vec<f32>> {
    let embedding = embedding(bundle);
    let model_path = bundle.model_path();
    let mut model = toolcall_engine::model::onnx()
        .model_for_path(&model_path)
        .and_then(|m| m.into_typed())
        .and_then(|m| m.into_decluttered())
        .unwrap();
    get_transform("transformers_detect_all")
        .unwrap()
        .unwrap()
        .transform(&mut model)
        .unwrap();
    let plan = model.into_optimized().unwrap().into_runnable().unwrap();
    let mut state = TypedSimpleState::new(&plan).unwrap();
    chunks
        .iter()
        .map(|chunk| {
            let rows = embedding.lookup(chunk).unwrap();
            let input = Tensor::from_shape(&[1, chunk.len(), embedding.dim()], &rows).unwrap();
            let outputs = state.run(tvec![input.into()]).unwrap();
            outputs[0]
                .try_as_plain_ram()
                .unwrap()
                .as_slice::<f32>()
                .unwrap()
                .to_vec()
        })
        .collect()
}

fn embedding(bundle: &toolcall_engine::Bundle) -> Embedding {
    Embedding::of_bundle(bundle).unwrap()
}

fn check_attention_against_tract(name: &str, tolerance: f32) {
    let dir = common::bundle(name);
    let bundle = toolcall_engine::Bundle::open(&dir).expect("bundle opens");
    let vocab = bundle.manifest.architecture.vocab_size;
    let decoder = Decoder::load(&bundle).unwrap();
    // A 150-token prefill (past the 64-position blocks of the GEMM path), a 20-token turn,
    // single decode steps, and a 4-token step (a run of forced tokens: several positions on
    // the direct path): every path of the op, against tract's.
    let ids: Vec<u32> = (0..177u32).map(|i| (i * 7919 + 13) % vocab as u32).collect();
    let chunks: Vec<&[u32]> = vec![
        &ids[..150],
        &ids[150..170],
        &ids[170..171],
        &ids[171..172],
        &ids[172..176],
        &ids[176..],
    ];
    let expected = tract_attention_hidden(&bundle, &chunks);
    let mut state = decoder.new_state().unwrap();
    for (step, (chunk, expected)) in chunks.iter().zip(&expected).enumerate() {
        let hidden = decoder.forward(&mut state, chunk).unwrap();
        let logits = decoder.logits(&hidden, None);
        let expected = decoder.logits(expected, None);
        assert_eq!(logits.len(), vocab);
        let diff = max_abs_diff(&logits, &expected);
        assert!(
            diff < tolerance,
            "{name}, chunk {step}: logits differ from tract's attention by {diff}"
        );
        assert_eq!(argmax(&logits), argmax(&expected), "{name}, chunk {step}");
    }
}

#[test]
fn tiny_bundle_attention_matches_tract() {
    check_attention_against_tract(common::TINY, 1e-4);
}

#[test]
fn default_f32_bundle_attention_matches_tract() {
    check_attention_against_tract(common::DEFAULT_F32, 1e-3);
}

fn selftest(bundle: &std::path::Path) -> (Vec<u32>, Vec<f32>) {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("selftest.json")).unwrap()).unwrap();
    let ids = v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    let logits = v["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    (ids, logits)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The `n` highest-scoring tokens.
fn v_top(v: &[f32], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
    order.truncate(n);
    order
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0
}

fn check_bundle(name: &str, tolerance: f32) {
    let dir = common::bundle(name);
    let manifest = toolcall_engine::Bundle::open(&dir).expect("bundle opens");
    let decoder = Decoder::load(&manifest).unwrap();
    for op in ["CachedAttention", "ApplyRope", "RmsNorm"] {
        assert!(
            decoder.op_histogram.contains_key(op),
            "{op} missing from the plan: {:?}",
            decoder.op_histogram
        );
    }
    assert_eq!(
        decoder.op_histogram.get("CachedAttention"),
        Some(&manifest.manifest.architecture.n_layers),
        "one CachedAttention per layer: {:?}",
        decoder.op_histogram
    );
    assert!(!decoder.op_histogram.contains_key("DynamicKeyValueCache"));
    // A decode step's 4-bit products run on the engine's kernel (engine/src/q4_gemv) where the
    // CPU has AVX2, FMA and F16C: every matrix of every layer (q, k, v, o, gate, up, down; each
    // product feeds the engine's Q4Correction, so tract fuses nothing into it).
    let q4 = manifest.manifest.quantization.form == toolcall_engine::bundle::WeightForm::Q4;
    #[cfg(target_arch = "x86_64")]
    let kernel_runs = std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("f16c");
    #[cfg(not(target_arch = "x86_64"))]
    let kernel_runs = false;
    assert_eq!(
        decoder.op_histogram.get("Q4Gemv").copied(),
        (q4 && kernel_runs).then_some(7 * manifest.manifest.architecture.n_layers),
        "{name}: {:?}",
        decoder.op_histogram
    );
    let (ids, reference) = selftest(&dir);

    let mut state = decoder.new_state().unwrap();
    let hidden = decoder.forward(&mut state, &ids).unwrap();
    let logits = decoder.logits(&hidden, None);
    let diff = max_abs_diff(&logits, &reference);
    assert!(
        diff < tolerance,
        "{name}: logits differ from the numpy reference by {diff}"
    );
    assert_eq!(argmax(&logits), argmax(&reference));

    // Logits for a mask's tokens only: the same values, minus infinity elsewhere. A narrow mask
    // (the reference's ten best and a few others) and a wide one (every third token).
    for mask_tokens in [
        v_top(&reference, 10)
            .into_iter()
            .chain([0, 7, logits.len() - 1])
            .collect::<Vec<_>>(),
        (0..logits.len()).step_by(3).collect(),
    ] {
        let mut mask = SimpleVob::alloc(logits.len());
        mask_tokens.iter().for_each(|&t| mask.allow_token(t as u32));
        let masked = decoder.logits(&hidden, Some(&mask));
        for (token, (&full, &only)) in logits.iter().zip(&masked).enumerate() {
            let expected = if mask.is_allowed(token as u32) {
                full
            } else {
                f32::NEG_INFINITY
            };
            assert!(
                only == expected,
                "{name}: token {token}: masked logit {only}, full {full}"
            );
        }
    }

    // Prefill N-1 then decode 1 == prefill N.
    let mut split = decoder.new_state().unwrap();
    decoder.forward(&mut split, &ids[..ids.len() - 1]).unwrap();
    let stepped = decoder.forward_logits(&mut split, &ids[ids.len() - 1..]).unwrap();
    let kv_diff = max_abs_diff(&stepped, &logits);
    assert!(kv_diff < 1e-3, "{name}: KV-cache path differs by {kv_diff}");

    // A cloned state is independent of its origin.
    let mut prefix = decoder.new_state().unwrap();
    decoder.forward(&mut prefix, &ids[..4]).unwrap();
    let mut a = prefix.clone();
    let mut b = prefix.clone();
    decoder.forward(&mut a, &[42]).unwrap();
    let from_b = decoder.forward_logits(&mut b, &ids[4..]).unwrap();
    assert!(
        max_abs_diff(&from_b, &logits) < 1e-3,
        "{name}: a cloned state was disturbed by its sibling"
    );

    // A state truncated back to its first tokens continues as if the rest had never been fed.
    decoder.forward(&mut a, &[7, 99]).unwrap();
    a.truncate(4).unwrap();
    assert_eq!(a.len, 4);
    let rewound = decoder.forward_logits(&mut a, &ids[4..]).unwrap();
    let rewind_diff = max_abs_diff(&rewound, &logits);
    assert!(rewind_diff < 1e-3, "{name}: a truncated state differs by {rewind_diff}");
    assert!(
        a.truncate(ids.len() + 1).is_err(),
        "{name}: truncated beyond its length"
    );
}

/// tract splits a matmul between threads by output rows, and the attention op's units are the
/// same on any thread count, so each logit sums in the same order: the default model's logits on
/// two threads equal one thread's bit for bit, prefill and decode.
#[test]
fn two_threads_give_the_same_logits() {
    let dir = common::bundle(common::DEFAULT);
    let manifest = toolcall_engine::Bundle::open(&dir).expect("bundle opens");
    let decoder = Decoder::load(&manifest).unwrap();
    let (ids, _) = selftest(&dir);
    let run = |threads: usize| {
        // Process-wide: tests running beside this one may run on two threads meanwhile, which
        // (as this test shows) changes none of their numbers.
        toolcall_engine::set_threads(threads);
        let mut state = decoder.new_state().unwrap();
        let prefill = decoder.forward_logits(&mut state, &ids).unwrap();
        let step = decoder.forward_logits(&mut state, &[42]).unwrap();
        (prefill, step)
    };
    let one = run(1);
    let two = run(2);
    let pool_threads = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("toolcall-mm"))
        .count();
    toolcall_engine::set_threads(1);
    assert_eq!(pool_threads, 2, "the two-thread run had no pool of two threads");
    assert!(
        one.0 == two.0,
        "prefill logits differ: {}",
        max_abs_diff(&one.0, &two.0)
    );
    assert!(one.1 == two.1, "decode logits differ: {}", max_abs_diff(&one.1, &two.1));
}

#[test]
fn tiny_bundle_matches_numpy_reference() {
    check_bundle(common::TINY, 1e-3);
}

/// The Q4_0 path: tract's block-quant kernels on the weights the numpy reference dequantises.
#[test]
fn tiny_q4_bundle_matches_numpy_reference() {
    check_bundle(common::TINY_Q4, 1e-3);
}

#[test]
fn tiny_q4_bundle_attention_matches_tract() {
    check_attention_against_tract(common::TINY_Q4, 1e-4);
}

#[test]
fn default_f32_bundle_matches_numpy_reference() {
    check_bundle(common::DEFAULT_F32, 1e-2);
}

/// The full-size model on tract's Q4_0 kernels and the blocks' offsets on the engine's
/// Q4Correction, against numpy on the same dequantised weights.
#[test]
fn base_q4_bundle_matches_numpy_reference() {
    check_bundle(common::BASE_Q4, 1e-2);
}

/// The default model as served: the same with the LoRA adapter kept apart, so Q4Correction
/// carries the adapter too.
#[test]
fn default_bundle_matches_numpy_reference() {
    check_bundle(common::DEFAULT, 1e-2);
}

/// A valid ONNX graph that is not the exporter's decoder (input_ids -> Identity -> logits) fails
/// to load with a bundle error that says so, instead of running slowly or wrongly. Fixture made
/// with onnx.helper: one Identity node, int64 [1, "S"] in and out, opset 17, ir_version 8.
#[test]
fn a_graph_not_in_the_decoder_form_is_refused() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/not_a_decoder.onnx");
    let tiny = toolcall_engine::Bundle::open(&common::bundle(common::TINY)).expect("bundle opens");
    match Decoder::load_graph(&fixture, embedding(&tiny)) {
        Err(toolcall_engine::Error::Bundle { message, .. }) => {
            assert!(message.contains("not in the expected form"), "{message}")
        }
        Err(other) => panic!("expected a bundle error, got {other}"),
        Ok(_) => panic!("a graph with no decoder loaded"),
    }
}

/// A long prefill is fed in chunks (`Engine`'s deadline checks between them): the hidden state
/// after the chunks is the one a single pass gives, bit for bit, so chunking changes no answer.
#[test]
fn a_prefill_in_chunks_gives_the_hidden_state_of_one_pass() {
    check_chunks_against_one_pass(common::DEFAULT, 700, &[toolcall_engine::engine::PREFILL_CHUNK, 100]);
    // Chunks of 256 end in a 10-token chunk, which the attention op attends directly; in one pass
    // (float32: no passes of its own) the same 10 positions are its last, short block. (Chunks
    // that cut a block elsewhere can leave a short block in one split and not the other, and
    // the two paths round differently: the engine chunks in whole blocks.)
    check_chunks_against_one_pass(common::DEFAULT_F32, 522, &[toolcall_engine::engine::PREFILL_CHUNK]);
}

fn check_chunks_against_one_pass(name: &str, prompt_tokens: u32, chunks: &[usize]) {
    let dir = common::bundle(name);
    let bundle = toolcall_engine::Bundle::open(&dir).expect("bundle opens");
    let decoder = Decoder::load(&bundle).unwrap();
    let tokens: Vec<u32> = (0..prompt_tokens).map(|i| (i * 7919) % 49152).collect();
    let mut whole = decoder.new_state().unwrap();
    let one_pass = decoder.forward(&mut whole, &tokens).unwrap();
    for &chunk in chunks {
        let mut state = decoder.new_state().unwrap();
        let mut hidden = Vec::new();
        for piece in tokens.chunks(chunk) {
            hidden = decoder.forward(&mut state, piece).unwrap();
        }
        assert!(
            hidden == one_pass,
            "{name}, chunks of {chunk}: hidden states differ by {}",
            max_abs_diff(&hidden, &one_pass)
        );
        let next = (
            decoder.forward(&mut state, &[42]).unwrap(),
            decoder.forward(&mut whole.clone(), &[42]).unwrap(),
        );
        assert!(
            next.0 == next.1,
            "{name}, chunks of {chunk}: the next step differs by {}",
            max_abs_diff(&next.0, &next.1)
        );
    }
}

/// A q4 bundle's prompt goes through the graph in passes short enough that tract widens each
/// 4-bit weight panel once per pass (`block_quant::prompt_pass_tokens`); the hidden state after
/// them, and the next step, are what one pass over the whole prompt gives, bit for bit.
#[test]
fn q4_prompts_in_passes_give_the_hidden_state_of_one_pass() {
    let dir = common::bundle(common::DEFAULT);
    let bundle = toolcall_engine::Bundle::open(&dir).expect("bundle opens");
    let in_passes = Decoder::load(&bundle).unwrap();
    let one_pass = Decoder::load_graph(&bundle.model_path(), embedding(&bundle)).unwrap();
    let tokens: Vec<u32> = (0..300u32).map(|i| (i * 7919) % 49152).collect();
    assert!(
        in_passes.pass_tokens() < tokens.len(),
        "a q4 bundle takes {} tokens a pass",
        in_passes.pass_tokens()
    );
    assert_eq!(one_pass.pass_tokens(), usize::MAX);
    let (mut split, mut whole) = (in_passes.new_state().unwrap(), one_pass.new_state().unwrap());
    let hidden = (
        in_passes.forward(&mut split, &tokens).unwrap(),
        one_pass.forward(&mut whole, &tokens).unwrap(),
    );
    assert_eq!(split.len, tokens.len());
    assert!(
        hidden.0 == hidden.1,
        "hidden states differ by {}",
        max_abs_diff(&hidden.0, &hidden.1)
    );
    let next = (
        in_passes.forward(&mut split, &[42]).unwrap(),
        one_pass.forward(&mut whole, &[42]).unwrap(),
    );
    assert!(
        next.0 == next.1,
        "the next step differs by {}",
        max_abs_diff(&next.0, &next.1)
    );
}
