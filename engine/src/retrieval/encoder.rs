//! A small sentence encoder for retrieval: all-MiniLM-L6-v2 (int8 weights, ONNX, under tract)
//! and its WordPiece tokenizer, from a directory holding `model.onnx` and `tokenizer.json`
//! (set-up writes `model/encoders/minilm-l6-int8`, model/scripts/fetch_encoder.py). A text
//! becomes one unit vector, the encoder's last hidden states averaged over its tokens
//! (sentence-transformers' mean pooling and normalisation for this model), so the cosine of two
//! texts is a dot product. It finds tools that share no word with the request ("take me home"
//! for a route planner), which BM25 cannot (docs/REGISTRY.md).

use std::path::Path;

use tokenizers::{Tokenizer, TruncationParams};
use tract_onnx::prelude::*;

use crate::error::{Error, Result};

/// Word pieces an encoded text keeps (the model's own limit, sentence-transformers'
/// `max_seq_length`); longer tool descriptions are cut.
const MAX_TOKENS: usize = 256;

/// The encoder, loaded once and shared: [`SentenceEncoder::embed`] takes `&self`.
pub struct SentenceEncoder {
    plan: Arc<TypedSimplePlan>,
    tokenizer: Tokenizer,
    /// The graph's inputs by position: which of ids, mask and token types each is.
    inputs: Vec<Input>,
}

#[derive(Clone, Copy)]
enum Input {
    Ids,
    Mask,
    TokenTypes,
}

impl SentenceEncoder {
    /// Loads `dir/model.onnx` and `dir/tokenizer.json`; a missing or unreadable file, or a
    /// graph that is not a BERT-style encoder, is an [`Error::Bundle`] naming `dir`.
    pub fn load(dir: &Path) -> Result<SentenceEncoder> {
        let failed = |message: String| Error::Bundle {
            path: dir.display().to_string(),
            message,
        };
        let mut tokenizer =
            Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| failed(format!("tokenizer.json: {e}")))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| failed(format!("tokenizer.json: {e}")))?;
        let mut model = tract_onnx::onnx()
            .model_for_path(dir.join("model.onnx"))
            .map_err(|e| failed(format!("model.onnx: {e:#}")))?;
        // The name the exported graph gives the sequence axis in its own shapes.
        let (batch, tokens) = (model.symbols.sym("batch"), model.symbols.sym("sequence"));
        let mut inputs = Vec::new();
        for (position, outlet) in model
            .input_outlets()
            .map_err(|e| failed(format!("{e:#}")))?
            .to_vec()
            .iter()
            .enumerate()
        {
            let name = model.node(outlet.node).name.as_str();
            inputs.push(match name {
                "input_ids" => Input::Ids,
                "attention_mask" => Input::Mask,
                "token_type_ids" => Input::TokenTypes,
                other => return Err(failed(format!("model.onnx: an input {other:?}, not a BERT encoder's"))),
            });
            model
                .set_input_fact(position, i64::fact([batch.to_dim(), tokens.to_dim()]).into())
                .map_err(|e| failed(format!("{e:#}")))?;
        }
        let plan = model
            .into_typed()
            .and_then(|m| m.set_symbols(&std::collections::HashMap::from([(batch.clone(), 1.to_dim())])))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| failed(format!("model.onnx: {e:#}")))?;
        let encoder = SentenceEncoder {
            plan,
            tokenizer,
            inputs,
        };
        // A graph whose output is not [1, tokens, width] fails here, not on the first request.
        encoder.embed("check").map_err(|e| failed(e.to_string()))?;
        // The graph's copies from loading and optimising, freed in pieces glibc would keep.
        crate::memory::return_free_heap();
        Ok(encoder)
    }

    /// `text` as a unit vector (the mean of its tokens' last hidden states, normalised).
    pub fn embed(&self, text: &str) -> Result<Vec<f32>> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| Error::Model(format!("encoder tokenizer: {e}")))?;
        let ids: Vec<i64> = encoding.get_ids().iter().map(|&id| i64::from(id)).collect();
        let n = ids.len();
        let column = |values: Vec<i64>| -> Result<TValue> {
            Ok(tract_ndarray::Array2::from_shape_vec((1, n), values)
                .map_err(Error::model)?
                .into_tvalue())
        };
        let feeds = self
            .inputs
            .iter()
            .map(|input| match input {
                Input::Ids => column(ids.clone()),
                Input::Mask => column(vec![1; n]),
                Input::TokenTypes => column(vec![0; n]),
            })
            .collect::<Result<TVec<TValue>>>()?;
        let outputs = self.plan.run(feeds).map_err(Error::model)?;
        let hidden = outputs[0].to_plain_array_view::<f32>().map_err(Error::model)?;
        let [1, rows, width] = *hidden.shape() else {
            return Err(Error::Model(format!("encoder output of shape {:?}", hidden.shape())));
        };
        let mut mean = vec![0f32; width];
        for row in hidden
            .into_shape_with_order((rows, width))
            .map_err(Error::model)?
            .rows()
        {
            mean.iter_mut().zip(row).for_each(|(m, x)| *m += x);
        }
        let norm = mean.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        mean.iter_mut().for_each(|x| *x /= norm);
        Ok(mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_embedding_matches_the_onnx_reference() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/encoders/minilm-l6-int8");
        let encoder = SentenceEncoder::load(&dir).unwrap();
        // [CLS] take me home [SEP], no padding (the shipped tokenizer.json pads to 128).
        let ids = encoder
            .tokenizer
            .encode("take me home", true)
            .unwrap()
            .get_ids()
            .to_vec();
        assert_eq!(ids, [101, 2202, 2033, 2188, 102]);
        // The first values of the normalised mean of the last hidden states, from onnx's
        // reference evaluator (numpy) on the same model.onnx and ids:
        //   ReferenceEvaluator(onnx.load(".../model.onnx")).run(None, {"input_ids": ids,
        //   "attention_mask": ones, "token_type_ids": zeros})[0][0].mean(0), then / its norm
        let reference = [-0.0182, 0.02709, 0.02276, 0.01623, 0.11259, -0.06187, 0.17903, -0.03174];
        let embedded = encoder.embed("take me home").unwrap();
        for (got, want) in embedded.iter().zip(reference) {
            assert!((got - want).abs() < 1e-4, "{:?}", &embedded[..8]);
        }
    }
}
