//! `ReloadModels` and SIGHUP: the bundle directories read again while requests go on.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use toolcall_engine::Error as EngineError;

use super::{Catalogue, Fingerprint, Model, ModelSettings, Models, bundle_dirs, lock};
use crate::config::Settings;

impl Models {
    /// Reads the bundle directories of `settings` again and says, per bundle, what became of
    /// it: `added`; `unchanged` (bundle.json and each file's size and time as before);
    /// `replaced` (its checksums checked and, if the old one was loaded or it is the default,
    /// the new one loaded before it takes the old one's place); `removed`; or `refused: why`
    /// (corrupt, or not loadable), when the old one stays if it is loaded, pinned in memory (one
    /// that is not has no files left to load from, and goes). The old engines go once the
    /// requests, toolsets and sessions holding them are done. A `default_model` that names no
    /// bundle that is there now is refused too (key `config/default_model`: no directory has a
    /// `/` in its name), and the old default stays; so are a `models_dir` that cannot be read
    /// and a `model_dir` without a name or whose name a `models_dir` entry has (key
    /// `config/models_dir`), and then no bundle changes (`max_models_mb` and
    /// `model_idle_unload_s` are taken all the same).
    pub fn reload(&self, settings: &Settings) -> BTreeMap<String, String> {
        let _one_at_a_time = lock(&self.reloading);
        // The engine limits stay those of start-up (as for the default model); the rest is
        // read again.
        {
            let mut current = self.settings.write().unwrap_or_else(PoisonError::into_inner);
            *current = ModelSettings {
                limits: current.limits.clone(),
                ..ModelSettings::of(settings)
            };
        }
        let mut outcome = BTreeMap::new();
        let (found, wanted_default) = match bundle_dirs(settings) {
            Ok(found) => found,
            Err(e) => {
                log::warn!("models not reloaded: {e}");
                outcome.insert("config/models_dir".to_string(), format!("refused: {e}"));
                return outcome;
            }
        };
        let (old, old_default) = {
            let catalogue = self.catalogue.read().unwrap_or_else(PoisonError::into_inner);
            (catalogue.bundles.clone(), catalogue.default.clone())
        };
        let mut next = BTreeMap::new();
        for (name, dir) in &found {
            let previous = old.get(name);
            if let Some(previous) = previous
                && previous.dir == *dir
                && Fingerprint::of(dir).is_ok_and(|f| f == previous.fingerprint)
            {
                next.insert(name.clone(), previous.clone());
                outcome.insert(name.clone(), "unchanged".to_string());
                continue;
            }
            let load_now = name == &wanted_default || previous.is_some_and(|p| p.in_memory());
            match self.replacement(name, dir, load_now) {
                Ok(model) => {
                    next.insert(name.clone(), Arc::new(model));
                    let what = if previous.is_some() { "replaced" } else { "added" };
                    outcome.insert(name.clone(), what.to_string());
                }
                // The old bundle keeps serving from memory; one that was not loaded has no files
                // left to load from (the new ones took their place), so it goes.
                Err(e) => {
                    // Pinned under its lock, so that no unloading slips in between.
                    let kept = previous.filter(|p| {
                        let slot = lock(&p.engine);
                        p.pinned.store(slot.is_some(), Ordering::SeqCst);
                        slot.is_some()
                    });
                    let note = match previous {
                        Some(previous) if kept.is_some() => {
                            next.insert(name.clone(), previous.clone());
                            "; the loaded one keeps serving"
                        }
                        Some(_) => "; the old one was not loaded: not served until a good bundle is in place",
                        None => "",
                    };
                    outcome.insert(name.clone(), format!("refused: {e}{note}"));
                }
            }
        }
        let default = match next.get(&wanted_default).map(|m| self.load_unchecked(m)) {
            Some(Ok(())) => wanted_default,
            failed => {
                let why = match failed {
                    Some(Err(e)) => e.to_string(),
                    _ => format!("no bundle {wanted_default:?} is served"),
                };
                outcome.insert("config/default_model".to_string(), format!("refused: {why}"));
                next.entry(old_default.clone())
                    .or_insert_with(|| old[&old_default].clone());
                old_default
            }
        };
        for name in old
            .keys()
            .filter(|name| !next.contains_key(*name) && !found.contains_key(*name))
        {
            outcome.insert(name.clone(), "removed".to_string());
        }
        for (name, what) in &outcome {
            let level = if what.starts_with("refused") {
                log::Level::Warn
            } else {
                log::Level::Info
            };
            log::log!(level, "reload: model {name}: {what}");
        }
        let new = Catalogue { bundles: next, default };
        let old = std::mem::replace(
            &mut *self.catalogue.write().unwrap_or_else(PoisonError::into_inner),
            new,
        );
        // Engines only the old catalogue held are freed here, outside its lock.
        drop(old);
        outcome
    }

    /// The bundle in `dir`, checked, and loaded if `load_now`.
    fn replacement(&self, name: &str, dir: &Path, load_now: bool) -> Result<Model, EngineError> {
        let model = Model::check(name, dir)?;
        if load_now {
            self.load_unchecked(&model)?;
        }
        Ok(model)
    }

    /// Loads `model` if it is not in memory, without making room under `max_models_mb`: the
    /// engine it replaces goes once its holders are done, so for a while both may count.
    fn load_unchecked(&self, model: &Model) -> Result<(), EngineError> {
        self.load(model, false).map(|_| ())
    }
}
