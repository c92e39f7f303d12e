//! One-shot `Call`'s compiled tool lists, keyed by the sha256 of the tools JSON as sent, the
//! least recently used dropped first. A registered toolset is its own object and not cached.
//! The cache holds at most `capacity` lists and, inside the KV budget, what the objects leave
//! (`room`): it gives way to toolsets and sessions ([`ToolsetCache::shrink_to`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use toolcall_engine::{Error as EngineError, Toolset};

/// The cache key of a tools JSON text: its sha256, hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolsKey(String);

impl ToolsKey {
    pub fn of(tools_json: &str) -> ToolsKey {
        ToolsKey(
            Sha256::digest(tools_json.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        )
    }

    /// The first 12 hex digits, for log lines.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

pub struct ToolsetCache {
    inner: Mutex<Entries>,
}

struct Entries {
    capacity: usize,
    /// Most recently used first.
    entries: VecDeque<(ToolsKey, Arc<Toolset>)>,
}

impl ToolsetCache {
    pub fn new(capacity: usize) -> ToolsetCache {
        ToolsetCache {
            inner: Mutex::new(Entries {
                capacity,
                entries: VecDeque::new(),
            }),
        }
    }

    pub fn set_capacity(&self, capacity: usize) {
        let mut inner = self.inner.lock().expect("toolset cache lock");
        inner.capacity = capacity;
        inner.entries.truncate(capacity);
    }

    /// Tokens of KV state the cached lists hold.
    pub fn tokens(&self) -> usize {
        let inner = self.inner.lock().expect("toolset cache lock");
        inner.entries.iter().map(|(_, t)| t.prefix_tokens()).sum()
    }

    /// Drops the least recently used lists until the rest hold at most `room` tokens.
    pub fn shrink_to(&self, room: usize) {
        let mut inner = self.inner.lock().expect("toolset cache lock");
        while inner.entries.iter().map(|(_, t)| t.prefix_tokens()).sum::<usize>() > room {
            inner.entries.pop_back();
        }
    }

    /// The toolset compiled for `key`, or `compile`'s, which is then kept if it fits in
    /// `room` tokens (older lists dropped to make way). The lock is not held while compiling (a
    /// prefill of the tools' prompt): two callers that miss on the same tools at once both
    /// compile, and the later one is kept.
    pub fn get_or_compile(
        &self,
        key: &ToolsKey,
        room: usize,
        compile: impl FnOnce() -> Result<Toolset, EngineError>,
    ) -> Result<Arc<Toolset>, EngineError> {
        {
            let mut inner = self.inner.lock().expect("toolset cache lock");
            if let Some(index) = inner.entries.iter().position(|(k, _)| k == key) {
                let entry = inner.entries.remove(index).expect("index in range");
                let toolset = entry.1.clone();
                inner.entries.push_front(entry);
                return Ok(toolset);
            }
        }
        let toolset = Arc::new(compile()?);
        if toolset.prefix_tokens() > room {
            return Ok(toolset);
        }
        self.shrink_to(room - toolset.prefix_tokens());
        let mut inner = self.inner.lock().expect("toolset cache lock");
        inner.entries.retain(|(k, _)| k != key);
        inner.entries.push_front((key.clone(), toolset.clone()));
        let capacity = inner.capacity;
        inner.entries.truncate(capacity);
        Ok(toolset)
    }
}
