//! The attention arithmetic of [`super::CachedAttention`]: a KV head's query rows cut into
//! blocks, each attended directly (dot products, a decode step) or by GEMM (a prefill), with a
//! causal softmax and fixed-order sums.

use tract_onnx::prelude::tract_ndarray::linalg::general_mat_mul;
use tract_onnx::prelude::tract_ndarray::{Array2, ArrayView2, ArrayViewMut2};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

/// Queries per GEMM block in a long prefill: bounds the scores buffer to 64 x keys and skips
/// the keys a block's causal mask hides.
pub(crate) const QUERY_BLOCK: usize = 64;
/// Blocks of at most this many query rows skip the GEMM (see [`QueryBlock::attend_directly`]).
pub(super) const DIRECT_MAX_ROWS: usize = 16;

/// Row ranges of one KV head's `group * seq` query rows, each computed as one unit (one GEMM
/// when it is long): up to `QUERY_BLOCK` positions of one group member. A decode step has one
/// row per member, so a step's `kv_heads * group` rows can go to as many threads.
pub(super) fn query_blocks(group: usize, seq: usize) -> Vec<(usize, usize)> {
    (0..group)
        .flat_map(|member| {
            (0..seq)
                .step_by(QUERY_BLOCK)
                .map(move |first| (member * seq + first, member * seq + (first + QUERY_BLOCK).min(seq)))
        })
        .collect()
}

/// One GEMM block of a KV head's query rows: rows `first_row..` of the head's `group * seq`
/// (group member, position) rows, over a cache that held `past` tokens before this input.
pub(super) struct QueryBlock {
    pub first_row: usize,
    pub seq: usize,
    pub past: usize,
    pub head_dim: usize,
    pub scale: f32,
}

impl QueryBlock {
    /// Keys row `row` of the block may see: its own position and all before it.
    fn visible(&self, row: usize) -> usize {
        self.past + (self.first_row + row) % self.seq + 1
    }

    /// A few rows (a decode step): dot products and scaled sums straight over the cache rows.
    /// A GEMM would first copy all of K and V into its packed layout, every step.
    pub(super) fn attend_directly(&self, queries: &[f32], keys: &[f32], values: &[f32], output: &mut [f32]) {
        let head_dim = self.head_dim;
        let mut scores = Vec::new();
        for (row, (query, out)) in queries
            .chunks_exact(head_dim)
            .zip(output.chunks_exact_mut(head_dim))
            .enumerate()
        {
            let visible = self.visible(row);
            scores.clear();
            scores.extend(
                keys.chunks_exact(head_dim)
                    .take(visible)
                    .map(|key| self.scale * dot(query, key)),
            );
            causal_softmax(&mut scores, visible);
            out.fill(0.0);
            for (&weight, value) in scores.iter().zip(values.chunks_exact(head_dim)) {
                if weight != 0.0 {
                    out.iter_mut().zip(value).for_each(|(o, v)| *o += weight * v);
                }
            }
        }
    }

    /// Many rows (a prefill block): scores and context as two GEMMs over the visible keys.
    pub(super) fn attend_by_gemm(
        &self,
        queries: &[f32],
        keys: ArrayView2<f32>,
        values: ArrayView2<f32>,
        output: &mut [f32],
    ) -> TractResult<()> {
        let rows = queries.len() / self.head_dim;
        let queries = ArrayView2::from_shape((rows, self.head_dim), queries)?;
        let mut scores = Array2::<f32>::zeros((rows, keys.nrows()));
        general_mat_mul(self.scale, &queries, &keys.t(), 0.0, &mut scores);
        for (row, mut row_scores) in scores.rows_mut().into_iter().enumerate() {
            let row_scores = row_scores.as_slice_mut().context("scores row is contiguous")?;
            causal_softmax(row_scores, self.visible(row));
        }
        let mut output = ArrayViewMut2::from_shape((rows, self.head_dim), output)?;
        general_mat_mul(1.0, &scores, &values, 0.0, &mut output);
        Ok(())
    }
}

/// e^x for x in [NEGLIGIBLE_LOGIT, 0]: 2^n * 2^f with n = round(x log2 e) and the degree-7
/// Taylor series of 2^f on |f| <= 1/2. Relative error is float32's rounding of x log2 e, about
/// (1 + |x|) * 1.2e-7: the same as float32's own resolution for the scores that carry weight.
/// Inline arithmetic instead of a libm call per score: with `f32::exp` the op took 17 ms of a
/// decode step after 300 tokens, with this 4 ms (docs/PERFORMANCE.md).
fn exp_of_nonpositive(x: f32) -> f32 {
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    // Taylor coefficients of 2^f = e^(f ln 2): ln(2)^k / k!, k = 1..=7.
    const LN2: f32 = std::f32::consts::LN_2;
    const COEFFICIENTS: [f32; 7] = [
        LN2,
        LN2 * LN2 / 2.0,
        LN2 * LN2 * LN2 / 6.0,
        LN2 * LN2 * LN2 * LN2 / 24.0,
        LN2 * LN2 * LN2 * LN2 * LN2 / 120.0,
        LN2 * LN2 * LN2 * LN2 * LN2 * LN2 / 720.0,
        LN2 * LN2 * LN2 * LN2 * LN2 * LN2 * LN2 / 5040.0,
    ];
    let t = x * std::f32::consts::LOG2_E;
    let n = (t + ROUND) - ROUND;
    let f = t - n;
    let power_of_f = COEFFICIENTS.iter().rev().fold(0.0, |acc, &c| (acc + c) * f) + 1.0;
    let power_of_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    power_of_f * power_of_n
}

/// Dot product with independent partial sums, so the compiler vectorises it; the order of the
/// sums is fixed, so a row's product is the same wherever it is computed (embedding.rs relies
/// on that).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut partial = [0f32; LANES];
    let (a_lanes, b_lanes) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_lanes
        .remainder()
        .iter()
        .zip(b_lanes.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_lanes.zip(b_lanes) {
        for lane in 0..LANES {
            partial[lane] += x[lane] * y[lane];
        }
    }
    partial.iter().sum::<f32>() + tail
}

/// A score this far below the row's largest gets probability 0: its weight (< 1e-13 against
/// the largest's 1) is below float32 resolution in the sums it enters, the context loop skips
/// it, and [`exp_of_nonpositive`] only has to cover [-30, 0] (its 2^n must stay a normal float).
const NEGLIGIBLE_LOGIT: f32 = -30.0;

/// Softmax over the first `visible` scores; the rest (future keys) get probability 0.
/// Each pass is a plain loop over the row, which the compiler vectorises.
fn causal_softmax(scores: &mut [f32], visible: usize) {
    let (seen, hidden) = scores.split_at_mut(visible);
    let max = seen.iter().fold(f32::NEG_INFINITY, |max, &x| max.max(x));
    seen.iter_mut().for_each(|x| {
        let shifted = *x - max;
        let weight = exp_of_nonpositive(shifted.max(NEGLIGIBLE_LOGIT));
        *x = if shifted < NEGLIGIBLE_LOGIT { 0.0 } else { weight };
    });
    let inverse = sum(seen).recip();
    seen.iter_mut().for_each(|x| *x *= inverse);
    hidden.fill(0.0);
}

/// Sum with independent partial sums, so the compiler vectorises it.
fn sum(values: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut partial = [0f32; LANES];
    let lanes = values.chunks_exact(LANES);
    let tail: f32 = lanes.remainder().iter().sum();
    for chunk in lanes {
        for lane in 0..LANES {
            partial[lane] += chunk[lane];
        }
    }
    partial.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_blocks_cover_every_row_once() {
        for (group, seq) in [(3, 1), (3, 64), (3, 65), (2, 200)] {
            let blocks = query_blocks(group, seq);
            let mut next = 0;
            for (start, end) in blocks {
                assert_eq!(start, next);
                assert!(end > start && end - start <= QUERY_BLOCK);
                // A block never spans two group members.
                assert_eq!(start / seq, (end - 1) / seq);
                next = end;
            }
            assert_eq!(next, group * seq);
        }
    }

    #[test]
    fn exp_of_nonpositive_matches_libm() {
        let mut x = NEGLIGIBLE_LOGIT;
        while x <= 0.0 {
            let (ours, libm) = (exp_of_nonpositive(x), x.exp());
            let tolerance = (2.0 + x.abs()) * f32::EPSILON * libm;
            assert!((ours - libm).abs() <= tolerance, "exp({x}): {ours} vs {libm}");
            x += 0.0137;
        }
        assert_eq!(exp_of_nonpositive(0.0), 1.0);
    }

    #[test]
    fn causal_softmax_hides_future_keys() {
        let mut scores = [1.0, 2.0, 3.0, 100.0];
        causal_softmax(&mut scores, 3);
        let total: f32 = scores.iter().sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert_eq!(scores[3], 0.0);
        assert!(scores[2] > scores[1] && scores[1] > scores[0]);
    }
}
