//! The token embedding, tied with the output projection: one table (`embedding.bin`, float32 or
//! Q8_0 rows `[vocab, d_model]`) serves both ends of the decoder. The graph starts from the
//! rows [`Embedding::lookup`] gives it and ends at the last hidden state; the engine turns that
//! into logits here, and only for the tokens a step may choose.
//!
//! Why the engine owns the projection: the 49152 x 576 output matrix is a fifth of the model's
//! weights, and most steps of a constrained answer choose among a handful of tokens (a digit, a
//! tool name, `"`). [`Embedding::logits`] computes the rows the grammar's mask allows, in token
//! order, and leaves every other logit at minus infinity; with no mask (or a wide one) that is a
//! sequential pass over the whole table. A row's logit is the same dot product whichever rows
//! are asked for (`attention::dot` and the Q8_0 kernels of `q8_0.rs` sum in a fixed order), so
//! the choice among allowed tokens is the full computation's.

mod q8_0;

use std::io::Read;
use std::path::Path;

use half::f16;
use llguidance::toktrie::SimpleVob;
use rayon::prelude::*;
use tract_linalg::multithread::{Executor, current_tract_executor};

use crate::attention::dot;
use crate::bundle::{Bundle, EmbeddingType};
use crate::error::{Error, Result};

/// Rows per parallel work item when the matmuls' pool has several threads (`set_threads`).
const ROWS_PER_TASK: usize = 2048;

enum Table {
    F32(Vec<f32>),
    /// GGUF Q8_0: value `i` of a row is `codes[i] * scales[i / 32]`.
    Q8_0 {
        codes: Vec<i8>,
        scales: Vec<f32>,
    },
}

/// The embedding table of a bundle.
pub struct Embedding {
    table: Table,
    vocab: usize,
    dim: usize,
}

impl Embedding {
    /// Reads `path`, which must hold exactly `vocab` rows of `dim` values of type `kind`.
    pub fn load(path: &Path, kind: EmbeddingType, vocab: usize, dim: usize) -> Result<Embedding> {
        let bundle_err = |message: String| Error::Bundle {
            path: path.display().to_string(),
            message,
        };
        if kind == EmbeddingType::Q8_0 && !dim.is_multiple_of(q8_0::BLOCK) {
            return Err(bundle_err(format!(
                "a Q8_0 embedding needs rows of a multiple of 32 values, not {dim}"
            )));
        }
        let expected = kind.file_bytes(vocab * dim);
        let mut file = std::fs::File::open(path).map_err(|e| bundle_err(format!("cannot open: {e}")))?;
        let actual = file
            .metadata()
            .map_err(|e| bundle_err(format!("cannot stat: {e}")))?
            .len();
        if actual != expected as u64 {
            return Err(bundle_err(format!(
                "embedding table of {actual} bytes; {vocab} x {dim} {kind:?} values take {expected}"
            )));
        }
        // Read in chunks straight into the typed table: no second copy of the file in memory.
        let read_err = |e: std::io::Error| bundle_err(format!("cannot read: {e}"));
        let table = match kind {
            EmbeddingType::Float32 => {
                let mut values = Vec::with_capacity(vocab * dim);
                read_records(&mut file, vocab * dim, |bytes: [u8; 4]| {
                    values.push(f32::from_le_bytes(bytes))
                })
                .map_err(read_err)?;
                Table::F32(values)
            }
            EmbeddingType::Q8_0 => {
                let blocks = vocab * dim / q8_0::BLOCK;
                let mut codes = Vec::with_capacity(vocab * dim);
                let mut scales = Vec::with_capacity(blocks);
                read_records(&mut file, blocks, |block: [u8; 34]| {
                    scales.push(f16::from_le_bytes([block[0], block[1]]).to_f32());
                    codes.extend(block[2..].iter().map(|&byte| byte as i8));
                })
                .map_err(read_err)?;
                Table::Q8_0 { codes, scales }
            }
        };
        Ok(Embedding { table, vocab, dim })
    }

    /// The embedding table of `bundle`, as its manifest describes it.
    pub fn of_bundle(bundle: &Bundle) -> Result<Embedding> {
        let arch = &bundle.manifest.architecture;
        Self::load(
            &bundle.embedding_path(),
            bundle.manifest.quantization.embedding,
            arch.vocab_size,
            arch.d_model,
        )
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The rows of `tokens`, one after the other (`[tokens.len() * dim]`).
    pub fn lookup(&self, tokens: &[u32]) -> Result<Vec<f32>> {
        let mut out = vec![0f32; tokens.len() * self.dim];
        for (&token, row) in tokens.iter().zip(out.chunks_exact_mut(self.dim)) {
            let token = token as usize;
            if token >= self.vocab {
                return Err(Error::Internal(format!(
                    "token {token} outside a vocabulary of {}",
                    self.vocab
                )));
            }
            let span = token * self.dim..(token + 1) * self.dim;
            self.row(span, row);
        }
        Ok(out)
    }

    /// The logits of every token `allowed` holds (all tokens when `None`), minus infinity for
    /// the rest.
    pub fn logits(&self, hidden: &[f32], allowed: Option<&SimpleVob>) -> Vec<f32> {
        assert_eq!(
            hidden.len(),
            self.dim,
            "a hidden state of another width than the table's rows"
        );
        let mut logits = vec![f32::NEG_INFINITY; self.vocab];
        let q8_0_dot = q8_0::row_dot();
        let fill = |(task, chunk): (usize, &mut [f32])| {
            let first = task * ROWS_PER_TASK;
            for (offset, logit) in chunk.iter_mut().enumerate() {
                let token = first + offset;
                if allowed.is_none_or(|mask| mask.is_allowed(token as u32)) {
                    *logit = self.row_dot(token, hidden, q8_0_dot);
                }
            }
        };
        let narrow = allowed.is_some_and(|mask| mask.num_set() < ROWS_PER_TASK);
        match current_tract_executor() {
            Executor::MultiThread(pool) if !narrow => pool.install(|| {
                logits.par_chunks_mut(ROWS_PER_TASK).enumerate().for_each(fill);
            }),
            _ if narrow => {
                for token in allowed.into_iter().flat_map(|mask| mask.iter()) {
                    if let Some(logit) = logits.get_mut(token as usize) {
                        *logit = self.row_dot(token as usize, hidden, q8_0_dot);
                    }
                }
            }
            _ => logits.chunks_mut(ROWS_PER_TASK).enumerate().for_each(fill),
        }
        logits
    }

    /// Row `token` times `hidden`, a Q8_0 row by `q8_0_dot`.
    fn row_dot(&self, token: usize, hidden: &[f32], q8_0_dot: q8_0::RowDot) -> f32 {
        let span = token * self.dim..(token + 1) * self.dim;
        match &self.table {
            Table::F32(table) => dot(&table[span], hidden),
            Table::Q8_0 { codes, scales } => {
                let blocks = span.start / q8_0::BLOCK..span.end / q8_0::BLOCK;
                q8_0_dot(&codes[span], &scales[blocks], hidden)
            }
        }
    }

    /// The table's values `span` (one row) as float32, into `out`.
    fn row(&self, span: std::ops::Range<usize>, out: &mut [f32]) {
        match &self.table {
            Table::F32(table) => out.copy_from_slice(&table[span]),
            Table::Q8_0 { codes, scales } => {
                let first_block = span.start / q8_0::BLOCK;
                for ((block, out), scale) in codes[span]
                    .chunks_exact(q8_0::BLOCK)
                    .zip(out.chunks_exact_mut(q8_0::BLOCK))
                    .zip(&scales[first_block..])
                {
                    for (value, &code) in out.iter_mut().zip(block) {
                        *value = code as f32 * scale;
                    }
                }
            }
        }
    }
}

/// `count` records of `N` bytes read from `file` in 1 MiB chunks, each handed to `each`.
fn read_records<const N: usize>(
    file: &mut std::fs::File,
    count: usize,
    mut each: impl FnMut([u8; N]),
) -> std::io::Result<()> {
    let mut chunk = vec![0u8; (1 << 20) / N * N];
    let mut left = count;
    while left > 0 {
        let want = (left * N).min(chunk.len());
        file.read_exact(&mut chunk[..want])?;
        for bytes in chunk[..want].chunks_exact(N) {
            each(bytes.try_into().expect("chunks of N bytes"));
        }
        left -= want / N;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Q8_0 table whose rows are not whole blocks is refused, even when its file holds a whole
    /// number of blocks (16 rows of 40 values are 20 blocks): a row would start mid-block.
    #[test]
    fn q8_0_rows_of_part_blocks_are_refused() {
        let (vocab, dim) = (16, 40);
        let path = std::env::temp_dir().join(format!("toolcall-q8-rows-{}.bin", std::process::id()));
        std::fs::write(&path, vec![0u8; EmbeddingType::Q8_0.file_bytes(vocab * dim)]).unwrap();
        let result = Embedding::load(&path, EmbeddingType::Q8_0, vocab, dim);
        std::fs::remove_file(&path).unwrap();
        match result {
            Err(Error::Bundle { message, .. }) => assert!(message.contains("multiple of 32"), "{message}"),
            Err(other) => panic!("expected a bundle error, got {other}"),
            Ok(_) => panic!("loaded a Q8_0 table of {dim}-value rows"),
        }
    }
}
