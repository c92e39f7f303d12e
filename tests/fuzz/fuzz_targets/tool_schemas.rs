//! Fuzz target: the tool-schema compiler, as `RegisterToolset` and `Call` run it on a client's
//! tools JSON: validation against the supported JSON Schema subset and the limits, the
//! system-prompt rendering, the llguidance grammar for two answer shapes, and its first token
//! mask. Any input may be rejected with an error; none may panic, hang or abort.
//!
//! Input: the bytes of the tools argument. D-Bus only delivers valid UTF-8 strings (the bus and
//! zbus reject the rest, see tests/corpus), so other bytes are skipped here.
//! The tokenizer is the tiny bundle's (`TOOLCALL_FUZZ_BUNDLE`, default model/bundles/tiny):
//! the same vocabulary as the default model.

#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use toolcall_engine::grammar::{self, GrammarTokenizer};
use toolcall_engine::tools::{ToolLimits, parse_tools};
use toolcall_engine::{Bundle, prompt};

static TOKENIZER: LazyLock<GrammarTokenizer> = LazyLock::new(|| {
    let dir = std::env::var_os("TOOLCALL_FUZZ_BUNDLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../model/bundles/tiny")));
    let bundle = Bundle::open(&dir).unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh)", dir.display()));
    let manifest = &bundle.manifest;
    grammar::load_tokenizer(
        &bundle.tokenizer_path(),
        manifest.architecture.vocab_size,
        manifest.special_tokens.im_end,
    )
    .expect("tokenizer")
});

fuzz_target!(|data: &[u8]| {
    let Ok(tools_json) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(tools) = parse_tools(tools_json, &ToolLimits::default()) else {
        return;
    };
    let system = prompt::render_system(&tools);
    assert!(
        tools.iter().all(|t| system.contains(&t.name)),
        "a tool is missing from the prompt"
    );
    for (max_calls, allow_empty) in [(1, false), (3, true)] {
        if let Ok(mut matcher) = grammar::compile(&TOKENIZER.factory, &tools, max_calls, allow_empty, 64) {
            let mask = matcher.compute_mask();
            // The grammar always starts with `[`: some token must be allowed.
            assert!(
                mask.is_ok_and(|m| !m.is_zero()),
                "no first token allowed for {tools_json}"
            );
        }
    }
});
