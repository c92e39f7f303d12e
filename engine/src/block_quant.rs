//! Prompts through tract's 4-bit weights at matrix speed: one more panel extractor for
//! tract-linalg's registry (x86_64), and the length of the graph passes a `q4` prompt is fed in
//! ([`prompt_pass_tokens`], every architecture).
//!
//! A `q4` bundle's layer matrices are Q4_0 constants for tract's block-quant kernels. On x86_64
//! only the 32x1 matrix-vector kernel takes Q4_0 weights as they are; a matrix kernel (32x3)
//! needs them widened to float32 panels by a panel extractor, and tract-linalg 0.23.9's
//! `packed_32_q40_to_f32` writes panels aligned to 32 bytes where the FMA kernels pack theirs to
//! 256, so the dispatcher (which pairs an extractor with a kernel only on equal formats) never
//! chose it: every prompt column ran on the matrix-vector kernel. The same extractor, declared
//! with the kernels' alignment (its code needs only 32), lets tract's plan keep both: the 32x1
//! kernel for a decode step, the 32x3 one for a prompt, widening each weight panel as it goes
//! (docs/PERFORMANCE.md). tract-linalg collects extractors with `inventory`; loading a `q4`
//! bundle calls [`prompt_extractor_in_place`], which keeps this file, registration included, in
//! the binary and checks that tract's dispatcher sees the extractor. (arm64's own Q4_0 extractor
//! already matches its kernels: nothing is added there.)

use crate::attention::QUERY_BLOCK;

/// Our extractor's name in tract-linalg's registry.
const EXTRACTOR_NAME: &str = "packed_32_q40_to_f32_a256";
/// tract-linalg's own Q4_0 extractor (x86_64 with AVX2 and F16C), the one ours re-declares.
const TRACT_EXTRACTOR_NAME: &str = "packed_32_q40_to_f32";

/// False on x86_64 when tract has its Q4_0 extractor (it needs AVX2 and F16C) and ours is not
/// beside it: a `q4` bundle's prompts would then run column by column on the matrix-vector
/// kernel (answers the same, prefill ~2.5x slower).
pub fn prompt_extractor_in_place() -> bool {
    let dispatch = tract_linalg::MmmDispatch::native();
    let has = |name: &str| dispatch.panel_extractors().iter().any(|e| e.name == name);
    !cfg!(target_arch = "x86_64") || !has(TRACT_EXTRACTOR_NAME) || has(EXTRACTOR_NAME)
}

/// The most prompt tokens one forward pass of a `q4` bundle should take, for matrices of at
/// most `widest_input` inputs. A matrix kernel widens a 4-bit weight panel into scratch, which
/// holds one panel: tract-linalg walks the prompt's columns in blocks, and once a matmul's
/// activations (`columns x input x 4` bytes) spill the L2 cache it re-widens each panel for every
/// block instead of once per pass (prefill at ~0.6x f32's rate at 256 tokens; at 64, f32's rate:
/// docs/PERFORMANCE.md). So a q4 prompt goes in passes whose activations fit L2, in whole
/// blocks of the attention op's queries (at least one, even where one block's activations spill
/// a small L2): the passes then cut the prompt where one pass's attention blocks end anyway, and
/// give its hidden state bit for bit (a last pass of one token excepted: it takes the decode
/// kernel).
pub fn prompt_pass_tokens(widest_input: usize) -> usize {
    let cache = tract_linalg::cache::cache_info();
    let l2 = cache.l2_or_default() / cache.l2_sharers_or_one();
    let columns = l2 / (4 * widest_input.max(1));
    (columns / QUERY_BLOCK * QUERY_BLOCK).max(QUERY_BLOCK)
}

#[cfg(target_arch = "x86_64")]
fn q40_to_f32_aligned_for_fma() -> tract_linalg::mmm::PanelExtractor {
    let mut extractor = tract_linalg::x86_64::panel_extract::packed_32_q40_to_f32.clone();
    extractor.name = EXTRACTOR_NAME.to_string();
    extractor.to = extractor.to.align(256);
    extractor
}

#[cfg(target_arch = "x86_64")]
inventory::submit! {
    tract_linalg::mmm_routines::MmmExtractor {
        target: tract_linalg::isa::Arch::X86_64,
        make: q40_to_f32_aligned_for_fma,
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    /// Wherever tract's own Q4_0 extractor runs, this one is in the dispatcher's list, in the
    /// packing the FMA matrix kernels take (the q4 parity tests then run prompts through it).
    #[test]
    fn the_extractor_is_registered_where_tract_has_its_own() {
        let dispatch = tract_linalg::MmmDispatch::native();
        let names: Vec<&str> = dispatch.panel_extractors().iter().map(|e| e.name.as_str()).collect();
        assert!(
            super::prompt_extractor_in_place(),
            "not registered; extractors: {names:?}"
        );
        if names.contains(&super::TRACT_EXTRACTOR_NAME) {
            let ours = dispatch
                .panel_extractors()
                .iter()
                .find(|e| e.name == super::EXTRACTOR_NAME)
                .unwrap();
            assert_eq!(ours.to.alignment(), 256);
        }
    }
}
