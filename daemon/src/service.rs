//! The service as a whole: [`Service`] owns the worker pool and the state every object shares
//! ([`Shared`]: settings, the model bundles, the one-shot toolset cache, the client registry, the
//! requests in flight, the escalation endpoint, the published tools and their retriever),
//! serves the manager object on a bus connection or on peer-to-peer ones, frees what a client
//! held when it leaves the bus, and shuts down by draining the pool.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use toolcall_dbus::MANAGER_PATH;
use toolcall_engine::Error as EngineError;
use toolcall_engine::retrieval::{Narrowing, Retriever};
use zbus::object_server::ObjectServer;
use zbus::{Connection, OwnedObjectPath};

use crate::clients::{Caps, ClientRegistry, ObjectKind};
use crate::config::Settings;
use crate::escalation::Escalator;
use crate::in_flight::InFlightRequests;
use crate::models::Models;
use crate::objects::{Manager, RegistryObject, SessionObject, ToolsetObject};
use crate::ownership::learn_uid;
use crate::registry::Registry;
use crate::request::Method;
use crate::toolset_cache::ToolsetCache;
use crate::worker::Pool;

/// State shared by every object of the service.
pub struct Shared {
    pub pool: Arc<Pool>,
    pub settings: RwLock<Settings>,
    pub models: Models,
    pub cache: ToolsetCache,
    pub clients: ClientRegistry,
    pub requests: InFlightRequests,
    /// Where unsure answers go, if the deployment set an endpoint.
    pub escalation: Option<Escalator>,
    /// The tools provider apps published.
    pub registry: Registry,
    /// Ranks long tool lists for a request (BM25, fused with a sentence encoder if configured).
    pub retriever: Retriever,
    next_id: AtomicU64,
}

impl Shared {
    /// A new object path under `base` (`.../toolsets` or `.../sessions`), never used before and
    /// not guessable: a counter and 64 random bits (std's randomly keyed SipHash of nothing).
    pub fn new_path(&self, base: &str) -> OwnedObjectPath {
        use std::hash::{BuildHasher, Hasher};
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let secret = std::collections::hash_map::RandomState::new().build_hasher().finish();
        OwnedObjectPath::try_from(format!("{base}/{id}_{secret:016x}")).expect("valid object path")
    }

    /// The limits a tool list is held to (`max_tools`, `max_tools_bytes`, `max_schema_depth`).
    pub fn tool_limits(&self) -> toolcall_engine::ToolLimits {
        self.settings.read().expect("settings lock").engine_limits().tools
    }

    /// Which tool lists retrieval narrows (`retrieval_above`), and to how many tools
    /// (`retrieval_top_k`, at most `max_tools`).
    pub fn narrowing(&self) -> Narrowing {
        let settings = self.settings.read().expect("settings lock");
        Narrowing {
            above: settings.retrieval_above,
            top_k: settings.retrieval_top_k.min(settings.max_tools),
        }
    }

    pub fn request_timeout_ms(&self) -> u64 {
        self.settings.read().expect("settings lock").request_timeout_ms
    }

    /// The deadline a request of `method` may have at most: RegisterToolset's own
    /// (`register_timeout_ms`, a one-time compile of a tool list), every other's
    /// `request_timeout_ms`.
    pub fn timeout_ms_of(&self, method: Method) -> u64 {
        let settings = self.settings.read().expect("settings lock");
        match method {
            Method::RegisterToolset => settings.register_timeout_ms,
            _ => settings.request_timeout_ms,
        }
    }

    /// How long a session may go unused before the service closes it; `None`: never.
    pub fn session_idle_timeout(&self) -> Option<Duration> {
        let seconds = self.settings.read().expect("settings lock").session_idle_timeout_s;
        (seconds > 0).then(|| Duration::from_secs(seconds))
    }

    /// Bytes of KV state the budget (`max_kv_mb`) allows in all.
    pub fn kv_budget_bytes(&self) -> usize {
        self.settings.read().expect("settings lock").max_kv_mb << 20
    }

    /// Records `owner`'s object at `path` (caps and KV budgets checked), then one-shot lists
    /// give way to it. See [`ClientRegistry::add_object`].
    pub fn add_object(
        &self,
        owner: &str,
        path: &OwnedObjectPath,
        kind: ObjectKind,
        kv_bytes: usize,
    ) -> Result<(), EngineError> {
        self.clients.add_object(owner, (path, kind, kv_bytes), &self.caps())?;
        self.cache.shrink_to(self.cache_room());
        Ok(())
    }

    /// Counts `owner`'s object at `path` for `kv_bytes`, then one-shot lists give way to what
    /// it grew by. See [`ClientRegistry::resize`].
    pub fn resize_object(&self, owner: &str, path: &OwnedObjectPath, kv_bytes: usize) -> Result<(), EngineError> {
        self.clients.resize(owner, path, kv_bytes, &self.caps())?;
        self.cache.shrink_to(self.cache_room());
        Ok(())
    }

    /// Counts `owner`'s object at `path` for `kv_bytes` again, whatever the budgets say: what
    /// it held before a move that failed.
    pub fn restore_object(&self, owner: &str, path: &OwnedObjectPath, kv_bytes: usize) {
        let unbounded = Caps {
            room: usize::MAX,
            user_room: usize::MAX,
            ..self.caps()
        };
        let _ = self.clients.resize(owner, path, kv_bytes, &unbounded);
    }

    /// The caps from the settings. Objects may use the whole KV budget: the one-shot cache
    /// holds only what they leave, and gives way once an object is admitted (so a refused
    /// request evicts nothing).
    fn caps(&self) -> Caps {
        let settings = self.settings.read().expect("settings lock");
        Caps {
            per_client: settings.max_objects_per_client,
            per_user: settings.max_objects_per_user,
            in_all: settings.max_objects,
            room: settings.max_kv_mb << 20,
            user_room: settings.max_kv_mb_per_user << 20,
        }
    }

    /// Bytes of KV state the one-shot cache may hold now: what the objects leave of the budget.
    pub fn cache_room(&self) -> usize {
        self.kv_budget_bytes().saturating_sub(self.clients.kv_bytes())
    }
}

/// toolcalld's objects and workers, served on one or more connections.
pub struct Service {
    shared: Arc<Shared>,
    peers: AtomicU64,
}

impl Service {
    /// Starts the worker pool; requests run on `models`' bundles, long tool lists are narrowed
    /// by `retriever`, and unsure answers go to `escalation`'s endpoint.
    pub fn start(
        (models, retriever): (Models, Retriever),
        escalation: Option<Escalator>,
        settings: Settings,
    ) -> Service {
        let pool = Pool::start(settings.workers, (settings.queue_size, settings.max_queued_per_user));
        Service {
            shared: Arc::new(Shared {
                pool,
                models,
                cache: ToolsetCache::new(settings.toolset_cache),
                settings: RwLock::new(settings),
                clients: ClientRegistry::default(),
                requests: InFlightRequests::default(),
                escalation,
                registry: Registry::default(),
                retriever,
                next_id: AtomicU64::new(1),
            }),
            peers: AtomicU64::new(1),
        }
    }

    /// Serves the manager on a bus connection, and frees the objects and cancels the requests
    /// of each client that leaves the bus. Owning the bus name is the caller's step.
    pub async fn serve_bus(&self, connection: &Connection) -> zbus::Result<()> {
        let manager = Manager::new(self.shared.clone(), None);
        connection.object_server().at(MANAGER_PATH, manager).await?;
        let registry = RegistryObject::new(self.shared.clone(), None);
        connection.object_server().at(MANAGER_PATH, registry).await?;
        let dbus = zbus::fdo::DBusProxy::new(connection).await?;
        let mut owner_changes = dbus.receive_name_owner_changed().await?;
        let (shared, connection) = (self.shared.clone(), connection.clone());
        tokio::spawn(async move {
            while let Some(signal) = owner_changes.next().await {
                let Ok(args) = signal.args() else { continue };
                if !args.name().starts_with(':') {
                    continue;
                }
                let name = args.name().to_string();
                if args.new_owner().is_none() {
                    client_gone(&shared, &name, connection.object_server()).await;
                } else if args.old_owner().is_none() {
                    let (shared, connection) = (shared.clone(), connection.clone());
                    tokio::spawn(async move { learn_uid(&shared, &connection, &name).await });
                }
            }
        });
        Ok(())
    }

    /// Serves the manager on the peer-to-peer connection `builder` will build (no bus:
    /// messages carry no sender, so the peer is the one client of that connection, known by a
    /// label of its own). The object is set up before the connection reads its first message:
    /// registered on an already built connection, a call that came first could be lost. What
    /// the peer holds stays until it releases it; leaving is seen on the bus only.
    pub fn serve_peer<'a>(&self, builder: zbus::connection::Builder<'a>) -> zbus::connection::Builder<'a> {
        let label: Arc<str> = format!("peer-{}", self.peers.fetch_add(1, Ordering::SeqCst)).into();
        builder
            .serve_at(MANAGER_PATH, Manager::new(self.shared.clone(), Some(label.clone())))
            .serve_at(MANAGER_PATH, RegistryObject::new(self.shared.clone(), Some(label)))
    }

    /// Applies the reloadable keys of a re-read configuration at once, and reads the bundles
    /// again (see [`Models::reload`]) on a blocking thread, since checksums and loads take
    /// seconds: the handle ends when that is done.
    pub fn reload(&self, new: Settings) -> tokio::task::JoinHandle<()> {
        self.shared.pool.set_queue_size(new.queue_size, new.max_queued_per_user);
        self.shared.cache.set_capacity(new.toolset_cache);
        log::set_max_level(new.log_level.parse().unwrap_or(log::LevelFilter::Info));
        *self.shared.settings.write().expect("settings lock") = new.clone();
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            shared.models.reload(&new);
        })
    }

    /// The periodic chores: bundles unused past `model_idle_unload_s` are unloaded, and the
    /// one-shot cache drops the lists of engines that are gone.
    pub fn tick(&self) {
        self.shared.models.unload_idle();
        self.shared.cache.shrink_to(self.shared.cache_room());
    }

    /// Requests queued or running.
    pub fn depth(&self) -> usize {
        self.shared.pool.depth()
    }

    /// Whether every worker is alive: idle and ticking, or in a job less than 10 s past its
    /// deadline (the systemd watchdog's check).
    pub fn healthy(&self) -> bool {
        self.shared.pool.healthy(Duration::from_secs(10))
    }

    /// Stops taking requests (new ones get `Busy`) and waits for those queued or running, then
    /// for those waiting for the escalation endpoint, at most `shutdown_grace_ms` in all. True
    /// when the pool's all finished.
    pub async fn shutdown(&self) -> bool {
        let grace = Duration::from_millis(self.shared.settings.read().expect("settings lock").shutdown_grace_ms);
        let started = std::time::Instant::now();
        let finished = self.shared.pool.shutdown(grace).await;
        if let Some(escalator) = &self.shared.escalation {
            escalator.drain(grace.saturating_sub(started.elapsed())).await;
        }
        finished
    }
}

/// A client left the bus: cancel its requests, drop its objects.
async fn client_gone(shared: &Shared, name: &str, server: &ObjectServer) {
    let cancelled = shared.requests.depart(name);
    let objects = shared.clients.depart(name);
    if shared.registry.depart(name) {
        log::info!("provider {name} left: its tools are unpublished");
        if let Ok(registry) = server.interface::<_, RegistryObject>(MANAGER_PATH).await {
            crate::objects::tools_changed(registry.signal_emitter()).await;
        }
    }
    for (path, kind) in &objects {
        remove_object(server, path, *kind).await;
    }
    // Every client of the bus is known by its uid, most never call: only those that held
    // something are worth a line.
    let level = if cancelled + objects.len() > 0 {
        log::Level::Info
    } else {
        log::Level::Debug
    };
    log::log!(
        level,
        "client {name} left: cancelled {cancelled} request(s), freed {} object(s)",
        objects.len()
    );
}

/// Takes a toolset or session object off the bus; its KV cache is freed with it (unless a
/// running request still holds it).
pub async fn remove_object(server: &ObjectServer, path: &OwnedObjectPath, kind: ObjectKind) {
    let removed = match kind {
        ObjectKind::Toolset => server.remove::<ToolsetObject, _>(path).await,
        ObjectKind::Session => server.remove::<SessionObject, _>(path).await,
    };
    if let Err(e) = removed {
        log::debug!("removing {path}: {e}");
    }
    toolcall_engine::memory::return_free_heap();
}
