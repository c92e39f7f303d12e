//! One turn of decoding: the turn's tokens fed after the conversation so far, then greedy
//! choices under the llguidance mask until the grammar completes.
//!
//! When the grammar forces the next tokens (keys, a tool's name once it is unambiguous,
//! punctuation) they are fed to the model in one forward pass, except a last one that a longer
//! token may merge with what follows: that token is the model's choice among its valid
//! extensions ([`Engine::take_forced_tokens`]).
//!
//! Confidence: for each token the model chose (forced tokens are not choices) we take the
//! probability of that token among the tokens the grammar allowed (softmax of the logits
//! restricted to the mask). The call's confidence is the smallest of these: the least sure
//! decision of the answer. A `[]` answer reports the probability of choosing `[]`.

use std::time::{Duration, Instant};

use llguidance::Matcher;
use llguidance::toktrie::{SimpleVob, TokenId};

use crate::answer::{CallResult, FunctionCall, Timings, parse_calls, without_repeated_calls};
use crate::engine::Engine;
use crate::error::{Error, Limit, Result};
use crate::options::{CallOptions, TurnOptions};
use crate::toolset::{Conversation, Toolset};

impl Engine {
    /// The turn's options resolved, and the grammar of an answer to `turn_text` on `toolset`
    /// (its free strings bounded by the turn's length): the one place both the engine's own
    /// answers and another model's (`check_answer`) get it.
    pub(crate) fn answer_grammar(
        &self,
        toolset: &Toolset,
        turn_text: &str,
        options: &CallOptions,
    ) -> Result<(TurnOptions, Matcher)> {
        let turn = options.resolve(&self.limits)?;
        let string_bound = crate::grammar::string_bound(turn_text.chars().count(), turn.max_new_tokens);
        let matcher = toolset.grammar(&self.factory, (turn.max_calls, turn.allow_empty, string_bound))?;
        Ok((turn, matcher))
    }

    /// Feeds `turn_text` after the conversation so far and decodes the answer. The
    /// conversation takes the turn only if it succeeds: a failed turn leaves it as it was.
    pub(crate) fn turn(
        &self,
        toolset: &Toolset,
        conversation: &mut Conversation,
        turn_text: &str,
        options: &CallOptions,
    ) -> Result<CallResult> {
        let started = Instant::now();
        let (turn, mut matcher) = self.answer_grammar(toolset, turn_text, options)?;
        let mut feed = conversation.pending.clone();
        feed.extend(self.tokenize(turn_text)?);
        let context = self.manifest().context_length;
        if conversation.state.len + feed.len() + turn.max_new_tokens > context {
            return Err(Error::LimitExceeded {
                limit: Limit::ContextLength,
                detail: format!(
                    "{} prompt tokens + {} new tokens exceed the context of {context}",
                    conversation.state.len + feed.len(),
                    turn.max_new_tokens
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
        // The last hidden state; logits are computed from it only where a step chooses, and
        // only for the tokens the grammar allows there (embedding.rs).
        let mut hidden = self.prefill(&mut state, &feed, options, started)?;
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
            options.check_interrupt(started)?;
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
                    None => matcher.compute_mask().map_err(grammar_error)?,
                };
                let logits = self.decoder.logits(&hidden, Some(&mask));
                let (mut token, mut p) =
                    choose(&logits, &mask).ok_or_else(|| Error::Internal("the grammar allows no token".into()))?;
                if let Some(boundary) = self.list_tokens.boundary(&logits, &mask, token, &matcher) {
                    go_on_gaps.push(boundary.gap);
                    if boundary.gap < turn.call_margin {
                        token = boundary.end;
                        p = probability(&logits, &mask, token);
                    }
                }
                confidence = confidence.min(p);
                matcher.consume_token(token).map_err(grammar_error)?;
                vec![token]
            };
            log::trace!("decode step {}", self.tok_env.tok_trie().tokens_dbg(&step));
            generated.extend_from_slice(&step);
            if matcher.is_stopped() {
                break step;
            }
            if generated.len() >= turn.max_new_tokens {
                return Err(Error::LimitExceeded {
                    limit: Limit::MaxNewTokens,
                    detail: format!("the answer was not complete after {} tokens", turn.max_new_tokens),
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
        let written = parse_calls(&text)?;
        let written_count = written.len();
        let function_calls: Vec<FunctionCall> = without_repeated_calls(written);
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
}

fn grammar_error(e: anyhow::Error) -> Error {
    Error::Internal(format!("grammar: {e:#}"))
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

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
