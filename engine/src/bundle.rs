//! Model bundle: a directory with `bundle.json` (manifest), `model.onnx` (decoder step graph),
//! usually `model.onnx.data` (its weights, ONNX external data), `embedding.bin` (the token
//! embedding, tied with the output projection: float32 or Q8_0 rows) and
//! `tokenizer.json`. Loading validates the manifest, its weight form and the checksums of every
//! file it lists before any model code runs, so a missing or corrupt bundle is a clear startup
//! failure.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The bundle format this engine reads: 3, a step graph from embeddings to the last hidden
/// state with `embedding.bin` beside it, whose `q4` matrices end in the engine's `Q4Correction`
/// op (format 2 had float32 matmuls there; format 1 graphs took token ids and returned logits).
pub const BUNDLE_FORMAT: u32 = 3;
/// The embedding table's file in a bundle.
pub const EMBEDDING_FILE: &str = "embedding.bin";
/// Prompt formats this engine can render.
pub const PROMPT_FORMATS: &[&str] = &["chatml-tools-v1"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Architecture {
    pub family: String,
    pub n_layers: usize,
    pub d_model: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub d_ffn: usize,
    pub vocab_size: usize,
    pub rope_theta: f64,
    pub rms_eps: f64,
    pub context_length: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpecialTokens {
    pub bos: u32,
    pub eos: u32,
    pub im_start: u32,
    pub im_end: u32,
}

/// How a bundle stores its weights (`build_bundle.py --quant`, model/toolcall_model/quantize.py).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightForm {
    /// Every matrix float32 (a LoRA adapter merged in).
    F32,
    /// Every layer matrix as 4-bit blocks (`MatMulNBits` in the graph: tract's Q4_0 kernels),
    /// each followed by the engine's `Q4Correction` (the blocks' offsets and a LoRA adapter kept
    /// apart, in float16); the embedding 8-bit (Q8_0).
    Q4,
}

/// How `embedding.bin` holds the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EmbeddingType {
    /// Little-endian float32 rows.
    #[serde(rename = "float32")]
    Float32,
    /// GGUF Q8_0 rows: per block of 32 values, a little-endian float16 scale and 32 int8 codes.
    #[serde(rename = "q8_0")]
    Q8_0,
}

impl EmbeddingType {
    /// Bytes of `values` values (a multiple of 32 for Q8_0).
    pub fn file_bytes(self, values: usize) -> usize {
        match self {
            EmbeddingType::Float32 => values * 4,
            EmbeddingType::Q8_0 => values / 32 * 34,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Quantization {
    pub form: WeightForm,
    /// The layer matrices' storage, in words (for ModelInfo).
    pub layers: String,
    pub embedding: EmbeddingType,
    /// What the imported weights were quantised as before this bundle was built.
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub name: String,
    pub version: String,
    pub license: String,
    pub attribution: String,
    pub architecture: Architecture,
    pub parameters: u64,
    pub quantization: Quantization,
    pub context_length: usize,
    pub prompt_format: String,
    pub special_tokens: SpecialTokens,
    /// sha256 of each file in the bundle, by file name (plain names in the bundle directory;
    /// `model.onnx` and `tokenizer.json` are required).
    pub files: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub lora: Option<serde_json::Value>,
}

impl Manifest {
    /// Bytes of KV state one token of a transcript holds on this model (keys and values of
    /// every layer, float32), known before the weights are loaded.
    pub fn kv_bytes_per_token(&self) -> usize {
        let arch = &self.architecture;
        arch.n_layers * 2 * arch.n_kv_heads * arch.head_dim * std::mem::size_of::<f32>()
    }

    /// Bytes of the files the bundle lists (weights, embedding, tokenizer, graph): roughly what
    /// loading it adds to a process.
    pub fn files_bytes(&self, dir: &Path) -> u64 {
        self.files
            .keys()
            .filter_map(|name| std::fs::metadata(dir.join(name)).ok())
            .map(|m| m.len())
            .sum()
    }
}

/// A validated bundle directory.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Bundle {
    /// Reads and checks `bundle.json` and the checksums of the files it lists.
    pub fn open(dir: &Path) -> Result<Bundle> {
        let fail = |message: String| Error::Bundle {
            path: dir.display().to_string(),
            message,
        };
        let manifest_path = dir.join("bundle.json");
        let text =
            std::fs::read_to_string(&manifest_path).map_err(|e| fail(format!("cannot read bundle.json: {e}")))?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| fail(format!("bad bundle.json: {e}")))?;
        if manifest.format != BUNDLE_FORMAT {
            return Err(fail(format!(
                "bundle format {} not supported (this engine reads {BUNDLE_FORMAT})",
                manifest.format
            )));
        }
        if !PROMPT_FORMATS.contains(&manifest.prompt_format.as_str()) {
            return Err(fail(format!("unknown prompt format {:?}", manifest.prompt_format)));
        }
        for required in ["model.onnx", EMBEDDING_FILE, "tokenizer.json"] {
            if !manifest.files.contains_key(required) {
                return Err(fail(format!("bundle.json lists no checksum for {required}")));
            }
        }
        for (name, expected) in &manifest.files {
            if Path::new(name).file_name() != Some(name.as_ref()) {
                return Err(fail(format!(
                    "bundle.json lists {name:?}: not a file name in the bundle"
                )));
            }
            let actual = sha256_file(&dir.join(name)).map_err(|e| fail(format!("cannot read {name}: {e}")))?;
            if &actual != expected {
                return Err(fail(format!(
                    "{name} is corrupt: sha256 {actual}, bundle.json says {expected}"
                )));
            }
        }
        Ok(Bundle {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    pub fn model_path(&self) -> PathBuf {
        self.dir.join("model.onnx")
    }

    pub fn embedding_path(&self) -> PathBuf {
        self.dir.join(EMBEDDING_FILE)
    }

    pub fn tokenizer_path(&self) -> PathBuf {
        self.dir.join("tokenizer.json")
    }
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
