//! The float16 matrix-vector products of a decode step's [`super::Q4Correction`]: `A x` (a
//! dot product per row of A) and `side^T v` (each row of `side` scaled and added to the
//! output), widened as they are read. On x86_64 with AVX2, FMA and F16C they run on intrinsics
//! (8 values widened by one instruction, fused multiply-adds); elsewhere on plain Rust whose
//! float16 widening ([`widen`]) is integer and float operations the compiler vectorises (NEON on
//! arm64, whose Cortex-A53/A72 cores lack the FP16 extension that `half` would need to widen
//! a slice in vector registers: its fallback converts one value at a time).

use half::f16;

/// Values a vector register holds, and the partial sums a dot product keeps (a single running
/// sum would be a chain of dependent additions).
const LANES: usize = 8;

/// `value` widened to float32, exactly (subnormals, infinities and NaN included): the exponent
/// and mantissa bits moved into float32's places and rebased by a multiplication by 2^112, which
/// is exact (the technique of Fabian Giesen's `half_to_float_fast2`), then infinity and NaN
/// given float32's all-ones exponent and the sign put back.
#[inline(always)]
fn widen(value: f16) -> f32 {
    /// 2^112: float32's exponent bias (127) less float16's (15).
    const REBIAS: f32 = f32::from_bits((127 + 112) << 23);
    /// The smallest float16 infinity, rebased: anything at or above it was infinite or NaN.
    const INF_OR_NAN: f32 = f32::from_bits((127 + 16) << 23);
    let bits = u32::from(value.to_bits());
    let magnitude = f32::from_bits((bits & 0x7fff) << 13) * REBIAS;
    let magnitude = if magnitude >= INF_OR_NAN {
        f32::from_bits(magnitude.to_bits() | (0xff << 23))
    } else {
        magnitude
    };
    f32::from_bits(magnitude.to_bits() | ((bits & 0x8000) << 16))
}

/// `values` widened to float32 into `out` (of the same length).
fn widen_into(values: &[f16], out: &mut [f32]) {
    for (out, &value) in out.iter_mut().zip(values) {
        *out = widen(value);
    }
}

/// `values` widened to float32.
pub(super) fn widened(values: &[f16]) -> Vec<f32> {
    let mut out = vec![0f32; values.len()];
    widen_into(values, &mut out);
    out
}

/// `out[i] = rows[i] . x` for the float16 matrix `rows` [out.len(), x.len()].
///
/// Panics if `x` is not a whole number of [`LANES`] or `rows` is shorter than `out` needs.
pub(super) fn rows_dot_f16(rows: &[f16], x: &[f32], out: &mut [f32]) {
    assert!(x.len().is_multiple_of(LANES) && rows.len() >= out.len() * x.len());
    #[cfg(target_arch = "x86_64")]
    if crate::q4_gemv::supported() {
        for (out, row) in out.iter_mut().zip(rows.chunks_exact(x.len())) {
            // SAFETY: the CPU has the features (checked above); `row` and `x` have the same
            // length, a whole number of lanes (asserted above).
            *out = unsafe { dot_avx2(row, x) };
        }
        return;
    }
    rows_dot_portable(rows, x, out);
}

/// [`rows_dot_f16`] in plain Rust.
fn rows_dot_portable(rows: &[f16], x: &[f32], out: &mut [f32]) {
    let mut row = vec![0f32; x.len()];
    for (out, stored) in out.iter_mut().zip(rows.chunks_exact(x.len())) {
        widen_into(stored, &mut row);
        let mut lanes = [0f32; LANES];
        for (w, x) in row.chunks_exact(LANES).zip(x.chunks_exact(LANES)) {
            for lane in 0..LANES {
                lanes[lane] += w[lane] * x[lane];
            }
        }
        *out = lanes.iter().sum();
    }
}

/// `y += matrix^T v` for the float16 `matrix` [v.len(), y.len()], one row of it at a time.
///
/// Panics if `matrix` is shorter than `v` and `y` need.
pub(super) fn add_transposed_product_f16(matrix: &[f16], v: &[f32], y: &mut [f32]) {
    assert!(matrix.len() >= v.len() * y.len());
    #[cfg(target_arch = "x86_64")]
    if crate::q4_gemv::supported() {
        for (&v, row) in v.iter().zip(matrix.chunks_exact(y.len())) {
            // SAFETY: the CPU has the features (checked above); `row` and `y` have the same length.
            unsafe { add_scaled_avx2(row, v, y) };
        }
        return;
    }
    add_transposed_portable(matrix, v, y);
}

/// [`add_transposed_product_f16`] in plain Rust.
fn add_transposed_portable(matrix: &[f16], v: &[f32], y: &mut [f32]) {
    let mut row = vec![0f32; y.len()];
    for (&v, stored) in v.iter().zip(matrix.chunks_exact(y.len())) {
        widen_into(stored, &mut row);
        // Plain multiplies and adds: `mul_add` without the FMA target feature is a library call.
        for (y, w) in y.iter_mut().zip(&row) {
            *y += w * v;
        }
    }
}

/// `row . x`, 8 lanes at a time.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C (`q4_gemv::supported`); `row` and `x` must have the same length, a multiple of
/// [`LANES`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_avx2(row: &[f16], x: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    debug_assert!(row.len() == x.len() && x.len().is_multiple_of(LANES));
    // SAFETY (the loads): each chunk is LANES values of its slice (chunks_exact).
    unsafe {
        let mut sum = _mm256_setzero_ps();
        for (w, x) in row.chunks_exact(LANES).zip(x.chunks_exact(LANES)) {
            let w = _mm256_cvtph_ps(_mm_loadu_si128(w.as_ptr() as *const __m128i));
            sum = _mm256_fmadd_ps(w, _mm256_loadu_ps(x.as_ptr()), sum);
        }
        let mut lanes = [0f32; LANES];
        _mm256_storeu_ps(lanes.as_mut_ptr(), sum);
        lanes.iter().sum()
    }
}

/// `y += row * v`, 8 values at a time, the rest one by one.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C; `row` and `y` must have the same length.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn add_scaled_avx2(row: &[f16], v: f32, y: &mut [f32]) {
    use std::arch::x86_64::*;
    debug_assert_eq!(row.len(), y.len());
    let whole = y.len() / LANES * LANES;
    // SAFETY (the loads and stores): each chunk is LANES values of its slice (chunks_exact).
    unsafe {
        let scale = _mm256_set1_ps(v);
        for (w, y) in row[..whole].chunks_exact(LANES).zip(y[..whole].chunks_exact_mut(LANES)) {
            let w = _mm256_cvtph_ps(_mm_loadu_si128(w.as_ptr() as *const __m128i));
            let sum = _mm256_fmadd_ps(w, scale, _mm256_loadu_ps(y.as_ptr()));
            _mm256_storeu_ps(y.as_mut_ptr(), sum);
        }
    }
    for (w, y) in row[whole..].iter().zip(&mut y[whole..]) {
        *y += w.to_f32() * v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| ((i * 7919 + seed * 104729) % 2003) as f32 / 1001.5 - 1.0)
            .collect()
    }

    fn halves(values: &[f32]) -> Vec<f16> {
        values.iter().map(|&v| f16::from_f32(v)).collect()
    }

    fn assert_close(got: &[f32], want: &[f64]) {
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (f64::from(g) - w).abs() <= 1e-5 * (1.0 + w.abs()),
                "value {i}: {g} against {w}"
            );
        }
    }

    #[test]
    fn every_float16_widens_as_half_widens_it() {
        for bits in 0..=u16::MAX {
            let value = f16::from_bits(bits);
            let (ours, theirs) = (widen(value), value.to_f32());
            if theirs.is_nan() {
                assert!(ours.is_nan(), "{bits:#06x}: {ours} for NaN");
            } else {
                assert_eq!(ours.to_bits(), theirs.to_bits(), "{bits:#06x}: {ours} against {theirs}");
            }
        }
    }

    #[test]
    fn both_kernels_give_the_float64_products() {
        // 13 outputs: one vector of 8 and a rest of 5 for the scaled rows.
        let (width, count) = (48, 13);
        let matrix = halves(&numbers(width * count, 1));
        let wide: Vec<f64> = matrix.iter().map(|w| f64::from(w.to_f32())).collect();
        let x = numbers(width, 2);
        let dots: Vec<f64> = wide
            .chunks_exact(width)
            .map(|row| row.iter().zip(&x).map(|(w, x)| w * f64::from(*x)).sum())
            .collect();
        let v = numbers(width, 3);
        let y = numbers(count, 4);
        let transposed = halves(&numbers(width * count, 5));
        let added: Vec<f64> = (0..count)
            .map(|o| {
                f64::from(y[o])
                    + (0..width)
                        .map(|j| f64::from(transposed[j * count + o].to_f32()) * f64::from(v[j]))
                        .sum::<f64>()
            })
            .collect();

        let mut out = vec![0f32; count];
        rows_dot_portable(&matrix, &x, &mut out);
        assert_close(&out, &dots);
        rows_dot_f16(&matrix, &x, &mut out);
        assert_close(&out, &dots);
        let mut sum = y.clone();
        add_transposed_portable(&transposed, &v, &mut sum);
        assert_close(&sum, &added);
        let mut sum = y.clone();
        add_transposed_product_f16(&transposed, &v, &mut sum);
        assert_close(&sum, &added);
    }
}
