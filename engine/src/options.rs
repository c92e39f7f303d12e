//! What a request may ask for and what the engine allows: the engine-wide limits (the daemon
//! fills them from its configuration), a request's options, their defaults, and their range
//! checks, made once per turn by [`CallOptions::resolve`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::error::{Error, Limit, Result};
use crate::list_end::DEFAULT_CALL_MARGIN;
use crate::tools::ToolLimits;

pub const DEFAULT_MAX_CALLS: usize = 3;
pub const DEFAULT_MAX_NEW_TOKENS: usize = 256;

/// Engine-wide limits (the daemon fills them from its configuration).
#[derive(Debug, Clone)]
pub struct EngineLimits {
    pub tools: ToolLimits,
    pub max_query_chars: usize,
    /// Characters of a request's `facts`.
    pub max_facts_chars: usize,
    /// Characters of tool results given back in a session (compact JSON).
    pub max_tool_results_chars: usize,
    pub max_new_tokens: usize,
    pub max_calls: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        EngineLimits {
            tools: ToolLimits::default(),
            max_query_chars: 4096,
            max_facts_chars: 2048,
            max_tool_results_chars: 8192,
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

/// A turn's options with the defaults filled in and the ranges checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TurnOptions {
    pub max_calls: usize,
    pub allow_empty: bool,
    pub max_new_tokens: usize,
    pub call_margin: f32,
}

impl CallOptions {
    /// The defaults filled in, each value checked against its range and `limits`.
    pub(crate) fn resolve(&self, limits: &EngineLimits) -> Result<TurnOptions> {
        let max_calls = self.max_calls.unwrap_or(DEFAULT_MAX_CALLS);
        if max_calls == 0 || max_calls > limits.max_calls {
            return Err(Error::InvalidOptions(format!(
                "max_calls must be 1..={}",
                limits.max_calls
            )));
        }
        let call_margin = self.call_margin.unwrap_or(DEFAULT_CALL_MARGIN);
        if !(0.0..=100.0).contains(&call_margin) {
            return Err(Error::InvalidOptions(
                "call_margin must be a number from 0 to 100".into(),
            ));
        }
        let max_new_tokens = self.max_new_tokens.unwrap_or(DEFAULT_MAX_NEW_TOKENS);
        if max_new_tokens == 0 {
            return Err(Error::InvalidOptions("max_new_tokens must be at least 1".into()));
        }
        if max_new_tokens > limits.max_new_tokens {
            return Err(Error::LimitExceeded {
                limit: Limit::MaxNewTokens,
                detail: format!("max_new_tokens {max_new_tokens}, at most {}", limits.max_new_tokens),
            });
        }
        Ok(TurnOptions {
            max_calls,
            allow_empty: self.allow_empty.unwrap_or(true),
            max_new_tokens,
            call_margin,
        })
    }

    /// `Cancelled` once the cancel flag is set, `Timeout` once the deadline has passed.
    pub(crate) fn check_interrupt(&self, started: Instant) -> Result<()> {
        if self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(Error::Cancelled);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::Timeout {
                elapsed_ms: started.elapsed().as_millis() as u64,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_out_of_range_values_are_named() {
        let limits = EngineLimits::default();
        let turn = CallOptions::default().resolve(&limits).unwrap();
        assert_eq!(
            (turn.max_calls, turn.allow_empty, turn.max_new_tokens, turn.call_margin),
            (DEFAULT_MAX_CALLS, true, DEFAULT_MAX_NEW_TOKENS, DEFAULT_CALL_MARGIN)
        );
        let cases = [
            (
                CallOptions {
                    max_calls: Some(0),
                    ..Default::default()
                },
                "max_calls must be 1..=8",
            ),
            (
                CallOptions {
                    max_calls: Some(9),
                    ..Default::default()
                },
                "max_calls must be 1..=8",
            ),
            (
                CallOptions {
                    call_margin: Some(-1.0),
                    ..Default::default()
                },
                "call_margin",
            ),
            (
                CallOptions {
                    max_new_tokens: Some(0),
                    ..Default::default()
                },
                "at least 1",
            ),
            (
                CallOptions {
                    max_new_tokens: Some(513),
                    ..Default::default()
                },
                "at most 512",
            ),
        ];
        for (options, expected) in cases {
            let message = options.resolve(&limits).unwrap_err().to_string();
            assert!(message.contains(expected), "{options:?}: {message}");
        }
    }
}
