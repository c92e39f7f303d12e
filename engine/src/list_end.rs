//! Calls only when meant: after a complete call the answer list may end (`]`) or go on to
//! another call (`,`). The grammar allows both up to `max_calls`, and greedy decoding takes
//! the next call whenever its token edges out the end, so a small model splits one request
//! into two calls or repeats a call with one more argument. Here the model goes on only when
//! it prefers going on over ending by `call_margin` (a difference of logits, which is the
//! difference of the two tokens' log-probabilities); otherwise the list ends.
//!
//! A boundary is recognised by its tokens and confirmed by the grammar: the model chose a
//! token that goes on (`,` after optional closing braces: `,` `},` `}},` ...), the mask also
//! holds a token that ends (`]` `}]` `}}]`), and the grammar accepts the answer as complete
//! after that ending token. A comma inside a string or an array argument fails the last test.

use llguidance::Matcher;
use llguidance::toktrie::{SimpleVob, TokTrie, TokenId};

/// The margin a request gets unless it sets `call_margin`: greedy. Measured on the project's
/// held-out data (docs/MODEL.md, 2026-12-06): the default model went on to another call 118
/// times, never by less than 7 logits; margins up to 10 scored the same and larger ones lost
/// calls that were asked for.
pub const DEFAULT_CALL_MARGIN: f32 = 0.0;

/// The tokens that can end the list or go on to another call, found once per vocabulary.
pub struct ListTokens {
    ends: SimpleVob,
    goes_on: SimpleVob,
}

/// What happened at a boundary where the model wanted another call.
pub struct Boundary {
    /// The best token that ends the list instead.
    pub end: TokenId,
    /// The logit of the model's going-on token minus that of `end` (>= 0).
    pub gap: f32,
}

impl ListTokens {
    pub fn new(trie: &TokTrie) -> ListTokens {
        let mut ends = SimpleVob::alloc(trie.vocab_size());
        let mut goes_on = SimpleVob::alloc(trie.vocab_size());
        for token in 0..trie.vocab_size() as TokenId {
            let bytes = trie.token(token);
            let braces = bytes.iter().take_while(|&&b| b == b'}').count();
            match &bytes[braces..] {
                b"]" => ends.allow_token(token),
                [b',', ..] => goes_on.allow_token(token),
                _ => {}
            }
        }
        ListTokens { ends, goes_on }
    }

    /// When `chosen` goes on to another call at a point where the list could end, the best
    /// ending token among `mask` and by how much the model preferred going on.
    pub fn boundary(&self, logits: &[f32], mask: &SimpleVob, chosen: TokenId, matcher: &Matcher) -> Option<Boundary> {
        if !self.goes_on.is_allowed(chosen) {
            return None;
        }
        let logit = |t: TokenId| logits.get(t as usize).copied().unwrap_or(f32::NEG_INFINITY);
        let end = mask
            .iter()
            .filter(|&t| self.ends.is_allowed(t))
            .max_by(|&a, &b| logit(a).total_cmp(&logit(b)))?;
        let mut probe = matcher.clone();
        let completes =
            probe.consume_token(end).is_ok() && (probe.is_stopped() || probe.is_accepting().unwrap_or(false));
        completes.then(|| Boundary {
            end,
            gap: logit(chosen) - logit(end),
        })
    }
}
