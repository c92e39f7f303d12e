//! The attention arithmetic of [`super::CachedAttention`] for one KV head: a few new
//! positions (a decode step) attended directly, one query row at a time; a prefill's positions
//! in blocks, all of the head's query heads (its group) at once, by GEMM; a causal softmax and
//! fixed-order sums either way.

use tract_onnx::prelude::tract_ndarray::linalg::general_mat_mul;
use tract_onnx::prelude::tract_ndarray::{Array2, ArrayView2, Axis};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

/// Positions per GEMM block in a prefill: bounds the scores buffer to `group * 64` x keys and
/// skips the keys a block's causal mask hides.
pub(crate) const QUERY_BLOCK: usize = 64;
/// Inputs, and blocks, of at most this many positions skip the GEMM (see
/// [`Shape::attend_directly`]): a prompt's short last block takes the same path whether it
/// came alone (the last chunk of a prefill) or as part of a longer input, so chunking does not
/// change a bit.
pub(super) const DIRECT_MAX_POSITIONS: usize = 16;

/// One input of the op: `group` query heads per KV head, `seq` new positions after `past`
/// cached ones, rows of `head_dim`.
pub(super) struct Shape {
    pub group: usize,
    pub seq: usize,
    pub past: usize,
    pub head_dim: usize,
    pub scale: f32,
}

impl Shape {
    /// Keys the new position `position` may see: its own and all before it.
    pub(super) fn visible(&self, position: usize) -> usize {
        self.past + position + 1
    }

    /// The position blocks a prefill's GEMMs go by: `QUERY_BLOCK` positions each, the last
    /// shorter.
    pub(super) fn blocks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.seq)
            .step_by(QUERY_BLOCK)
            .map(|first| (first, (first + QUERY_BLOCK).min(self.seq)))
    }

    /// One query head's rows of positions `first..` (a decode step has one): dot products and
    /// scaled sums straight over the cache rows. A GEMM would first copy all of K and V into its
    /// packed layout, every step.
    pub(super) fn attend_directly(
        &self,
        first: usize,
        queries: &[f32],
        (keys, values): (&[f32], &[f32]),
        output: &mut [f32],
    ) {
        let head_dim = self.head_dim;
        let mut scores = Vec::new();
        for (position, (query, out)) in queries
            .chunks_exact(head_dim)
            .zip(output.chunks_exact_mut(head_dim))
            .enumerate()
        {
            let visible = self.visible(first + position);
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

    /// Positions `first..end` of one KV head for every query head of its group: the head's
    /// queries are `[group, seq, head_dim]`, `keys` and `values` the rows the block's last
    /// position sees. The rows of all members go through one GEMM each for the scores and the
    /// context, so the keys and values are packed once for the group, not once per member.
    /// Returns `[group * (end - first), head_dim]`, member by member. A block of at most
    /// [`DIRECT_MAX_POSITIONS`] goes member by member through [`Shape::attend_directly`].
    pub(super) fn attend_block(
        &self,
        head_queries: &[f32],
        (first, end): (usize, usize),
        keys: ArrayView2<f32>,
        values: ArrayView2<f32>,
    ) -> TractResult<Array2<f32>> {
        let (len, head_dim) = (end - first, self.head_dim);
        if len <= DIRECT_MAX_POSITIONS {
            let mut output = Array2::<f32>::zeros((self.group * len, head_dim));
            let cache = (
                keys.as_slice().context("key rows are contiguous")?,
                values.as_slice().context("value rows are contiguous")?,
            );
            let rows = output.as_slice_mut().context("a new array is contiguous")?;
            for (member, rows) in rows.chunks_exact_mut(len * head_dim).enumerate() {
                let from = (member * self.seq + first) * head_dim;
                self.attend_directly(first, &head_queries[from..from + len * head_dim], cache, rows);
            }
            return Ok(output);
        }
        let mut queries = Array2::<f32>::zeros((self.group * len, head_dim));
        for (member, mut rows) in queries.axis_chunks_iter_mut(Axis(0), len).enumerate() {
            let from = (member * self.seq + first) * head_dim;
            let block = ArrayView2::from_shape((len, head_dim), &head_queries[from..from + len * head_dim])?;
            rows.assign(&block);
        }
        let mut scores = Array2::<f32>::zeros((self.group * len, keys.nrows()));
        general_mat_mul(self.scale, &queries, &keys.t(), 0.0, &mut scores);
        // Each row's weights are left unnormalised and its context row scaled once instead:
        // `head_dim` products rather than a pass over all its keys.
        let mut inverse_sums = Vec::with_capacity(scores.nrows());
        for (row, mut row_scores) in scores.rows_mut().into_iter().enumerate() {
            let row_scores = row_scores.as_slice_mut().context("scores row is contiguous")?;
            inverse_sums.push(causal_exp(row_scores, self.visible(first + row % len)).recip());
        }
        let mut output = Array2::<f32>::zeros((self.group * len, head_dim));
        general_mat_mul(1.0, &scores, &values, 0.0, &mut output);
        for (mut row, inverse) in output.rows_mut().into_iter().zip(inverse_sums) {
            row.mapv_inplace(|x| x * inverse);
        }
        Ok(output)
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
    let rounded = t + ROUND;
    let f = t - (rounded - ROUND);
    let power_of_f = COEFFICIENTS.iter().rev().fold(0.0, |acc, &c| (acc + c) * f) + 1.0;
    // ROUND + n is n units of its last place above ROUND (|n| < 2^22): n from the bits, with
    // no float-to-integer conversion in the loop.
    let n = rounded.to_bits() as i32 - ROUND.to_bits() as i32;
    let power_of_n = f32::from_bits(((n + 127) as u32) << 23);
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
fn causal_softmax(scores: &mut [f32], visible: usize) {
    let inverse = causal_exp(scores, visible).recip();
    scores[..visible].iter_mut().for_each(|x| *x *= inverse);
}

/// The softmax's numerators: e^(score - max) for the first `visible` scores, 0 for the rest
/// (future keys); returns their sum. Each pass is a plain loop over the row, which the
/// compiler vectorises.
fn causal_exp(scores: &mut [f32], visible: usize) -> f32 {
    let (seen, hidden) = scores.split_at_mut(visible);
    let max = seen.iter().fold(f32::NEG_INFINITY, |max, &x| max.max(x));
    seen.iter_mut().for_each(|x| {
        let shifted = *x - max;
        let weight = exp_of_nonpositive(shifted.max(NEGLIGIBLE_LOGIT));
        *x = if shifted < NEGLIGIBLE_LOGIT { 0.0 } else { weight };
    });
    hidden.fill(0.0);
    sum(seen)
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
    fn position_blocks_cover_every_position_once() {
        for seq in [17, 64, 65, 200] {
            let shape = Shape {
                group: 3,
                seq,
                past: 5,
                head_dim: 64,
                scale: 1.0,
            };
            let mut next = 0;
            for (first, end) in shape.blocks() {
                assert_eq!(first, next);
                assert!(end > first && end - first <= QUERY_BLOCK);
                next = end;
            }
            assert_eq!(next, seq);
        }
    }

    /// A prefill block through the GEMMs gives what each of its rows gives directly.
    #[test]
    fn a_block_by_gemm_matches_its_rows_attended_directly() {
        let (group, seq, past, head_dim) = (3, 40, 7, 64);
        let shape = Shape {
            group,
            seq,
            past,
            head_dim,
            scale: 0.125,
        };
        // Deterministic values in [-1, 1) (a linear congruential sequence).
        let mut state = 12345u32;
        let mut values_of = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 8) as f32 / (1 << 23) as f32 - 1.0
                })
                .collect()
        };
        let queries = values_of(group * seq * head_dim);
        let (keys, values) = (values_of((past + seq) * head_dim), values_of((past + seq) * head_dim));
        let (first, end) = (10, 30);
        let visible = shape.visible(end - 1);
        let key_rows = ArrayView2::from_shape((visible, head_dim), &keys[..visible * head_dim]).unwrap();
        let value_rows = ArrayView2::from_shape((visible, head_dim), &values[..visible * head_dim]).unwrap();
        let block = shape
            .attend_block(&queries, (first, end), key_rows, value_rows)
            .unwrap();
        for member in 0..group {
            let mut direct = vec![0f32; seq * head_dim];
            let member_queries = &queries[member * seq * head_dim..(member + 1) * seq * head_dim];
            shape.attend_directly(0, member_queries, (&keys, &values), &mut direct);
            for (row, position) in (first..end).enumerate() {
                let got = block.row(member * (end - first) + row);
                let expected = &direct[position * head_dim..(position + 1) * head_dim];
                for (g, e) in got.iter().zip(expected) {
                    assert!((g - e).abs() < 1e-5, "member {member}, position {position}: {g} vs {e}");
                }
            }
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
