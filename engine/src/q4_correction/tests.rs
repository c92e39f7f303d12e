//! The op against float64 arithmetic on the float16 constants, one token and a prompt's rows.

use super::*;

/// A small deterministic generator (the tests need no crate for it).
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.next()).collect()
    }
}

fn f16_tensor(values: &[f32], shape: &[usize]) -> Arc<Tensor> {
    let values: Vec<f16> = values.iter().map(|&v| f16::from_f32(v)).collect();
    Arc::new(Tensor::from_shape(shape, &values).unwrap())
}

const IN: usize = 96;
const OUT: usize = 40;

/// The op for random constants, and the constants widened to float64 ([side rows][out], [rank][in]).
fn correction(rank: usize, numbers: &mut Numbers) -> (Q4Correction, Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let side = numbers.vec((IN / BLOCK + rank) * OUT);
    let a = numbers.vec(rank * IN);
    let widen = |values: &[f32], width: usize| -> Vec<Vec<f64>> {
        values
            .chunks_exact(width)
            .map(|row| row.iter().map(|&v| f64::from(f16::from_f32(v).to_f32())).collect())
            .collect()
    };
    let op = Q4Correction::new(
        f16_tensor(&side, &[IN / BLOCK + rank, OUT]),
        (rank > 0).then(|| f16_tensor(&a, &[rank, IN])),
        IN,
    )
    .unwrap();
    (op, widen(&side, OUT), widen(&a, IN))
}

/// `y + side^T [block sums of x; A x]` in float64.
fn expected(side: &[Vec<f64>], a: &[Vec<f64>], x: &[f32], y: &[f32]) -> Vec<f64> {
    let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let mut inner: Vec<f64> = x.chunks_exact(BLOCK).map(|block| block.iter().sum()).collect();
    inner.extend(a.iter().map(|row| row.iter().zip(&x).map(|(w, x)| w * x).sum::<f64>()));
    (0..y.len())
        .map(|o| f64::from(y[o]) + inner.iter().zip(side).map(|(v, row)| v * row[o]).sum::<f64>())
        .collect()
}

fn assert_close(got: &[f32], want: &[f64]) {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (f64::from(g) - w).abs() <= 1e-4 * (1.0 + w.abs()),
            "output {i}: {g} against {w}"
        );
    }
}

#[test]
fn one_token_and_a_prompt_give_the_float64_sums() {
    for rank in [0, 4] {
        let mut numbers = Numbers(rank as u64 + 1);
        let (op, side, a) = correction(rank, &mut numbers);
        for rows in [1, 5] {
            let x = numbers.vec(rows * IN);
            let y = numbers.vec(rows * OUT);
            let mut got = y.clone();
            op.add_to(&x, &mut got).unwrap();
            for row in 0..rows {
                let want = expected(&side, &a, &x[row * IN..][..IN], &y[row * OUT..][..OUT]);
                assert_close(&got[row * OUT..][..OUT], &want);
            }
        }
    }
}

#[test]
fn a_prompt_row_is_the_token_alone_to_float32_rounding() {
    // Decode (one row, read from float16) and a prompt (GEMM on widened copies) group the sums
    // differently; a row's result must not depend on which path computed it beyond rounding.
    let mut numbers = Numbers(11);
    let (op, _, _) = correction(8, &mut numbers);
    let x = numbers.vec(3 * IN);
    let y = numbers.vec(3 * OUT);
    let mut together = y.clone();
    op.add_to(&x, &mut together).unwrap();
    for row in 0..3 {
        let mut alone = y[row * OUT..][..OUT].to_vec();
        op.add_to(&x[row * IN..][..IN], &mut alone).unwrap();
        for (a, b) in alone.iter().zip(&together[row * OUT..][..OUT]) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{a} against {b}");
        }
    }
}

#[test]
fn constants_of_the_wrong_form_are_refused() {
    let mut numbers = Numbers(3);
    let side = numbers.vec((IN / BLOCK + 2) * OUT);
    let a = numbers.vec(2 * IN);
    // The side matrix has rows for an adapter of rank 2, and none is given.
    let no_adapter = Q4Correction::new(f16_tensor(&side, &[IN / BLOCK + 2, OUT]), None, IN);
    assert!(no_adapter.is_err());
    // float32 constants.
    let side32 = Arc::new(Tensor::from_shape(&[IN / BLOCK + 2, OUT], &side).unwrap());
    assert!(Q4Correction::new(side32, Some(f16_tensor(&a, &[2, IN])), IN).is_err());
    // An input width that is not whole blocks.
    assert!(
        Q4Correction::new(
            f16_tensor(&side, &[IN / BLOCK + 2, OUT]),
            Some(f16_tensor(&a, &[2, IN])),
            IN + 1
        )
        .is_err()
    );
    // Inputs and outputs of different row counts.
    let op = Q4Correction::new(
        f16_tensor(&side, &[IN / BLOCK + 2, OUT]),
        Some(f16_tensor(&a, &[2, IN])),
        IN,
    )
    .unwrap();
    assert!(op.add_to(&numbers.vec(2 * IN), &mut numbers.vec(OUT)).is_err());
}

#[test]
fn tract_moves_the_leading_axes_and_a_slice_across_the_op() {
    // As in the last layer of a graph: only the last position's output is kept, and the batch
    // axis is dropped. tract should push the slice through the op, which then computes one row,
    // and the result must be the same.
    use tract_onnx::tract_core::ops::array::Slice;
    let mut numbers = Numbers(5);
    let (op, _, _) = correction(4, &mut numbers);
    let mut model = TypedModel::default();
    let y = model.add_source("y", f32::fact([1, 4, OUT])).unwrap();
    let x = model.add_source("x", f32::fact([1, 4, IN])).unwrap();
    let corrected = model.wire_node("correction", op, &[y, x]).unwrap();
    let last = model.wire_node("last", Slice::new(1, 3, 4), &corrected).unwrap();
    let flat = model.wire_node("flat", AxisOp::Rm(0), &last).unwrap();
    model.select_output_outlets(&flat).unwrap();
    let inputs = || -> TVec<TValue> {
        let mut numbers = Numbers(6);
        tvec!(
            Tensor::from_shape(&[1, 4, OUT], &numbers.vec(4 * OUT))
                .unwrap()
                .into_tvalue(),
            Tensor::from_shape(&[1, 4, IN], &numbers.vec(4 * IN))
                .unwrap()
                .into_tvalue()
        )
    };
    let plain = model.clone().into_runnable().unwrap().run(inputs()).unwrap();
    let moved = model.into_decluttered().unwrap();
    let node = moved
        .nodes()
        .iter()
        .find(|node| node.op_is::<Q4Correction>())
        .expect("the op stays");
    for (input, width) in node.inputs.iter().zip([OUT, IN]) {
        assert_eq!(moved.outlet_fact(*input).unwrap().shape.volume(), width.to_dim());
    }
    let moved = moved.into_runnable().unwrap().run(inputs()).unwrap();
    let (plain, moved) = (
        plain[0].try_as_plain_ram().unwrap(),
        moved[0].try_as_plain_ram().unwrap(),
    );
    let (plain, moved) = (plain.as_slice::<f32>().unwrap(), moved.as_slice::<f32>().unwrap());
    assert_eq!(plain.len(), OUT);
    for (a, b) in plain.iter().zip(moved) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{a} against {b}");
    }
}
