//! Who holds what: for each client (its unique bus name, or a peer connection's label) its uid
//! and the toolset and session objects it registered (its requests in flight: `in_flight`).
//! The caps on objects per client, per user and in all are checked here, and so are the KV
//! budgets in all and per user, in bytes; a client that leaves the bus is taken out whole
//! ([`ClientRegistry::depart`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use toolcall_engine::{Error as EngineError, Limit};
use zbus::OwnedObjectPath;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Toolset,
    Session,
}

/// An object a client holds, the bytes of KV state it is counted for, and when it was last
/// used (made, called, or its turn ended).
struct Held {
    path: OwnedObjectPath,
    kind: ObjectKind,
    bytes: usize,
    last_used: Instant,
}

/// What one client holds.
#[derive(Default)]
struct Client {
    /// The user the bus says the client runs as, once known.
    uid: Option<u32>,
    objects: Vec<Held>,
}

/// What [`ClientRegistry::expire_if_idle`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Idleness {
    /// The object is no longer recorded (released, or its owner left).
    Gone,
    /// It was idle past the timeout and is forgotten now.
    Expired,
    /// It may go unused this much longer.
    Wait(Duration),
}

/// The limits an object must fit in when it is added or grows.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Objects one client (connection) may hold.
    pub per_client: usize,
    /// Objects all the clients of one user (uid) may hold together.
    pub per_user: usize,
    /// Objects all clients may hold together.
    pub in_all: usize,
    /// Bytes of KV state all objects may hold together now.
    pub room: usize,
    /// Bytes of KV state the objects of one user's clients may hold together.
    pub user_room: usize,
}

#[derive(Default)]
pub struct ClientRegistry {
    clients: Mutex<HashMap<String, Client>>,
}

impl ClientRegistry {
    /// Records that `owner` holds the object at `path`, counted for `bytes` of KV state, unless
    /// that would break one of the `caps` (`LimitExceeded` naming it). The per-user caps apply
    /// once the owner's uid is known ([`ClientRegistry::set_uid`]).
    pub fn add_object(
        &self,
        owner: &str,
        (path, kind, bytes): (&OwnedObjectPath, ObjectKind, usize),
        caps: &Caps,
    ) -> Result<(), EngineError> {
        let mut clients = self.clients.lock().expect("clients lock");
        let uid = clients.get(owner).and_then(|c| c.uid);
        check_room(&clients, bytes, caps.room)?;
        if let Some(uid) = uid {
            check_user_room(&clients, (owner, uid), bytes, caps.user_room)?;
            let of_user = of_user(&clients, owner, uid).count();
            if of_user >= caps.per_user {
                return Err(refuse(
                    Limit::ObjectsPerUser,
                    format!("the clients of uid {uid} already hold {of_user} toolsets/sessions"),
                ));
            }
        }
        let total: usize = clients.values().map(|c| c.objects.len()).sum();
        if total >= caps.in_all {
            return Err(refuse(
                Limit::Objects,
                format!("the clients hold {total} toolsets/sessions in all; retry after some are released"),
            ));
        }
        let client = clients.entry(owner.to_string()).or_default();
        if client.objects.len() >= caps.per_client {
            return Err(refuse(
                Limit::ObjectsPerClient,
                format!("{owner} already holds {} toolsets/sessions", caps.per_client),
            ));
        }
        client.objects.push(Held {
            path: path.clone(),
            kind,
            bytes,
            last_used: Instant::now(),
        });
        Ok(())
    }

    /// Counts the object at `path` for `bytes` from now on. Growing past the KV room in all or
    /// the user's is `LimitExceeded` (and changes nothing); shrinking always succeeds. An object
    /// no longer recorded (its owner left) is `Cancelled`.
    pub fn resize(&self, owner: &str, path: &OwnedObjectPath, bytes: usize, caps: &Caps) -> Result<(), EngineError> {
        let mut clients = self.clients.lock().expect("clients lock");
        let Some(now) = held(&clients, owner, path).map(|h| h.bytes) else {
            return Err(EngineError::Cancelled);
        };
        if bytes > now {
            check_room(&clients, bytes - now, caps.room)?;
            if let Some(uid) = clients[owner].uid {
                check_user_room(&clients, (owner, uid), bytes - now, caps.user_room)?;
            }
        }
        let record = clients
            .get_mut(owner)
            .and_then(|c| c.objects.iter_mut().find(|h| &h.path == path))
            .expect("checked above");
        record.bytes = bytes;
        record.last_used = Instant::now();
        Ok(())
    }

    /// Marks the object at `path` as used now.
    pub fn touch(&self, owner: &str, path: &OwnedObjectPath) {
        let mut clients = self.clients.lock().expect("clients lock");
        if let Some(held) = clients
            .get_mut(owner)
            .and_then(|c| c.objects.iter_mut().find(|h| &h.path == path))
        {
            held.last_used = Instant::now();
        }
    }

    /// Forgets `owner`'s object at `path` if it has gone unused for `timeout`, checked and
    /// done under one lock (a call that touches it meanwhile keeps it).
    pub fn expire_if_idle(&self, owner: &str, path: &OwnedObjectPath, timeout: Duration) -> Idleness {
        let mut clients = self.clients.lock().expect("clients lock");
        let Some(idle) = held(&clients, owner, path).map(|h| h.last_used.elapsed()) else {
            return Idleness::Gone;
        };
        if idle < timeout {
            return Idleness::Wait(timeout - idle);
        }
        if let Some(client) = clients.get_mut(owner) {
            client.objects.retain(|h| &h.path != path);
        }
        Idleness::Expired
    }

    /// Bytes of KV state all recorded objects are counted for.
    pub fn kv_bytes(&self) -> usize {
        total_bytes(&self.clients.lock().expect("clients lock"))
    }

    /// The uid recorded for `name`, if the bus has told it.
    pub fn uid(&self, name: &str) -> Option<u32> {
        self.clients.lock().expect("clients lock").get(name).and_then(|c| c.uid)
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

    /// Whose shares `name`'s requests count against (the queue's line, the one-shot cache):
    /// its user's once the uid is known, else its own.
    pub fn user_of(&self, name: &str) -> String {
        match self.clients.lock().expect("clients lock").get(name).and_then(|c| c.uid) {
            Some(uid) => format!("uid:{uid}"),
            None => name.to_string(),
        }
    }

    /// Whether `owner` is still recorded as holding `path` (it has not left the bus since).
    pub fn holds(&self, owner: &str, path: &OwnedObjectPath) -> bool {
        held(&self.clients.lock().expect("clients lock"), owner, path).is_some()
    }

    pub fn forget_object(&self, owner: &str, path: &OwnedObjectPath) {
        if let Some(client) = self.clients.lock().expect("clients lock").get_mut(owner) {
            client.objects.retain(|h| &h.path != path);
        }
    }

    /// Drops `name`'s record if it holds no objects (a record only a uid lookup made).
    pub fn forget_if_empty(&self, name: &str) {
        let mut clients = self.clients.lock().expect("clients lock");
        if clients.get(name).is_some_and(|c| c.objects.is_empty()) {
            clients.remove(name);
        }
    }

    /// The client `name` left: its record goes; what it held, to take off the bus.
    pub fn depart(&self, name: &str) -> Vec<(OwnedObjectPath, ObjectKind)> {
        let client = self.clients.lock().expect("clients lock").remove(name);
        client
            .map(|c| c.objects.into_iter().map(|h| (h.path, h.kind)).collect())
            .unwrap_or_default()
    }
}

/// The record of `owner`'s object at `path`.
fn held<'a>(clients: &'a HashMap<String, Client>, owner: &str, path: &OwnedObjectPath) -> Option<&'a Held> {
    clients.get(owner)?.objects.iter().find(|h| &h.path == path)
}

fn total_bytes(clients: &HashMap<String, Client>) -> usize {
    clients.values().flat_map(|c| &c.objects).map(|h| h.bytes).sum()
}

/// The objects of `uid`'s clients, `owner`'s included (its uid may not be recorded yet).
fn of_user<'a>(clients: &'a HashMap<String, Client>, owner: &'a str, uid: u32) -> impl Iterator<Item = &'a Held> {
    clients
        .iter()
        .filter(move |(name, c)| c.uid == Some(uid) || name.as_str() == owner)
        .flat_map(|(_, c)| &c.objects)
}

fn refuse(limit: Limit, detail: String) -> EngineError {
    EngineError::LimitExceeded { limit, detail }
}

/// `LimitExceeded` naming `limit` unless `more` bytes of KV state fit in `room` beside the
/// `held` ones of `whose` objects.
fn check_fits(limit: Limit, whose: &str, held: usize, more: usize, room: usize) -> Result<(), EngineError> {
    if held + more > room {
        return Err(refuse(
            limit,
            format!(
                "{whose} hold {} of KV state, this needs {} more, {} fit; retry after some are released",
                mb(held),
                mb(more),
                mb(room)
            ),
        ));
    }
    Ok(())
}

/// Bytes in megabytes, for messages.
fn mb(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

/// `max_kv_mb`: all objects together.
fn check_room(clients: &HashMap<String, Client>, more: usize, room: usize) -> Result<(), EngineError> {
    let held = total_bytes(clients);
    check_fits(Limit::KvBudget, "the toolsets and sessions", held, more, room)
}

/// `max_kv_mb_per_user`: the objects of `uid`'s clients.
fn check_user_room(
    clients: &HashMap<String, Client>,
    (owner, uid): (&str, u32),
    more: usize,
    room: usize,
) -> Result<(), EngineError> {
    let held = of_user(clients, owner, uid).map(|h| h.bytes).sum();
    let whose = format!("the toolsets and sessions of uid {uid}");
    check_fits(Limit::KvBudgetPerUser, &whose, held, more, room)
}

#[cfg(test)]
mod tests;
