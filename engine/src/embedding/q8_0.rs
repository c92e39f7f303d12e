//! One row of a Q8_0 table times a float32 vector, read once: each block of 32 codes is
//! converted and multiplied in registers, its sum scaled by the block's scale. Widening the row
//! into float32 scratch first and taking a dot product of that (as before) wrote and read every
//! value a second time; over the 49152-row output projection that was a quarter of a decode step
//! (docs/PERFORMANCE.md).
//!
//! Each row's result depends on that row and the vector alone, summed in a fixed order (eight
//! lanes per block, blocks in order, lanes in order at the end), so a logit is the same whichever
//! other rows a step asks for. On x86_64 with AVX2 and FMA the lanes are one register; elsewhere
//! the same loop in plain Rust, which the compiler vectorises (NEON on arm64). The AVX2 path
//! fuses its multiply-adds and the plain one rounds each product, so the two differ in the last
//! bits (as tract's own kernels differ between architectures); one process uses one of them.

/// Values per Q8_0 block, each block with one scale.
pub(super) const BLOCK: usize = 32;
const LANES: usize = 8;

/// A row's dot product: `codes` (a whole number of blocks), their `scales` (one a block) and
/// `vector` (as long as `codes`).
pub(super) type RowDot = fn(codes: &[i8], scales: &[f32], vector: &[f32]) -> f32;

/// The fastest [`RowDot`] this processor runs.
pub(super) fn row_dot() -> RowDot {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        return |codes, scales, vector| {
            check_lengths(codes, scales, vector);
            // SAFETY: the processor has AVX2 and FMA (checked above); lengths checked.
            unsafe { row_dot_avx2(codes, scales, vector) }
        };
    }
    row_dot_portable
}

fn check_lengths(codes: &[i8], scales: &[f32], vector: &[f32]) {
    assert!(
        codes.len() == vector.len() && codes.len().is_multiple_of(BLOCK) && codes.len() / BLOCK == scales.len(),
        "a Q8_0 row of {} codes and {} scales against a vector of {}",
        codes.len(),
        scales.len(),
        vector.len()
    );
}

fn row_dot_portable(codes: &[i8], scales: &[f32], vector: &[f32]) -> f32 {
    check_lengths(codes, scales, vector);
    let mut total = [0f32; LANES];
    for ((block, values), &scale) in codes.chunks_exact(BLOCK).zip(vector.chunks_exact(BLOCK)).zip(scales) {
        let mut sum = [0f32; LANES];
        for (codes, values) in block.chunks_exact(LANES).zip(values.chunks_exact(LANES)) {
            for lane in 0..LANES {
                sum[lane] += codes[lane] as f32 * values[lane];
            }
        }
        for lane in 0..LANES {
            total[lane] += sum[lane] * scale;
        }
    }
    total.iter().sum()
}

/// [`row_dot_portable`] in AVX2 registers, with fused multiply-adds.
///
/// # Safety
/// The processor must have AVX2 and FMA, and the lengths must be as [`check_lengths`] wants.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_dot_avx2(codes: &[i8], scales: &[f32], vector: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    // SAFETY (every load below): block `b` of `scales.len()` reads codes and vector values
    // b * 32 .. b * 32 + 32 (four loads of 8), within both slices by the caller's lengths.
    unsafe {
        let (mut codes, mut values) = (codes.as_ptr(), vector.as_ptr());
        let mut total = _mm256_setzero_ps();
        for &scale in scales {
            let mut sum = _mm256_mul_ps(widen_avx2(codes), _mm256_loadu_ps(values));
            for offset in [8, 16, 24] {
                sum = _mm256_fmadd_ps(widen_avx2(codes.add(offset)), _mm256_loadu_ps(values.add(offset)), sum);
            }
            total = _mm256_fmadd_ps(sum, _mm256_set1_ps(scale), total);
            codes = codes.add(BLOCK);
            values = values.add(BLOCK);
        }
        let mut lanes = [0f32; LANES];
        _mm256_storeu_ps(lanes.as_mut_ptr(), total);
        lanes.iter().sum()
    }
}

/// Eight codes at `codes` as eight floats (inlined into [`row_dot_avx2`], whose features it
/// needs).
///
/// # Safety
/// The processor must have AVX2; `codes` must point at 8 readable bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn widen_avx2(codes: *const i8) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    // SAFETY: 8 readable bytes at `codes` (the caller's promise).
    unsafe { _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(codes.cast()))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table row of `blocks` blocks and a vector, from a fixed-seed generator.
    fn row(blocks: usize, seed: u64) -> (Vec<i8>, Vec<f32>, Vec<f32>) {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        let codes = (0..blocks * BLOCK).map(|_| next() as u8 as i8).collect();
        let scales = (0..blocks).map(|_| (next() % 1000) as f32 * 1e-5).collect();
        let vector = (0..blocks * BLOCK)
            .map(|_| (next() % 2001) as f32 / 1000.0 - 1.0)
            .collect();
        (codes, scales, vector)
    }

    /// The row widened to float32 and multiplied in float64: what the kernels approximate.
    fn exact(codes: &[i8], scales: &[f32], vector: &[f32]) -> f64 {
        codes
            .iter()
            .zip(vector)
            .enumerate()
            .map(|(i, (&code, &value))| (code as f32 * scales[i / BLOCK]) as f64 * value as f64)
            .sum()
    }

    /// Both kernels give the widened row's dot product to float32 rounding, on rows of the
    /// model's width (576 values) and of one block.
    #[test]
    fn kernels_give_the_widened_rows_dot_product() {
        for (blocks, seed) in [(18, 1), (18, 2), (1, 3), (18, 4)] {
            let (codes, scales, vector) = row(blocks, seed);
            let want = exact(&codes, &scales, &vector);
            let magnitude: f64 = codes
                .iter()
                .zip(&vector)
                .enumerate()
                .map(|(i, (&c, &v))| (c as f64 * scales[i / BLOCK] as f64 * v as f64).abs())
                .sum();
            for (name, kernel) in [("portable", row_dot_portable as RowDot), ("chosen", row_dot())] {
                let got = kernel(&codes, &scales, &vector) as f64;
                assert!(
                    (got - want).abs() <= 1e-5 * magnitude,
                    "{name} kernel, {blocks} blocks: {got} against {want}"
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "Q8_0 row")]
    fn a_vector_of_another_length_is_refused() {
        let (codes, scales, vector) = row(2, 5);
        row_dot()(&codes, &scales, &vector[..BLOCK]);
    }
}
