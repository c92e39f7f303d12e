//! [`Retriever`]: BM25's ranking of a tool list, fused with the sentence encoder's when the
//! deployment has one. The encoder is loaded on first use (a daemon whose callers never offer
//! a long list does not hold its ~75 MB, docs/REGISTRY.md), and each tool's embedding is kept
//! (`embedding_cache.rs`), so a catalogue is embedded once, not on every request.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use super::embedding_cache::{EmbeddingCache, key};
use super::encoder::SentenceEncoder;
use super::{Narrowing, ToolIndex, words};
use crate::error::{Error, Result};

/// Tool embeddings kept per generation of the cache (1.5 KB each; at most twice as many in
/// all, ~6 MB): far above a registry's catalogue (at most 1024 tools).
const EMBEDDED_PER_GENERATION: usize = 2048;

/// Tools a request may embed when the cache lacks them (~20 ms each, ~200 ms for a long
/// description): the others count for BM25 only until `prepare` (after Publish) or later
/// requests embed them, so that a catalogue nobody prepared cannot hold one request for minutes.
const NEW_EMBEDDINGS_PER_REQUEST: usize = 64;

/// Reciprocal-rank fusion's constant ([`fuse`]).
const FUSION_K: f32 = 10.0;

/// Ranks and narrows tool lists for requests; shared by every request (`&self`).
pub struct Retriever {
    /// Where the sentence encoder is, if the deployment has one.
    encoder_dir: Option<PathBuf>,
    /// Loaded on first use; `None` inside when loading failed (said once, then BM25 alone).
    encoder: OnceLock<Option<SentenceEncoder>>,
    /// A tool's text (`encoder_text`) to its embedding.
    embedded: EmbeddingCache,
    /// Held by [`Retriever::prepare`]: one catalogue embedded at a time, not once per publisher.
    preparing: Mutex<()>,
}

impl Retriever {
    /// BM25 alone.
    pub fn lexical() -> Retriever {
        Retriever {
            encoder_dir: None,
            encoder: OnceLock::new(),
            embedded: EmbeddingCache::new(EMBEDDED_PER_GENERATION),
            preparing: Mutex::new(()),
        }
    }

    /// BM25 fused with the sentence encoder in `dir` (`model.onnx`, `tokenizer.json`), loaded
    /// when first needed; a directory without those files is an [`Error::Bundle`] now.
    pub fn with_encoder(dir: &Path) -> Result<Retriever> {
        for file in ["model.onnx", "tokenizer.json"] {
            if !dir.join(file).is_file() {
                return Err(Error::Bundle {
                    path: dir.display().to_string(),
                    message: format!("no {file}: not a sentence encoder (model/scripts/fetch_encoder.py writes one)"),
                });
            }
        }
        Ok(Retriever {
            encoder_dir: Some(dir.to_path_buf()),
            ..Retriever::lexical()
        })
    }

    /// As [`Retriever::with_encoder`], the encoder loaded now: an error if it does not load
    /// (a tool that measures the encoder must not measure BM25 alone instead).
    pub fn with_loaded_encoder(dir: &Path) -> Result<Retriever> {
        let retriever = Retriever::with_encoder(dir)?;
        let _ = retriever.encoder.set(Some(SentenceEncoder::load(dir)?));
        Ok(retriever)
    }

    /// The encoder, loaded now if it was not yet; `None` for a lexical retriever or when it
    /// failed to load (logged once).
    pub fn encoder(&self) -> Option<&SentenceEncoder> {
        let dir = self.encoder_dir.as_deref()?;
        self.encoder
            .get_or_init(|| match SentenceEncoder::load(dir) {
                Ok(encoder) => {
                    log::info!("retrieval: sentence encoder loaded from {}", dir.display());
                    Some(encoder)
                }
                Err(e) => {
                    log::error!("retrieval: {e}; ranking with BM25 alone");
                    None
                }
            })
            .as_ref()
    }

    /// Every position of `tools` (bare or OpenAI-wrapped tool objects), best first for `query`.
    pub fn ranked(&self, tools: &[Value], query: &str) -> Vec<usize> {
        let index = ToolIndex::new(tools);
        if self.encoder().is_none() {
            return index.ranked(query, tools.len());
        }
        match self.ranked_by_encoder(tools, query) {
            // BM25 counts only for the tools that share a word with the request: the others'
            // order (the list's) says nothing.
            Ok(semantic) => fuse(&index.matches(query), &semantic, tools.len()),
            Err(e) => {
                log::warn!("retrieval: the sentence encoder failed ({e}); ranking with BM25 alone");
                index.ranked(query, tools.len())
            }
        }
    }

    /// The positions of `tools` the encoder has embedded (all but those past this request's
    /// share of new embeddings), best first by the cosine of its embeddings of `query` and of
    /// each tool's text; an error for a retriever without an encoder.
    pub fn ranked_by_encoder(&self, tools: &[Value], query: &str) -> Result<Vec<usize>> {
        let encoder = self
            .encoder()
            .ok_or_else(|| Error::Internal("retrieval without a sentence encoder".into()))?;
        let asked = encoder.embed(query)?;
        let mut scored: Vec<(f32, usize)> = self
            .embeddings(encoder, tools, NEW_EMBEDDINGS_PER_REQUEST)?
            .iter()
            .enumerate()
            .filter_map(|(i, tool)| Some((tool.as_ref()?.iter().zip(&asked).map(|(a, b)| a * b).sum(), i)))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(scored.into_iter().map(|(_, i)| i).collect())
    }

    /// Embeds the tools of `tools` the cache does not hold yet (a registry calls this when a
    /// provider publishes, so that the first request does not wait for it). One call at a
    /// time: the next finds what this one embedded.
    pub fn prepare(&self, tools: &[Value]) {
        let _one_at_a_time = self.preparing.lock().expect("prepare lock");
        if let Some(encoder) = self.encoder()
            && let Err(e) = self.embeddings(encoder, tools, usize::MAX)
        {
            log::warn!("retrieval: embedding published tools: {e}");
        }
    }

    /// The embeddings of `tools`, in order: from the cache, or computed (outside its lock, at
    /// most `new_at_most` of them; `None` past that) and kept.
    fn embeddings(
        &self,
        encoder: &SentenceEncoder,
        tools: &[Value],
        new_at_most: usize,
    ) -> Result<Vec<Option<Arc<[f32]>>>> {
        let texts: Vec<String> = tools.iter().map(encoder_text).collect();
        let keys: Vec<u64> = texts.iter().map(|text| key(text)).collect();
        let mut out = Vec::with_capacity(texts.len());
        let mut new = Vec::new();
        for ((text, key), known) in texts.iter().zip(keys.iter()).zip(self.embedded.get_all(&keys)) {
            let vector = match known {
                Some(vector) => Some(vector),
                None if new.len() < new_at_most => {
                    let vector: Arc<[f32]> = encoder.embed(text)?.into();
                    new.push((*key, vector.clone()));
                    Some(vector)
                }
                None => None,
            };
            out.push(vector);
        }
        self.embedded.insert_all(new);
        Ok(out)
    }

    /// `tools_json` cut down to the `top_k` tools [`Retriever::ranked`] puts first for `query`,
    /// kept in the list's own order (the same few tools give the same text, so the compiled
    /// toolset and its prompt are reused); `None` when `narrowing` does not apply to the list
    /// or it is not a JSON array (the tool compiler then says what is wrong with it).
    pub fn narrow(&self, tools_json: &str, query: &str, narrowing: Narrowing) -> Option<String> {
        let Ok(Value::Array(tools)) = serde_json::from_str::<Value>(tools_json) else {
            return None;
        };
        if !narrowing.applies(tools.len()) {
            return None;
        }
        let mut chosen: Vec<usize> = self.ranked(&tools, query).into_iter().take(narrowing.top_k).collect();
        chosen.sort_unstable();
        let narrowed: Vec<&Value> = chosen.iter().map(|&i| &tools[i]).collect();
        Some(serde_json::to_string(&narrowed).expect("tools serialise"))
    }
}

/// What the encoder reads of a tool: its name in words and its description
/// (`home.lights_dim`: "home lights dim: Set the brightness ...").
fn encoder_text(tool: &Value) -> String {
    let tool = tool.get("function").unwrap_or(tool);
    let name = words(tool["name"].as_str().unwrap_or_default());
    match tool["description"].as_str() {
        Some(description) => format!("{name}: {description}"),
        None => name,
    }
}

/// Reciprocal-rank fusion of two rankings of some of `n` positions, each best first: a
/// position scores `1 / (10 + rank)` in each, where the positions a ranking leaves out share the
/// rank after its last; highest total first (ties in position order). Positions are below `n`.
pub fn fuse(a: &[usize], b: &[usize], n: usize) -> Vec<usize> {
    let mut score = vec![0f32; n];
    for ranking in [a, b] {
        let mut ranks = vec![ranking.len(); n];
        for (rank, &i) in ranking.iter().enumerate() {
            ranks[i] = rank;
        }
        for (total, rank) in score.iter_mut().zip(ranks) {
            *total += 1.0 / (FUSION_K + rank as f32);
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| score[y].total_cmp(&score[x]).then(x.cmp(&y)));
    order
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The encoder set-up writes (model/scripts/fetch_encoder.py).
    fn encoder_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/encoders/minilm-l6-int8")
    }

    fn tools() -> Vec<Value> {
        [
            ("car.route_start", "Start turn-by-turn navigation to a destination."),
            ("car.message_send", "Send a text message to a contact."),
            ("home.lights_dim", "Set the brightness of the lights in an area."),
            ("home.music_play", "Play music in an area."),
            ("voice.timer_start", "Start a countdown timer."),
            ("voice.weather_now", "Current weather conditions for a city."),
        ]
        .into_iter()
        .map(|(name, description)| json!({"name": name, "description": description, "parameters": {"type": "object"}}))
        .collect()
    }

    /// Requests that share no word with the tool they need.
    const WORDLESS: [(&str, usize); 4] = [
        ("will it rain today", 5),
        ("put on some jazz", 3),
        ("make the kitchen darker", 2),
        ("wake me in ten minutes", 4),
    ];

    #[test]
    fn the_encoder_finds_the_tools_bm25_cannot() {
        let (lexical, fused) = (Retriever::lexical(), Retriever::with_encoder(&encoder_dir()).unwrap());
        assert!(fused.encoder().is_some(), "the encoder loads");
        let tools = tools();
        for (query, wanted) in WORDLESS {
            assert!(
                !lexical.ranked(&tools, query)[..2].contains(&wanted),
                "BM25 alone: {query}"
            );
            assert!(fused.ranked(&tools, query)[..2].contains(&wanted), "fused: {query}");
        }
        // A word the request shares with other tools (here an app's prefix) does not hide the
        // one the encoder finds: "home" is in both home.* tools' names.
        let home = fused.ranked(&tools, "take me home");
        let mut lexical_home = lexical.ranked(&tools, "take me home")[..2].to_vec();
        lexical_home.sort_unstable();
        assert_eq!(lexical_home, [2, 3], "BM25 alone: the home app's two");
        assert!(home[..2].contains(&0), "fused: {home:?}");
        // Words that match still count: the fused ranking keeps BM25's first.
        assert_eq!(fused.ranked(&tools, "send a text message to Dave")[0], 1);
    }

    #[test]
    fn each_tool_is_embedded_once() {
        let fused = Retriever::with_encoder(&encoder_dir()).unwrap();
        let encoder = fused.encoder().unwrap();
        let tools = tools();
        // A request embeds at most its share of new tools; the next finds them kept.
        let first = fused.embeddings(encoder, &tools, 4).unwrap();
        assert_eq!(first.iter().filter(|v| v.is_some()).count(), 4);
        fused.ranked(&tools, "will it rain today");
        let again = fused.embeddings(encoder, &tools, 0).unwrap();
        for (a, b) in first[..4].iter().zip(&again) {
            assert!(
                Arc::ptr_eq(a.as_ref().unwrap(), b.as_ref().unwrap()),
                "taken from the cache"
            );
        }
        assert_eq!(fused.embedded.len(), tools.len());
    }

    #[test]
    fn an_embedding_is_a_unit_vector_closer_to_a_paraphrase() {
        let encoder = SentenceEncoder::load(&encoder_dir()).unwrap();
        let cosine = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let lights = encoder.embed("turn off the lights").unwrap();
        assert!((cosine(&lights, &lights) - 1.0).abs() < 1e-4);
        let paraphrase = encoder.embed("switch the lamps off").unwrap();
        let other = encoder.embed("what is the capital of France").unwrap();
        assert!(cosine(&lights, &paraphrase) > cosine(&lights, &other) + 0.2);
        // Longer than the 256 word pieces an embedding reads: cut, not an error.
        assert_eq!(encoder.embed(&"word ".repeat(600)).unwrap().len(), lights.len());
    }

    #[test]
    fn a_directory_without_an_encoder_is_refused() {
        let empty = std::env::temp_dir();
        let error = Retriever::with_encoder(&empty.join("no-such-encoder")).err().unwrap();
        assert!(error.to_string().contains("no model.onnx"), "{error}");
        let error = SentenceEncoder::load(&empty.join("no-such-encoder")).err().unwrap();
        assert!(error.to_string().contains("tokenizer.json"), "{error}");
    }

    #[test]
    fn an_encoder_that_does_not_load_leaves_bm25_ranking() {
        let dir = std::env::temp_dir().join(format!("toolcall-broken-encoder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("model.onnx"), b"not a graph").unwrap();
        std::fs::copy(encoder_dir().join("tokenizer.json"), dir.join("tokenizer.json")).unwrap();
        // The files are there, so the start is not refused; loading them fails at first use.
        let broken = Retriever::with_encoder(&dir).unwrap();
        assert!(broken.encoder().is_none());
        let tools = tools();
        let query = "send a text message to Dave";
        assert_eq!(broken.ranked(&tools, query), Retriever::lexical().ranked(&tools, query));
        assert!(broken.ranked_by_encoder(&tools, query).is_err());
        assert!(
            Retriever::with_loaded_encoder(&dir).is_err(),
            "a measuring tool is told"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
