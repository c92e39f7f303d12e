//! A compiled tool list ([`Toolset`]: validated tools, their prompt prefix pre-filled in a KV
//! cache, the answer grammars compiled so far) and the conversations that start from it: a
//! one-shot call's, and a [`Session`]'s that grows turn by turn.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use llguidance::{Matcher, ParserFactory};

use crate::error::Result;
use crate::model::DecoderState;
use crate::tools::Tool;

/// (max_calls, allow_empty, string bound): what an answer grammar is compiled for.
pub(crate) type GrammarKey = (usize, bool, usize);

/// A compiled tool list: validated tools, their prompt prefix pre-filled in a KV cache, and the
/// answer grammars compiled so far (one per max_calls/allow_empty/string bound combination).
pub struct Toolset {
    tools: Vec<Tool>,
    prefix_state: Mutex<DecoderState>,
    grammars: Mutex<HashMap<GrammarKey, Matcher>>,
}

impl Toolset {
    pub(crate) fn new(tools: Vec<Tool>, prefix_state: DecoderState, grammars: HashMap<GrammarKey, Matcher>) -> Toolset {
        Toolset {
            tools,
            prefix_state: Mutex::new(prefix_state),
            grammars: Mutex::new(grammars),
        }
    }

    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    pub fn prefix_tokens(&self) -> usize {
        self.prefix_state.lock().expect("prefix state lock").len
    }

    /// The answer grammar for `key`, compiled on first use and kept.
    pub(crate) fn grammar(&self, factory: &ParserFactory, key: GrammarKey) -> Result<Matcher> {
        let mut grammars = self.grammars.lock().expect("grammar lock");
        if let Some(m) = grammars.get(&key) {
            return Ok(m.clone());
        }
        let m = crate::grammar::compile(factory, &self.tools, key.0, key.1, key.2)?;
        grammars.insert(key, m.clone());
        Ok(m)
    }
}

/// The transcript of one conversation: its own KV cache that grows turn by turn.
pub(crate) struct Conversation {
    pub state: DecoderState,
    /// Tokens appended to the transcript but not yet fed to the model.
    pub pending: Vec<u32>,
    /// Whether the last turn was an answer (so tool results may follow).
    pub answered: bool,
}

impl Conversation {
    pub fn start(toolset: &Toolset) -> Conversation {
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
    pub(crate) toolset: Arc<Toolset>,
    pub(crate) conversation: Conversation,
}

impl Session {
    pub(crate) fn start(toolset: Arc<Toolset>) -> Session {
        let conversation = Conversation::start(&toolset);
        Session { toolset, conversation }
    }

    /// Tokens in the conversation so far, the toolset's prefix included.
    pub fn len(&self) -> usize {
        self.conversation.state.len + self.conversation.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Back to the toolset's prefix: the conversation forgotten.
    pub(crate) fn reset(&mut self) {
        self.conversation = Conversation::start(&self.toolset);
    }
}
