//! One-shot `Call`'s compiled tool lists, keyed by the sha256 of the tools JSON as sent and the
//! engine that compiled them ([`crate::models::LoadedModel`]'s id). A registered toolset is its
//! own object and not cached. The cache holds at most `capacity`
//! lists: a new one takes the place of the least recently used list of the user who has the
//! most, so one user's stream of new tool lists pushes out its own lists before anyone else's.
//! Inside the KV budget it holds what the objects leave (`room`): it gives way to toolsets and
//! sessions ([`ToolsetCache::shrink_to`]), least recently used first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

use sha2::{Digest, Sha256};
use toolcall_engine::{Error as EngineError, Toolset};

use crate::models::LoadedModel;

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
    entries: VecDeque<Entry>,
}

struct Entry {
    key: ToolsKey,
    /// The id of the engine it was compiled on.
    model: u64,
    /// That engine: once it is gone (unloaded, or replaced by a reload), so is the entry.
    engine: Weak<LoadedModel>,
    /// Bytes of KV state its prefix holds.
    bytes: usize,
    /// Who compiled it (the request's user: see `Request::user`).
    user: String,
    toolset: Arc<Toolset>,
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

    /// Drops the lists of engines that are gone, then the least recently used lists until the
    /// rest hold at most `room` bytes.
    pub fn shrink_to(&self, room: usize) {
        let mut inner = self.inner.lock().expect("toolset cache lock");
        inner.entries.retain(|e| e.engine.strong_count() > 0);
        while inner.entries.iter().map(|e| e.bytes).sum::<usize>() > room {
            inner.entries.pop_back();
        }
    }

    /// The toolset compiled for `key` on `engine`, or `compile`'s, which is then kept for
    /// `user` if its KV state fits in `room` bytes (older lists
    /// dropped to make way). The lock is not held while compiling (a prefill of the tools'
    /// prompt): two callers that miss on the same tools at once both compile, and the later
    /// one is kept.
    pub fn get_or_compile(
        &self,
        (key, engine): (&ToolsKey, &Arc<LoadedModel>),
        (user, room): (&str, usize),
        compile: impl FnOnce() -> Result<Toolset, EngineError>,
    ) -> Result<Arc<Toolset>, EngineError> {
        let (model, bytes_per_token) = (engine.id, engine.kv_bytes_per_token());
        let same = |e: &Entry| &e.key == key && e.model == model;
        {
            let mut inner = self.inner.lock().expect("toolset cache lock");
            if let Some(index) = inner.entries.iter().position(same) {
                let entry = inner.entries.remove(index).expect("index in range");
                let toolset = entry.toolset.clone();
                inner.entries.push_front(entry);
                return Ok(toolset);
            }
        }
        let toolset = Arc::new(compile()?);
        let bytes = toolset.prefix_tokens() * bytes_per_token;
        if bytes > room {
            return Ok(toolset);
        }
        self.shrink_to(room - bytes);
        let mut inner = self.inner.lock().expect("toolset cache lock");
        inner.entries.retain(|e| !same(e));
        while inner.entries.len() >= inner.capacity.max(1) {
            let users: Vec<&str> = inner.entries.iter().map(|e| e.user.as_str()).collect();
            let victim = victim(&users, user).expect("a full cache has entries");
            inner.entries.remove(victim);
        }
        inner.entries.push_front(Entry {
            key: key.clone(),
            model,
            engine: Arc::downgrade(engine),
            bytes,
            user: user.to_string(),
            toolset: toolset.clone(),
        });
        Ok(toolset)
    }
}

/// Which entry gives way to a new one of `newcomer`'s, given each entry's user (most recently
/// used first): the least recently used entry of the user who holds the most, counting the
/// newcomer's one more; between users holding as many, the newcomer's own, then the one whose
/// last entry is older.
fn victim(users: &[&str], newcomer: &str) -> Option<usize> {
    let held = |user: &str| users.iter().filter(|u| **u == user).count() + usize::from(user == newcomer);
    let most = users.iter().map(|u| held(u)).max()?;
    let of = |user: &str| users.iter().rposition(|u| *u == user);
    if held(newcomer) == most
        && let Some(own) = of(newcomer)
    {
        return Some(own);
    }
    (0..users.len()).rev().find(|&i| held(users[i]) == most)
}

#[cfg(test)]
mod tests {
    use super::victim;

    #[test]
    fn a_user_with_many_lists_gives_way_before_one_with_few() {
        // "a" floods the cache; "b" has one list, used longest ago.
        let users = ["a", "a", "a", "b"];
        assert_eq!(victim(&users, "b"), Some(2), "a's oldest goes, not b's only one");
        assert_eq!(victim(&users, "a"), Some(2), "a replaces its own oldest");
        assert_eq!(victim(&users, "c"), Some(2));
        // Even shares: the newcomer's own oldest, else the least recently used.
        assert_eq!(victim(&["b", "a", "b", "a"], "a"), Some(3));
        assert_eq!(victim(&["b", "a"], "c"), Some(1));
        assert_eq!(victim(&[], "a"), None);
    }
}
