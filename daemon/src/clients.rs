//! Who holds what: for each client (its unique bus name, or a peer connection's label) the
//! toolset and session objects it registered and the cancel flags of its requests in flight.
//! The caps on objects per client and in all are checked here, and so is each object's share
//! of the KV budget, in tokens; a client that leaves the bus is taken out whole
//! ([`ClientRegistry::depart`]).

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

/// An object a client holds, and the tokens of KV state it is counted for.
struct Held {
    path: OwnedObjectPath,
    kind: ObjectKind,
    tokens: usize,
}

/// What one client holds.
#[derive(Default)]
struct Client {
    /// The user the bus says the client runs as, once known.
    uid: Option<u32>,
    objects: Vec<Held>,
    in_flight: Vec<Arc<AtomicBool>>,
}

/// What a departed client held: its objects, to take off the bus, and how many of its requests
/// were cancelled.
pub struct Departed {
    pub objects: Vec<(OwnedObjectPath, ObjectKind)>,
    pub cancelled: usize,
}

/// The limits an object must fit in when it is added.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Objects one client (connection) may hold.
    pub per_client: usize,
    /// Objects all the clients of one user (uid) may hold together.
    pub per_user: usize,
    /// Objects all clients may hold together.
    pub in_all: usize,
    /// Tokens of KV state all objects may hold together now.
    pub room: usize,
}

#[derive(Default)]
pub struct ClientRegistry {
    clients: Mutex<HashMap<String, Client>>,
}

impl ClientRegistry {
    /// Records that `owner` (running as `uid`, when known) holds the object at `path`,
    /// counted for `tokens` of KV state, unless that would break one of the `caps`
    /// (`LimitExceeded` naming it).
    pub fn add_object(
        &self,
        (owner, uid): (&str, Option<u32>),
        (path, kind, tokens): (&OwnedObjectPath, ObjectKind, usize),
        caps: &Caps,
    ) -> Result<(), ToolCallError> {
        let Caps {
            per_client,
            per_user,
            in_all,
            room,
        } = *caps;
        let mut clients = self.clients.lock().expect("clients lock");
        check_room(&clients, tokens, room)?;
        if let Some(uid) = uid {
            let of_user: usize = clients
                .iter()
                .filter(|(name, c)| c.uid == Some(uid) && name.as_str() != owner)
                .map(|(_, c)| c.objects.len())
                .sum::<usize>()
                + clients.get(owner).map_or(0, |c| c.objects.len());
            if of_user >= per_user {
                return Err(ToolCallError::LimitExceeded(format!(
                    "max_objects_per_user: the clients of uid {uid} already hold {of_user} toolsets/sessions"
                )));
            }
        }
        let total: usize = clients.values().map(|c| c.objects.len()).sum();
        if total >= in_all {
            return Err(ToolCallError::LimitExceeded(format!(
                "max_objects: the clients hold {total} toolsets/sessions in all; retry after some are released"
            )));
        }
        let client = clients.entry(owner.to_string()).or_default();
        client.uid = client.uid.or(uid);
        if client.objects.len() >= per_client {
            return Err(ToolCallError::LimitExceeded(format!(
                "max_objects_per_client: {owner} already holds {per_client} toolsets/sessions"
            )));
        }
        client.objects.push(Held {
            path: path.clone(),
            kind,
            tokens,
        });
        Ok(())
    }

    /// Counts the object at `path` for `tokens` from now on. Growing past `room` tokens in all
    /// is `LimitExceeded` (and changes nothing); shrinking always succeeds. An object no longer
    /// recorded (its owner left) is `Cancelled`.
    pub fn resize(&self, owner: &str, path: &OwnedObjectPath, tokens: usize, room: usize) -> Result<(), ToolCallError> {
        let mut clients = self.clients.lock().expect("clients lock");
        let held = |clients: &HashMap<String, Client>| {
            clients
                .get(owner)
                .and_then(|c| c.objects.iter().find(|h| &h.path == path))
                .map(|h| h.tokens)
        };
        let Some(now) = held(&clients) else {
            return Err(ToolCallError::Cancelled(format!("{owner} no longer holds {path}")));
        };
        if tokens > now {
            check_room(&clients, tokens - now, room)?;
        }
        let client = clients.get_mut(owner).expect("checked above");
        let record = client
            .objects
            .iter_mut()
            .find(|h| &h.path == path)
            .expect("checked above");
        record.tokens = tokens;
        Ok(())
    }

    /// Tokens of KV state all recorded objects are counted for.
    pub fn tokens(&self) -> usize {
        total_tokens(&self.clients.lock().expect("clients lock"))
    }

    /// Records the uid the bus gave for `name`.
    pub fn set_uid(&self, name: &str, uid: u32) {
        self.clients
            .lock()
            .expect("clients lock")
            .entry(name.to_string())
            .or_default()
            .uid = Some(uid);
    }

    /// The queue line `name`'s requests wait in: its user's once the uid is known, else its own.
    pub fn line_of(&self, name: &str) -> String {
        match self.clients.lock().expect("clients lock").get(name).and_then(|c| c.uid) {
            Some(uid) => format!("uid:{uid}"),
            None => name.to_string(),
        }
    }

    /// Whether `owner` is still recorded as holding `path` (it has not left the bus since).
    pub fn holds(&self, owner: &str, path: &OwnedObjectPath) -> bool {
        self.clients
            .lock()
            .expect("clients lock")
            .get(owner)
            .is_some_and(|c| c.objects.iter().any(|h| &h.path == path))
    }

    pub fn forget_object(&self, owner: &str, path: &OwnedObjectPath) {
        if let Some(client) = self.clients.lock().expect("clients lock").get_mut(owner) {
            client.objects.retain(|h| &h.path != path);
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
            objects: client.objects.into_iter().map(|h| (h.path, h.kind)).collect(),
            cancelled: client.in_flight.len(),
        })
    }
}

fn total_tokens(clients: &HashMap<String, Client>) -> usize {
    clients.values().flat_map(|c| &c.objects).map(|h| h.tokens).sum()
}

/// `LimitExceeded` (`max_kv_mb`) unless `more` tokens fit in `room` beside what is held.
fn check_room(clients: &HashMap<String, Client>, more: usize, room: usize) -> Result<(), ToolCallError> {
    let held = total_tokens(clients);
    if held + more > room {
        return Err(ToolCallError::LimitExceeded(format!(
            "limit max_kv_mb exceeded: the toolsets and sessions hold {held} tokens of KV state, this needs {more} more, {room} fit now; retry after some are released"
        )));
    }
    Ok(())
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

    fn caps(per_client: usize, in_all: usize, room: usize) -> Caps {
        Caps {
            per_client,
            per_user: usize::MAX,
            in_all,
            room,
        }
    }

    #[test]
    fn the_clients_of_one_user_share_its_cap() {
        let registry = ClientRegistry::default();
        let caps = Caps {
            per_user: 2,
            ..caps(8, 8, 1000)
        };
        registry
            .add_object((":1.1", Some(1000)), (&path(1), ObjectKind::Toolset, 10), &caps)
            .unwrap();
        registry
            .add_object((":1.2", Some(1000)), (&path(2), ObjectKind::Toolset, 10), &caps)
            .unwrap();
        let third = registry.add_object((":1.3", Some(1000)), (&path(3), ObjectKind::Toolset, 10), &caps);
        assert!(matches!(third, Err(ToolCallError::LimitExceeded(m)) if m.starts_with("max_objects_per_user")));
        // Another user is not held back by the first one's objects.
        registry
            .add_object((":1.4", Some(1001)), (&path(4), ObjectKind::Toolset, 10), &caps)
            .unwrap();
        registry.forget_object(":1.1", &path(1));
        registry
            .add_object((":1.3", Some(1000)), (&path(3), ObjectKind::Toolset, 10), &caps)
            .unwrap();
    }

    fn path(n: u32) -> OwnedObjectPath {
        OwnedObjectPath::try_from(format!("/t/{n}")).unwrap()
    }

    #[test]
    fn caps_per_client_and_in_all_and_a_departure_cancels_and_frees() {
        let registry = ClientRegistry::default();
        registry
            .add_object((":1.1", None), (&path(1), ObjectKind::Toolset, 100), &caps(2, 3, 1000))
            .unwrap();
        registry
            .add_object((":1.1", None), (&path(2), ObjectKind::Session, 100), &caps(2, 3, 1000))
            .unwrap();
        let per_client = registry.add_object((":1.1", None), (&path(3), ObjectKind::Toolset, 100), &caps(2, 3, 1000));
        assert!(matches!(per_client, Err(ToolCallError::LimitExceeded(m)) if m.starts_with("max_objects_per_client")));
        registry
            .add_object((":1.2", None), (&path(4), ObjectKind::Toolset, 100), &caps(2, 3, 1000))
            .unwrap();
        let in_all = registry.add_object((":1.3", None), (&path(5), ObjectKind::Toolset, 100), &caps(2, 3, 1000));
        assert!(matches!(in_all, Err(ToolCallError::LimitExceeded(m)) if m.starts_with("max_objects:")));

        let flag = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicBool::new(false));
        let _running = registry.track(":1.1", flag.clone());
        drop(registry.track(":1.1", finished.clone()));
        let departed = registry.depart(":1.1").expect("the client was known");
        assert_eq!(departed.objects.len(), 2);
        assert_eq!(departed.cancelled, 1, "a finished request is no longer tracked");
        assert!(flag.load(Ordering::SeqCst) && !finished.load(Ordering::SeqCst));
        // Its objects no longer count, and their tokens are free again.
        assert_eq!(registry.tokens(), 100);
        registry
            .add_object((":1.3", None), (&path(5), ObjectKind::Toolset, 100), &caps(2, 3, 1000))
            .unwrap();
    }

    #[test]
    fn the_kv_room_is_checked_when_an_object_is_added_or_grows() {
        let registry = ClientRegistry::default();
        registry
            .add_object((":1.1", None), (&path(1), ObjectKind::Toolset, 300), &caps(8, 8, 1000))
            .unwrap();
        registry
            .add_object((":1.1", None), (&path(2), ObjectKind::Session, 300), &caps(8, 8, 1000))
            .unwrap();
        let full = registry.add_object((":1.2", None), (&path(3), ObjectKind::Toolset, 500), &caps(8, 8, 1000));
        assert!(matches!(full, Err(ToolCallError::LimitExceeded(m)) if m.contains("max_kv_mb")));
        // A session grows while there is room, and may always shrink.
        registry.resize(":1.1", &path(2), 700, 1000).unwrap();
        let grown = registry.resize(":1.1", &path(2), 701, 1000);
        assert!(matches!(grown, Err(ToolCallError::LimitExceeded(_))));
        assert_eq!(registry.tokens(), 1000, "a refused growth changes nothing");
        registry.resize(":1.1", &path(2), 300, 1000).unwrap();
        assert_eq!(registry.tokens(), 600);
        // An object whose owner left cannot be resized.
        registry.depart(":1.1");
        assert!(matches!(
            registry.resize(":1.1", &path(2), 10, 1000),
            Err(ToolCallError::Cancelled(_))
        ));
    }
}
