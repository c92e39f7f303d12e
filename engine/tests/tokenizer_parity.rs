//! The bundle's tokenizer.json gives the same ids as llama.cpp's tokenizer of the source GGUF
//! (golden fixtures made by model/scripts/make_tokenizer_fixtures.py).

mod common;

#[test]
fn tokenizer_matches_llama_cpp_on_golden_strings() {
    let fixtures: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/tokenizer_parity.json")).expect("fixture JSON");
    let cases = fixtures["cases"].as_array().expect("cases");
    assert!(cases.len() >= 300, "expected a few hundred golden strings");
    let tokenizer = tokenizers::Tokenizer::from_file(common::bundle(common::DEFAULT).join("tokenizer.json"))
        .expect("tokenizer loads");
    let mut mismatches = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let ids = tokenizer.encode(text, false).unwrap().get_ids().to_vec();
        if ids != expected {
            mismatches.push(format!("{text:?}: ours {ids:?}, llama.cpp {expected:?}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} differ:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}
