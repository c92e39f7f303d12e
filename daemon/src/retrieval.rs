//! Which retriever the configuration asks for (`retrieval_encoder`): BM25 alone, or fused with
//! the sentence encoder in a directory (engine/src/retrieval). Decided once, at start, so that a
//! configured encoder that is not there fails the start rather than the first long request.

use std::path::Path;

use toolcall_engine::retrieval::Retriever;

use crate::config::{DEFAULT_RETRIEVAL_ENCODER, Settings};

impl Settings {
    /// The retriever `retrieval_encoder` asks for; an error names what is wrong with it.
    pub fn retriever(&self) -> Result<Retriever, String> {
        let dir = &self.retrieval_encoder;
        if dir.as_os_str().is_empty() {
            log::info!("retrieval: BM25 alone (retrieval_encoder is \"\")");
            return Ok(Retriever::lexical());
        }
        if dir == Path::new(DEFAULT_RETRIEVAL_ENCODER) && !dir.exists() {
            log::warn!(
                "retrieval: BM25 alone: no sentence encoder at {} (make install-encoder); requests \
                 that share no word with the tool they need may miss it",
                dir.display()
            );
            return Ok(Retriever::lexical());
        }
        Retriever::with_encoder(dir).map_err(|e| format!("configuration: retrieval_encoder: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_encoder(dir: &Path) -> Settings {
        Settings {
            retrieval_encoder: dir.to_path_buf(),
            ..Settings::default()
        }
    }

    #[test]
    fn an_encoder_configured_but_not_there_fails_the_start_and_the_default_may_be_absent() {
        let encoder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/encoders/minilm-l6-int8");
        let fused = with_encoder(&encoder).retriever().unwrap();
        assert!(fused.encoder().is_some());
        assert!(with_encoder(Path::new("")).retriever().unwrap().encoder().is_none());
        let error = with_encoder(&encoder.join("missing")).retriever().err().unwrap();
        assert!(
            error.contains("retrieval_encoder") && error.contains("model.onnx"),
            "{error}"
        );
        // A directory without the encoder's files is refused too.
        let error = with_encoder(&std::env::temp_dir()).retriever().err().unwrap();
        assert!(error.contains("retrieval_encoder"), "{error}");
        // The default place: absent on this machine, so BM25 alone; installed, the encoder.
        let default = Settings::default().retriever().unwrap();
        assert_eq!(
            default.encoder().is_some(),
            Path::new(DEFAULT_RETRIEVAL_ENCODER).exists()
        );
    }
}
