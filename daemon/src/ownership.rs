//! Who a message comes from and what it may touch: the caller of a method (a unique bus name,
//! or a peer connection's label), an object's [`Owner`] (the only caller it serves), and
//! [`NewObject`], which makes a toolset or session object so that a client that leaves
//! meanwhile leaves nothing behind.

use std::sync::Arc;

use toolcall_dbus::{SESSIONS_PATH, TOOLSETS_PATH, ToolCallError};
use toolcall_engine::{CallOptions, Error as EngineError};
use zbus::message::Header;
use zbus::object_server::ObjectServer;
use zbus::{Connection, OwnedObjectPath};

use crate::clients::ObjectKind;
use crate::errors::engine_error;
use crate::expiry::close_when_idle;
use crate::models::LoadedModel;
use crate::request::{Request, Result};
use crate::service::{Shared, remove_object};

/// Who sent a message: its sender's unique name on a bus; on a peer-to-peer connection, which
/// has no senders, the label of the peer the connection was served to.
pub fn caller(header: &Header<'_>, peer: &Option<Arc<str>>) -> Result<String> {
    match (header.sender(), peer) {
        (Some(sender), _) => Ok(sender.to_string()),
        (None, Some(peer)) => Ok(peer.to_string()),
        (None, None) => Err(ToolCallError::Internal("message without a sender".into())),
    }
}

/// As [`caller`], for a method of the manager, where a client's first request may come before
/// the NameOwnerChanged that has the service ask for its uid: then the uid is asked here, so
/// that the request waits in its user's line and counts against its user's caps.
pub async fn known_caller(
    shared: &Shared,
    header: &Header<'_>,
    peer: &Option<Arc<str>>,
    connection: &Connection,
) -> Result<String> {
    let name = caller(header, peer)?;
    if peer.is_none() && shared.clients.uid(&name).is_none() {
        learn_uid(shared, connection, &name).await;
    }
    Ok(name)
}

/// Asks the bus for `name`'s uid and records it. Should the client have left meanwhile, the
/// record this made goes again; one that holds objects is the departure's to clear (its
/// NameOwnerChanged takes them off the bus), never this lookup's.
pub async fn learn_uid(shared: &Shared, connection: &Connection, name: &str) {
    let Some(uid) = uid_of(connection, name).await else {
        return;
    };
    shared.clients.set_uid(name, uid);
    if !still_on_bus(connection, name).await {
        shared.clients.forget_if_empty(name);
    }
}

/// The object a method was called on, for the request's log line.
pub fn object_path(header: &Header<'_>) -> OwnedObjectPath {
    header.path().expect("a method call has a path").clone().into()
}

/// Where a new toolset or session object goes.
pub struct NewObject<'a> {
    shared: &'a Arc<Shared>,
    server: &'a ObjectServer,
    connection: &'a Connection,
    base: &'static str,
    kind: ObjectKind,
}

impl<'a> NewObject<'a> {
    /// A new object of `kind`, served on `connection` under its kind's path.
    pub fn new(
        shared: &'a Arc<Shared>,
        server: &'a ObjectServer,
        connection: &'a Connection,
        kind: ObjectKind,
    ) -> Self {
        let base = match kind {
            ObjectKind::Toolset => TOOLSETS_PATH,
            ObjectKind::Session => SESSIONS_PATH,
        };
        NewObject {
            shared,
            server,
            connection,
            base,
            kind,
        }
    }

    /// Makes an object for `owner`. Its slot is taken before any work, counted for `tokens` of
    /// KV state (on the request's model) (the object caps and the KV budget are checked first); `work` runs as
    /// `request` and may [`Claim`] more tokens before it does the costly part; the object
    /// `build` makes is published, and stays only if its owner is still there once it is on
    /// the bus. A client that left meanwhile (its request is then cancelled) leaves neither
    /// object nor slot behind.
    pub async fn create<T: Send + 'static, I: zbus::object_server::Interface>(
        self,
        (owner, tokens): (Owner, usize),
        request: Request,
        work: impl FnOnce(&Arc<LoadedModel>, &CallOptions, Claim) -> std::result::Result<T, EngineError> + Send + 'static,
        build: impl FnOnce(T, Owner) -> I,
    ) -> Result<OwnedObjectPath> {
        let path = self.shared.new_path(self.base);
        let (name, on_bus) = (owner.name.clone(), owner.peer.is_none());
        let clients = &self.shared.clients;
        let bytes_per_token = request.kv_bytes_per_token();
        self.shared
            .add_object(&name, &path, self.kind, tokens * bytes_per_token)
            .map_err(engine_error)?;
        let claim = Claim::new(self.shared.clone(), name.clone(), (path.clone(), bytes_per_token));
        let value = match request
            .run(self.shared, move |engine, options| work(engine, options, claim))
            .await
        {
            Ok((value, _)) => value,
            Err(e) => {
                clients.forget_object(&name, &path);
                return Err(e);
            }
        };
        if let Err(e) = self.server.at(&path, build(value, owner)).await {
            clients.forget_object(&name, &path);
            return Err(ToolCallError::Internal(e.to_string()));
        }
        // Had the owner left before this point, its departure took its record (checked below),
        // or came before its first request was recorded (then the bus no longer knows the
        // name). From here on, its departure takes the object down.
        let present = !on_bus || still_on_bus(self.connection, &name).await;
        if present && clients.holds(&name, &path) {
            if self.kind == ObjectKind::Session {
                close_when_idle(self.shared.clone(), self.connection.clone(), name, path.clone());
            }
            return Ok(path);
        }
        // The record goes too if this object was all it held (recording the object after the
        // owner's departure made it anew); other objects are the departure's to clear.
        clients.forget_object(&name, &path);
        clients.forget_if_empty(&name);
        remove_object(self.server, &path, self.kind).await;
        Err(ToolCallError::Cancelled(format!(
            "{name} left the bus before its object was ready"
        )))
    }
}

/// An object's share of the KV budget, for the work that makes or grows it.
pub struct Claim {
    shared: Arc<Shared>,
    owner: String,
    path: OwnedObjectPath,
    /// Bytes of KV state per token of the object's model.
    bytes_per_token: usize,
}

impl Claim {
    pub fn new(shared: Arc<Shared>, owner: String, (path, bytes_per_token): (OwnedObjectPath, usize)) -> Claim {
        Claim {
            shared,
            owner,
            path,
            bytes_per_token,
        }
    }

    /// Counts the object for `tokens` of KV state from now on: `LimitExceeded` naming
    /// `max_kv_mb` or `max_kv_mb_per_user` when that does not fit (checked before the work
    /// that would hold them); `Cancelled` once the owner has left.
    pub fn tokens(&self, tokens: usize) -> std::result::Result<(), EngineError> {
        self.tokens_at(self.bytes_per_token, tokens)
    }

    /// As [`Claim::tokens`], on a model of `bytes_per_token` (a toolset that moved to another).
    pub fn tokens_at(&self, bytes_per_token: usize, tokens: usize) -> std::result::Result<(), EngineError> {
        self.shared
            .resize_object(&self.owner, &self.path, tokens * bytes_per_token)
    }
}

/// The uid the bus says `name` runs as (`None` if it cannot tell).
async fn uid_of(connection: &Connection, name: &str) -> Option<u32> {
    let name = zbus::names::BusName::try_from(name).ok()?;
    let dbus = zbus::fdo::DBusProxy::new(connection).await.ok()?;
    dbus.get_connection_unix_user(name).await.ok()
}

/// Whether the bus still knows the unique name `name`.
pub(crate) async fn still_on_bus(connection: &Connection, name: &str) -> bool {
    let Ok(name) = zbus::names::BusName::try_from(name) else {
        return false;
    };
    match zbus::fdo::DBusProxy::new(connection).await {
        Ok(dbus) => dbus.name_has_owner(name).await.unwrap_or(false),
        Err(_) => false,
    }
}

/// An object's owner, the only caller it serves.
pub struct Owner {
    pub name: String,
    pub peer: Option<Arc<str>>,
}

impl Owner {
    /// The owner's call to give up its object: off the client's record and off the bus.
    pub async fn release(
        &self,
        shared: &Shared,
        header: &Header<'_>,
        server: &ObjectServer,
        kind: ObjectKind,
    ) -> Result<()> {
        let caller = self.check(header)?;
        let path = object_path(header);
        shared.clients.forget_object(&caller, &path);
        remove_object(server, &path, kind).await;
        Ok(())
    }

    /// As [`Owner::check`] for a property read (a read from no message is refused), whose
    /// errors are the standard ones.
    pub fn check_property(&self, header: &Option<Header<'_>>) -> zbus::fdo::Result<()> {
        let header = header
            .as_ref()
            .ok_or_else(|| zbus::fdo::Error::AccessDenied("no caller".into()))?;
        self.check(header)
            .map(|_| ())
            .map_err(|e| zbus::fdo::Error::AccessDenied(e.to_string()))
    }

    /// The caller, if it is the owner; `AccessDenied` otherwise.
    pub fn check(&self, header: &Header<'_>) -> Result<String> {
        let caller = caller(header, &self.peer)?;
        if caller != self.name {
            return Err(ToolCallError::AccessDenied(format!(
                "this object belongs to {}",
                self.name
            )));
        }
        Ok(caller)
    }
}
