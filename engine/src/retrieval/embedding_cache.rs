//! The tool embeddings [`super::Retriever`] keeps, so that a catalogue is embedded once and not
//! on every request. Keyed by a 64-bit hash of the text the encoder read (a tool's text can be
//! kilobytes; the vector is 1.5 KB). Bounded, and least-recently-used first to go, by two
//! generations: lookups and inserts go to the current one, a hit in the previous one moves
//! there, and when the current one is full it becomes the previous one (the older entries are
//! dropped). A registry's catalogue, looked up whole by every Route, stays while callers' own
//! long lists come and go.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

/// The key of `text`: the same on every run (std's SipHash with its fixed default keys).
pub(super) fn key(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

pub(super) struct EmbeddingCache {
    /// Entries a generation holds; the cache holds at most twice as many.
    per_generation: usize,
    generations: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    current: HashMap<u64, Arc<[f32]>>,
    previous: HashMap<u64, Arc<[f32]>>,
}

impl EmbeddingCache {
    pub(super) fn new(per_generation: usize) -> EmbeddingCache {
        EmbeddingCache {
            per_generation: per_generation.max(1),
            generations: Mutex::new(Generations::default()),
        }
    }

    /// The embeddings of `keys` the cache holds, in order (each found one is now recent).
    pub(super) fn get_all(&self, keys: &[u64]) -> Vec<Option<Arc<[f32]>>> {
        let mut generations = self.generations.lock().expect("embedding cache lock");
        keys.iter()
            .map(|key| {
                if let Some(found) = generations.current.get(key) {
                    return Some(found.clone());
                }
                let found = generations.previous.remove(key)?;
                self.insert_one(&mut generations, *key, found.clone());
                Some(found)
            })
            .collect()
    }

    pub(super) fn insert_all(&self, entries: Vec<(u64, Arc<[f32]>)>) {
        let mut generations = self.generations.lock().expect("embedding cache lock");
        for (key, vector) in entries {
            self.insert_one(&mut generations, key, vector);
        }
    }

    fn insert_one(&self, generations: &mut Generations, key: u64, vector: Arc<[f32]>) {
        if generations.current.len() >= self.per_generation {
            generations.previous = std::mem::take(&mut generations.current);
        }
        generations.current.insert(key, vector);
    }

    /// Entries held (both generations).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        let generations = self.generations.lock().expect("embedding cache lock");
        generations.current.len() + generations.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(x: f32) -> Arc<[f32]> {
        vec![x].into()
    }

    #[test]
    fn the_entries_used_recently_stay_and_the_size_is_bounded() {
        let cache = EmbeddingCache::new(2);
        cache.insert_all(vec![(1, vector(1.0)), (2, vector(2.0)), (3, vector(3.0))]);
        // 1 and 2 are the previous generation now; looking 1 up makes it recent.
        assert!(cache.get_all(&[1])[0].is_some());
        cache.insert_all(vec![(4, vector(4.0))]);
        let found: Vec<bool> = cache.get_all(&[1, 2, 3, 4]).iter().map(Option::is_some).collect();
        assert_eq!(found, [true, false, true, true], "2, unused, went first");
        cache.insert_all((10..30).map(|k| (k, vector(0.0))).collect());
        assert!(cache.len() <= 4, "{}", cache.len());
        assert_eq!(key("take me home"), key("take me home"));
        assert_ne!(key("take me home"), key("take me hom"));
    }
}
