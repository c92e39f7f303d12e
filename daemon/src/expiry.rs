//! Idle sessions expire. A session not used for `session_idle_timeout_s` (no turn, no reset)
//! is closed by the service as if its owner had closed it: taken off the bus, its KV state
//! freed and its slot given back. A client that forgets its sessions while it stays connected
//! (a long-running assistant) would otherwise hold them, and their share of the KV budget,
//! until it left the bus. Toolsets do not expire: they are registered once and used for long.

use std::sync::Arc;
use std::time::Duration;

use zbus::{Connection, OwnedObjectPath};

use crate::clients::{Idleness, ObjectKind};
use crate::service::{Shared, remove_object};

/// How often a session's watch looks again while expiry is off (a reload may turn it on).
const WHILE_OFF: Duration = Duration::from_secs(60);

/// Watches `owner`'s session at `path`, served on `connection`, until it is released, its
/// owner leaves, or it has gone unused for the configured time (then closes it).
pub fn close_when_idle(shared: Arc<Shared>, connection: Connection, owner: String, path: OwnedObjectPath) {
    tokio::spawn(async move {
        loop {
            let wait = match shared.session_idle_timeout() {
                None if shared.clients.holds(&owner, &path) => WHILE_OFF,
                None => return,
                Some(timeout) => match shared.clients.expire_if_idle(&owner, &path, timeout) {
                    Idleness::Gone => return,
                    Idleness::Expired => break,
                    Idleness::Wait(left) => left,
                },
            };
            tokio::time::sleep(wait).await;
        }
        remove_object(connection.object_server(), &path, ObjectKind::Session).await;
        log::info!("{owner}'s session {path} expired: unused for session_idle_timeout_s");
    });
}
