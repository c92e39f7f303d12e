//! Who may use which prefixes of the registry: the configuration's tables prefix -> the users
//! (`name`) and groups (`@name`) allowed, `registry_allow` (whose requests may be routed to the
//! tools published under it) and `registry_publishers` (who may publish under it). A prefix a
//! table does not name is open to everyone the bus policy lets call the registry; a listed one
//! only to those it lists, and to no peer-to-peer client (which has no known user). A caller
//! `registry_allow` keeps out is not shown those tools (`Tools`), does not have them routed to,
//! and gets `AccessDenied` for naming one in the option `tools`; a publisher
//! `registry_publishers` keeps out gets `AccessDenied` from Publish.

use std::collections::BTreeMap;
use std::ffi::CString;

use nix::unistd::{Gid, Group, Uid, User, getgrouplist};

/// Which prefixes one caller may use, under one table.
pub struct PrefixAccess {
    /// The listed prefixes this caller may use, and those it may not.
    listed: BTreeMap<String, bool>,
}

impl PrefixAccess {
    /// The access of the user `uid` (`None`: unknown, as for a peer-to-peer client) under the
    /// table `allow`.
    pub fn of(allow: &BTreeMap<String, Vec<String>>, uid: Option<u32>) -> PrefixAccess {
        if allow.is_empty() {
            return PrefixAccess::open();
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
        PrefixAccess { listed }
    }

    /// Everyone may use every prefix (no table).
    pub fn open() -> PrefixAccess {
        PrefixAccess {
            listed: BTreeMap::new(),
        }
    }

    /// Whether this caller may use `prefix`.
    pub fn allows(&self, prefix: &str) -> bool {
        self.listed.get(prefix).copied().unwrap_or(true)
    }
}

/// `table` (named `key` in messages) as the configuration must have it: each key a prefix as
/// Publish takes it, each entry a user name or `@group`, none empty.
pub fn check_table(key: &str, table: &BTreeMap<String, Vec<String>>) -> Result<(), String> {
    for (prefix, who) in table {
        super::check_prefix(prefix).map_err(|_| {
            format!(
                "configuration: {key}: {prefix:?} is not a prefix (1 to 32 of a-z, 0-9 and _, starting with a letter)"
            )
        })?;
        if let Some(bad) = who.iter().find(|w| w.trim_start_matches('@').is_empty()) {
            return Err(format!("configuration: {key}.{prefix}: {bad:?} names no user or group"));
        }
    }
    Ok(())
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
        let access = PrefixAccess::of(&allow, Some(Uid::current().as_raw()));
        assert!(access.allows("mine") && access.allows("ours") && access.allows("unlisted"));
        assert!(!access.allows("theirs"));
        let unknown = PrefixAccess::of(&allow, None);
        assert!(!unknown.allows("mine") && !unknown.allows("ours") && unknown.allows("unlisted"));
        assert!(PrefixAccess::open().allows("theirs"));
    }

    #[test]
    fn a_table_names_prefixes_and_users_or_groups() {
        let table = |prefix: &str, who: &str| BTreeMap::from([(prefix.to_string(), vec![who.to_string()])]);
        assert!(check_table("registry_allow", &table("media", "@audio")).is_ok());
        for (prefix, who) in [("Media", "alice"), ("media.*", "alice"), ("media", "@"), ("media", "")] {
            let error = check_table("registry_allow", &table(prefix, who)).unwrap_err();
            assert!(error.starts_with("configuration: registry_allow"), "{error}");
        }
    }
}
