//! Tests of the 4-bit GEMV kernel: the packed layout against tract's reader, the AVX2 kernel
//! against the plain-Rust one (bit for bit) and against the product in float64.

use super::*;
use tract_linalg::block_quant::Q4_0;
use tract_linalg::mmm::{EagerPackedInput, MMMInputValue};
use tract_linalg::multithread::multithread_tract_scope;
use tract_linalg::x86_64::mmm::pq40_r32;

/// A fixed-seed generator of u32s.
fn generator(seed: u64) -> impl FnMut() -> u32 {
    let mut state = seed;
    move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    }
}

/// A `rows x columns` matrix of random codes and f16-exact scales, packed by tract as a q4
/// bundle's matrices are, with its weights widened to float32 (row-major).
fn matrix(rows: usize, columns: usize, seed: u64) -> (EagerPackedInput, Vec<f32>) {
    let mut next = generator(seed);
    let codes: Vec<u8> = (0..rows * columns).map(|_| (next() % 16) as u8).collect();
    let scales: Vec<f32> = (0..rows * columns / BLOCK)
        .map(|_| half::f16::from_f32((next() % 1000) as f32 * 1e-4 + 1e-4).to_f32())
        .collect();
    let weights = codes
        .iter()
        .enumerate()
        .map(|(i, &code)| (f32::from(code) - 8.0) * scales[i / BLOCK])
        .collect();
    let blocks = Q4_0.pack_prequantized(&codes, &scales, rows, columns).unwrap();
    (pq40_r32().pack(blocks.as_bytes(), columns).unwrap(), weights)
}

/// A column of `len` values in [-1, 1], with a block of zeros and a block with an outlier.
fn column(len: usize, seed: u64) -> Vec<f32> {
    let mut next = generator(seed);
    let mut x: Vec<f32> = (0..len).map(|_| (next() % 2001) as f32 / 1000.0 - 1.0).collect();
    if len >= 3 * BLOCK {
        x[BLOCK..2 * BLOCK].fill(0.0);
        x[2 * BLOCK + 5] = 40.0;
    }
    x
}

fn run_avx2(packed: &EagerPackedInput, x: &[f32]) -> Vec<f32> {
    let mut y = vec![0f32; packed.mn()];
    gemv(packed.packed.as_bytes(), x, &mut y);
    y
}

fn run_portable(packed: &EagerPackedInput, x: &[f32]) -> Vec<f32> {
    let panel_bytes = x.len() / BLOCK * RECORD_BYTES;
    let mut y = Vec::new();
    for panel in packed
        .packed
        .as_bytes()
        .chunks(panel_bytes)
        .take(packed.mn().div_ceil(PANEL_ROWS))
    {
        let mut out = [0f32; PANEL_ROWS];
        panel_portable(panel, x, &mut out);
        y.extend_from_slice(&out);
    }
    y.truncate(packed.mn());
    y
}

/// The shapes of the default model's projections, and a small one ending in a partial panel.
const SHAPES: [(usize, usize); 5] = [(192, 576), (576, 576), (1536, 576), (576, 1536), (40, 64)];

/// Every code and scale read from the layout this module assumes gives the weight tract's own
/// reader gives: the packed form is what the kernel takes it to be.
#[test]
fn the_layout_is_tracts() {
    for (rows, columns) in [(64, 96), (40, 64)] {
        let (packed, weights) = matrix(rows, columns, 7);
        assert_eq!(packed.panel_bytes, columns / BLOCK * RECORD_BYTES);
        let mut extracted = vec![0f32; columns];
        for row in 0..rows {
            packed.extract_at_mn_f32(row, &mut extracted).unwrap();
            let panel = &packed.packed.as_bytes()[row / PANEL_ROWS * packed.panel_bytes..];
            for c in 0..columns {
                let ours =
                    (f32::from(code(panel, row % PANEL_ROWS, c)) - 8.0) * scale(panel, row % PANEL_ROWS, c / BLOCK);
                assert_eq!(ours, extracted[c], "row {row} column {c}");
                assert_eq!(ours, weights[row * columns + c], "row {row} column {c}");
            }
        }
    }
}

/// The AVX2 kernel and the plain-Rust one agree bit for bit, on one thread and on two.
#[test]
fn avx2_and_portable_kernels_agree_exactly() {
    if !supported() {
        return;
    }
    for (seed, (rows, columns)) in SHAPES.into_iter().enumerate() {
        let (packed, _) = matrix(rows, columns, seed as u64);
        let x = column(columns, 100 + seed as u64);
        let one = run_avx2(&packed, &x);
        assert_eq!(one, run_portable(&packed, &x), "{rows}x{columns}");
        let two = multithread_tract_scope(Executor::multithread(2), || run_avx2(&packed, &x));
        assert_eq!(one, two, "{rows}x{columns} on two threads");
    }
}

/// The kernel's product is the float64 product of the weights and the column, to float32
/// rounding: each weight, product and sum is rounded once, so a row is off by at most a few
/// float32 steps of the sum of its products' magnitudes (the bound allows 64 steps, 7.6e-6).
#[test]
fn the_product_is_the_float64_one_to_float32_rounding() {
    if !supported() {
        return;
    }
    for (seed, (rows, columns)) in SHAPES.into_iter().enumerate() {
        let (packed, weights) = matrix(rows, columns, 10 + seed as u64);
        let x = column(columns, 200 + seed as u64);
        let y = run_avx2(&packed, &x);
        for (row, &got) in y.iter().enumerate() {
            let w = &weights[row * columns..][..columns];
            let exact: f64 = w.iter().zip(&x).map(|(&w, &x)| w as f64 * x as f64).sum();
            let magnitude: f64 = w.iter().zip(&x).map(|(&w, &x)| (w as f64 * x as f64).abs()).sum();
            let bound = 64.0 * f32::EPSILON as f64 * magnitude;
            assert!(
                (got as f64 - exact).abs() <= bound,
                "{rows}x{columns} row {row}: {got} vs {exact} (bound {bound})"
            );
        }
    }
}

/// A NaN or an infinity in the column reaches the rows it multiplies, as in tract's kernel.
#[test]
fn a_value_that_is_not_finite_is_carried_through() {
    if !supported() {
        return;
    }
    let (packed, _) = matrix(64, 96, 3);
    for bad in [f32::NAN, f32::INFINITY] {
        let mut x = column(96, 4);
        x[40] = bad;
        assert!(run_avx2(&packed, &x).iter().all(|y| !y.is_finite()), "{bad}");
    }
}
