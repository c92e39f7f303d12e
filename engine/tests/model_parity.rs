//! The ONNX graph under tract computes what the numpy reference computes (logits written into
//! each bundle's selftest.json at build time), and the KV cache changes nothing.

mod common;

use toolcall_engine::model::Decoder;

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

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0
}

fn check_bundle(name: &str, tolerance: f32) {
    let dir = common::bundle(name);
    let manifest = toolcall_engine::Bundle::open(&dir).expect("bundle opens");
    let decoder = Decoder::load(&dir.join("model.onnx"), manifest.manifest.architecture.vocab_size).unwrap();
    for op in ["DynamicKeyValueCache", "ApplyRope", "RmsNorm", "ScaledMaskedSoftmax"] {
        assert!(
            decoder.op_histogram.contains_key(op),
            "{op} missing from the plan: {:?}",
            decoder.op_histogram
        );
    }
    let (ids, reference) = selftest(&dir);

    let mut state = decoder.new_state().unwrap();
    let logits = decoder.forward(&mut state, &ids).unwrap();
    let diff = max_abs_diff(&logits, &reference);
    assert!(
        diff < tolerance,
        "{name}: logits differ from the numpy reference by {diff}"
    );
    assert_eq!(argmax(&logits), argmax(&reference));

    // Prefill N-1 then decode 1 == prefill N.
    let mut split = decoder.new_state().unwrap();
    decoder.forward(&mut split, &ids[..ids.len() - 1]).unwrap();
    let stepped = decoder.forward(&mut split, &ids[ids.len() - 1..]).unwrap();
    let kv_diff = max_abs_diff(&stepped, &logits);
    assert!(kv_diff < 1e-3, "{name}: KV-cache path differs by {kv_diff}");

    // A cloned state is independent of its origin.
    let mut prefix = decoder.new_state().unwrap();
    decoder.forward(&mut prefix, &ids[..4]).unwrap();
    let mut a = prefix.clone();
    let mut b = prefix.clone();
    decoder.forward(&mut a, &[42]).unwrap();
    let from_b = decoder.forward(&mut b, &ids[4..]).unwrap();
    assert!(
        max_abs_diff(&from_b, &logits) < 1e-3,
        "{name}: a cloned state was disturbed by its sibling"
    );
}

#[test]
fn tiny_bundle_matches_numpy_reference() {
    check_bundle(common::TINY, 1e-3);
}

#[test]
fn default_bundle_matches_numpy_reference() {
    check_bundle(common::DEFAULT, 1e-2);
}
