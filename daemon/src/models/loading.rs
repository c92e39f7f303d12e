//! Loading and unloading bundles under `max_models_mb` and `model_idle_unload_s`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use toolcall_engine::{Engine, Error as EngineError, Limit};

use super::{Fingerprint, LoadedModel, Model, Models, lock};

impl Models {
    /// The engine of `model` if it is in memory now, without waiting for a load in progress.
    pub fn loaded(&self, model: &Model) -> Option<Arc<LoadedModel>> {
        model.engine.try_lock().ok().and_then(|slot| slot.clone())
    }

    /// The engine of `model`, loaded now if it is not in memory (on the calling thread: a
    /// blocking one, the load takes seconds). Loading first unloads other bundles that nothing
    /// holds when `max_models_mb` would not fit it, and is refused (`LimitExceeded` naming it)
    /// if it still does not. A bundle whose files changed since they were read is refused
    /// (`ModelError`): a reload reads them again.
    pub fn engine(&self, model: &Model) -> Result<Arc<LoadedModel>, EngineError> {
        self.load(model, true)
    }

    /// As [`Models::engine`]; `make_room: false` loads whatever `max_models_mb` says.
    pub(super) fn load(&self, model: &Model, make_room: bool) -> Result<Arc<LoadedModel>, EngineError> {
        // Taken before the model's lock: the catalogue is never read under a model's lock.
        let others = if make_room {
            self.unload_candidates(model)
        } else {
            Vec::new()
        };
        let mut slot = lock(&model.engine);
        if let Some(engine) = slot.as_ref() {
            engine.touch();
            return Ok(engine.clone());
        }
        if Fingerprint::of(&model.dir).ok().as_ref() != Some(&model.fingerprint) {
            return Err(EngineError::Bundle {
                path: model.dir.display().to_string(),
                message: "changed on disk since toolcalld read it: reload the models (ReloadModels or SIGHUP)".into(),
            });
        }
        let settings = self.settings.read().unwrap_or_else(PoisonError::into_inner).clone();
        let reserved = {
            let _room = lock(&self.room);
            if make_room {
                self.make_room(model, &others, settings.max_bytes)?;
            }
            Reservation::new(self.counted.clone(), model.bytes)
        };
        let started = Instant::now();
        let engine = Engine::load(&model.dir, settings.limits)?;
        if engine.manifest().files != model.manifest.files {
            return Err(EngineError::Bundle {
                path: model.dir.display().to_string(),
                message: "changed on disk while it was loaded: reload the models (ReloadModels or SIGHUP)".into(),
            });
        }
        let label = format!("{} {}", engine.manifest().name, engine.manifest().version);
        log::info!(
            "model {} ({label}) loaded in {:.1} s",
            model.name,
            started.elapsed().as_secs_f64()
        );
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let loaded = Arc::new(LoadedModel {
            engine,
            bundle: model.name.clone(),
            id: NEXT_ID.fetch_add(1, Ordering::SeqCst),
            label,
            last_used: model.last_used.clone(),
            bytes: reserved.hand_over(),
            counted: self.counted.clone(),
        });
        loaded.touch();
        *slot = Some(loaded.clone());
        model.in_memory.store(true, Ordering::SeqCst);
        Ok(loaded)
    }

    /// The bundles a load of `loading` may unload, least recently used first: all but it and
    /// the default.
    fn unload_candidates(&self, loading: &Model) -> Vec<Arc<Model>> {
        let catalogue = self.catalogue.read().unwrap_or_else(PoisonError::into_inner);
        let mut others: Vec<Arc<Model>> = catalogue
            .bundles
            .values()
            .filter(|m| m.name != loading.name && m.name != catalogue.default)
            .cloned()
            .collect();
        others.sort_by_key(|m| *lock(&m.last_used));
        others
    }

    /// Unloads `others` that nothing holds until `loading` fits in `max_bytes` beside what
    /// stays; `LimitExceeded` naming `max_models_mb` if it still does not.
    fn make_room(&self, loading: &Model, others: &[Arc<Model>], max_bytes: usize) -> Result<(), EngineError> {
        let fits = || self.counted.load(Ordering::SeqCst) + loading.bytes <= max_bytes;
        for other in others {
            if fits() {
                break;
            }
            other.unload_if_unheld(None);
        }
        if fits() {
            return Ok(());
        }
        Err(EngineError::LimitExceeded {
            limit: Limit::ModelsMemory,
            detail: format!(
                "model {} needs {} MB beside the {} MB of models in use",
                loading.name,
                loading.bytes.div_ceil(1 << 20),
                self.counted.load(Ordering::SeqCst).div_ceil(1 << 20)
            ),
        })
    }

    /// Unloads the bundles other than the default that have gone unused for
    /// `model_idle_unload_s` and that nothing holds.
    pub fn unload_idle(&self) {
        let idle = self.settings.read().unwrap_or_else(PoisonError::into_inner).idle_unload;
        let Some(idle) = idle else {
            return;
        };
        let catalogue = self.catalogue.read().unwrap_or_else(PoisonError::into_inner);
        for model in catalogue.bundles.values().filter(|m| m.name != catalogue.default) {
            model.unload_if_unheld(Some(idle));
        }
    }
}

impl Model {
    /// Drops the catalogue's engine if nothing else holds it, it is not pinned, and (with
    /// `idle`) it has gone unused that long; a model being loaded or used by a load right now
    /// is skipped, not waited for. The engine's memory goes with its last holder.
    fn unload_if_unheld(&self, idle: Option<Duration>) {
        let Ok(mut slot) = self.engine.try_lock() else {
            return;
        };
        let unheld = slot.as_ref().is_some_and(|e| Arc::strong_count(e) == 1);
        let idle_long_enough = idle.is_none_or(|idle| lock(&self.last_used).elapsed() >= idle);
        if unheld && idle_long_enough && !self.pinned.load(Ordering::SeqCst) {
            slot.take();
            self.in_memory.store(false, Ordering::SeqCst);
        }
    }
}

/// Bytes counted against `max_models_mb` for a load in progress: given back if the load fails
/// or panics, handed over to the [`LoadedModel`] (whose drop gives them back) if it succeeds.
struct Reservation {
    counted: Arc<AtomicUsize>,
    bytes: usize,
}

impl Reservation {
    fn new(counted: Arc<AtomicUsize>, bytes: usize) -> Reservation {
        counted.fetch_add(bytes, Ordering::SeqCst);
        Reservation { counted, bytes }
    }

    fn hand_over(mut self) -> usize {
        std::mem::take(&mut self.bytes)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.counted.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}
