//! Who holds what: for each client (its unique bus name, or a peer connection's label) the
//! toolset and session objects it registered and the cancel flags of its requests in flight.
//! The caps on objects per client and in all are checked here; a client that leaves the bus
//! is taken out whole ([`ClientRegistry::depart`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use toolcall_dbus::ToolCallError;
use zbus::OwnedObjectPath;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Toolset,
    Session,
}

/// What one client holds.
#[derive(Default)]
struct Client {
    objects: Vec<(OwnedObjectPath, ObjectKind)>,
    in_flight: Vec<Arc<AtomicBool>>,
}

/// What a departed client held: its objects, to take off the bus, and how many of its requests
/// were cancelled.
pub struct Departed {
    pub objects: Vec<(OwnedObjectPath, ObjectKind)>,
    pub cancelled: usize,
}

#[derive(Default)]
pub struct ClientRegistry {
    clients: Mutex<HashMap<String, Client>>,
}

impl ClientRegistry {
    /// Records that `owner` holds the object at `path`, unless that would make it hold more
    /// than `per_client` or all clients together more than `in_all` (`LimitExceeded`).
    pub fn add_object(
        &self,
        owner: &str,
        path: &OwnedObjectPath,
        kind: ObjectKind,
        per_client: usize,
        in_all: usize,
    ) -> Result<(), ToolCallError> {
        let mut clients = self.clients.lock().expect("clients lock");
        let total: usize = clients.values().map(|c| c.objects.len()).sum();
        if total >= in_all {
            return Err(ToolCallError::LimitExceeded(format!(
                "max_objects: the clients hold {total} toolsets/sessions in all; retry after some are released"
            )));
        }
        let client = clients.entry(owner.to_string()).or_default();
        if client.objects.len() >= per_client {
            return Err(ToolCallError::LimitExceeded(format!(
                "max_objects_per_client: {owner} already holds {per_client} toolsets/sessions"
            )));
        }
        client.objects.push((path.clone(), kind));
        Ok(())
    }

    /// Whether `owner` is still recorded as holding `path` (it has not left the bus since).
    pub fn holds(&self, owner: &str, path: &OwnedObjectPath) -> bool {
        self.clients
            .lock()
            .expect("clients lock")
            .get(owner)
            .is_some_and(|c| c.objects.iter().any(|(p, _)| p == path))
    }

    pub fn forget_object(&self, owner: &str, path: &OwnedObjectPath) {
        if let Some(client) = self.clients.lock().expect("clients lock").get_mut(owner) {
            client.objects.retain(|(p, _)| p != path);
        }
    }

    /// Keeps `cancel` with the caller's requests until the returned guard is dropped: if the
    /// caller leaves meanwhile, the flag is set.
    pub fn track(&self, caller: &str, cancel: Arc<AtomicBool>) -> InFlight<'_> {
        self.clients
            .lock()
            .expect("clients lock")
            .entry(caller.to_string())
            .or_default()
            .in_flight
            .push(cancel.clone());
        InFlight {
            registry: self,
            caller: caller.to_string(),
            cancel,
        }
    }

    /// The client `name` left: its requests are cancelled and its record removed.
    pub fn depart(&self, name: &str) -> Option<Departed> {
        let client = self.clients.lock().expect("clients lock").remove(name)?;
        for flag in &client.in_flight {
            flag.store(true, Ordering::SeqCst);
        }
        Some(Departed {
            objects: client.objects,
            cancelled: client.in_flight.len(),
        })
    }
}

/// A request in flight; dropping it takes its cancel flag off the caller's record.
pub struct InFlight<'a> {
    registry: &'a ClientRegistry,
    caller: String,
    cancel: Arc<AtomicBool>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(client) = self
            .registry
            .clients
            .lock()
            .expect("clients lock")
            .get_mut(&self.caller)
        {
            client.in_flight.retain(|c| !Arc::ptr_eq(c, &self.cancel));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(n: u32) -> OwnedObjectPath {
        OwnedObjectPath::try_from(format!("/t/{n}")).unwrap()
    }

    #[test]
    fn caps_per_client_and_in_all_and_a_departure_cancels_and_frees() {
        let registry = ClientRegistry::default();
        registry
            .add_object(":1.1", &path(1), ObjectKind::Toolset, 2, 3)
            .unwrap();
        registry
            .add_object(":1.1", &path(2), ObjectKind::Session, 2, 3)
            .unwrap();
        let per_client = registry.add_object(":1.1", &path(3), ObjectKind::Toolset, 2, 3);
        assert!(matches!(per_client, Err(ToolCallError::LimitExceeded(m)) if m.starts_with("max_objects_per_client")));
        registry
            .add_object(":1.2", &path(4), ObjectKind::Toolset, 2, 3)
            .unwrap();
        let in_all = registry.add_object(":1.3", &path(5), ObjectKind::Toolset, 2, 3);
        assert!(matches!(in_all, Err(ToolCallError::LimitExceeded(m)) if m.starts_with("max_objects:")));

        let flag = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicBool::new(false));
        let _running = registry.track(":1.1", flag.clone());
        drop(registry.track(":1.1", finished.clone()));
        let departed = registry.depart(":1.1").expect("the client was known");
        assert_eq!(departed.objects.len(), 2);
        assert_eq!(departed.cancelled, 1, "a finished request is no longer tracked");
        assert!(flag.load(Ordering::SeqCst) && !finished.load(Ordering::SeqCst));
        // Its objects no longer count.
        registry
            .add_object(":1.3", &path(5), ObjectKind::Toolset, 2, 3)
            .unwrap();
    }
}
