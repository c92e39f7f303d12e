//! What a toolset runs on ([`Compiled`]), and how one registered with `follow_reloads` moves to
//! its bundle's new engine after a reload ([`Current`]).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use toolcall_engine::{CallOptions, Error as EngineError, Toolset};
use zbus::OwnedObjectPath;

use crate::models::LoadedModel;
use crate::ownership::Claim;
use crate::service::Shared;

/// A toolset and the engine it was compiled on (its KV state is that engine's).
#[derive(Clone)]
pub struct Compiled {
    pub toolset: Arc<Toolset>,
    pub engine: Arc<LoadedModel>,
}

/// A toolset object's compiled toolset, and, if it follows reloads, its bundle's name.
pub struct Current {
    compiled: Mutex<Compiled>,
    /// Held while the toolset moves: a second call waits, then finds it moved.
    moving: Mutex<()>,
    follows: Option<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Current {
    pub fn new(compiled: Compiled, follows_reloads: bool) -> Current {
        let follows = follows_reloads.then(|| compiled.engine.bundle.clone());
        Current {
            compiled: Mutex::new(compiled),
            moving: Mutex::new(()),
            follows,
        }
    }

    pub fn get(&self) -> Compiled {
        lock(&self.compiled).clone()
    }

    /// Before a request on a toolset that follows reloads is queued: its bundle's engine
    /// loaded, if a reload left it out of memory (on a blocking thread, waiting at most the
    /// configured `request_timeout_ms`; the request is not yet tracked, so `Cancel` does not
    /// reach this wait), so that the move itself is only a compile. A failure leaves the toolset
    /// where it is.
    pub async fn load_followed(&self, shared: &Arc<Shared>) {
        let Some(model) = self.follows.as_deref().and_then(|b| shared.models.get(Some(b)).ok()) else {
            return;
        };
        if shared.models.loaded(&model).is_some() {
            return;
        }
        let (loader, limit) = (shared.clone(), Duration::from_millis(shared.request_timeout_ms()));
        let load = tokio::task::spawn_blocking(move || loader.models.engine(&model));
        if let Ok(Ok(Err(e))) = tokio::time::timeout(limit, load).await {
            log::warn!("a toolset following {:?} stays on its model: {e}", self.follows);
        }
    }

    /// Whether a request now would first move the toolset to its bundle's reloaded engine
    /// (in memory, and another than the one it was compiled on).
    pub fn moves(&self, shared: &Shared) -> bool {
        self.target(shared)
            .is_some_and(|engine| engine.id != self.get().engine.id)
    }

    /// The engine of the bundle it follows, if it follows one and that is in memory.
    fn target(&self, shared: &Shared) -> Option<Arc<LoadedModel>> {
        let model = shared.models.get(Some(self.follows.as_deref()?)).ok()?;
        shared.models.loaded(&model)
    }

    /// The compiled toolset a request runs on: on a worker, moved first to its bundle's
    /// engine if that is another now and in memory. Its tools are compiled again there and
    /// its KV state counted anew (`owner`'s object at `path`); sessions opened before keep
    /// the old engine. A refusal of the KV budget or a failed compile is the request's error,
    /// and the toolset stays where it was.
    pub fn latest(
        &self,
        shared: &Arc<Shared>,
        (owner, path): (&str, &OwnedObjectPath),
        options: &CallOptions,
    ) -> Result<Compiled, EngineError> {
        let Some(bundle) = self.follows.as_deref() else {
            return Ok(self.get());
        };
        let target = self.target(shared);
        let _moving = lock(&self.moving);
        let compiled = self.get();
        let Some(engine) = target.filter(|e| e.id != compiled.engine.id) else {
            return Ok(compiled);
        };
        let tools = serde_json::to_string(compiled.toolset.tools()).expect("tools serialise");
        let prepared = engine.prepare_toolset(&tools)?;
        let claim = Claim::new(
            shared.clone(),
            owner.to_string(),
            (path.clone(), engine.kv_bytes_per_token()),
        );
        claim.tokens(prepared.prompt_tokens())?;
        let toolset = match engine.compile_prepared(prepared, options) {
            Ok(toolset) => Arc::new(toolset),
            Err(e) => {
                let old_bytes = compiled.toolset.prefix_tokens() * compiled.engine.kv_bytes_per_token();
                shared.restore_object(owner, path, old_bytes);
                return Err(e);
            }
        };
        let moved = Compiled { toolset, engine };
        *lock(&self.compiled) = moved.clone();
        log::info!(
            "toolset {path} moved to the reloaded model {bundle} ({})",
            moved.engine.label
        );
        Ok(moved)
    }
}
