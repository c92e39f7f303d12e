#![allow(dead_code)] // each test binary uses part of it
//! Shared test helpers: where the bundles built by `scripts/setup.sh` live.

use std::path::PathBuf;

/// `$TOOLCALLD_BUNDLES` or `<workspace>/model/bundles`.
pub fn bundles_dir() -> PathBuf {
    std::env::var_os("TOOLCALLD_BUNDLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../model/bundles"))
}

/// A bundle directory; panics with the fix if set-up has not built it.
pub fn bundle(name: &str) -> PathBuf {
    let dir = bundles_dir().join(name);
    assert!(
        dir.join("bundle.json").exists(),
        "bundle {} is missing: run scripts/setup.sh (it builds model/bundles/)",
        dir.display()
    );
    dir
}

pub const TINY: &str = "tiny";
/// The tiny model with 4-bit layer matrices and a Q8_0 embedding (`--quant q4`).
pub const TINY_Q4: &str = "tiny-q4";
/// The base model in its own Q4_1 blocks (the benchmarks' q4 form).
pub const BASE_Q4: &str = "smollm2-135m-instruct-q4";
/// The default serving bundle (base model + tool-calling LoRA) as served: the base's own Q4_1
/// blocks with the LoRA adapter kept apart (`--quant q4`).
pub const DEFAULT: &str = "smollm2-135m-toolcall-q4";
/// The same model with every matrix float32 (the adapter merged in).
pub const DEFAULT_F32: &str = "smollm2-135m-toolcall";
