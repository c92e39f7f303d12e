//! The engine: model + tokenizer + grammar factory, toolsets with a pre-filled prompt prefix,
//! one-shot calls and multi-turn sessions.
//!
//! Decoding is greedy under the llguidance mask. When the grammar forces the next tokens
//! (keys, a tool's name once it is unambiguous, punctuation) they are fed to the model in one
//! forward pass, except a last one that a longer token may merge with what follows: that
//! token is the model's choice among its valid extensions (`Engine::take_forced_tokens`).
//! Decoding stops when the grammar completes.
//!
//! Confidence: for each token the model chose (forced tokens are not choices) we take the
//! probability of that token among the tokens the grammar allowed (softmax of the logits
//! restricted to the mask). The call's confidence is the smallest of these: the least sure
//! decision of the answer. A `[]` answer reports the probability of choosing `[]`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llguidance::toktrie::{SimpleVob, TokEnv, TokenId};
use llguidance::{Matcher, ParserFactory};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::bundle::{Bundle, Manifest};
use crate::error::{Error, Limit, Result};
use crate::grammar::{GrammarTokenizer, load_tokenizer};
use crate::list_end::{DEFAULT_CALL_MARGIN, ListTokens};
use crate::model::{Decoder, DecoderState};
use crate::prompt;
use crate::tools::{Tool, ToolLimits, parse_tools};

/// Engine-wide limits (the daemon fills them from its configuration).
#[derive(Debug, Clone)]
pub struct EngineLimits {
    pub tools: ToolLimits,
    pub max_query_chars: usize,
    pub max_new_tokens: usize,
    pub max_calls: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        EngineLimits {
            tools: ToolLimits::default(),
            max_query_chars: 4096,
            max_new_tokens: 512,
            max_calls: 8,
        }
    }
}

/// Per-request options. `None` means the default.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Most calls in one answer (default 3).
    pub max_calls: Option<usize>,
    /// Whether `[]` (no call) is a valid answer (default true).
    pub allow_empty: Option<bool>,
    /// Most tokens generated (default 256).
    pub max_new_tokens: Option<usize>,
    /// Facts the model may use, e.g. "date: 2026-11-26 Thu 14:30; locale: en-US".
    pub facts: Option<String>,
    /// The request fails with `Timeout` once this passes.
    pub deadline: Option<Instant>,
    /// Set to true to cancel the request (e.g. its caller left the bus).
    pub cancel: Option<Arc<AtomicBool>>,
    /// How much more the model must prefer another call than the end of the list, in logits,
    /// to make it (default `list_end::DEFAULT_CALL_MARGIN`; 0 to 100).
    pub call_margin: Option<f32>,
}

pub const DEFAULT_MAX_CALLS: usize = 3;
pub const DEFAULT_MAX_NEW_TOKENS: usize = 256;
/// A short command's rendered turn (markers, a few words): the string bound of the grammar a
/// toolset compiles up front.
const TYPICAL_TURN_CHARS: usize = 80;
/// (max_calls, allow_empty, string bound): what an answer grammar is compiled for.
type GrammarKey = (usize, bool, usize);

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FunctionCall {
    pub name: String,
    pub arguments: Value,
}

/// The calls in order, each call that repeats an earlier one exactly (same name, equal
/// arguments) left out: one request never asks for the same action twice in one answer (a
/// count belongs in an argument), and a small model does repeat itself ("I need to buy eggs,
/// put them on the shopping list" got `add_to_shopping_list(item: "eggs")` twice; docs/MODEL.md).
/// Arguments compare as JSON values, so key order does not matter.
fn without_repeated_calls(calls: Vec<FunctionCall>) -> Vec<FunctionCall> {
    let mut kept: Vec<FunctionCall> = Vec::with_capacity(calls.len());
    for call in calls {
        if kept.contains(&call) {
            log::debug!("left out a repeated call of {}", call.name);
        } else {
            kept.push(call);
        }
    }
    kept
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub prefill_ms: f64,
    pub decode_ms: f64,
    /// Prompt tokens of this request, the cached prefix included.
    pub prompt_tokens: usize,
    /// Prompt tokens served from the toolset's or session's KV cache.
    pub cached_tokens: usize,
    pub generated_tokens: usize,
    /// Forward passes made while decoding (fewer than generated tokens thanks to fast-forward).
    pub decode_steps: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallResult {
    pub function_calls: Vec<FunctionCall>,
    pub confidence: f64,
    /// The raw answer text the grammar accepted.
    pub text: String,
    pub timings: Timings,
    /// At each point where the list could end after a call and the model wanted another call:
    /// by how many logits it preferred going on (`list_end`). With a larger `call_margin`, the
    /// answer would have ended at the first gap below it: toolcall-eval's margin sweep.
    pub go_on_gaps: Vec<f32>,
}

/// A compiled tool list: validated tools, their prompt prefix pre-filled in a KV cache, and the
/// answer grammars compiled so far (one per max_calls/allow_empty/string bound combination).
pub struct Toolset {
    tools: Vec<Tool>,
    hash: String,
    prefix_state: Mutex<DecoderState>,
    grammars: Mutex<HashMap<GrammarKey, Matcher>>,
}

impl Toolset {
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// sha256 of the tools JSON as given: the daemon's cache key.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    pub fn prefix_tokens(&self) -> usize {
        self.prefix_state.lock().expect("prefix state lock").len
    }
}

/// The transcript of one conversation: its own KV cache that grows turn by turn.
struct Conversation {
    state: DecoderState,
    /// Tokens appended to the transcript but not yet fed to the model.
    pending: Vec<u32>,
    /// Whether the last turn was an answer (so tool results may follow).
    answered: bool,
}

impl Conversation {
    fn start(toolset: &Toolset) -> Conversation {
        let state = toolset.prefix_state.lock().expect("prefix state lock").clone();
        Conversation {
            state,
            pending: Vec::new(),
            answered: false,
        }
    }
}

/// A multi-turn conversation on a toolset.
pub struct Session {
    toolset: Arc<Toolset>,
    conversation: Conversation,
}

impl Session {
    pub fn toolset(&self) -> &Arc<Toolset> {
        &self.toolset
    }

    /// Tokens in the conversation so far, the toolset's prefix included.
    pub fn len(&self) -> usize {
        self.conversation.state.len + self.conversation.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub struct Engine {
    bundle: Bundle,
    decoder: Decoder,
    tokenizer: tokenizers::Tokenizer,
    tok_env: TokEnv,
    factory: ParserFactory,
    control_tokens: Vec<String>,
    limits: EngineLimits,
    answer_end: Vec<u32>,
    list_tokens: ListTokens,
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

    pub fn manifest(&self) -> &Manifest {
        &self.bundle.manifest
    }

    pub fn limits(&self) -> &EngineLimits {
        &self.limits
    }

    /// The decoder, for benchmarks and diagnostics.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Op name -> count in the optimised plan.
    pub fn plan_ops(&self) -> &std::collections::BTreeMap<String, usize> {
        &self.decoder.op_histogram
    }

    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        encode(&self.tokenizer, text)
    }

    /// Validates the tools, compiles the default answer grammar and pre-fills the prompt prefix.
    pub fn compile_toolset(&self, tools_json: &str) -> Result<Toolset> {
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
        let mut grammars = HashMap::new();
        let key = (
            DEFAULT_MAX_CALLS.min(self.limits.max_calls),
            true,
            crate::grammar::string_bound(TYPICAL_TURN_CHARS, DEFAULT_MAX_NEW_TOKENS),
        );
        grammars.insert(
            key,
            crate::grammar::compile(&self.factory, &tools, key.0, key.1, key.2)?,
        );
        let mut state = self.decoder.new_state()?;
        self.decoder.forward(&mut state, &tokens)?;
        Ok(Toolset {
            tools,
            hash: tools_key(tools_json),
            prefix_state: Mutex::new(state),
            grammars: Mutex::new(grammars),
        })
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
        let conversation = Conversation::start(&toolset);
        Session { toolset, conversation }
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
        session.conversation = Conversation::start(&session.toolset);
    }

    fn turn(
        &self,
        toolset: &Toolset,
        conversation: &mut Conversation,
        turn_text: &str,
        options: &CallOptions,
    ) -> Result<CallResult> {
        let started = Instant::now();
        let max_calls = options.max_calls.unwrap_or(DEFAULT_MAX_CALLS);
        if max_calls == 0 || max_calls > self.limits.max_calls {
            return Err(Error::InvalidOptions(format!(
                "max_calls must be 1..={}",
                self.limits.max_calls
            )));
        }
        let allow_empty = options.allow_empty.unwrap_or(true);
        let call_margin = options.call_margin.unwrap_or(DEFAULT_CALL_MARGIN);
        if !(0.0..=100.0).contains(&call_margin) {
            return Err(Error::InvalidOptions(
                "call_margin must be a number from 0 to 100".into(),
            ));
        }
        let max_new_tokens = options.max_new_tokens.unwrap_or(DEFAULT_MAX_NEW_TOKENS);
        if max_new_tokens == 0 {
            return Err(Error::InvalidOptions("max_new_tokens must be at least 1".into()));
        }
        if max_new_tokens > self.limits.max_new_tokens {
            return Err(Error::LimitExceeded {
                limit: Limit::MaxNewTokens,
                detail: format!(
                    "max_new_tokens {max_new_tokens}, at most {}",
                    self.limits.max_new_tokens
                ),
            });
        }
        let string_bound = crate::grammar::string_bound(turn_text.chars().count(), max_new_tokens);
        let mut matcher = self.grammar(toolset, (max_calls, allow_empty, string_bound))?;
        let mut feed = conversation.pending.clone();
        feed.extend(self.tokenize(turn_text)?);
        let context = self.manifest().context_length;
        if conversation.state.len + feed.len() + max_new_tokens > context {
            return Err(Error::LimitExceeded {
                limit: Limit::ContextLength,
                detail: format!(
                    "{} prompt tokens + {max_new_tokens} new tokens exceed the context of {context}",
                    conversation.state.len + feed.len()
                ),
            });
        }
        let mut timings = Timings {
            cached_tokens: conversation.state.len,
            prompt_tokens: conversation.state.len + feed.len(),
            ..Timings::default()
        };
        // Work on a copy: a failed turn leaves the session as it was.
        let mut state = conversation.state.clone();
        check_interrupt(options, started)?;
        // The last hidden state; logits are computed from it only where a step chooses, and
        // only for the tokens the grammar allows there (embedding.rs).
        let mut hidden = self.decoder.forward(&mut state, &feed)?;
        let answer_start = state.len;
        timings.prefill_ms = ms(started.elapsed());

        let decode_start = Instant::now();
        let mut generated: Vec<TokenId> = Vec::new();
        let mut confidence = 1.0f64;
        let mut go_on_gaps = Vec::new();
        // Set when a run of forced tokens stopped short of a token the model may write merged
        // with what follows (see `take_forced_tokens`): the next choice is among these.
        let mut held_back: Option<SimpleVob> = None;
        let mut unfed = loop {
            check_interrupt(options, started)?;
            let forced = match held_back.take() {
                Some(choices) => Forced {
                    tokens: Vec::new(),
                    then_choose_among: Some(choices),
                },
                None => self.take_forced_tokens(&mut matcher)?,
            };
            let step: Vec<u32> = if !forced.tokens.is_empty() {
                held_back = forced.then_choose_among;
                forced.tokens
            } else {
                let mask = match forced.then_choose_among {
                    Some(choices) => choices,
                    None => matcher
                        .compute_mask()
                        .map_err(|e| Error::Internal(format!("grammar: {e:#}")))?,
                };
                let logits = self.decoder.logits(&hidden, Some(&mask));
                let (mut token, mut p) =
                    choose(&logits, &mask).ok_or_else(|| Error::Internal("the grammar allows no token".into()))?;
                if let Some(boundary) = self.list_tokens.boundary(&logits, &mask, token, &matcher) {
                    go_on_gaps.push(boundary.gap);
                    if boundary.gap < call_margin {
                        token = boundary.end;
                        p = probability(&logits, &mask, token);
                    }
                }
                confidence = confidence.min(p);
                matcher
                    .consume_token(token)
                    .map_err(|e| Error::Internal(format!("grammar: {e:#}")))?;
                vec![token]
            };
            log::trace!("decode step {}", self.tok_env.tok_trie().tokens_dbg(&step));
            generated.extend_from_slice(&step);
            if matcher.is_stopped() {
                break step;
            }
            if generated.len() >= max_new_tokens {
                return Err(Error::LimitExceeded {
                    limit: Limit::MaxNewTokens,
                    detail: format!("the answer was not complete after {max_new_tokens} tokens"),
                });
            }
            hidden = self.decoder.forward(&mut state, &step)?;
            timings.decode_steps += 1;
        };
        if !matcher.stop_reason().is_ok() {
            return Err(Error::Internal(format!("grammar stopped: {:?}", matcher.get_error())));
        }
        timings.decode_ms = ms(decode_start.elapsed());
        timings.generated_tokens = generated.len();
        let bytes = self.tok_env.tok_trie().decode_ext(&generated, false);
        let text = String::from_utf8(bytes).map_err(|e| Error::Internal(format!("answer is not UTF-8: {e}")))?;
        let written: Vec<FunctionCall> = serde_json::from_str::<Vec<Value>>(&text)
            .map_err(|e| Error::Internal(format!("answer {text:?} is not JSON: {e}")))?
            .into_iter()
            .map(|call| FunctionCall {
                name: call["name"].as_str().unwrap_or_default().to_string(),
                arguments: call["arguments"].clone(),
            })
            .collect();
        let written_count = written.len();
        let function_calls = without_repeated_calls(written);
        if function_calls.len() < written_count {
            // The transcript holds the answer the caller got, so a session's next turn does
            // not see the left-out calls: the answer's tokens are taken back out of the cache
            // and the kept calls' JSON waits to be fed with the next turn.
            state.truncate(answer_start)?;
            let kept_text = serde_json::to_string(&function_calls).expect("calls serialise");
            unfed = self.tokenize(&kept_text)?;
        }

        // Commit: the answer's unfed tokens (its last one(s), or the kept calls' JSON after a
        // left-out call) and the end-of-turn marker wait for the next turn.
        unfed.extend_from_slice(&self.answer_end);
        conversation.state = state;
        conversation.pending = unfed;
        conversation.answered = true;
        Ok(CallResult {
            function_calls,
            confidence,
            text,
            timings,
            go_on_gaps,
        })
    }

    /// The tokens the grammar forces next, consumed into `matcher`, except a last one that
    /// the model may write merged with what follows.
    ///
    /// llguidance tokenises the forced text by itself and holds back a last token that the
    /// free text after it could extend, but not the token before that. At the end of a call's
    /// last string it forced `"` and left `}}` to the model, while training text has `"}`
    /// then `},` where another call follows and `"`, `}}`, `]` only at the end of the list:
    /// given the forced `"`, the model ended the list after one call of two. And its mask
    /// after a forced run holds only the forced token. So when a longer token that begins
    /// with the last forced token agrees with the forced text and the grammar, that token
    /// and its extensions are returned as the next choice, for the model's logits to decide.
    fn take_forced_tokens(&self, matcher: &mut Matcher) -> Result<Forced> {
        let grammar_error = |e: anyhow::Error| Error::Internal(format!("grammar: {e:#}"));
        let mut tokens = matcher.compute_ff_tokens();
        let Some(last) = tokens.pop() else {
            return Ok(Forced {
                tokens,
                then_choose_among: None,
            });
        };
        matcher.consume_tokens(&tokens).map_err(grammar_error)?;
        let forced_text = matcher.compute_ff_bytes();
        let trie = self.tok_env.tok_trie();
        let last_bytes = trie.token(last);
        let mut choices = SimpleVob::alloc(trie.vocab_size());
        let mut extended = false;
        for token in 0..trie.vocab_size() as TokenId {
            let bytes = trie.token(token);
            if bytes.len() > last_bytes.len()
                && bytes.starts_with(last_bytes)
                && (bytes.starts_with(&forced_text) || forced_text.starts_with(bytes))
                && matcher.validate_tokens(&[token]).is_ok_and(|valid| valid == 1)
            {
                choices.allow_token(token);
                extended = true;
            }
        }
        if extended {
            choices.allow_token(last);
            return Ok(Forced {
                tokens,
                then_choose_among: Some(choices),
            });
        }
        matcher.consume_token(last).map_err(grammar_error)?;
        tokens.push(last);
        Ok(Forced {
            tokens,
            then_choose_among: None,
        })
    }

    fn grammar(&self, toolset: &Toolset, key: GrammarKey) -> Result<Matcher> {
        let mut grammars = toolset.grammars.lock().expect("grammar lock");
        if let Some(m) = grammars.get(&key) {
            return Ok(m.clone());
        }
        let m = crate::grammar::compile(&self.factory, &toolset.tools, key.0, key.1, key.2)?;
        grammars.insert(key, m.clone());
        Ok(m)
    }

    fn check_query(&self, query: &str) -> Result<()> {
        if query.trim().is_empty() {
            return Err(Error::InvalidQuery("the query is empty".into()));
        }
        let chars = query.chars().count();
        if chars > self.limits.max_query_chars {
            return Err(Error::LimitExceeded {
                limit: Limit::QueryChars,
                detail: format!("{chars} characters, at most {}", self.limits.max_query_chars),
            });
        }
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
        let allowed = ["<|im_start|>system\n", "<|im_end|>\n"];
        let mut rest = text.to_string();
        for a in allowed {
            rest = rest.replace(a, "");
        }
        match self.control_tokens.iter().find(|t| rest.contains(t.as_str())) {
            Some(t) => Err(err(format!("contains the reserved control token {t:?}"))),
            None => Ok(()),
        }
    }
}

/// The cache key of a tools JSON text: its sha256, hex.
pub fn tools_key(tools_json: &str) -> String {
    Sha256::digest(tools_json.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn encode(tokenizer: &tokenizers::Tokenizer, text: &str) -> Result<Vec<u32>> {
    Ok(tokenizer
        .encode(text, false)
        .map_err(|e| Error::Internal(format!("tokenizer: {e}")))?
        .get_ids()
        .to_vec())
}

/// What the grammar fixes next: tokens to append without a choice, then possibly a choice
/// among a few tokens (see `Engine::take_forced_tokens`).
struct Forced {
    tokens: Vec<TokenId>,
    then_choose_among: Option<SimpleVob>,
}

/// Greedy choice among the allowed tokens, with its probability among them.
fn choose(logits: &[f32], mask: &SimpleVob) -> Option<(TokenId, f64)> {
    let mut best: Option<(TokenId, f32)> = None;
    for t in mask.iter() {
        let Some(&v) = logits.get(t as usize) else { continue };
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((t, v));
        }
    }
    let (token, _) = best?;
    Some((token, probability(logits, mask, token)))
}

/// The probability of `token` among the allowed tokens (softmax of their logits).
fn probability(logits: &[f32], mask: &SimpleVob, token: TokenId) -> f64 {
    let own = logits.get(token as usize).copied().unwrap_or(f32::NEG_INFINITY);
    let sum: f64 = mask
        .iter()
        .filter_map(|t| logits.get(t as usize))
        .map(|&v| ((v - own) as f64).exp())
        .sum();
    1.0 / sum
}

fn check_interrupt(options: &CallOptions, started: Instant) -> Result<()> {
    if options.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
        return Err(Error::Cancelled);
    }
    if options.deadline.is_some_and(|d| Instant::now() >= d) {
        return Err(Error::Timeout {
            elapsed_ms: started.elapsed().as_millis() as u64,
        });
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, arguments: Value) -> FunctionCall {
        FunctionCall {
            name: name.to_string(),
            arguments,
        }
    }

    #[test]
    fn an_exactly_repeated_call_is_left_out_and_the_order_kept() {
        let calls = vec![
            call("add_to_shopping_list", json!({"item": "eggs"})),
            call("set_timer", json!({"minutes": 10, "label": "pasta"})),
            call("add_to_shopping_list", json!({"item": "eggs"})),
            call("set_timer", json!({"label": "pasta", "minutes": 10})),
            call("add_to_shopping_list", json!({"item": "milk"})),
            call("remove_from_shopping_list", json!({"item": "eggs"})),
        ];
        let kept = without_repeated_calls(calls);
        let summary: Vec<String> = kept.iter().map(|c| format!("{} {}", c.name, c.arguments)).collect();
        assert_eq!(
            summary,
            [
                r#"add_to_shopping_list {"item":"eggs"}"#,
                r#"set_timer {"minutes":10,"label":"pasta"}"#,
                r#"add_to_shopping_list {"item":"milk"}"#,
                r#"remove_from_shopping_list {"item":"eggs"}"#,
            ]
        );
    }
}
