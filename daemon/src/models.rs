//! The model bundles the service runs ([`Models`]): one per directory of `models_dir`, named by
//! the directory (hidden ones, `.name`, are left out: a new bundle is written there and renamed
//! into place), plus `model_dir` under its own directory's name; `default_model` names the
//! one that requests without a `model` option run on. The default is loaded at start-up (a
//! missing or corrupt default is a start-up failure); the others when a request first names
//! them, and they are unloaded again once unused for `model_idle_unload_s` with nothing holding
//! them. Every engine, in the catalogue or left over from a reload, counts its bundle's size
//! against `max_models_mb` for as long as anything holds it ([`LoadedModel`]). [`Models::reload`]
//! reads the directories again: see its doc.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use toolcall_dbus::{ModelEntry, ModelInfo, ToolCallError};
use toolcall_engine::bundle::{Bundle, Manifest};
use toolcall_engine::{Engine, EngineLimits, Error as EngineError, Limit};

use crate::config::Settings;

mod reload;

/// An engine in memory, with the name of the bundle it came from. Its size is counted against
/// `max_models_mb` until the last holder (catalogue, request, toolset, session) drops it.
pub struct LoadedModel {
    engine: Engine,
    /// The bundle's name in the catalogue (the `model` option's value).
    pub bundle: String,
    /// Unique among the engines of this process (a reload loads another): what one-shot
    /// `Call`'s cache tells its tool lists apart by.
    pub id: u64,
    /// The `model` field of its results: the manifest's name and version.
    pub label: String,
    bytes: usize,
    counted: Arc<AtomicUsize>,
}

impl std::ops::Deref for LoadedModel {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.engine
    }
}

impl Drop for LoadedModel {
    fn drop(&mut self) {
        self.counted.fetch_sub(self.bytes, Ordering::SeqCst);
        log::info!("model {} unloaded", self.label);
        toolcall_engine::memory::return_free_heap();
    }
}

/// A bundle of the catalogue: checked, maybe loaded.
pub struct Model {
    pub name: String,
    dir: PathBuf,
    manifest: Manifest,
    fingerprint: Fingerprint,
    bytes: usize,
    engine: Mutex<Option<Arc<LoadedModel>>>,
    last_used: Mutex<Instant>,
}

/// What tells a changed bundle directory from an unchanged one without hashing its files:
/// bundle.json's text and each listed file's size and modification time.
#[derive(PartialEq, Eq)]
struct Fingerprint(String, Vec<(u64, Option<SystemTime>)>);

impl Fingerprint {
    fn of(dir: &Path) -> std::io::Result<Fingerprint> {
        let text = std::fs::read_to_string(dir.join("bundle.json"))?;
        let manifest: Option<Manifest> = serde_json::from_str(&text).ok();
        let files = manifest.iter().flat_map(|m| m.files.keys()).map(|name| {
            let meta = std::fs::metadata(dir.join(name)).ok();
            (
                meta.as_ref().map_or(0, |m| m.len()),
                meta.and_then(|m| m.modified().ok()),
            )
        });
        Ok(Fingerprint(text, files.collect()))
    }
}

impl Model {
    /// Checks the bundle in `dir` (its manifest and every file's checksum), without loading it.
    fn check(name: &str, dir: &Path) -> Result<Model, EngineError> {
        let fingerprint = Fingerprint::of(dir).map_err(|e| EngineError::Bundle {
            path: dir.display().to_string(),
            message: format!("cannot read bundle.json: {e}"),
        })?;
        let bundle = Bundle::open(dir)?;
        Ok(Model {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            bytes: bundle.manifest.files_bytes(dir) as usize,
            manifest: bundle.manifest,
            fingerprint,
            engine: Mutex::new(None),
            last_used: Mutex::new(Instant::now()),
        })
    }

    /// Bytes of KV state per token on this model.
    pub fn kv_bytes_per_token(&self) -> usize {
        self.manifest.kv_bytes_per_token()
    }

    fn loaded(&self) -> Option<Arc<LoadedModel>> {
        self.engine.lock().expect("model lock").clone()
    }

    fn entry(&self, default: bool) -> ModelEntry {
        ModelEntry {
            model: self.name.clone(),
            default,
            loaded: self.loaded().is_some(),
            weights_mb: self.bytes.div_ceil(1 << 20) as u32,
            info: model_info(&self.manifest),
        }
    }
}

/// The manifest as the `ModelInfo` property and `ListModels` report it.
pub fn model_info(m: &Manifest) -> ModelInfo {
    ModelInfo {
        name: m.name.clone(),
        version: m.version.clone(),
        parameters: m.parameters,
        quantization: serde_json::to_string(&m.quantization).unwrap_or_default(),
        context_length: m.context_length as u32,
        license: m.license.clone(),
        attribution: m.attribution.clone(),
        prompt_format: m.prompt_format.clone(),
    }
}

struct Catalogue {
    bundles: BTreeMap<String, Arc<Model>>,
    default: String,
}

/// The bundles, which are loaded, and the bytes all loaded engines take.
pub struct Models {
    catalogue: RwLock<Catalogue>,
    /// Bytes of every engine in memory, the catalogue's and those objects still hold.
    counted: Arc<AtomicUsize>,
    settings: RwLock<ModelSettings>,
    /// One reload at a time.
    reloading: Mutex<()>,
}

/// The keys this module reads, taken from [`Settings`] at start and at each reload.
#[derive(Clone)]
struct ModelSettings {
    limits: EngineLimits,
    max_bytes: usize,
    idle_unload: Option<Duration>,
}

impl ModelSettings {
    fn of(settings: &Settings) -> ModelSettings {
        ModelSettings {
            limits: settings.engine_limits(),
            max_bytes: settings.max_models_mb << 20,
            idle_unload: (settings.model_idle_unload_s > 0).then(|| Duration::from_secs(settings.model_idle_unload_s)),
        }
    }
}

impl Models {
    /// Reads the bundle directories and loads the default model. A bundle other than the
    /// default that fails its checks is left out with a warning (a reload may add it later).
    pub fn open(settings: &Settings) -> anyhow::Result<Models> {
        let (found, default) = bundle_dirs(settings).map_err(anyhow::Error::msg)?;
        let mut bundles = BTreeMap::new();
        for (name, dir) in found {
            match Model::check(&name, &dir) {
                Ok(model) => {
                    bundles.insert(name, Arc::new(model));
                }
                Err(e) if name == default => return Err(anyhow::anyhow!("cannot load the model: {e}")),
                Err(e) => log::warn!("model {name} left out: {e}"),
            }
        }
        let models = Models {
            catalogue: RwLock::new(Catalogue {
                bundles,
                default: default.clone(),
            }),
            counted: Arc::new(AtomicUsize::new(0)),
            settings: RwLock::new(ModelSettings::of(settings)),
            reloading: Mutex::new(()),
        };
        let model = models.get(Some(&default)).map_err(|e| anyhow::anyhow!("{e}"))?;
        models
            .engine(&model)
            .map_err(|e| anyhow::anyhow!("cannot load the model: {e}"))?;
        Ok(models)
    }

    /// The bundle called `name`, or the default one; `UnknownModel` for a name not served.
    pub fn get(&self, name: Option<&str>) -> Result<Arc<Model>, ToolCallError> {
        let catalogue = self.catalogue.read().expect("models lock");
        let name = name.unwrap_or(&catalogue.default);
        catalogue.bundles.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = catalogue.bundles.keys().map(String::as_str).collect();
            ToolCallError::UnknownModel(format!("no model {name:?} (known: {})", known.join(", ")))
        })
    }

    /// The engine of `model`, loaded now if it is not in memory (on the calling thread: a
    /// worker's). Loading first unloads other bundles that nothing holds when `max_models_mb`
    /// would not fit it, and is refused (`LimitExceeded` naming it) if it still does not.
    pub fn engine(&self, model: &Model) -> Result<Arc<LoadedModel>, EngineError> {
        self.load(model, true)
    }

    /// As [`Models::engine`]; `make_room: false` loads whatever `max_models_mb` says.
    fn load(&self, model: &Model, make_room: bool) -> Result<Arc<LoadedModel>, EngineError> {
        *model.last_used.lock().expect("model lock") = Instant::now();
        let mut slot = model.engine.lock().expect("model lock");
        if let Some(engine) = slot.as_ref() {
            return Ok(engine.clone());
        }
        let settings = self.settings.read().expect("models lock").clone();
        if make_room {
            self.make_room(model, settings.max_bytes)?;
        }
        let started = Instant::now();
        let engine = Engine::load(&model.dir, settings.limits)?;
        let label = format!("{} {}", engine.manifest().name, engine.manifest().version);
        log::info!(
            "model {} ({label}) loaded in {:.1} s",
            model.name,
            started.elapsed().as_secs_f64()
        );
        self.counted.fetch_add(model.bytes, Ordering::SeqCst);
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let loaded = Arc::new(LoadedModel {
            engine,
            bundle: model.name.clone(),
            id: NEXT_ID.fetch_add(1, Ordering::SeqCst),
            label,
            bytes: model.bytes,
            counted: self.counted.clone(),
        });
        *slot = Some(loaded.clone());
        Ok(loaded)
    }

    /// Unloads bundles that nothing holds (never `loading`, never the default) until `loading`
    /// fits in `max_bytes` beside what stays.
    fn make_room(&self, loading: &Model, max_bytes: usize) -> Result<(), EngineError> {
        let fits = || self.counted.load(Ordering::SeqCst) + loading.bytes <= max_bytes;
        if !fits() {
            let catalogue = self.catalogue.read().expect("models lock");
            let mut others: Vec<&Arc<Model>> = catalogue
                .bundles
                .values()
                .filter(|m| m.name != loading.name && m.name != catalogue.default)
                .collect();
            others.sort_by_key(|m| *m.last_used.lock().expect("model lock"));
            for other in others {
                if fits() {
                    break;
                }
                // A bundle being loaded or used by a load right now is skipped, not waited for.
                if let Ok(mut slot) = other.engine.try_lock()
                    && slot.as_ref().is_some_and(|e| Arc::strong_count(e) == 1)
                {
                    slot.take();
                }
            }
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
        let Some(idle) = self.settings.read().expect("models lock").idle_unload else {
            return;
        };
        let catalogue = self.catalogue.read().expect("models lock");
        for model in catalogue.bundles.values().filter(|m| m.name != catalogue.default) {
            if model.last_used.lock().expect("model lock").elapsed() < idle {
                continue;
            }
            if let Ok(mut slot) = model.engine.try_lock()
                && slot.as_ref().is_some_and(|e| Arc::strong_count(e) == 1)
            {
                slot.take();
            }
        }
    }

    /// `ListModels`: every bundle of the catalogue, by name.
    pub fn list(&self) -> Vec<ModelEntry> {
        let catalogue = self.catalogue.read().expect("models lock");
        let entries = catalogue.bundles.values();
        entries.map(|m| m.entry(m.name == catalogue.default)).collect()
    }

    /// The default model's manifest, for the `Model` and `ModelInfo` properties.
    pub fn default_info(&self) -> ModelInfo {
        let catalogue = self.catalogue.read().expect("models lock");
        model_info(&catalogue.bundles[&catalogue.default].manifest)
    }
}

/// The bundle directories the settings name, by name, and the default's name.
fn bundle_dirs(settings: &Settings) -> Result<(BTreeMap<String, PathBuf>, String), String> {
    let mut found = BTreeMap::new();
    if !settings.models_dir.as_os_str().is_empty() {
        let root = &settings.models_dir;
        let entries =
            std::fs::read_dir(root).map_err(|e| format!("models_dir {}: cannot list it: {e}", root.display()))?;
        for entry in entries.flatten() {
            let dir = entry.path();
            // A hidden directory is a bundle being put in place (or one taken out), not a bundle.
            if dir.join("bundle.json").is_file()
                && let Some(name) = entry.file_name().to_str()
                && !name.starts_with('.')
            {
                found.insert(name.to_string(), dir);
            }
        }
    }
    let own = dir_name(&settings.model_dir)?;
    match found.get(&own) {
        Some(dir) if !same_dir(dir, &settings.model_dir) => {
            return Err(format!(
                "model_dir {} and {} of models_dir have the same name {own:?}",
                settings.model_dir.display(),
                dir.display()
            ));
        }
        _ => {
            found.insert(own.clone(), settings.model_dir.clone());
        }
    }
    let default = if settings.default_model.is_empty() {
        own
    } else {
        settings.default_model.clone()
    };
    if !found.contains_key(&default) {
        return Err(format!(
            "default_model {default:?} is not a bundle of models_dir or model_dir"
        ));
    }
    Ok((found, default))
}

fn dir_name(dir: &Path) -> Result<String, String> {
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    canonical
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| format!("model_dir {} has no directory name", dir.display()))
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
