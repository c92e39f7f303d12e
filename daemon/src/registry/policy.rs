//! Which callers may have requests routed to which providers: the `registry_allow` table of the
//! configuration, prefix -> the users (`name`) and groups (`@name`) allowed. A prefix the table
//! does not name is open to every caller the bus policy lets call Route and Dispatch; a listed
//! one only to those it lists, and to no peer-to-peer client (which has no known user). Whoever
//! may not is not shown those tools (`Tools`), does not have them routed to, and gets
//! `AccessDenied` for naming one in the option `tools`.

use std::collections::BTreeMap;
use std::ffi::CString;

use nix::unistd::{Gid, Group, Uid, User, getgrouplist};

/// What one caller may reach.
pub struct RouteAccess {
    /// The listed prefixes this caller may reach, and those it may not.
    listed: BTreeMap<String, bool>,
}

impl RouteAccess {
    /// The access of the user `uid` (`None`: unknown, as for a peer-to-peer client) under
    /// `allow`.
    pub fn of(allow: &BTreeMap<String, Vec<String>>, uid: Option<u32>) -> RouteAccess {
        if allow.is_empty() {
            return RouteAccess::open();
        }
        let (user, groups) = uid.map(identity).unwrap_or_default();
        let listed = allow
            .iter()
            .map(|(prefix, who)| {
                let allowed = who.iter().any(|entry| match entry.strip_prefix('@') {
                    Some(group) => groups.iter().any(|g| g == group),
                    None => user.as_deref() == Some(entry.as_str()),
                });
                (prefix.clone(), allowed)
            })
            .collect();
        RouteAccess { listed }
    }

    /// Everyone may reach everything (no table).
    pub fn open() -> RouteAccess {
        RouteAccess {
            listed: BTreeMap::new(),
        }
    }

    /// Whether tools published under `prefix` may be routed to for this caller.
    pub fn allows(&self, prefix: &str) -> bool {
        self.listed.get(prefix).copied().unwrap_or(true)
    }
}

/// The user name of `uid` and the names of the groups it is in (its primary group and those
/// the user database lists it in, as the bus policy reads them); nothing for an unknown uid.
fn identity(uid: u32) -> (Option<String>, Vec<String>) {
    let Ok(Some(user)) = User::from_uid(Uid::from_raw(uid)) else {
        return (None, Vec::new());
    };
    let gids = CString::new(user.name.clone())
        .ok()
        .and_then(|name| getgrouplist(&name, user.gid).ok())
        .unwrap_or_else(|| vec![user.gid]);
    let groups = gids
        .into_iter()
        .filter_map(|gid: Gid| Group::from_gid(gid).ok().flatten())
        .map(|group| group.name)
        .collect();
    (Some(user.name), groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_prefixes_are_for_their_users_and_groups_only() {
        let me = User::from_uid(Uid::current()).unwrap().unwrap();
        let my_group = Group::from_gid(me.gid).unwrap().unwrap();
        let allow = BTreeMap::from([
            ("mine".to_string(), vec![me.name.clone()]),
            ("ours".to_string(), vec![format!("@{}", my_group.name)]),
            (
                "theirs".to_string(),
                vec!["no-such-user-here".to_string(), "@no-such-group".to_string()],
            ),
        ]);
        let access = RouteAccess::of(&allow, Some(Uid::current().as_raw()));
        assert!(access.allows("mine") && access.allows("ours") && access.allows("unlisted"));
        assert!(!access.allows("theirs"));
        let unknown = RouteAccess::of(&allow, None);
        assert!(!unknown.allows("mine") && !unknown.allows("ours") && unknown.allows("unlisted"));
        assert!(RouteAccess::open().allows("theirs"));
    }
}
