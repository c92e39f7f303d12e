//! The engine: the model, its tokenizer and grammar factory loaded from a bundle, and what a
//! caller does with them: compile a tool list into a [`Toolset`], call it once, or hold a
//! [`Session`] of several turns. The turn itself is decoded in `decode.rs`; options and limits
//! are in `options.rs`, the answer types in `answer.rs`.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use llguidance::ParserFactory;
use llguidance::toktrie::TokEnv;
use serde_json::Value;

use crate::answer::CallResult;
use crate::bundle::{Bundle, Manifest};
use crate::error::{Error, Limit, Result};
use crate::grammar::{GrammarTokenizer, load_tokenizer};
use crate::list_end::ListTokens;
use crate::model::{Decoder, DecoderState};
use crate::options::{CallOptions, DEFAULT_MAX_CALLS, DEFAULT_MAX_NEW_TOKENS, EngineLimits};
use crate::prompt;
use crate::tools::parse_tools;
use crate::toolset::{Conversation, Session, Toolset};

/// Tokens per [`Decoder::forward`] call of a long prefill (a tool list's system turn, a turn
/// with long facts or tool results; a `q4` decoder splits each into shorter graph passes). The request's deadline and cancel flag are checked before each pass, so a
/// long prefill ends in `Timeout`/`Cancelled` within about one chunk's time and frees its
/// worker. A multiple of the attention op's block of positions; chunked or not, the hidden
/// state is the same bit for bit (`model_parity.rs`).
pub const PREFILL_CHUNK: usize = 256;

/// A short command's rendered turn (markers, a few words): the string bound of the grammar a
/// toolset compiles up front.
const TYPICAL_TURN_CHARS: usize = 80;

/// A tool list checked and tokenized but not yet pre-filled ([`Engine::prepare_toolset`]).
pub struct PreparedToolset {
    tools: Vec<crate::tools::Tool>,
    tokens: Vec<u32>,
    grammars: std::collections::HashMap<crate::toolset::GrammarKey, llguidance::Matcher>,
}

impl PreparedToolset {
    /// Tokens of the toolset's prompt: what its KV state will hold.
    pub fn prompt_tokens(&self) -> usize {
        self.tokens.len()
    }
}

pub struct Engine {
    bundle: Bundle,
    pub(crate) decoder: Decoder,
    tokenizer: tokenizers::Tokenizer,
    pub(crate) tok_env: TokEnv,
    pub(crate) factory: ParserFactory,
    control_tokens: Vec<String>,
    pub(crate) limits: EngineLimits,
    /// The end-of-turn marker's tokens, appended to the transcript after each answer.
    pub(crate) answer_end: Vec<u32>,
    pub(crate) list_tokens: ListTokens,
}

impl Engine {
    /// Loads and checks a bundle directory; optimises the graph once.
    pub fn load(dir: &Path, limits: EngineLimits) -> Result<Engine> {
        let bundle = Bundle::open(dir)?;
        let bundle_err = |message: String| Error::Bundle {
            path: dir.display().to_string(),
            message,
        };
        let arch = &bundle.manifest.architecture;
        let GrammarTokenizer {
            tokenizer,
            tok_env,
            factory,
        } = load_tokenizer(
            &bundle.tokenizer_path(),
            arch.vocab_size,
            bundle.manifest.special_tokens.im_end,
        )
        .map_err(bundle_err)?;
        let control_tokens: Vec<String> = tokenizer
            .get_added_tokens_decoder()
            .values()
            .filter(|t| t.special)
            .map(|t| t.content.clone())
            .collect();
        let decoder = Decoder::load(&bundle)?;
        let answer_end = encode(&tokenizer, prompt::ANSWER_END)?;
        let list_tokens = ListTokens::new(tok_env.tok_trie());
        Ok(Engine {
            bundle,
            decoder,
            tokenizer,
            tok_env,
            factory,
            control_tokens,
            limits,
            answer_end,
            list_tokens,
        })
    }

    /// Bytes of KV state one token of a toolset's or session's transcript holds (keys and
    /// values of every layer, float32).
    pub fn kv_bytes_per_token(&self) -> usize {
        self.manifest().kv_bytes_per_token()
    }

    pub fn manifest(&self) -> &Manifest {
        &self.bundle.manifest
    }

    /// The decoder, for benchmarks and diagnostics.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        encode(&self.tokenizer, text)
    }

    /// Validates the tools, compiles the default answer grammar and pre-fills the prompt prefix.
    pub fn compile_toolset(&self, tools_json: &str) -> Result<Toolset> {
        self.compile_toolset_for(tools_json, &CallOptions::default())
    }

    /// As [`Engine::compile_toolset`] for a request: its deadline and cancel flag are honoured
    /// between prefill chunks.
    pub fn compile_toolset_for(&self, tools_json: &str, options: &CallOptions) -> Result<Toolset> {
        let prepared = self.prepare_toolset(tools_json)?;
        self.compile_prepared(prepared, options)
    }

    /// The cheap half of compiling: the tools checked, their prompt rendered and tokenized,
    /// the default grammar compiled. The prompt's length is then known, so a service can admit
    /// the toolset's KV state to its memory budget before the costly prefill.
    pub fn prepare_toolset(&self, tools_json: &str) -> Result<PreparedToolset> {
        let tools = parse_tools(tools_json, &self.limits.tools)?;
        let system = prompt::render_system(&tools);
        self.check_no_control_tokens(&system, |m| Error::tools("$", m))?;
        let tokens = self.tokenize(&system)?;
        let max_prompt = self.manifest().context_length.saturating_sub(DEFAULT_MAX_NEW_TOKENS);
        if tokens.len() > max_prompt {
            return Err(Error::LimitExceeded {
                limit: Limit::ContextLength,
                detail: format!(
                    "the tools take {} prompt tokens, at most {max_prompt} fit",
                    tokens.len()
                ),
            });
        }
        let mut grammars = std::collections::HashMap::new();
        let key = (
            DEFAULT_MAX_CALLS.min(self.limits.max_calls),
            true,
            crate::grammar::string_bound(TYPICAL_TURN_CHARS, DEFAULT_MAX_NEW_TOKENS),
        );
        grammars.insert(
            key,
            crate::grammar::compile(&self.factory, &tools, key.0, key.1, key.2)?,
        );
        Ok(PreparedToolset {
            tools,
            tokens,
            grammars,
        })
    }

    /// The costly half: the prompt pre-filled (the request's deadline and cancel flag honoured
    /// between chunks).
    pub fn compile_prepared(&self, prepared: PreparedToolset, options: &CallOptions) -> Result<Toolset> {
        let started = Instant::now();
        let PreparedToolset {
            tools,
            tokens,
            grammars,
        } = prepared;
        let mut state = self.decoder.new_state()?;
        self.prefill(&mut state, &tokens, options, started)?;
        Ok(Toolset::new(tools, state, grammars))
    }

    /// One query on a toolset: starts from the toolset's cached prefix.
    pub fn call(&self, toolset: &Toolset, query: &str, options: &CallOptions) -> Result<CallResult> {
        let mut conversation = Conversation::start(toolset);
        self.user_turn(toolset, &mut conversation, query, options)
    }

    /// Greedy decoding of one query's answer *without* the grammar, to measure what the
    /// constraints add (`toolcall-eval --unconstrained`). Returns the raw text up to
    /// `<|im_end|>`; it may not be JSON at all. Not served over D-Bus.
    pub fn generate_unconstrained(&self, toolset: &Toolset, query: &str, options: &CallOptions) -> Result<String> {
        self.check_query(query)?;
        let turn = prompt::render_user(query, options.facts.as_deref());
        let mut state = Conversation::start(toolset).state;
        let max_new_tokens = options.max_new_tokens.unwrap_or(DEFAULT_MAX_NEW_TOKENS);
        let end = [
            self.manifest().special_tokens.im_end,
            self.manifest().special_tokens.eos,
        ];
        let mut logits = self.decoder.forward_logits(&mut state, &self.tokenize(&turn)?)?;
        let mut generated = Vec::new();
        while generated.len() < max_new_tokens {
            let token = (0..logits.len())
                .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
                .ok_or_else(|| Error::Internal("empty logits".into()))? as u32;
            if end.contains(&token) {
                break;
            }
            generated.push(token);
            logits = self.decoder.forward_logits(&mut state, &[token])?;
        }
        Ok(String::from_utf8_lossy(&self.tok_env.tok_trie().decode_ext(&generated, false)).into_owned())
    }

    /// Starts a conversation on a toolset.
    pub fn open_session(&self, toolset: Arc<Toolset>) -> Session {
        Session::start(toolset)
    }

    /// A user turn in a session.
    pub fn send(&self, session: &mut Session, query: &str, options: &CallOptions) -> Result<CallResult> {
        self.user_turn(&session.toolset, &mut session.conversation, query, options)
    }

    fn user_turn(
        &self,
        toolset: &Toolset,
        conversation: &mut Conversation,
        query: &str,
        options: &CallOptions,
    ) -> Result<CallResult> {
        self.check_query(query)?;
        if let Some(facts) = &options.facts {
            check_chars(facts, self.limits.max_facts_chars, Limit::FactsChars)?;
            self.check_text(facts, "facts", Error::InvalidOptions)?;
        }
        let turn = prompt::render_user(query, options.facts.as_deref());
        self.turn(toolset, conversation, &turn, options)
    }

    /// Tool results (JSON) fed back to the model; it answers with further calls or `[]`.
    pub fn submit_tool_results(
        &self,
        session: &mut Session,
        results_json: &str,
        options: &CallOptions,
    ) -> Result<CallResult> {
        if !session.conversation.answered {
            return Err(Error::InvalidQuery(
                "no answer to give tool results for: send a query first".into(),
            ));
        }
        let value: Value = serde_json::from_str(results_json)
            .map_err(|e| Error::InvalidQuery(format!("tool results are not valid JSON: {e}")))?;
        let compact = serde_json::to_string(&value).expect("JSON value serialises");
        check_chars(&compact, self.limits.max_tool_results_chars, Limit::ToolResultsChars)?;
        self.check_text(&compact, "tool results", Error::InvalidQuery)?;
        self.turn(
            &session.toolset,
            &mut session.conversation,
            &prompt::render_tool_results(&compact),
            options,
        )
    }

    /// Forgets a session's conversation, back to the toolset's prefix.
    pub fn reset_session(&self, session: &mut Session) {
        session.reset();
    }

    /// Feeds `tokens` in chunks of [`PREFILL_CHUNK`], the request's deadline and cancel flag
    /// checked before each; returns the last position's hidden state.
    pub(crate) fn prefill(
        &self,
        state: &mut DecoderState,
        tokens: &[u32],
        options: &CallOptions,
        started: Instant,
    ) -> Result<Vec<f32>> {
        let mut hidden = Vec::new();
        for chunk in tokens.chunks(PREFILL_CHUNK) {
            options.check_interrupt(started)?;
            hidden = self.decoder.forward(state, chunk)?;
        }
        Ok(hidden)
    }

    fn check_query(&self, query: &str) -> Result<()> {
        if query.trim().is_empty() {
            return Err(Error::InvalidQuery("the query is empty".into()));
        }
        check_chars(query, self.limits.max_query_chars, Limit::QueryChars)?;
        self.check_text(query, "query", Error::InvalidQuery)
    }

    /// Caller text must not contain NUL or the model's control tokens (prompt injection).
    fn check_text(&self, text: &str, what: &str, err: fn(String) -> Error) -> Result<()> {
        if text.contains('\0') {
            return Err(err(format!("the {what} contains a NUL character")));
        }
        self.check_no_control_tokens(text, |m| err(format!("the {what} {m}")))
    }

    fn check_no_control_tokens(&self, text: &str, err: impl Fn(String) -> Error) -> Result<()> {
        // The rendered system turn legitimately contains the chat markers; check only caller text.
        let mut rest = text.to_string();
        for a in prompt::SYSTEM_TURN_MARKERS {
            rest = rest.replace(a, "");
        }
        match self.control_tokens.iter().find(|t| rest.contains(t.as_str())) {
            Some(t) => Err(err(format!("contains the reserved control token {t:?}"))),
            None => Ok(()),
        }
    }
}

/// `LimitExceeded` naming `limit` when `text` is longer than `max` characters.
fn check_chars(text: &str, max: usize, limit: Limit) -> Result<()> {
    let chars = text.chars().count();
    if chars > max {
        return Err(Error::LimitExceeded {
            limit,
            detail: format!("{chars} characters, at most {max}"),
        });
    }
    Ok(())
}

fn encode(tokenizer: &tokenizers::Tokenizer, text: &str) -> Result<Vec<u32>> {
    Ok(tokenizer
        .encode(text, false)
        .map_err(|e| Error::Internal(format!("tokenizer: {e}")))?
        .get_ids()
        .to_vec())
}
