//! The arithmetic of [`super::Q4Gemv`]: one activation column times a 4-bit matrix in tract's
//! packed Q4_0 form, read in place.
//!
//! tract's packed form (`PackedBlockQuantFormat { Q4_0, r: 32, zip: 16 }`, `pq40_r32`): panels
//! of 32 rows, `18 * K` bytes each; a panel is `K / 32` block records of [`RECORD_BYTES`]: the
//! 32 rows' f16 scales (little-endian, row order), then 32 positions of 16 bytes, byte `j` of
//! position `p` holding row `j`'s code in its low nibble and row `j + 16`'s in its high nibble
//! (logical column `32 * block + p`). A weight is `(code - 8) * scale`. The layout is pinned by
//! a test against tract's own reader (`extract_at_mn_f32`), so a tract upgrade that changes it
//! fails here rather than answering wrong.
//!
//! Per row and block the kernel sums `(code - 8) * x` in float32 (the integer exact, each
//! product and sum one fused multiply-add) and adds that sum times the block's scale to the
//! row's: tract's 32x1 kernel multiplies every weight by its scale first, so this takes ~19
//! µops per 32 weights where that one takes ~30, and a step's 4-bit products become as fast as
//! memory brings the weights in. The rounding is float32's, as tract's, grouped differently:
//! `scale * Σ (code - 8) x` here, `Σ ((code - 8) scale) x` there.
//! (16-bit integer activations, tried first, were no faster, being bound by memory too, and moved
//! the default model's logits by 2.2e-3 against a prefill of the same tokens: over the 1e-3 that
//! `model_parity` allows.)
//!
//! The AVX2 kernel and the plain-Rust one (the tests' reference) compute the same float
//! operations in the same order: their results are equal bit for bit.

use tract_linalg::multithread::{Executor, current_threading_mac_threshold, current_tract_executor};

/// Values in one Q4_0 block.
pub(super) const BLOCK: usize = 32;
/// Rows in one of tract's packed panels.
pub(super) const PANEL_ROWS: usize = 32;
/// Bytes of the 32 f16 scales at the start of a block record.
const SCALES_BYTES: usize = 2 * PANEL_ROWS;
/// Bytes of one block record: the scales, then 32 positions of 16 bytes.
pub(super) const RECORD_BYTES: usize = SCALES_BYTES + BLOCK * PANEL_ROWS / 2;

/// Whether this CPU runs the AVX2 kernel (the op is only put in where it does).
pub(crate) fn supported() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
}

/// `y = W x` for the packed matrix `panels` (`y.len()` rows, `x.len()` columns, panels of
/// [`PANEL_ROWS`] rows after one another), on the matmuls' pool when [`crate::set_threads`] made
/// one and the product is as large as tract's own threshold for splitting one: whole panels per
/// thread, so the result does not depend on the thread count.
///
/// Panics if `x` is not whole blocks, `panels` is shorter than the rows need, or the CPU lacks
/// AVX2, FMA or F16C.
pub(super) fn gemv(panels: &[u8], x: &[f32], y: &mut [f32]) {
    assert!(supported(), "the 4-bit GEMV needs AVX2, FMA and F16C");
    assert!(x.len().is_multiple_of(BLOCK), "a column of whole blocks");
    let panel_bytes = x.len() / BLOCK * RECORD_BYTES;
    let panel_count = y.len().div_ceil(PANEL_ROWS);
    assert!(
        panels.len() >= panel_count * panel_bytes,
        "packed matrix shorter than its rows"
    );
    let run = |first_panel: usize, rows: &mut [f32]| {
        for (at, out) in rows.chunks_mut(PANEL_ROWS).enumerate() {
            let panel = &panels[(first_panel + at) * panel_bytes..][..panel_bytes];
            let mut sums = [0f32; PANEL_ROWS];
            // SAFETY: the CPU has the features (asserted above); the panel holds every block
            // record the activation has (sliced above).
            unsafe { panel_avx2(panel, x, &mut sums) };
            out.copy_from_slice(&sums[..out.len()]);
        }
    };
    match current_tract_executor() {
        Executor::MultiThread(pool)
            if pool.current_num_threads() > 1
                && panel_count > 1
                && y.len() * x.len() >= current_threading_mac_threshold() =>
        {
            let per_part = panel_count.div_ceil(pool.current_num_threads().min(panel_count));
            pool.in_place_scope(|scope| {
                let mut parts = y.chunks_mut(per_part * PANEL_ROWS).enumerate();
                let (_, own) = parts.next().expect("at least one panel");
                for (part, rows) in parts {
                    scope.spawn(move |_| run(part * per_part, rows));
                }
                run(0, own);
            });
        }
        _ => run(0, y),
    }
}

/// One panel's 32 rows times `x`, into `out` (a partial panel's extra rows are tract's padding).
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C. (A `panel` with fewer records than `x` has blocks gives
/// a wrong sum, not a read out of bounds: it is read in whole records; `gemv` slices it right.)
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn panel_avx2(panel: &[u8], x: &[f32], out: &mut [f32; PANEL_ROWS]) {
    use std::arch::x86_64::*;
    debug_assert!(panel.len() >= x.len() / BLOCK * RECORD_BYTES);
    let nibble = _mm256_set1_epi32(0x0F);
    let eight = _mm256_set1_epi32(8);
    // SAFETY (every load and store below): a record is RECORD_BYTES long (chunks_exact), its
    // scales take its first 64 bytes and its 32 positions 16 bytes each after them; a block of
    // `x` is 32 floats (chunks_exact); `out` holds 32 floats.
    unsafe {
        // Row sums, rows 0-7, 8-15, 16-23, 24-31.
        let mut sums = [_mm256_setzero_ps(); 4];
        for (record, x) in panel.chunks_exact(RECORD_BYTES).zip(x.chunks_exact(BLOCK)) {
            let record = record.as_ptr();
            // The record after next, into the cache while this one is summed: a step's weights
            // come from memory (3 alternated op_profile runs: 5.6-5.9 ms against 5.7-6.6 for the
            // gate and up products: a small gain, within the VM's drift). A prefetch past the
            // panel's end is harmless (it never faults).
            for line in 0..RECORD_BYTES / 64 {
                _mm_prefetch::<_MM_HINT_T0>(record.wrapping_add(2 * RECORD_BYTES + 64 * line) as *const i8);
            }
            let mut dots = [_mm256_setzero_ps(); 4];
            for (position, &value) in x.iter().enumerate() {
                let codes = record.add(SCALES_BYTES + 16 * position);
                // Bytes 0-7: rows 0-7 (low nibbles) and 16-23 (high); bytes 8-15: rows 8-15, 24-31.
                let first = _mm256_cvtepu8_epi32(_mm_loadl_epi64(codes as *const __m128i));
                let second = _mm256_cvtepu8_epi32(_mm_loadl_epi64(codes.add(8) as *const __m128i));
                let weights = [
                    _mm256_and_si256(first, nibble),
                    _mm256_and_si256(second, nibble),
                    _mm256_srli_epi32::<4>(first),
                    _mm256_srli_epi32::<4>(second),
                ];
                let value = _mm256_set1_ps(value);
                for (dot, weights) in dots.iter_mut().zip(weights) {
                    let weights = _mm256_cvtepi32_ps(_mm256_sub_epi32(weights, eight));
                    *dot = _mm256_fmadd_ps(weights, value, *dot);
                }
            }
            for (quarter, (sum, dot)) in sums.iter_mut().zip(dots).enumerate() {
                let scales = _mm256_cvtph_ps(_mm_loadu_si128(record.add(16 * quarter) as *const __m128i));
                *sum = _mm256_fmadd_ps(dot, scales, *sum);
            }
        }
        for (quarter, sum) in sums.into_iter().enumerate() {
            _mm256_storeu_ps(out.as_mut_ptr().add(8 * quarter), sum);
        }
    }
}

/// Row `row`'s code at column `column` of a panel (the layout in the module doc).
#[cfg(test)]
fn code(panel: &[u8], row: usize, column: usize) -> u8 {
    let byte = panel[column / BLOCK * RECORD_BYTES + SCALES_BYTES + column % BLOCK * 16 + row % 16];
    if row < 16 { byte & 0x0F } else { byte >> 4 }
}

/// Row `row`'s scale for block `block` of a panel.
#[cfg(test)]
fn scale(panel: &[u8], row: usize, block: usize) -> f32 {
    let at = block * RECORD_BYTES + 2 * row;
    half::f16::from_le_bytes([panel[at], panel[at + 1]]).to_f32()
}

/// [`panel_avx2`] in plain Rust, the same operations in the same order.
#[cfg(test)]
fn panel_portable(panel: &[u8], x: &[f32], out: &mut [f32; PANEL_ROWS]) {
    for (row, out) in out.iter_mut().enumerate() {
        let mut sum = 0f32;
        for (block, x) in x.chunks_exact(BLOCK).enumerate() {
            let mut dot = 0f32;
            for (p, &value) in x.iter().enumerate() {
                let weight = f32::from(code(panel, row, block * BLOCK + p)) - 8.0;
                dot = weight.mul_add(value, dot);
            }
            sum = dot.mul_add(scale(panel, row, block), sum);
        }
        *out = sum;
    }
}

#[cfg(test)]
#[path = "kernel_tests.rs"]
mod tests;
