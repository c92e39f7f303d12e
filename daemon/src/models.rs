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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use toolcall_dbus::{ModelEntry, ModelInfo, ToolCallError};
use toolcall_engine::bundle::{Bundle, Manifest};
use toolcall_engine::{Engine, EngineLimits, Error as EngineError};

use crate::config::Settings;

mod loading;
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
    /// When a request last ran on it: shared with its [`Model`], for `model_idle_unload_s`.
    last_used: Arc<Mutex<Instant>>,
    bytes: usize,
    counted: Arc<AtomicUsize>,
}

impl LoadedModel {
    /// Marks it as used now (each request that runs on it does).
    pub fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }
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
        log::info!("model {} ({}) unloaded", self.bundle, self.label);
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
    /// See the lock order on [`Models`].
    engine: Mutex<Option<Arc<LoadedModel>>>,
    /// Whether `engine` holds one: read without waiting for a load in progress.
    in_memory: AtomicBool,
    /// Kept after a refused replacement: its files are gone, so it is never unloaded.
    pinned: AtomicBool,
    last_used: Arc<Mutex<Instant>>,
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
            in_memory: AtomicBool::new(false),
            pinned: AtomicBool::new(false),
            last_used: Arc::new(Mutex::new(Instant::now())),
        })
    }

    /// Bytes of KV state per token on this model.
    pub fn kv_bytes_per_token(&self) -> usize {
        self.manifest.kv_bytes_per_token()
    }

    fn in_memory(&self) -> bool {
        self.in_memory.load(Ordering::SeqCst)
    }

    fn entry(&self, default: bool) -> ModelEntry {
        ModelEntry {
            model: self.name.clone(),
            default,
            loaded: self.in_memory(),
            weights_mb: self.bytes.div_ceil(1 << 20) as u32,
            info: model_info(&self.manifest),
        }
    }
}

/// A lock that a panic elsewhere does not make unusable (the data under these locks stays
/// consistent: each is replaced whole).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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

/// The bundles, which are loaded, and the bytes all loaded engines take. Lock order: nothing
/// waits for a model's `engine` lock while holding the catalogue (its readers look at
/// `in_memory` or `try_lock` a model), and nothing reads the catalogue under a model's lock.
pub struct Models {
    catalogue: RwLock<Catalogue>,
    /// Bytes of every engine in memory or being loaded, the catalogue's and those objects
    /// still hold.
    counted: Arc<AtomicUsize>,
    /// Held while a load checks `max_models_mb` and reserves its bytes.
    room: Mutex<()>,
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
        if !found.contains_key(&default) {
            anyhow::bail!("default_model {default:?} is not a bundle of models_dir or model_dir");
        }
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
            room: Mutex::new(()),
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
        let catalogue = self.catalogue.read().unwrap_or_else(PoisonError::into_inner);
        let name = name.unwrap_or(&catalogue.default);
        catalogue.bundles.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = catalogue.bundles.keys().map(String::as_str).collect();
            ToolCallError::UnknownModel(format!("no model {name:?} (known: {})", known.join(", ")))
        })
    }

    /// `ListModels`: every bundle of the catalogue, by name.
    pub fn list(&self) -> Vec<ModelEntry> {
        let catalogue = self.catalogue.read().unwrap_or_else(PoisonError::into_inner);
        let entries = catalogue.bundles.values();
        entries.map(|m| m.entry(m.name == catalogue.default)).collect()
    }

    /// The default model's manifest, for the `Model` and `ModelInfo` properties.
    pub fn default_info(&self) -> ModelInfo {
        let catalogue = self.catalogue.read().unwrap_or_else(PoisonError::into_inner);
        model_info(&catalogue.bundles[&catalogue.default].manifest)
    }
}

/// The bundle directories the settings name, by name, and the name the default should have
/// (which may name none of them: the caller's to judge).
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
